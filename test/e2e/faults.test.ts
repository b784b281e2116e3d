/**
 * Faults with the real control plane (issue 7, part 3), each measured:
 *
 * 1. etcd killed and restarted, then kube-apiserver restarted, while a client keeps sending AdmissionReviews to
 *    `mtls-guard serve` over HTTPS: every answer is the right verdict or a retry (503), never a wrong one;
 *    /readyz follows the watches; a change made after recovery is seen, without restarting mtls-guard.
 * 2. A hung API server (SIGSTOP): the reflector watchdog notices the silent watches, the source reports
 *    not-synced instead of judging with frozen state, and after SIGCONT it catches up with changes made
 *    meanwhile through a second API server on the same etcd.
 * 3. mtls-guard stopped, registered as the Helm chart renders it (default failurePolicies): real kubectl shows
 *    PeerAuthentications failing closed and pods failing open, then enforcement resumes when it is back.
 *
 * The figures are printed as TAP comments ("# figures ...").
 */
import { spawn, spawnSync } from 'node:child_process';
import { pino } from 'pino';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CONFIG } from '../../src/config/config.js';
import { policyFor } from '../../src/config/config.js';
import { handleReview } from '../../src/server/review-handler.js';
import type { KubeStateSource } from '../../src/state/kube-source.js';
import { DEFAULT_WATCHDOG_GRACE_MS, DEFAULT_WATCH_TIMEOUT_SECONDS } from '../../src/state/reflector.js';
import { helmBinary, startSource } from '../support/control-plane.js';
import { EXEMPT, startE2E, until } from './harness.js';
import { webhookConfiguration } from './webhook-configuration.js';
import { repoPath } from '../support/helpers.js';
import { admissionReview, https } from '../support/webhook-helpers.js';

