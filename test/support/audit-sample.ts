/**
 * Audit reports for rendering tests: a realistic mesh (STRICT, PERMISSIVE and DISABLE namespaces, exempt ones,
 * ambient and revision-labelled enrollment, violations of every rule, callers from telemetry or possible), its
 * clean and hostile variants, and a generated one of any size. Every count is derived from the lists, so the
 * report is consistent with itself: a namespace's violations are the findings about its workloads (or about
 * the namespace's own objects), the summary adds them up.
 */
import { RULE_IDS, type RuleId, type SubjectRef } from '../../src/engine/types.js';
import {
  AUDIT_API_VERSION,
  type AuditFinding,
  type AuditReport,
  type Caller,
  type CallersSection,
  type Coverage,
  type EffectiveMode,
  type NamespacePosture,
  type StrictCallers,
} from '../../src/audit/report.js';

export interface SampleOptions {
  /** `telemetry` (default): callers seen by Prometheus; `possible`: no telemetry. */
  callers?: 'telemetry' | 'possible';
  /** Nothing wrong: no violations, every workload in the mesh, no caller cut off. */
  clean?: boolean;
  /** Markup, quotes and ampersands in names, messages, the source and the telemetry error. */
  hostile?: boolean;
  /** A generated cluster of this size instead of the hand-written one. */
  scale?: { namespaces: number; findings: number };
}

/** What a hostile report plants: each would run or add an element if any value reached the page unescaped. */
export const HOSTILE = {
  namespace: '<script>window.__injected = "namespace"</script>',
  objectName: '"><img src=x onerror="window.__injected=\'object\'">',
  message: 'Pod <b id="injected-message">bold</b> & \'quoted\' "double" </p><script>window.__injected="message"</script>',
  fix: 'kubectl label namespace "><svg onload="window.__injected=\'fix\'"> istio-injection=enabled',
  workload: 'it\'s <em id="injected-caller">here</em> & there',
  source: 'files: <iframe src="https://example.invalid/"></iframe>',
  istioVersion: '1.27<style>body{display:none}</style>',
  error: 'query failed: <a id="injected-error" href="javascript:alert(1)">x</a> & "retry"',
} as const;

const cov = (inMesh: number, out: number, hostNetwork = 0): Coverage => ({ total: inMesh + out, inMesh, outOfMesh: out, hostNetwork });
/** Everything in the mesh but the hostNetwork workloads, which never can be. */
const inMeshBut = (c: Coverage): Coverage => cov(c.total - c.hostNetwork, c.hostNetwork, c.hostNetwork);
const zero = (): Record<RuleId, number> => Object.fromEntries(RULE_IDS.map((r) => [r, 0])) as Record<RuleId, number>;

interface NamespaceSeed {
  name: string;
  exempt?: boolean;
  enrollment: string;
  mode: EffectiveMode;
  ownPolicy?: number;
  pods: Coverage;
  templates: Coverage;
}

const MESH: EffectiveMode = { mode: 'STRICT', policy: 'istio-system/default' };

const NAMESPACES: NamespaceSeed[] = [
  { name: 'checkout', enrollment: 'istio.io/rev=canary', mode: MESH, ownPolicy: 1, pods: cov(18, 0), templates: cov(5, 0) },
  { name: 'frontend', enrollment: 'ambient', mode: { mode: 'STRICT', policy: 'frontend/strict' }, pods: cov(9, 0), templates: cov(3, 0) },
  { name: 'istio-system', exempt: true, enrollment: 'none', mode: MESH, pods: cov(2, 3), templates: cov(2, 1) },
  { name: 'kube-system', exempt: true, enrollment: 'none', mode: MESH, pods: cov(0, 14, 4), templates: cov(0, 5, 2) },
  {
    name: 'legacy',
    enrollment: 'istio-injection=enabled',
    mode: { mode: 'PERMISSIVE', policy: 'legacy/permissive' },
    pods: cov(4, 8),
    templates: cov(2, 1),
  },
  { name: 'monitoring', enrollment: 'istio-injection=enabled', mode: MESH, pods: cov(6, 3, 3), templates: cov(2, 1, 1) },
  { name: 'orders', enrollment: 'none', mode: MESH, pods: cov(0, 6), templates: cov(0, 3) },
  {
    name: 'payments',
    enrollment: 'istio-injection=enabled',
    mode: { mode: 'STRICT', policy: 'payments/strict' },
    ownPolicy: 2,
    pods: cov(12, 2),
    templates: cov(4, 1),
  },
  {
    name: 'reports',
    enrollment: 'istio-injection=enabled',
    mode: { mode: 'DISABLE', policy: 'reports/disable' },
    pods: cov(3, 0),
    templates: cov(1, 0),
  },
  { name: 'sandbox', enrollment: 'istio.io/rev=1-26', mode: { mode: 'PERMISSIVE' }, ownPolicy: 0, pods: cov(0, 0), templates: cov(0, 0) },
];

