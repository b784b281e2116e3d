/**
 * Soak under load against a real kube-apiserver + etcd: the built `mtls-guard serve --kubeconfig` runs as a child
 * process list-watching the API server, and gets a steady mix of AdmissionReviews over keep-alive HTTPS while the
 * cluster changes through the API server.
 *
 * Every review has a known right answer despite the churn:
 * - most reviews target namespaces whose state never changes (`mesh`, `legacy`, and the mesh-wide policy);
 * - pods, PeerAuthentications and namespace labels churn in other namespaces (`churn-*`), which no review targets;
 * - one namespace, `flip`, changes in steps (labelled, a pod outside the mesh added, removed, unlabelled). After each
 *   step the test waits until the webhook reflects it, and then reviews that depend on it must get the new verdict
 *   until the next step. Reviews sent while a step is settling are not judged.
 *
 * SOAK_SECONDS (default 120) sets the length, SOAK_RATE (default 200) the reviews per second.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import t from 'tap';
import { MiB, rawRequest, rssBytes, scrape, sleep, startChildWebhook } from '../support/child-webhook.js';
import { startControlPlane } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 120);
const RATE = Number(process.env['SOAK_RATE'] ?? 200);
const WARM_UP_S = 20;
const SAMPLE_EVERY_MS = 5000;
/** RSS growth allowed from the first minute (after warm-up) to the end of the run. */
const GROWTH_BOUND = 48 * MiB;
/** The container memory limit the Helm chart sets. */
const CHART_LIMIT = 512 * MiB;
/** How long a change may take to reach the webhook's cache (through the watch). */
const PROPAGATION_BOUND_MS = 15_000;

t.setTimeout((SECONDS + 360) * 1000);

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const ca = readFileSync(plane.caFile, 'utf8');

const must = plane.must;

/** The API server over HTTPS with the admin token: asynchronous, so the load generator never stalls. */
function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      `${plane.server}${path}`,
      {
        method,
        ca,
        headers: { authorization: `Bearer ${plane.token}`, accept: 'application/json', ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}) },
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 300) reject(new Error(`${method} ${path}: HTTP ${status} ${text.slice(0, 300)}`));
          else resolve({ status, json: JSON.parse(text) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const podManifest = (namespace: string, name: string, inMesh: boolean, labels: Record<string, string> = { app: 'web' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace,
    labels,
    ...(inMesh ? { annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } } : {}),
  },
  spec: {
    automountServiceAccountToken: false,
    containers: [
      { name: 'app', image: 'registry.example.com/web:1', env: [{ name: 'DB_PASSWORD', value: 'not-a-real-secret' }] },
      ...(inMesh ? [{ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' }] : []),
    ],
  },
});

const policy = (namespace: string, name: string, mode: string, selector?: Record<string, string>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name, namespace },
  spec: { ...(selector ? { selector: { matchLabels: selector } } : {}), mtls: { mode } },
});

const deploymentManifest = (namespace: string, name: string, image = 'registry.example.com/web:1') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
  },
});

const CHURN = ['churn-0', 'churn-1', 'churn-2', 'churn-3'];

// The stable cluster: a labelled namespace whose pods carry sidecars, under a STRICT policy; an unlabelled one
// whose pods do not; a mesh-wide PERMISSIVE policy; the flip namespace (unlabelled, one pod in the mesh); the churn
// namespaces, empty for now.
must(['apply', '-f', repoPath('test/e2e/peerauthentication-crd.yaml')]);
must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
const namespaces = [
  { name: 'istio-system' },
  { name: 'mtls-guard' },
  { name: 'mesh', labels: { 'istio-injection': 'enabled' } },
  { name: 'legacy' },
  { name: 'flip' },
  ...CHURN.map((name) => ({ name })),
];
const setup: unknown[] = [];
for (const ns of namespaces) {
  setup.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, ...(ns.labels ? { labels: ns.labels } : {}) } });
  setup.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns.name } });
}
for (let i = 0; i < 5; i += 1) setup.push(podManifest('mesh', `web-${i}`, true), podManifest('legacy', `web-${i}`, false));
setup.push(podManifest('flip', 'web-0', true));
setup.push(policy('mesh', 'default', 'STRICT'), policy('istio-system', 'default', 'PERMISSIVE'));
must(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: setup }));