t.setTimeout(900_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// The chart's own ValidatingWebhookConfiguration, rendered before anything is started.
type Doc = Record<string, any>;
const rendered = spawnSync(helmBinary(), ['template', 'mtls-guard', repoPath('charts/mtls-guard'), '-n', 'mtls-guard'], { encoding: 'utf8' });
if (rendered.status !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
const chartVwc = parseAllDocuments(rendered.stdout)
  .map((d) => d.toJS() as Doc | null)
  .find((d) => d?.['kind'] === 'ValidatingWebhookConfiguration') as Doc;

const e2e = await startE2E();
t.teardown(() => e2e.stop());
const { kubectl, plane } = e2e;

const must = (args: string[], input?: string): string => {
  const run = kubectl(args, input);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
};
/** kubectl without blocking this process: the traffic and /readyz sampling keep running meanwhile. */
const kubectlAsync = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', plane.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
const readyz = async (): Promise<{ status: number; body: any }> => {
  const res = await https(e2e.webhookPort, e2e.ca, '/readyz');
  return { status: res.status, body: res.json() };
};

const policyObject = (namespace: string, mode: string): Doc => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default', namespace },
  spec: { mtls: { mode } },
});
const podObject = (namespace: string, name: string, injected: boolean): Doc => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, ...(injected ? { annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } } : {}) },
  spec: {
    automountServiceAccountToken: false,
    containers: [
      { name: 'app', image: 'registry.example.com/app:1' },
      ...(injected ? [{ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' }] : []),
    ],
  },
});

// ---------------------------------------------------------------------------------------------------------
// The registration: the chart's ValidatingWebhookConfiguration (helm template, default values), pointed at the
// test's URL and CA instead of the in-cluster Service.
const clientConfig = { url: e2e.url, caBundle: Buffer.from(e2e.ca).toString('base64') };
const registration: Doc = {
  apiVersion: chartVwc['apiVersion'],
  kind: chartVwc['kind'],
  metadata: { name: 'mtls-guard' },
  webhooks: (chartVwc['webhooks'] as Doc[]).map((hook) => ({ ...hook, clientConfig })),
};

must(['apply', '-f', repoPath('test/e2e/manifests/cluster.yaml')]);
// For the hung-API-server test: a namespace with a pod outside the mesh, created before mtls-guard would refuse it.
must(['apply', '-f', '-'], `apiVersion: v1
kind: Namespace
metadata: { name: hung }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default, namespace: hung }
---
${JSON.stringify(podObject('hung', 'w-1', false))}
`);
await until('the four pods are in the cache', async () => (await readyz()).body.resources.pods.objects === 4);
await e2e.register(registration);

t.test('the registration comes from the chart, with its default failurePolicies', async (t) => {
  const policies = Object.fromEntries((registration['webhooks'] as Doc[]).map((h) => [h['name'], h['failurePolicy']]));
  t.same(policies, { 'peerauthentications.mtls-guard.dev': 'Fail', 'workloads.mtls-guard.dev': 'Ignore', 'namespaces.mtls-guard.dev': 'Ignore' }, 'Fail for PeerAuthentications, Ignore for workloads and Namespaces');
  // The e2e tests register with test/e2e/webhook-configuration.ts: it must say the same as the chart.
  const mirror = webhookConfiguration({ name: 'mtls-guard', url: e2e.url, caBundle: e2e.ca, exempt: EXEMPT, rootNamespace: 'istio-system' });
  t.same(
    (mirror['webhooks'] as Doc[]).map(({ clientConfig: _, ...rest }) => rest),
    (registration['webhooks'] as Doc[]).map(({ clientConfig: _, ...rest }) => rest),
    'test/e2e/webhook-configuration.ts mirrors the chart (rules, selectors, policies, timeouts)',
  );
});

// ---------------------------------------------------------------------------------------------------------
// Traffic: AdmissionReviews whose right verdict is known, because nothing they depend on changes during a fault.

interface Case {
  name: string;
  object: Doc;
  allowed: boolean;
  /** For a denial: text the message must contain. */
  message?: string;
}

const CASES: readonly Case[] = [
  { name: 'STRICT over legacy, which runs an un-injected pod', object: policyObject('legacy', 'STRICT'), allowed: false, message: '[strict-requires-mesh] PeerAuthentication legacy/default' },
  { name: 'STRICT over shop, all injected', object: policyObject('shop', 'STRICT'), allowed: true },
  { name: 'a bare pod in unlabelled legacy', object: podObject('legacy', 'bare', false), allowed: false, message: '[pod-requires-mesh] Pod legacy/bare' },
  { name: 'an injected pod in shop', object: podObject('shop', 'injected', true), allowed: true },
];

type Outcome = 'correct' | 'retried' | 'wrong' | 'error';

/** One review over HTTPS, classified against the known verdict. A 503 (or a 503 denial asking to retry) is a retry. */
async function judge(c: Case): Promise<{ outcome: Outcome; detail: string }> {
  const review = admissionReview(c.object);
  const answer = await Promise.race([
    https(e2e.webhookPort, e2e.ca, '/validate', { body: JSON.stringify(review) }),
    sleep(15_000).then(() => undefined),
  ]).catch((error: Error) => error);
  if (answer === undefined) return { outcome: 'error', detail: `${c.name}: no answer in 15 s` };
  if (answer instanceof Error) return { outcome: 'error', detail: `${c.name}: ${answer.message}` };
  if (answer.status === 503) return { outcome: 'retried', detail: answer.text };
  if (answer.status !== 200) return { outcome: 'wrong', detail: `${c.name}: HTTP ${answer.status} ${answer.text}` };
  const response = answer.json().response as { allowed: boolean; status?: { code?: number; message?: string } };
  if (!response.allowed && response.status?.code === 503) return { outcome: 'retried', detail: response.status.message ?? '' };
  const right = response.allowed === c.allowed && (c.message === undefined || (response.status?.message ?? '').includes(c.message));
  return right ? { outcome: 'correct', detail: '' } : { outcome: 'wrong', detail: `${c.name}: ${JSON.stringify(response)}` };
}

interface Tally {
  sent: number;
  correct: number;
  retried: number;
  wrong: number;
  error: number;
  details: string[];
}

/** Keep `workers` clients sending reviews (round-robin over CASES), each pausing `pauseMs` between its reviews. */
function startTraffic(workers = 2, pauseMs = 40): { tally: Tally; stop: () => Promise<Tally> } {
  const tally: Tally = { sent: 0, correct: 0, retried: 0, wrong: 0, error: 0, details: [] };
  let running = true;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (running) {
      const c = CASES[next++ % CASES.length] as Case;
      tally.sent++;
      const { outcome, detail } = await judge(c);
      tally[outcome]++;
      if ((outcome === 'wrong' || outcome === 'error') && tally.details.length < 10) tally.details.push(detail);
      await sleep(pauseMs);
    }
  };
  const loops = Array.from({ length: workers }, worker);
  return {
    tally,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

/** Sample /readyz every 200 ms; report when it first went false and when it was true again. */
function watchReadyz(): {
  /** True once a sample said not ready and a later one said ready. */
  recovered: () => boolean;
  stop: () => Promise<{ samples: number; notReady: number; firstFalse?: number; backTrue?: number; transitions: string }>;
} {
  const samples: { at: number; ready: boolean }[] = [];
  const unanswered: string[] = [];
  const began = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await Promise.race([https(e2e.webhookPort, e2e.ca, '/readyz'), sleep(5000).then(() => 'no answer in 5 s')]).catch((e: Error) => e.message);
      if (typeof res === 'string') unanswered.push(`+${seconds(Date.now() - began)}: ${res}`);
      samples.push({ at: Date.now(), ready: typeof res === 'object' && res.status === 200 });
      await sleep(200);
    }
  })();
  return {
    recovered: () => {
      const firstFalse = samples.findIndex((s) => !s.ready);
      return firstFalse >= 0 && samples.slice(firstFalse).some((s) => s.ready);
    },
    stop: async () => {
      running = false;
      await loop;
      const firstFalse = samples.find((s) => !s.ready)?.at;
      const backTrue = firstFalse === undefined ? undefined : samples.find((s) => s.ready && s.at > firstFalse)?.at;
      const transitions = samples
        .filter((s, i) => i === 0 || s.ready !== samples[i - 1]?.ready)
        .map((s) => `${s.ready ? 'ready' : 'NOT ready'} at +${seconds(s.at - began)}`)
        .join(', ');
      return { samples: samples.length, notReady: samples.filter((s) => !s.ready).length, firstFalse, backTrue, transitions: `${transitions}${unanswered.length ? `; probes unanswered: ${unanswered.join(', ')}` : ''}` };
    },
  };
}

