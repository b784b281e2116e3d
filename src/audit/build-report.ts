/** The audit report from a settled posture: per namespace figures, existing violations with their fixes, callers. */
import { compareSubjects, durationText } from '../engine/findings.js';
import { workloadFix } from '../engine/fixes.js';
import { DATAPLANE_MODE, INJECTION_LABEL, REVISION_LABEL } from '../engine/istio-labels.js';
import { NEWEST_ISTIO_VERSION } from '../engine/istio-version.js';
import { composeMode, type ResolvedMode } from '../engine/peer-authentication.js';
import { droppedFieldWarnings, driftOnWrite } from '../engine/rules/mtls-drift.js';
import { existingStrictViolation, type StrictOffender } from '../engine/rules/strict-requires-mesh.js';
import type { Action, NamespaceFacts, PeerAuthenticationFacts, Policy, RuleId, WorkloadFacts } from '../engine/types.js';
import type { AuditedState, MeshPosture } from './posture.js';
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
} from './report.js';
import type { PlaintextCallers } from '../telemetry/plaintext-callers.js';
import { istioWorkloadName } from '../engine/istio-workload-name.js';
import type { WorkloadPosture } from './workload-posture.js';

const ref = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

function effective(resolved: ResolvedMode): EffectiveMode {
  return resolved.source ? { mode: resolved.mode, policy: ref(resolved.source) } : { mode: resolved.mode };
}

function enrollment(namespace: NamespaceFacts | undefined): string {
  const labels = namespace?.labels ?? {};
  if (labels[INJECTION_LABEL] !== undefined) return `${INJECTION_LABEL}=${labels[INJECTION_LABEL]}`;
  if (labels[REVISION_LABEL] !== undefined) return `${REVISION_LABEL}=${labels[REVISION_LABEL]}`;
  if (labels[DATAPLANE_MODE] === 'ambient') return 'ambient';
  return 'none';
}

/** A rule's action in the report: `off` rules report nothing, and the audit never denies anything itself. */
function actionOf(policy: Policy, rule: RuleId, advisory = false): Exclude<Action, 'off'> | undefined {
  const action = policy.actions[rule];
  if (action === 'off') return undefined;
  return advisory && action === 'deny' ? 'warn' : action;
}

const addCoverage = (sum: Coverage, part: Coverage): void => {
  sum.total += part.total;
  sum.inMesh += part.inMesh;
  sum.outOfMesh += part.outOfMesh;
  sum.hostNetwork += part.hostNetwork;
};

const noViolations = (): Record<RuleId, number> => ({ 'strict-requires-mesh': 0, 'mtls-drift': 0, 'pod-requires-mesh': 0 });

/** Drift in force: PERMISSIVE and DISABLE policies, policies without effect, dropped fields (SPEC 2.2 on what exists). */
function driftFindings(state: AuditedState, policy: Policy, posture: MeshPosture): AuditFinding[] {
  const action = actionOf(policy, 'mtls-drift');
  if (!action) return [];
  const { index } = posture.context;
  const findings: AuditFinding[] = [];
  for (const pa of state.peerAuthentications()) {
    const found = [...droppedFieldWarnings(pa, policy.rootNamespace), ...driftOnWrite(pa, index)];
    for (const finding of found) {
      findings.push({
        rule: 'mtls-drift',
        action,
        object: { apiVersion: pa.apiVersion, kind: 'PeerAuthentication', namespace: pa.namespace, name: pa.name },
        message: finding.message,
        subjects: finding.subjects,
      });
    }
  }
  return findings;
}

function podFinding(workload: WorkloadFacts, posture: WorkloadPosture, action: Exclude<Action, 'off'>): AuditFinding {
  const membership = posture.outside as NonNullable<WorkloadPosture['outside']>;
  const runs = workload.kind === 'Pod' ? 'runs' : 'creates pods that run';
  const fix = workloadFix(workload, membership);
  return {
    rule: 'pod-requires-mesh',
    action,
    object: { apiVersion: workload.apiVersion, kind: workload.kind, namespace: workload.namespace, name: workload.name },
    message: `${workload.kind} ${workload.namespace}/${workload.name} ${runs} outside the Istio mesh: ${membership.because}. Fix: ${fix}`,
    fix,
    subjects: [{ kind: workload.kind, namespace: workload.namespace, name: workload.name }],
  };
}