const webhook = await startChildWebhook(['--kubeconfig', plane.kubeconfig], { POD_NAMESPACE: 'mtls-guard' });
t.teardown(async () => {
  await webhook.stop();
});
const readyDeadline = Date.now() + 60_000;
while ((await rawRequest(webhook.port, webhook.ca, [Buffer.from('GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n')], { deadlineMs: 5000 })).response?.status !== 200) {
  if (Date.now() > readyDeadline) throw new Error(`mtls-guard not ready after 60 s: ${webhook.logs().slice(-2000)}`);
  await sleep(200);
}

type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

function review(operation: Operation, object: any, oldObject?: any): { uid: string; body: Buffer } {
  const subject = object ?? oldObject;
  const [group, version] = String(subject.apiVersion).includes('/') ? String(subject.apiVersion).split('/') : ['', subject.apiVersion];
  const uid = randomUUID();
  const body = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version, kind: subject.kind },
      resource: { group, version, resource: `${String(subject.kind).toLowerCase()}s` },
      name: subject.metadata.name,
      namespace: subject.metadata.namespace,
      operation,
      userInfo: { username: 'soak', groups: ['system:authenticated'] },
      object: object ?? null,
      oldObject: oldObject ?? null,
      dryRun: false,
    },
  };
  return { uid, body: Buffer.from(JSON.stringify(body)) };
}

interface Expected {
  allowed: boolean;
  /** For a denial, the rule named in the message. */
  rule?: string;
  /** Allowed with at least one warning. */
  warns?: boolean;
}

interface Mix {
  name: string;
  weight: number;
  make: () => { uid: string; body: Buffer };
  /** The right answer, or undefined while it is not known (the flip namespace settling). */
  expected: () => Expected | undefined;
}

// The state of the flip namespace, as the churn loop last made it, and whether the webhook has caught up.
const flip = { labelled: false, outsidePods: 0, settled: true, epoch: 0 };

let serial = 0;
const MIX: Mix[] = [
  { name: 'pod with sidecar, mesh', weight: 30, make: () => review('CREATE', podManifest('mesh', `new-${(serial += 1)}`, true)), expected: () => ({ allowed: true }) },
  { name: 'pod without sidecar, legacy', weight: 15, make: () => review('CREATE', podManifest('legacy', `new-${(serial += 1)}`, false)), expected: () => ({ allowed: false, rule: 'pod-requires-mesh' }) },
  { name: 'pod without sidecar, mesh', weight: 5, make: () => review('CREATE', podManifest('mesh', `new-${(serial += 1)}`, false)), expected: () => ({ allowed: false, rule: 'pod-requires-mesh' }) },
  { name: 'deployment, mesh', weight: 10, make: () => review('CREATE', deploymentManifest('mesh', `d-${(serial += 1)}`)), expected: () => ({ allowed: true }) },
  {
    name: 'deployment update, legacy',
    weight: 8,
    // A new image: the template changes, so new pods will be created (an UPDATE that leaves the template alone is not judged).
    make: () => review('UPDATE', deploymentManifest('legacy', 'billing', 'registry.example.com/web:2'), deploymentManifest('legacy', 'billing')),
    expected: () => ({ allowed: false, rule: 'pod-requires-mesh' }),
  },
  { name: 'STRICT update, mesh', weight: 5, make: () => review('UPDATE', policy('mesh', 'default', 'STRICT'), policy('mesh', 'default', 'STRICT')), expected: () => ({ allowed: true }) },
  { name: 'STRICT create, legacy', weight: 6, make: () => review('CREATE', policy('legacy', 'default', 'STRICT')), expected: () => ({ allowed: false, rule: 'strict-requires-mesh' }) },
  { name: 'PERMISSIVE create, legacy', weight: 4, make: () => review('CREATE', policy('legacy', 'default', 'PERMISSIVE')), expected: () => ({ allowed: true, warns: true }) },
  { name: 'STRICT delete, mesh', weight: 3, make: () => review('DELETE', undefined, policy('mesh', 'default', 'STRICT')), expected: () => ({ allowed: true, warns: true }) },
  { name: 'configmap', weight: 2, make: () => review('CREATE', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'legacy' } }), expected: () => ({ allowed: true }) },
  {
    name: 'deployment, flip (depends on its label)',
    weight: 6,
    make: () => review('CREATE', deploymentManifest('flip', `d-${(serial += 1)}`)),
    expected: () => (flip.settled ? (flip.labelled ? { allowed: true } : { allowed: false, rule: 'pod-requires-mesh' }) : undefined),
  },
  {
    name: 'STRICT create, flip (depends on its pods)',
    weight: 6,
    make: () => review('CREATE', policy('flip', 'default', 'STRICT')),
    expected: () => (flip.settled ? (flip.outsidePods === 0 ? { allowed: true } : { allowed: false, rule: 'strict-requires-mesh' }) : undefined),
  },
];
const TOTAL_WEIGHT = MIX.reduce((sum, m) => sum + m.weight, 0);

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