const pa = (namespace: string, name: string) => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', namespace, name });
const workload = (kind: string, namespace: string, name: string) => ({
  apiVersion: kind === 'Pod' ? 'v1' : 'apps/v1',
  kind,
  namespace,
  name,
});
const subject = (kind: string, namespace: string, name: string): SubjectRef => ({ kind, namespace, name });

function strictFinding(policy: string, offenders: SubjectRef[], because: string): AuditFinding {
  const [ns, name] = policy.split('/') as [string, string];
  const namespaces = [...new Set(offenders.map((o) => o.namespace))];
  const lines = [
    `PeerAuthentication ${policy} (STRICT) governs ${offenders.length} workloads outside the mesh, where STRICT is not enforced and plaintext is still accepted:`,
    ...offenders.slice(0, 10).map((o) => `- ${o.kind} ${o.namespace}/${o.name}: ${because}`),
    ...(offenders.length > 10 ? [`- … and ${offenders.length - 10} more`] : []),
  ];
  // The engine's shape: the message ends with the fix, which lists one line of steps per namespace.
  const fix = [
    'inject, then protect:',
    ...namespaces.map((n) => `- ${n}: kubectl label namespace ${n} istio-injection=enabled; kubectl rollout restart deployment -n ${n}`),
    'Until then they accept plaintext although the policy says STRICT.',
  ].join('\n');
  return {
    rule: 'strict-requires-mesh',
    action: 'deny',
    object: pa(ns, name),
    message: `${lines.join('\n')}\nFix: ${fix}`,
    fix,
    subjects: offenders,
  };
}

function podFinding(kind: string, namespace: string, name: string, because: string, fix: string): AuditFinding {
  const runs = kind === 'Pod' ? 'runs' : 'creates pods that run';
  return {
    rule: 'pod-requires-mesh',
    action: 'deny',
    object: workload(kind, namespace, name),
    message: `${kind} ${namespace}/${name} ${runs} outside the Istio mesh: ${because}. Fix: ${fix}`,
    fix,
    subjects: [subject(kind, namespace, name)],
  };
}

function driftFinding(namespace: string, name: string, message: string, fix?: string): AuditFinding {
  return { rule: 'mtls-drift', action: 'warn', object: pa(namespace, name), message, ...(fix ? { fix } : {}), subjects: [] };
}

