/**
 * End to end: `kubectl` against a real kube-apiserver + etcd, with mtls-guard registered as a validating
 * webhook by URL + caBundle. What a user sees, from the manifests under test/e2e/manifests.
 */
import t from 'tap';
import { repoPath } from '../support/helpers.js';
import { https } from '../support/webhook-helpers.js';
import { startE2E, until } from './harness.js';

t.setTimeout(600_000);

const manifest = (name: string): string => repoPath(`test/e2e/manifests/${name}`);
const e2e = await startE2E();
t.teardown(() => e2e.stop());
const { kubectl } = e2e;

const must = (args: string[], input?: string): string => {
  const run = kubectl(args, input);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
};
const readyz = async () => (await https(e2e.webhookPort, e2e.ca, '/readyz')).json();


t.test('pods created after mtls-guard started are seen through the watch', async (t) => {
  t.equal((await readyz()).resources.pods.objects, 0, 'no pods when mtls-guard listed them');
  must(['apply', '-f', manifest('cluster.yaml')]);
  await until('the three pods are in the cache', async () => (await readyz()).resources.pods.objects === 3);
  t.pass('3 pods arrived by watch, no restart');
  await e2e.register();
  t.pass('webhook registered by URL + caBundle and rejecting a known-bad Deployment');
});

t.test('a STRICT policy over an un-injected pod is denied, naming the pod and the fix', async (t) => {
  const run = kubectl(['apply', '-f', manifest('strict-legacy.yaml')]);
  t.equal(run.code, 1, 'kubectl fails');
  t.match(run.stderr, 'admission webhook "peerauthentications.mtls-guard.dev" denied the request: [strict-requires-mesh] PeerAuthentication legacy/default makes namespace legacy STRICT');
  t.match(run.stderr, '- Pod legacy/web-1: namespace legacy has no istio-injection or istio.io/rev label');
  t.match(run.stderr, '- legacy: kubectl label namespace legacy istio-injection=enabled; recreate pods web-1', 'a bare pod has no controller to restart');
  t.equal(kubectl(['get', 'peerauthentication.security.istio.io', 'default', '-n', 'legacy']).code, 1, 'nothing was created');
});

t.test('kubectl apply --dry-run=server gives the same verdicts', async (t) => {
  const policy = kubectl(['apply', '--dry-run=server', '-f', manifest('strict-legacy.yaml')]);
  t.equal(policy.code, 1);
  t.match(policy.stderr, '[strict-requires-mesh] PeerAuthentication legacy/default');
  const deployment = kubectl(['apply', '--dry-run=server', '-f', manifest('reports-deployment.yaml')]);
  t.equal(deployment.code, 1);
  t.match(deployment.stderr, '[pod-requires-mesh] Deployment reports/summary would create pods that run outside the Istio mesh');
  const allowed = kubectl(['apply', '--dry-run=server', '-f', manifest('batch-permissive.yaml')]);
  t.equal(allowed.code, 0);
  t.match(allowed.stdout, 'created (server dry run)');
  t.match(allowed.stderr, 'Warning: PeerAuthentication batch/default sets PERMISSIVE');
});

t.test('inject, then protect: after the pod is replaced by an injected one, STRICT is allowed', async (t) => {
  must(['label', 'namespace', 'legacy', 'istio-injection=enabled']);
  const bare = kubectl(['run', 'debug', '-n', 'legacy', '--image=busybox:1.36', '--restart=Never']);
  t.equal(bare.code, 1, 'a pod the injector did not touch is refused');
  t.match(bare.stderr, 'admission webhook "workloads.mtls-guard.dev" denied the request: [pod-requires-mesh] Pod legacy/debug would run outside the Istio mesh: it has no istio-proxy although namespace legacy has istio-injection=enabled');
  must(['delete', 'pod', 'web-1', '-n', 'legacy', '--grace-period=0', '--force']);
  must(['apply', '-f', manifest('web-1-injected.yaml')]);
  let run = kubectl(['apply', '-f', manifest('strict-legacy.yaml')]);
  await until('STRICT on legacy is allowed', () => (run = kubectl(['apply', '-f', manifest('strict-legacy.yaml')])).code === 0, 15_000);
  t.match(run.stdout, 'peerauthentication.security.istio.io/default');
  t.equal(run.stderr, '', 'no warning');
});