interface Answer {
  status: number;
  body: any;
  ms: number;
}

function send(body: Buffer, retry = true): Promise<Answer> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: webhook.port, path: '/validate', method: 'POST', ca: webhook.ca, servername: 'localhost', agent, timeout: 10_000,
        headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, body: json, ms: Number(process.hrtime.bigint() - started) / 1e6 });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A keep-alive socket the server closed just as it was reused: the request never reached it. Send it again
      // once, as HTTP clients do (Node's documentation recommends it); counted below.
      if (retry && req.reusedSocket && error.code === 'ECONNRESET') {
        stats.retried += 1;
        send(body, false).then(resolve, reject);
      } else reject(error);
    });
    req.end(body);
  });
}

const stats = {
  sent: 0,
  answered: 0,
  errors: [] as string[],
  wrong: [] as string[],
  judged: 0,
  unjudged: 0,
  retried: 0,
  latencies: [] as number[],
  byMix: new Map<string, number>(),
};
const changes = { podsCreated: 0, podsDeleted: 0, policiesCreated: 0, policiesDeleted: 0, labelsChanged: 0, flipSteps: 0 };
const propagation: number[] = [];
const rss: { at: number; bytes: number }[] = [];

function verdictProblem(expected: Expected, answer: Answer, uid: string): string | undefined {
  const response = answer.body?.response;
  if (answer.status !== 200 || response?.uid !== uid) return `HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
  if (response.allowed !== expected.allowed) return `allowed=${response.allowed}, expected ${expected.allowed}: ${String(response.status?.message ?? '').slice(0, 200)}`;
  if (expected.rule && !(response.status?.code === 403 && String(response.status?.message).includes(`[${expected.rule}]`))) return `denied without [${expected.rule}]: ${JSON.stringify(response.status).slice(0, 200)}`;
  if (expected.warns !== undefined && expected.warns !== (Array.isArray(response.warnings) && response.warnings.length > 0)) return `warnings ${JSON.stringify(response.warnings)}, expected ${expected.warns ? 'some' : 'none'}`;
  return undefined;
}

let pick = 0;
async function one(): Promise<void> {
  // A fixed weighted round-robin: the mix is the same in every run.
  let slot = (pick = (pick + 7919) % TOTAL_WEIGHT);
  const mix = MIX.find((m) => (slot -= m.weight) < 0)!;
  const before = mix.expected();
  const epoch = flip.epoch;
  const { uid, body } = mix.make();
  stats.sent += 1;
  stats.byMix.set(mix.name, (stats.byMix.get(mix.name) ?? 0) + 1);
  let answer: Answer;
  try {
    answer = await send(body);
  } catch (error) {
    stats.errors.push(`${mix.name}: ${(error as Error).message}`);
    return;
  }
  stats.answered += 1;
  stats.latencies.push(answer.ms);
  if (answer.status !== 200 || answer.body?.response?.uid !== uid) {
    stats.errors.push(`${mix.name}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
    return;
  }
  // Judge only when the right answer was known when it was sent and nothing changed before it came back.
  if (!before || epoch !== flip.epoch || !mix.expected()) {
    stats.unjudged += 1;
    return;
  }
  stats.judged += 1;
  const problem = verdictProblem(before, answer, uid);
  if (problem) stats.wrong.push(`${mix.name} (flip ${JSON.stringify(flip)}): ${problem}`);
}