function handWrittenFindings(): AuditFinding[] {
  const optOut = 'the pod template sets sidecar.istio.io/inject: "false"';
  const removeOptOut = 'remove the annotation sidecar.istio.io/inject: "false" from the pod template\'s metadata.annotations';
  const unlabelled = 'namespace orders has no istio-injection label';
  const labelOrders =
    'kubectl label namespace orders istio-injection=enabled ' +
    '(or add the label sidecar.istio.io/inject: "true" to the pod template\'s metadata.labels)';
  return [
    strictFinding(
      'istio-system/default',
      [
        subject('Deployment', 'orders', 'api'),
        subject('Deployment', 'orders', 'web'),
        subject('Deployment', 'orders', 'worker'),
        subject('Pod', 'orders', 'api-7d9f8c6b5-x2lqp'),
        subject('Pod', 'orders', 'web-5c8d7f9b4-k8mzt'),
        subject('Pod', 'orders', 'worker-6b7c9d8f5-p4jrw'),
      ],
      'namespace orders has no istio-injection label',
    ),
    strictFinding(
      'payments/strict',
      [
        subject('Deployment', 'payments', 'legacy-batch'),
        subject('Pod', 'payments', 'debug-shell'),
        subject('Pod', 'payments', 'legacy-batch-84f6-zt9c2'),
      ],
      optOut,
    ),
    podFinding('Deployment', 'legacy', 'report-mailer', optOut, removeOptOut),
    podFinding('Deployment', 'orders', 'api', unlabelled, labelOrders),
    podFinding('Deployment', 'orders', 'web', unlabelled, labelOrders),
    podFinding('Deployment', 'orders', 'worker', unlabelled, labelOrders),
    podFinding('Deployment', 'payments', 'legacy-batch', optOut, removeOptOut),
    podFinding(
      'Pod',
      'payments',
      'debug-shell',
      'it was created before the injector ran and has no istio-proxy container',
      "check that istiod's sidecar injector is running and selects this namespace (kubectl get mutatingwebhookconfigurations), then create the pod again",
    ),
    driftFinding(
      'legacy',
      'permissive',
      'PeerAuthentication legacy/permissive sets PERMISSIVE: namespace legacy accepts plaintext; mesh-wide mode: STRICT (istio-system/default)',
    ),
    driftFinding(
      'reports',
      'disable',
      'PeerAuthentication reports/disable sets DISABLE: namespace reports accepts only plaintext, mutual TLS is off; mesh-wide mode: STRICT (istio-system/default)',
    ),
    driftFinding(
      'istio-system',
      'root-selector',
      'PeerAuthentication istio-system/root-selector has no effect: a workload selector in the root namespace selects nothing',
      'kubectl delete peerauthentication -n istio-system root-selector',
    ),
  ];
}

function telemetryCallers(): StrictCallers[] {
  return [
    {
      policy: 'istio-system/default',
      destinations: ['checkout/cart', 'checkout/checkout-api', 'frontend/web'],
      callers: [
        { namespace: 'orders', workload: 'api', requests: 5231, connections: 12, because: 'namespace orders has no istio-injection label' },
        {
          namespace: 'legacy',
          workload: 'report-mailer',
          requests: 1284,
          connections: 0,
          because: 'the pod template sets sidecar.istio.io/inject: "false"',
        },
        { namespace: 'ci', workload: 'smoke-tests', requests: 42 },
      ],
      unidentified: { requests: 17, connections: 3 },
    },
    {
      policy: 'payments/strict',
      destinations: ['payments/ledger', 'payments/gateway-api'],
      callers: [
        { namespace: 'payments', workload: 'debug-shell', requests: 3, connections: 0, because: 'it has no istio-proxy container' },
        { namespace: 'orders', workload: 'worker', requests: 0, connections: 48, because: 'namespace orders has no istio-injection label' },
      ],
    },
    { policy: 'frontend/strict', destinations: ['frontend/web'], callers: [] },
  ];
}

function possibleCallers(): Caller[] {
  return [
    { namespace: 'legacy', workload: 'report-mailer', because: 'the pod template sets sidecar.istio.io/inject: "false"' },
    { namespace: 'orders', workload: 'api', because: 'namespace orders has no istio-injection label' },
    { namespace: 'orders', workload: 'web', because: 'namespace orders has no istio-injection label' },
    { namespace: 'orders', workload: 'worker', because: 'namespace orders has no istio-injection label' },
    { namespace: 'payments', workload: 'debug-shell', because: 'it has no istio-proxy container' },
    { namespace: 'payments', workload: 'legacy-batch', because: 'the pod template sets sidecar.istio.io/inject: "false"' },
  ];
}

function callersFor(kind: 'telemetry' | 'possible', clean: boolean): CallersSection {
  if (kind === 'telemetry') {
    const byPolicy = clean ? [{ policy: 'istio-system/default', destinations: ['checkout/cart'], callers: [] }] : telemetryCallers();
    return { basis: 'telemetry', window: '1h', observedAt: '2026-05-04T09:30:00Z', byPolicy };
  }
  const possible = clean ? [] : possibleCallers();
  const byPolicy = clean
    ? []
    : telemetryCallers().map((p) => ({
        policy: p.policy,
        destinations: p.destinations,
        // As the engine does, callers are not attributed to a policy without telemetry; one policy here has them.
        callers: p.callers
          .filter((c) => p.policy === 'payments/strict' && possible.some((q) => q.namespace === c.namespace && q.workload === c.workload))
          .map(({ namespace, workload, because }) => ({ namespace, workload, ...(because ? { because } : {}) })),
      }));
  return { basis: 'possible', byPolicy, possible };
}