t.test('mesh-wide STRICT with a namespace-level PERMISSIVE override', async (t) => {
  const denied = kubectl(['apply', '-f', manifest('mesh-strict.yaml')]);
  t.equal(denied.code, 1, 'mesh-wide STRICT is denied while batch has an un-injected pod');
  t.match(denied.stderr, 'PeerAuthentication istio-system/default makes the whole mesh STRICT');
  t.match(denied.stderr, '- Pod batch/cron-worker: namespace batch has no istio-injection or istio.io/rev label');
  const permissive = kubectl(['apply', '-f', manifest('batch-permissive.yaml')]);
  t.equal(permissive.code, 0);
  t.match(permissive.stderr, 'Warning: PeerAuthentication batch/default sets PERMISSIVE: namespace batch accepts plaintext (parent scope: PERMISSIVE by default (no policy))');
  let run = kubectl(['apply', '-f', manifest('mesh-strict.yaml')]);
  await until('mesh-wide STRICT is allowed', () => (run = kubectl(['apply', '-f', manifest('mesh-strict.yaml')])).code === 0, 15_000).catch((error: Error) => {
    throw new Error(`${error.message}: ${run.stderr}`);
  });
  t.match(run.stdout, 'peerauthentication.security.istio.io/default');
  const deleted = kubectl(['delete', '-f', manifest('strict-legacy.yaml')]);
  t.equal(deleted.code, 0);
  t.match(deleted.stderr, 'Warning: Deleting STRICT PeerAuthentication legacy/default: namespace legacy falls back to STRICT from istio-system/default, so plaintext stays refused');
});

t.test('a Deployment in an unlabelled namespace is rejected at apply time, and allowed once the namespace is labelled', async (t) => {
  const denied = kubectl(['apply', '-f', manifest('reports-deployment.yaml')]);
  t.equal(denied.code, 1);
  t.match(denied.stderr, 'admission webhook "workloads.mtls-guard.dev" denied the request: [pod-requires-mesh] Deployment reports/summary would create pods that run outside the Istio mesh: namespace reports has no istio-injection or istio.io/rev label. Fix: kubectl label namespace reports istio-injection=enabled');
  must(['label', 'namespace', 'reports', 'istio-injection=enabled']);
  let run = kubectl(['apply', '-f', manifest('reports-deployment.yaml')]);
  await until('the Deployment is allowed', () => (run = kubectl(['apply', '-f', manifest('reports-deployment.yaml')])).code === 0, 15_000);
  t.match(run.stdout, 'deployment.apps/summary');
});

t.test('after the API server restarts, mtls-guard recovers on its own', async (t) => {
  await e2e.plane.stopApiServer();
  await until('mtls-guard reports not ready', async () => (await https(e2e.webhookPort, e2e.ca, '/readyz')).status === 503);
  t.pass('/readyz went 503 while the API server was down');
  await e2e.plane.startApiServer();
  await until('mtls-guard is ready again', () => e2e.ready(), 60_000);
  t.pass('/readyz is 200 again, without a restart of mtls-guard');
  must(['create', 'namespace', 'after-restart']);
  const denied = kubectl(['create', 'deployment', 'late', '-n', 'after-restart', '--image=registry.example.com/late:1']);
  t.equal(denied.code, 1, 'a Deployment in a namespace created after the restart is judged with fresh state');
  t.match(denied.stderr, 'namespace after-restart has no istio-injection or istio.io/rev label');
});

t.test('the webhook logged one line per review, without object contents', async (t) => {
  const reviews = e2e
    .logs()
    .split('\n')
    .filter((line) => line.includes('"msg":"review"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.ok(reviews.length >= 10, `${reviews.length} reviews logged`);
  t.ok(reviews.every((r) => typeof r['uid'] === 'string' && typeof r['latencyMs'] === 'number'));
  t.notMatch(e2e.logs(), /registry\.example\.com/, 'no pod specs in the logs');
});