/** Steady load: as many reviews as RATE says by now, spread over 10 ms ticks. Returns how long it ran, in seconds. */
async function load(until: number): Promise<number> {
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  while (Date.now() < until) {
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    while (stats.sent < due && inFlight.size < 500) {
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(10);
  }
  await Promise.all(inFlight);
  return (Date.now() - started) / 1000;
}

/** Pods, policies and labels created and deleted in the churn namespaces, about four changes a second. */
async function churn(until: number): Promise<void> {
  const pods = new Map<string, string[]>(CHURN.map((ns) => [ns, []]));
  const policies = new Map<string, string[]>(CHURN.map((ns) => [ns, []]));
  let n = 0;
  while (Date.now() < until) {
    n += 1;
    const ns = CHURN[n % CHURN.length]!;
    const nsPods = pods.get(ns)!;
    const nsPolicies = policies.get(ns)!;
    try {
      const kind = n % 5;
      if (kind <= 2) {
        // Pods: two creations for one deletion, at most 8 per namespace.
        if (kind < 2 && nsPods.length < 8) {
          const name = `p-${n}`;
          await api('POST', `/api/v1/namespaces/${ns}/pods`, podManifest(ns, name, n % 3 === 0, { app: n % 2 ? 'web' : 'db' }));
          nsPods.push(name);
          changes.podsCreated += 1;
        } else if (nsPods.length > 0) {
          await api('DELETE', `/api/v1/namespaces/${ns}/pods/${nsPods.shift()}?gracePeriodSeconds=0`);
          changes.podsDeleted += 1;
        }
      } else if (kind === 3) {
        if (nsPolicies.length < 3) {
          const name = `pa-${n}`;
          const mode = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'][n % 4]!;
          await api('POST', `/apis/security.istio.io/v1/namespaces/${ns}/peerauthentications`, policy(ns, name, mode, n % 2 ? { app: 'web' } : undefined));
          nsPolicies.push(name);
          changes.policiesCreated += 1;
        } else {
          await api('DELETE', `/apis/security.istio.io/v1/namespaces/${ns}/peerauthentications/${nsPolicies.shift()}`);
          changes.policiesDeleted += 1;
        }
      } else {
        const label = n % 3 === 0 ? { 'istio-injection': null, 'istio.io/rev': null } : n % 3 === 1 ? { 'istio-injection': 'enabled' } : { 'istio.io/rev': 'canary' };
        await api('PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: label } }, 'application/merge-patch+json');
        changes.labelsChanged += 1;
      }
    } catch (error) {
      stats.errors.push(`churn: ${(error as Error).message}`);
    }
    await sleep(250);
  }
}

/** Poll one review until its verdict is `allowed`, within the propagation bound; returns how long it took. */
async function settle(make: () => { uid: string; body: Buffer }, allowed: boolean): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < PROPAGATION_BOUND_MS) {
    const { uid, body } = make();
    const answer = await send(body).catch(() => undefined);
    if (answer?.status === 200 && answer.body?.response?.uid === uid && answer.body.response.allowed === allowed) return Date.now() - started;
    await sleep(100);
  }
  throw new Error(`the webhook did not reflect the change within ${PROPAGATION_BOUND_MS} ms`);
}