const unsyncedLogLines = (): number => e2e.logs().split('\n').filter((l) => l.includes('cache marked unsynced')).length;

/** After recovery: a namespace created now is seen (a pod review there is judged by its labels, not refused as unknown). */
async function freshChangeIsSeen(namespace: string): Promise<number> {
  const began = Date.now();
  await until(`kubectl can create namespace ${namespace}`, async () => {
    const run = await kubectlAsync(['create', 'namespace', namespace, '--request-timeout=10s']);
    return run.code === 0 || run.stderr.includes('AlreadyExists');
  }, 120_000);
  const fresh: Case = { name: `a bare pod in the new namespace ${namespace}`, object: podObject(namespace, 'fresh', false), allowed: false, message: `namespace ${namespace} has no istio-injection or istio.io/rev label` };
  await until(`mtls-guard judges a pod in ${namespace} by its labels`, async () => (await judge(fresh)).outcome === 'correct', 60_000);
  return Date.now() - began;
}

/** mtls-guard's source in this process, with short watches (they end and are resumed every 2 s), relists every 3 s. */
async function quickSource(logLines: string[]): Promise<KubeStateSource> {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const source = await startSource(plane.kubeconfig, logger, {
    watchTimeoutSeconds: 2,
    watchdogGraceMs: 2000,
    requestTimeoutMs: 2000,
    backoffInitialMs: 200,
    backoffMaxMs: 2000,
    relistIntervalMs: 3000,
  });
  await until('the in-process source is synced', () => source.ready(), 60_000);
  return source;
}