/** The namespaces a finding counts against: those of the workloads it is about, else the object's own (never an exempt one). */
function countedIn(f: AuditFinding): string[] {
  const namespaces = new Set(f.subjects.map((s) => s.namespace));
  if (namespaces.size === 0 && f.object.namespace) namespaces.add(f.object.namespace);
  return [...namespaces];
}

function assemble(
  seeds: NamespaceSeed[],
  findings: AuditFinding[],
  callers: CallersSection,
  source: string,
  istioVersion: string,
): AuditReport {
  const postures = new Map<string, NamespacePosture>();
  for (const seed of [...seeds].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    postures.set(seed.name, { ownPolicy: 0, ...seed, exempt: seed.exempt ?? false, violations: zero() });
  }
  const summaryViolations = zero();
  for (const f of findings) {
    summaryViolations[f.rule] += 1;
    for (const ns of countedIn(f)) {
      const posture = postures.get(ns);
      if (posture && !posture.exempt) posture.violations[f.rule] += 1;
    }
  }
  const workloads = cov(0, 0);
  for (const p of postures.values()) {
    for (const c of [p.pods, p.templates]) {
      workloads.total += c.total;
      workloads.inMesh += c.inMesh;
      workloads.outOfMesh += c.outOfMesh;
      workloads.hostNetwork += c.hostNetwork;
    }
  }
  const key = (f: AuditFinding) => `${f.rule}\0${f.object.namespace ?? ''}\0${f.object.kind}\0${f.object.name}`;
  return {
    apiVersion: AUDIT_API_VERSION,
    kind: 'AuditReport',
    source,
    istioVersion,
    rootNamespace: 'istio-system',
    mesh: MESH,
    summary: { namespaces: postures.size, workloads, violations: summaryViolations },
    namespaces: [...postures.values()],
    findings: [...findings].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)),
    callers,
  };
}