/** The flip namespace, one step every few seconds: label, add a pod outside the mesh, remove it, unlabel. */
async function flipSteps(until: number): Promise<void> {
  const deployment = MIX.find((m) => m.name.startsWith('deployment, flip'))!.make;
  const strict = MIX.find((m) => m.name.startsWith('STRICT create, flip'))!.make;
  let straggler = 0;
  let step = 0;
  while (Date.now() < until - 8000) {
    flip.settled = false;
    flip.epoch += 1;
    try {
      switch (step % 4) {
        case 0:
          await api('PATCH', '/api/v1/namespaces/flip', { metadata: { labels: { 'istio-injection': 'enabled' } } }, 'application/merge-patch+json');
          flip.labelled = true;
          propagation.push(await settle(deployment, true));
          break;
        case 1:
          straggler += 1;
          await api('POST', '/api/v1/namespaces/flip/pods', podManifest('flip', `straggler-${straggler}`, false));
          flip.outsidePods = 1;
          propagation.push(await settle(strict, false));
          break;
        case 2:
          await api('DELETE', `/api/v1/namespaces/flip/pods/straggler-${straggler}?gracePeriodSeconds=0`);
          flip.outsidePods = 0;
          propagation.push(await settle(strict, true));
          break;
        default:
          await api('PATCH', '/api/v1/namespaces/flip', { metadata: { labels: { 'istio-injection': null } } }, 'application/merge-patch+json');
          flip.labelled = false;
          propagation.push(await settle(deployment, false));
      }
      changes.flipSteps += 1;
    } catch (error) {
      stats.wrong.push(`flip step ${step}: ${(error as Error).message}`);
    }
    flip.epoch += 1;
    flip.settled = true;
    step += 1;
    await sleep(5000);
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

t.test(`soak: ${SECONDS} s of mixed reviews at ${RATE}/s while the cluster changes`, async (t) => {
  const started = Date.now();
  const until = started + SECONDS * 1000;
  const sampler = setInterval(() => {
    if (webhook.exit() === undefined) rss.push({ at: (Date.now() - started) / 1000, bytes: rssBytes(webhook.pid) });
  }, SAMPLE_EVERY_MS);
  rss.push({ at: 0, bytes: rssBytes(webhook.pid) });
  const [loadSeconds] = await Promise.all([load(until), churn(until), flipSteps(until)]);
  const elapsed = (Date.now() - started) / 1000;
  clearInterval(sampler);
  rss.push({ at: elapsed, bytes: rssBytes(webhook.pid) });
  agent.destroy();

  // RSS: the highest sample of the first minute after warm-up against the last one.
  const firstMinute = rss.filter((s) => s.at >= WARM_UP_S && s.at <= WARM_UP_S + 60).map((s) => s.bytes);
  const reference = firstMinute.length > 0 ? Math.max(...firstMinute) : rss[rss.length - 1]!.bytes;
  const end = rss[rss.length - 1]!.bytes;
  const peak = Math.max(...rss.map((s) => s.bytes));
  const mb = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
  const rate = stats.answered / loadSeconds;
  t.comment(`${stats.answered} reviews answered of ${stats.sent} sent in ${loadSeconds.toFixed(0)} s: ${rate.toFixed(0)}/s (target ${RATE}/s), ${stats.judged} judged, ${stats.unjudged} sent while the flip namespace settled, ${stats.retried} resent after a keep-alive reset`);
  t.comment(`latency p50 ${percentile(stats.latencies, 50).toFixed(1)} ms, p99 ${percentile(stats.latencies, 99).toFixed(1)} ms, max ${Math.max(...stats.latencies).toFixed(0)} ms`);
  t.comment(`mix: ${JSON.stringify(Object.fromEntries(stats.byMix))}`);
  t.comment(`cluster changes: ${JSON.stringify(changes)}; flip propagation to the webhook: max ${Math.max(...propagation, 0)} ms`);
  t.comment(`errors ${stats.errors.length}, wrong verdicts ${stats.wrong.length}`);
  t.comment(`webhook RSS: start ${mb(rss[0]!.bytes)}, first-minute reference ${mb(reference)}, peak ${mb(peak)}, end ${mb(end)} (samples: ${rss.map((s) => (s.bytes / MiB).toFixed(0)).join(' ')})`);

  t.equal(webhook.exit(), undefined, 'the webhook process never exited');
  t.same(stats.errors.slice(0, 10), [], `no errors (${stats.errors.length})`);
  t.same(stats.wrong.slice(0, 10), [], `no wrong verdicts (${stats.wrong.length})`);
  t.ok(rate >= RATE * 0.8, `the rate held: ${rate.toFixed(0)}/s of ${RATE}/s`);
  t.ok(stats.judged >= stats.answered * 0.9, `most reviews were judged (${stats.judged} of ${stats.answered})`);
  t.ok(changes.flipSteps >= Math.floor(SECONDS / 15), `the flip namespace changed ${changes.flipSteps} times, each seen by the webhook`);
  t.ok(changes.podsCreated + changes.podsDeleted + changes.policiesCreated + changes.policiesDeleted + changes.labelsChanged >= SECONDS * 2, 'the cluster churned');
  t.ok(end - reference <= GROWTH_BOUND, `RSS growth ${mb(end - reference)} <= ${mb(GROWTH_BOUND)} from the first minute to the end`);
  t.ok(peak < CHART_LIMIT, `peak RSS ${mb(peak)} < the chart's limit of ${mb(CHART_LIMIT)}`);

  // The cache holds what the API server holds, once the last changes have arrived.
  const counts = async () => {
    const metrics = await scrape(webhook.metricsPort, 'mtls_guard_cache_objects');
    const cached = {
      pods: metrics.get('{resource="pods"}'),
      namespaces: metrics.get('{resource="namespaces"}'),
      peerauthentications: metrics.get('{resource="peerauthentications"}'),
    };
    const server = {
      pods: (await api('GET', '/api/v1/pods')).json.items.length,
      namespaces: (await api('GET', '/api/v1/namespaces')).json.items.length,
      peerauthentications: (await api('GET', '/apis/security.istio.io/v1/peerauthentications')).json.items.length,
    };
    return { cached, server };
  };
  let last = await counts();
  const deadline = Date.now() + 30_000;
  while (JSON.stringify(last.cached) !== JSON.stringify(last.server) && Date.now() < deadline) {
    await sleep(500);
    last = await counts();
  }
  t.comment(`cache objects ${JSON.stringify(last.cached)}, API server ${JSON.stringify(last.server)}`);
  t.same(last.cached, last.server, 'mtls_guard_cache_objects matches the API server');
  t.ok(last.server.pods >= 11 && last.server.peerauthentications >= 2, 'the counts are of a populated cluster');
});

t.test('the webhook exits cleanly on SIGTERM after the soak', async (t) => {
  t.equal(await webhook.stop(), 0, 'exit code 0');
});