t.test('etcd killed and restarted mid-traffic: no wrong verdict, and mtls-guard recovers on its own', async (t) => {
  const unsyncedBefore = unsyncedLogLines();
  // A second observer, the same source code in this process: its watches end and are resumed every 2 s, and it
  // lists everything again every 3 s, which needs etcd.
  const quickLines: string[] = [];
  const quick = await quickSource(quickLines);
  t.teardown(() => quick.stop());
  let killedAt: number | undefined;
  let quickUnsyncedAt: number | undefined;
  let quickSyncedAt: number | undefined;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      // Only what happens from the kill on counts.
      if (killedAt !== undefined && !quick.ready()) quickUnsyncedAt ??= Date.now();
      else if (quickUnsyncedAt !== undefined) quickSyncedAt ??= Date.now();
      await sleep(100);
    }
  })();
  const ready = watchReadyz();
  const traffic = startTraffic();
  let etcdBack = false;
  t.teardown(async () => {
    // Also when an assertion above failed: leave a working control plane for the next test.
    sampling = false;
    await Promise.all([traffic.stop(), ready.stop()]);
    if (!etcdBack) await plane.startEtcd();
  });
  await until('some reviews were answered', () => traffic.tally.correct >= 20);
  killedAt = Date.now();
  await plane.stopEtcd('SIGKILL');
  await until('the API server notices etcd is gone', async () => (await kubectlAsync(['get', '--raw', '/readyz/etcd', '--request-timeout=5s'])).code !== 0, 60_000);
  // Through the API server, still up: a Deployment mtls-guard refuses, as a server-side dry run (admission runs
  // before storage). `create`, not `apply`: apply reads the object first, which needs etcd.
  const dryRun = await kubectlAsync(['create', '--dry-run=server', '--request-timeout=20s', '-f', repoPath('test/e2e/manifests/reports-deployment.yaml')]);
  const reviewsAtKill = traffic.tally.sent;
  // While etcd is down nothing can be written, so what mtls-guard holds stays true; keep the traffic going a while.
  await until('300 more reviews were sent while etcd is down', () => traffic.tally.sent >= reviewsAtKill + 300, 120_000);
  await until('the in-process source, which relists every 3 s, goes unsynced', () => quickUnsyncedAt !== undefined, 60_000);
  const downFor = Date.now() - killedAt;
  const write = await kubectlAsync(['create', 'namespace', 'during-etcd-outage', '--request-timeout=5s']);
  const restartedAt = Date.now();
  etcdBack = true;
  await plane.startEtcd();
  await until('the API server is ready again', async () => (await kubectlAsync(['get', '--raw', '/readyz', '--request-timeout=5s'])).code === 0, 120_000);
  const apiReadyAfter = Date.now() - restartedAt;
  const freshAfter = await freshChangeIsSeen('after-etcd');
  await until('the in-process source is synced again', () => quickSyncedAt !== undefined, 60_000);
  const tally = await traffic.stop();
  const readiness = await ready.stop();
  sampling = false;
  await sampler;
  const watchesBroke = unsyncedLogLines() > unsyncedBefore;
  const quickFailures = quickLines.filter((l) => l.includes('cache marked unsynced'));
  const reasons = [...new Set(quickFailures.map((l) => (JSON.parse(l) as { error?: string }).error?.replace(/\d+/g, 'N')))];
  t.comment(
    `figures etcd restart: etcd down ${seconds(downFor)}; reviews sent ${tally.sent}, correct ${tally.correct}, retried/503 ${tally.retried}, ` +
      `wrong ${tally.wrong}, transport errors ${tally.error}; mtls-guard (default 60 s watches) watches broke: ${watchesBroke}; ` +
      `/readyz: ${readiness.transitions}; in-process source (2 s watches, relist every 3 s): unsynced ${seconds((quickUnsyncedAt ?? killedAt) - killedAt)} after the kill, ` +
      `synced again ${seconds((quickSyncedAt ?? Date.now()) - restartedAt)} after etcd restarted, ${quickFailures.length} list/watch failures (${reasons.join(' | ')}); ` +
      `API server ready ${seconds(apiReadyAfter)} after etcd restarted; ` +
      `a new namespace seen by mtls-guard ${seconds(freshAfter)} after that`,
  );
  t.comment(`figures kubectl during the etcd outage: dry-run Deployment (exit ${dryRun.code}): ${(dryRun.stderr || dryRun.stdout).trim()}`);
  t.comment(`figures kubectl during the etcd outage: create namespace (exit ${write.code}): ${(write.stderr || write.stdout).trim()}`);
  t.same(tally.details, [], 'no wrong answer, no failed request');
  t.equal(tally.wrong, 0, 'no wrong verdict');
  t.equal(tally.error, 0, 'every review was answered');
  t.ok(tally.correct >= 300, `${tally.correct} right verdicts`);
  t.not(dryRun.code, 0, 'the known-bad Deployment is not admitted while etcd is down');
  t.match(dryRun.stderr, 'admission webhook "workloads.mtls-guard.dev" denied the request: [pod-requires-mesh] Deployment reports/summary', 'mtls-guard refused it');
  t.not(write.code, 0, 'writes fail while etcd is down, so the cached state cannot go stale');
  t.ok(quickUnsyncedAt && quickSyncedAt, 'a source that had to list while etcd was down went unsynced, and synced again on its own');
  if (watchesBroke) {
    t.ok(readiness.firstFalse, '/readyz went false when the watches broke');
    t.ok(readiness.backTrue, '/readyz came back');
  } else {
    // The watches are served from the API server's watch cache, which rides out a short etcd outage.
    t.equal(tally.retried, 0, 'the cache stayed synced: no review had to be retried');
    t.equal(readiness.notReady, 0, '/readyz stayed true');
  }
  t.ok(await e2e.ready(), 'ready at the end, same process');
});