/** A generated cluster: `namespaces` namespaces `team-NNNN` and `findings` findings spread over them. */
function generated(scale: { namespaces: number; findings: number }, kind: 'telemetry' | 'possible'): AuditReport {
  const width = String(scale.namespaces).length;
  const names = Array.from({ length: scale.namespaces }, (_, i) => `team-${String(i).padStart(width, '0')}`);
  const modes: EffectiveMode[] = [MESH, { mode: 'PERMISSIVE' }, { mode: 'STRICT', policy: '' }, { mode: 'DISABLE', policy: '' }];
  const seeds: NamespaceSeed[] = names.map((name, i) => {
    const mode = modes[i % 7 === 0 ? 1 : i % 23 === 0 ? 3 : i % 3 === 0 ? 2 : 0] as EffectiveMode;
    return {
      name,
      exempt: i % 97 === 0,
      enrollment: i % 5 === 0 ? 'none' : i % 11 === 0 ? 'ambient' : i % 4 === 0 ? 'istio.io/rev=canary' : 'istio-injection=enabled',
      mode: mode.policy === '' ? { mode: mode.mode, policy: `${name}/${mode.mode.toLowerCase()}` } : mode,
      ownPolicy: i % 9 === 0 ? 1 : 0,
      pods: cov(40 + (i % 13), (i % 5 === 0 ? 10 + (i % 7) : i % 17) + (i % 31 === 0 ? 2 : 0), i % 31 === 0 ? 2 : 0),
      templates: cov(8 + (i % 3), i % 5 === 0 ? 3 : i % 2),
    };
  });
  const judged = names.filter((_, i) => i % 97 !== 0);
  const findings: AuditFinding[] = [];
  const strictCount = Math.floor(scale.findings * 0.03);
  const driftCount = Math.floor(scale.findings * 0.01);
  for (let i = 0; i < strictCount; i += 1) {
    const ns = judged[i % judged.length] as string;
    findings.push(
      strictFinding(
        `${ns}/strict-${i}`,
        [subject('Deployment', ns, `svc-${i}`), subject('Pod', ns, `svc-${i}-7d9f8c6b5-x2lqp`)],
        'the pod template sets sidecar.istio.io/inject: "false"',
      ),
    );
  }
  for (let i = 0; i < driftCount; i += 1) {
    const ns = judged[i % judged.length] as string;
    findings.push(
      driftFinding(
        ns,
        `permissive-${i}`,
        `PeerAuthentication ${ns}/permissive-${i} sets PERMISSIVE: workloads app=svc-${i} in ${ns} accept plaintext`,
      ),
    );
  }
  for (let i = findings.length; i < scale.findings; i += 1) {
    const ns = judged[i % judged.length] as string;
    findings.push(
      podFinding(
        'Pod',
        ns,
        `job-${i}-x7k2p`,
        `namespace ${ns} has no istio-injection label`,
        `kubectl label namespace ${ns} istio-injection=enabled`,
      ),
    );
  }
  const byPolicy: StrictCallers[] = Array.from({ length: 300 }, (_, p) => {
    const ns = judged[p % judged.length] as string;
    const n = p === 0 ? 400 : 3;
    return {
      policy: `${ns}/strict-${p}`,
      destinations: Array.from({ length: p === 0 ? 40 : 2 }, (_, d) => `${ns}/svc-${d}`),
      callers: Array.from({ length: n }, (_, c) => ({
        namespace: judged[(p + c + 1) % judged.length] as string,
        workload: `caller-${c}`,
        ...(kind === 'telemetry' ? { requests: 10 + c, connections: c % 3 } : {}),
        because: 'namespace has no istio-injection label',
      })),
    };
  });
  const callers: CallersSection =
    kind === 'telemetry'
      ? { basis: 'telemetry', window: '1h', observedAt: '2026-05-04T09:30:00Z', byPolicy }
      : { basis: 'possible', byPolicy, possible: byPolicy.flatMap((p) => p.callers) };
  return assemble(seeds, findings, callers, 'cluster https://10.0.0.1:6443 (list-watch)', '1.27.3');
}

export function sampleReport(options: SampleOptions = {}): AuditReport {
  const kind = options.callers ?? 'telemetry';
  if (options.scale) return generated(options.scale, kind);
  const clean = options.clean ?? false;
  const seeds = clean
    ? NAMESPACES.map((s) => (s.exempt ? { ...s } : { ...s, pods: inMeshBut(s.pods), templates: inMeshBut(s.templates) }))
    : NAMESPACES.map((s) => ({ ...s }));
  let findings = clean ? [] : handWrittenFindings();
  let callers = callersFor(kind, clean);
  let source = 'cluster:prod-eu-west-1';
  let istioVersion = '1.27.3';
  if (options.hostile) {
    seeds.push({
      name: HOSTILE.namespace,
      enrollment: HOSTILE.workload,
      mode: { mode: 'STRICT', policy: `${HOSTILE.namespace}/x` },
      pods: cov(0, 1),
      templates: cov(0, 0),
    });
    findings = [
      ...findings,
      {
        rule: 'pod-requires-mesh',
        action: 'deny',
        object: workload('Pod', HOSTILE.namespace, HOSTILE.objectName),
        message: HOSTILE.message,
        fix: HOSTILE.fix,
        subjects: [subject('Pod', HOSTILE.namespace, HOSTILE.objectName)],
      },
    ];
    callers = {
      ...callers,
      error: HOSTILE.error,
      byPolicy: [
        ...callers.byPolicy,
        {
          policy: `${HOSTILE.namespace}/x`,
          destinations: [HOSTILE.workload],
          callers: [{ namespace: HOSTILE.namespace, workload: HOSTILE.workload, requests: 1, because: HOSTILE.message }],
        },
      ],
    };
    source = HOSTILE.source;
    istioVersion = HOSTILE.istioVersion;
  }
  return assemble(seeds, findings, callers, source, istioVersion);
}