function strictFindings(offendersByPolicy: Map<string, { from: PeerAuthenticationFacts; offenders: StrictOffender[] }>, policy: Policy): AuditFinding[] {
  const action = actionOf(policy, 'strict-requires-mesh');
  if (!action) return [];
  const findings: AuditFinding[] = [];
  for (const { from, offenders } of offendersByPolicy.values()) {
    const finding = existingStrictViolation(from, offenders, policy.rootNamespace);
    const fix = finding.message.slice(finding.message.indexOf('Fix: ') + 'Fix: '.length);
    findings.push({
      rule: 'strict-requires-mesh',
      action,
      object: { apiVersion: from.apiVersion, kind: 'PeerAuthentication', namespace: from.namespace, name: from.name },
      message: finding.message,
      fix,
      subjects: finding.subjects,
    });
  }
  return findings;
}

function compareFindings(a: AuditFinding, b: AuditFinding): number {
  return (
    a.rule.localeCompare(b.rule) ||
    (a.object.namespace ?? '').localeCompare(b.object.namespace ?? '') ||
    a.object.kind.localeCompare(b.object.kind) ||
    a.object.name.localeCompare(b.object.name) ||
    a.message.localeCompare(b.message)
  );
}

export interface ReportInputs {
  state: AuditedState;
  policy: Policy;
  posture: MeshPosture;
  /** Where the state came from, for the report's header. */
  source: string;
  /** The STRICT policies' plaintext callers; without it every workload outside the mesh is a possible caller. */
  callers?: (strict: StrictDestinations[], outside: OutsideWorkload[]) => CallersSection;
}

/** The in-mesh workloads a STRICT policy governs, by that policy. */
export interface StrictDestinations {
  policy: PeerAuthenticationFacts;
  workloads: WorkloadFacts[];
}

export interface OutsideWorkload {
  workload: WorkloadFacts;
  because: string;
}

/** Without telemetry: every workload outside the mesh (hostNetwork aside), in a namespace mtls-guard checks, could be calling. */
export function possibleCallers(strict: StrictDestinations[], outside: OutsideWorkload[]): CallersSection {
  const possible: Caller[] = outside.map(({ workload, because }) => ({ namespace: workload.namespace, workload: `${workload.kind}/${workload.name}`, because }));
  return {
    basis: 'possible',
    byPolicy: strict.map(({ policy, workloads }) => ({
      policy: ref(policy),
      destinations: [...new Set(workloads.map((w) => `${w.namespace}/${w.name}`))].sort(),
      callers: [],
    })),
    possible,
  };
}

/** The posture must be settled first (MeshPosture.settle()). */
export function buildReport(inputs: ReportInputs): AuditReport {
  const { state, policy, posture } = inputs;
  const { index } = posture.context;
  const namespaces: NamespacePosture[] = [];
  const findings: AuditFinding[] = [];
  const podAction = actionOf(policy, 'pod-requires-mesh');
  const offendersByPolicy = new Map<string, { from: PeerAuthenticationFacts; offenders: StrictOffender[] }>();
  const strictByPolicy = new Map<string, StrictDestinations>();
  const outside: OutsideWorkload[] = [];
  const summary = { namespaces: 0, workloads: { total: 0, inMesh: 0, outOfMesh: 0, hostNetwork: 0 }, violations: noViolations() };

  for (const [name, tally] of [...posture.tallies()].sort(([a], [b]) => a.localeCompare(b))) {
    const exempt = policy.exempt.has(name);
    const facts = state.namespace(name);
    const row: NamespacePosture = {
      name,
      exempt,
      enrollment: enrollment(facts),
      mode: namespaceMode(posture, name),
      ownPolicy: tally.ownPolicy,
      pods: { ...tally.pods },
      templates: { ...tally.templates },
      violations: noViolations(),
    };
    for (const [workload, judged] of posture.judged(name)) {
      if (judged.inMesh && judged.mode === 'STRICT' && judged.modeSource) {
        const key = ref(judged.modeSource);
        const entry = strictByPolicy.get(key) ?? { policy: judged.modeSource, workloads: [] };
        entry.workloads.push(workload);
        strictByPolicy.set(key, entry);
      }
      if (exempt || !judged.outside) continue;
      if (!judged.hostNetwork) outside.push({ workload, because: judged.outside.because });
      if (judged.strict) {
        const key = ref(judged.strict.from);
        const entry = offendersByPolicy.get(key) ?? { from: judged.strict.from, offenders: [] };
        const offender: StrictOffender = { workload, membership: judged.outside };
        if (judged.strict.ports) offender.ports = judged.strict.ports;
        entry.offenders.push(offender);
        offendersByPolicy.set(key, entry);
      }
      if (podAction && !judged.hostNetwork) findings.push(podFinding(workload, judged, podAction));
    }
    if (!exempt) {
      if (actionOf(policy, 'strict-requires-mesh')) row.violations['strict-requires-mesh'] = tally.strict;
      if (podAction) row.violations['pod-requires-mesh'] = tally.outside;
    }
    namespaces.push(row);
    summary.namespaces++;
    addCoverage(summary.workloads, tally.pods);
    addCoverage(summary.workloads, tally.templates);
  }
  findings.push(...strictFindings(offendersByPolicy, policy));
  const drift = driftFindings(state, policy, posture);
  findings.push(...drift);
  const rows = new Map(namespaces.map((row) => [row.name, row]));
  for (const finding of drift) {
    const row = rows.get(finding.object.namespace ?? '');
    if (row) row.violations['mtls-drift']++;
  }
  for (const row of namespaces) for (const rule of Object.keys(row.violations) as RuleId[]) summary.violations[rule] += row.violations[rule];
  findings.sort(compareFindings);
  for (const finding of findings) finding.subjects.sort(compareSubjects);

  const strict = [...strictByPolicy.values()].sort((a, b) => ref(a.policy).localeCompare(ref(b.policy)));
  outside.sort((a, b) => compareSubjects(a.workload, b.workload));
  const callers = (inputs.callers ?? possibleCallers)(strict, outside);
  return {
    apiVersion: AUDIT_API_VERSION,
    kind: 'AuditReport',
    source: inputs.source,
    istioVersion: policy.istioVersion ?? NEWEST_ISTIO_VERSION,
    rootNamespace: policy.rootNamespace,
    mesh: effective(composeMode(index.mesh)),
    summary,
    namespaces,
    findings,
    callers,
  };
}