t.test('kube-apiserver restarted mid-traffic: no wrong verdict, /readyz false then true, no restart of mtls-guard', async (t) => {
  const ready = watchReadyz();
  const traffic = startTraffic();
  let apiServerBack = false;
  t.teardown(async () => {
    await Promise.all([traffic.stop(), ready.stop()]);
    if (!apiServerBack) await plane.startApiServer();
  });
  await until('some reviews were answered', () => traffic.tally.correct >= 20);
  const stoppedAt = Date.now();
  await plane.stopApiServer();
  const stopTook = Date.now() - stoppedAt;
  await until('mtls-guard reports not ready', async () => (await readyz()).status === 503, 60_000);
  const notReadyAfter = Date.now() - stoppedAt;
  const before = traffic.tally.retried;
  await until('reviews are being answered with retries while the API server is down', () => traffic.tally.retried >= before + 20, 60_000);
  const restartedAt = Date.now();
  apiServerBack = true;
  await plane.startApiServer();
  const apiUp = Date.now() - restartedAt;
  await until('mtls-guard is ready again', () => e2e.ready(), 120_000);
  const readyAgain = Date.now() - restartedAt;
  const freshAfter = await freshChangeIsSeen('after-apiserver');
  await until('the /readyz sampler saw it ready again', () => ready.recovered(), 30_000);
  const tally = await traffic.stop();
  const readiness = await ready.stop();
  t.comment(
    `figures API server restart: reviews sent ${tally.sent}, correct ${tally.correct}, retried/503 ${tally.retried}, wrong ${tally.wrong}, ` +
      `transport errors ${tally.error}; graceful stop took ${seconds(stopTook)}; /readyz false ${seconds(notReadyAfter)} after the stop began ` +
      `(not ready for ${seconds((readiness.backTrue ?? Date.now()) - (readiness.firstFalse ?? Date.now()))}); API server ready ${seconds(apiUp)} after start; ` +
      `mtls-guard ready ${seconds(readyAgain)} after start; a new namespace seen ${seconds(freshAfter)} after ready; /readyz: ${readiness.transitions}`,
  );
  t.same(tally.details, [], 'no wrong answer, no failed request');
  t.equal(tally.wrong, 0, 'no wrong verdict');
  t.equal(tally.error, 0, 'every review was answered');
  t.ok(tally.retried > 0, `${tally.retried} reviews were refused as retryable while unsynced`);
  t.ok(readiness.firstFalse && readiness.backTrue, '/readyz went false, then true');
});

// ---------------------------------------------------------------------------------------------------------

t.test('a hung API server (SIGSTOP) is noticed by the watchdog, and the source catches up after SIGCONT', async (t) => {
  t.ok(
    DEFAULT_WATCH_TIMEOUT_SECONDS * 1000 + DEFAULT_WATCHDOG_GRACE_MS <= 90_000,
    `with the production defaults a silent watch is abandoned after at most ${DEFAULT_WATCH_TIMEOUT_SECONDS} s + ${DEFAULT_WATCHDOG_GRACE_MS / 1000} s`,
  );
  // A second API server on the same etcd, as in an HA control plane: changes keep happening while ours hangs.
  const other = await plane.addApiServer();
  t.teardown(() => other.stop());

  // mtls-guard's own source, in-process, with the watchdog tuned down so that the test is quick.
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const source = await startSource(plane.kubeconfig, logger, {
    watchTimeoutSeconds: 4,
    watchdogGraceMs: 2000,
    requestTimeoutMs: 2000,
    backoffInitialMs: 200,
    backoffMaxMs: 2000,
    relistIntervalMs: 600_000,
  });
  t.teardown(() => source.stop());
  await until('the in-process source is synced', () => source.ready(), 60_000);
  const policy = policyFor(DEFAULT_CONFIG, 'mtls-guard');
  /** The real review handler, on this source: STRICT over namespace hung. */
  const strictHung = async (): Promise<string> => {
    const outcome = await handleReview(admissionReview(policyObject('hung', 'STRICT')), source, policy);
    if (outcome.kind !== 'answer') return outcome.kind;
    const { allowed, status } = outcome.body.response;
    return allowed ? 'allowed' : status?.code === 503 ? 'retry' : `denied: ${status?.message ?? ''}`;
  };
  t.match(await strictHung(), /^denied: [^]*Pod hung\/w-1/, 'before the fault: STRICT over hung is denied, w-1 runs outside the mesh');

  const pausedAt = Date.now();
  plane.pauseApiServer();
  let resumed = false;
  t.teardown(() => {
    if (!resumed) plane.resumeApiServer();
  });
  // Meanwhile, through the other API server, the pod outside the mesh goes away: STRICT over hung becomes fine.
  const meanwhile = other.kubectl(['delete', 'pod', 'w-1', '-n', 'hung', '--grace-period=0', '--force']);
  t.equal(meanwhile.code, 0, 'w-1 deleted through the other API server');
  const changedAt = Date.now();
  const staleVerdict = await strictHung();
  await until('the source reports not synced', () => !source.ready(), 60_000);
  const detectedAt = Date.now();
  t.match(staleVerdict, /^denied/, 'until then it judged with the state it had when the server hung (the stale window)');
  t.match(lines.join(''), /silent for 4s \+ grace: abandoned/, 'it was the watchdog that gave up on the silent watch');
  t.equal(await strictHung(), 'retry', 'not synced: a PeerAuthentication review is refused with a retryable 503');
  // Not a blip: while the server stays hung, the source stays unsynced (relists time out and back off).
  let flapped = false;
  const holdUntil = Date.now() + 5000;
  while (Date.now() < holdUntil) {
    if (source.ready()) flapped = true;
    await sleep(250);
  }
  t.notOk(flapped, 'stays not synced for as long as the API server is paused');
  const status = source.status();
  plane.resumeApiServer();
  resumed = true;
  const resumedAt = Date.now();
  await until('the source is synced again', () => source.ready(), 60_000);
  const syncedAt = Date.now();
  await until('the deletion made meanwhile is seen', () => ![...source.state.workloads('hung')].some((w) => w.name === 'w-1'), 30_000);
  const seenAt = Date.now();
  t.equal(await strictHung(), 'allowed', 'after recovery STRICT over hung is allowed: the change made meanwhile is seen');
  const fired = lines.filter((l) => l.includes('silent for')).length;
  t.comment(
    `figures hung API server: with watchTimeoutSeconds 4 + grace 2 s, the source went not-synced ${seconds(detectedAt - pausedAt)} after SIGSTOP ` +
      `(stale window; the change through the other API server was made ${seconds(changedAt - pausedAt)} after SIGSTOP); watchdog fired ${fired}x; ` +
      `status while paused ${JSON.stringify(status)}; synced ${seconds(syncedAt - resumedAt)} after SIGCONT (not synced for ${seconds(syncedAt - detectedAt)} in all); ` +
      `the change made meanwhile seen ${seconds(seenAt - resumedAt)} after SIGCONT`,
  );
  t.ok(detectedAt - pausedAt < 30_000, `detected in ${seconds(detectedAt - pausedAt)}`);
});