/** The mode a workload without its own policy gets in the namespace. */
export function namespaceMode(posture: MeshPosture, namespace: string): EffectiveMode {
  const { index } = posture.context;
  return effective(namespace === index.rootNamespace ? composeMode(index.mesh) : composeMode(index.mesh, index.namespaceWide.get(namespace)));
}

/** mtls-drift findings in force, counted by the policy's namespace. */
export function driftCounts(state: AuditedState, policy: Policy, posture: MeshPosture): Map<string, number> {
  const counts = new Map<string, number>();
  for (const finding of driftFindings(state, policy, posture)) {
    const ns = finding.object.namespace ?? '';
    counts.set(ns, (counts.get(ns) ?? 0) + 1);
  }
  return counts;
}

/** With telemetry: per STRICT policy, the plaintext sources Istio saw reach the workloads it governs. */
export function observedCallers(
  traffic: { windowSeconds: number; callersOf(destination: { namespace: string; name: string }): PlaintextCallers | undefined },
  observedAt: string | undefined,
  error: string | undefined,
): (strict: StrictDestinations[], outside: OutsideWorkload[]) => CallersSection {
  return (strict, outside) => {
    const known = new Map<string, string>();
    for (const { workload, because } of outside) {
      const name = istioWorkloadName(workload);
      if (name) known.set(`${name.namespace}/${name.name}`, because);
    }
    const section: CallersSection = { basis: 'telemetry', window: durationText(traffic.windowSeconds), byPolicy: [] };
    if (observedAt) section.observedAt = observedAt;
    if (error) section.error = error;
    for (const { policy, workloads } of strict) {
      const destinations = new Set<string>();
      const callers = new Map<string, Caller>();
      const unidentified = { requests: 0, connections: 0 };
      for (const workload of workloads) {
        const name = istioWorkloadName(workload);
        if (!name || destinations.has(`${name.namespace}/${name.name}`)) continue;
        destinations.add(`${name.namespace}/${name.name}`);
        const seen = traffic.callersOf(name);
        for (const source of seen?.sources ?? []) {
          const key = `${source.source.namespace}/${source.source.name}`;
          const caller = callers.get(key) ?? { namespace: source.source.namespace, workload: source.source.name, requests: 0, connections: 0 };
          caller.requests = (caller.requests ?? 0) + source.requests;
          caller.connections = (caller.connections ?? 0) + source.connections;
          const because = known.get(key);
          if (because) caller.because = because;
          callers.set(key, caller);
        }
        unidentified.requests += seen?.unidentified?.requests ?? 0;
        unidentified.connections += seen?.unidentified?.connections ?? 0;
      }
      const entry: StrictCallers = {
        policy: ref(policy),
        destinations: [...destinations].sort(),
        callers: [...callers.values()].sort(
          (a, b) => (b.requests ?? 0) + (b.connections ?? 0) - ((a.requests ?? 0) + (a.connections ?? 0)) || `${a.namespace}/${a.workload}`.localeCompare(`${b.namespace}/${b.workload}`),
        ),
      };
      if (unidentified.requests + unidentified.connections > 0) entry.unidentified = unidentified;
      section.byPolicy.push(entry);
    }
    return section;
  };
}