// ---------------------------------------------------------------------------------------------------------

t.test('mtls-guard stopped: PeerAuthentications fail closed, pods fail open, with a clear message; enforcement resumes', async (t) => {
  await e2e.stopWebhook();
  let webhookBack = false;
  t.teardown(async () => {
    if (!webhookBack) await e2e.startWebhook();
  });
  const policy = kubectl(['apply', '-f', '-'], JSON.stringify(policyObject('shop', 'STRICT')));
  t.comment(`figures kubectl, PeerAuthentication while mtls-guard is stopped (exit ${policy.code}): ${policy.stderr.trim()}`);
  t.equal(policy.code, 1, 'the PeerAuthentication is refused (failurePolicy Fail)');
  t.match(policy.stderr, /failed calling webhook "peerauthentications\.mtls-guard\.dev"/, 'kubectl names the webhook and says the call failed');
  t.match(policy.stderr, /connect: connection refused/, 'and why');
  t.equal(kubectl(['get', 'peerauthentications.security.istio.io', 'default', '-n', 'shop']).code, 1, 'nothing was created');

  const pod = kubectl(['apply', '-f', '-'], JSON.stringify(podObject('legacy', 'stray', false)));
  t.comment(`figures kubectl, bare Pod while mtls-guard is stopped (exit ${pod.code}): ${pod.stdout.trim()} ${pod.stderr.trim()}`);
  t.equal(pod.code, 0, 'a pod mtls-guard would refuse is created (failurePolicy Ignore: fail open)');
  t.equal(pod.stderr, '', 'without a warning');
  const deployment = kubectl(['create', 'deployment', 'stray', '-n', 'reports', '--image=registry.example.com/stray:1']);
  t.comment(`figures kubectl, Deployment while mtls-guard is stopped (exit ${deployment.code}): ${deployment.stdout.trim()} ${deployment.stderr.trim()}`);
  t.equal(deployment.code, 0, 'so is a Deployment');

  const restartedAt = Date.now();
  webhookBack = true;
  await e2e.startWebhook();
  const readyAfter = Date.now() - restartedAt;
  let strict = kubectl(['apply', '-f', '-'], JSON.stringify(policyObject('legacy', 'STRICT')));
  await until('STRICT over legacy is denied again', () => (strict = kubectl(['apply', '-f', '-'], JSON.stringify(policyObject('legacy', 'STRICT')))).stderr.includes('denied the request'), 60_000);
  const enforcedAfter = Date.now() - restartedAt;
  t.match(strict.stderr, 'admission webhook "peerauthentications.mtls-guard.dev" denied the request: [strict-requires-mesh] PeerAuthentication legacy/default', 'mtls-guard judges PeerAuthentications again');
  t.match(strict.stderr, 'Pod legacy/stray', 'the pod that got in while mtls-guard was down is named');
  const bare = kubectl(['apply', '-f', '-'], JSON.stringify(podObject('legacy', 'stray-2', false)));
  t.equal(bare.code, 1, 'a bare pod is refused again');
  t.match(bare.stderr, 'admission webhook "workloads.mtls-guard.dev" denied the request: [pod-requires-mesh] Pod legacy/stray-2', 'by mtls-guard');
  const allowed = kubectl(['apply', '-f', '-'], JSON.stringify(policyObject('shop', 'STRICT')));
  t.equal(allowed.code, 0, `the PeerAuthentication refused while mtls-guard was down is accepted now ${allowed.stderr}`.trim());
  t.comment(`figures webhook restart: ready ${seconds(readyAfter)} after start; enforcing through kubectl ${seconds(enforcedAfter)} after start`);
});
