/**
 * Issue 17, SPEC 3.5: "inject, then protect" with Istio's own sidecar injector. A real kube-apiserver, etcd and
 * kube-controller-manager; istiod (pilot-discovery from the istio.io/istio module) out of cluster with its injector
 * webhooks and ConfigMaps from the istio-discovery chart the real helm renders; mtls-guard as a validating webhook.
 * Deployments make ReplicaSets, ReplicaSets make Pods, istiod mutates them, mtls-guard judges what they carry.
 *
 * Two istiods: the default revision with classic sidecars (the chart's env.ENABLE_NATIVE_SIDECARS=false), and
 * revision canary with native sidecars (env.ENABLE_NATIVE_SIDECARS=true) and a revision tag `prod`. One istiod serves
 * one revision: it reads only its own revision's ConfigMaps (istio-canary, istio-sidecar-injector-canary).
 */
import t from 'tap';
import { stringify } from 'yaml';
import { repoPath } from '../support/helpers.js';
import { injectedBy, installIstioBase, istiodBinary, startIstiod, type Istiod } from '../support/istiod.js';
import { startE2E, until } from './harness.js';

t.setTimeout(600_000);

type Doc = Record<string, any>;

const manifest = (name: string): string => repoPath(`test/e2e/manifests/${name}`);
istiodBinary(); // a missing istiod fails the file here, before anything is started
const e2e = await startE2E({ controllerManager: true });
const istiods: Istiod[] = [];
const stopAll = async (): Promise<void> => {
  await Promise.all(istiods.map((istiod) => istiod.stop()));
  await e2e.stop();
};
t.teardown(async () => {
  for (const istiod of istiods) {
    const requests = istiod.injectionRequests();
    console.log(`# istiod revision ${istiod.revision}: its injection webhook was called ${requests.length} times; the first:`);
    const lines = istiod.logs().split('\n').filter((l) => l.includes('Process sidecar injection request'));
    for (const line of lines.slice(0, 3)) console.log(`#   ${line}`);
  }
  await stopAll();
});

const { kubectl, plane } = e2e;

/** Istio's CRDs, both istiods, the cluster before mtls-guard, then mtls-guard registered. */
async function setUp(): Promise<{ main: Istiod; canary: Istiod; shopApi: Doc }> {
  installIstioBase(plane);
  const main = await startIstiod(plane, { values: ['env.ENABLE_NATIVE_SIDECARS=false'] });
  istiods.push(main);
  const canary = await startIstiod(plane, { revision: 'canary', values: ['revisionTags={prod}', 'env.ENABLE_NATIVE_SIDECARS=true'] });
  istiods.push(canary);
  // shop's pods are injected by istiod; legacy's and batch's were never injected.
  plane.must(['apply', '-f', manifest('istiod-cluster.yaml')]);
  await podsOnce('legacy', 'web', 2);
  await podsOnce('batch', 'worker', 1);
  const [shopApi] = await podsOnce('shop', 'api', 1);
  await e2e.register();
  return { main, canary, shopApi: shopApi as Doc };
}

const json = (args: string[]): Doc => JSON.parse(plane.must([...args, '-o', 'json'])) as Doc;
const pods = (namespace: string, app: string): Doc[] => json(['get', 'pods', '-n', namespace, '-l', `app=${app}`])['items'] as Doc[];
const template = (namespace: string, name: string): Doc => json(['get', 'deployment', name, '-n', namespace])['spec'].template as Doc;

/** The Deployment's current pods, once there are `count` of them and no other (a Recreate restart retires the old ones). */
async function podsOnce(namespace: string, app: string, count: number, what = `${count} pods of ${namespace}/${app}`): Promise<Doc[]> {
  await until(what, () => pods(namespace, app).length === count, 30_000);
  return pods(namespace, app);
}

/** The watch delivers a label or a policy within moments: apply once a server-side dry run is accepted. */
async function applyOnceAllowed(args: string[], input?: string): Promise<string> {
  let run = kubectl(['apply', '--dry-run=server', ...args], input);
  const allowed = () => (run = kubectl(['apply', '--dry-run=server', ...args], input)).code === 0;
  await until(`kubectl apply ${args.join(' ')} is allowed`, allowed, 15_000).catch((error: Error) => {
    throw new Error(`${error.message}: ${run.stderr}`);
  });
  const applied = kubectl(['apply', ...args], input);
  if (applied.code !== 0) throw new Error(`kubectl apply ${args.join(' ')}: ${applied.stderr}`);
  return `${applied.stdout}${applied.stderr}`;
}

const reviewOf = (namespace: string, decision: string): string[] => [
  '"kind":"Pod"',
  `"namespace":"${namespace}"`,
  '"operation":"CREATE"',
  `"decision":"${decision}"`,
];

/** mtls-guard's review lines for Pod CREATEs in a namespace with that decision (its log is flushed about once a second). */
async function podReviews(namespace: string, decision: string, atLeast: number): Promise<string[]> {
  const lines = () =>
    e2e
      .logs()
      .split('\n')
      .filter((l) => reviewOf(namespace, decision).every((part) => l.includes(part)));
  const logged = () => lines().length >= atLeast;
  await until(`mtls-guard logged ${atLeast} Pod reviews in ${namespace} decided ${decision}`, logged, 10_000).catch(() => undefined);
  return lines();
}

const requestsFor = (istiod: Istiod, namespace: string, name: string): number =>
  istiod.injectionRequests().filter((r) => r.pod.startsWith(`${namespace}/${name}-`)).length;

/** Injection requests istiod logged for a Deployment's pods, once there are `atLeast` (its log is read while this process waits). */
async function calledFor(istiod: Istiod, namespace: string, name: string, atLeast = 1): Promise<number> {
  const logged = () => requestsFor(istiod, namespace, name) >= atLeast;
  await until(`istiod ${istiod.revision} logged ${atLeast} injection requests for ${namespace}/${name}`, logged, 10_000).catch(() => undefined);
  return requestsFor(istiod, namespace, name);
}

const strict = (namespace: string): string =>
  stringify({
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: 'default', namespace },
    spec: { mtls: { mode: 'STRICT' } },
  });

const deployment = (namespace: string, name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): string =>
  stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...extra.labels }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
        spec: { containers: [{ name, image: `registry.example.com/${name}:1.0.0` }] },
      },
    },
  });

// A rejected top-level await does not run tap's teardowns: a setup that fails stops what it started itself.
const { main, canary, shopApi } = await setUp().catch(async (error: unknown) => {
  await stopAll();
  throw error;
});

t.test('the injector objects come from the chart; shop, labelled before mtls-guard, was injected by istiod', async (t) => {
  t.same(
    main.applied.sort(),
    ['ConfigMap/istio', 'ConfigMap/istio-sidecar-injector', 'ConfigMap/values', 'MutatingWebhookConfiguration/istio-sidecar-injector'],
  );
  t.same(canary.applied.sort(), [
    'ConfigMap/istio-canary',
    'ConfigMap/istio-sidecar-injector-canary',
    'ConfigMap/values-canary',
    'MutatingWebhookConfiguration/istio-revision-tag-prod',
    'MutatingWebhookConfiguration/istio-sidecar-injector-canary',
  ]);
  const hooks = json(['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector'])['webhooks'] as Doc[];
  t.ok(hooks.length > 0 && hooks.every((h) => h['clientConfig'].url === main.injectionUrl && !h['clientConfig'].service), 'registered by URL');
  t.same(injectedBy(shopApi), { revision: 'default', proxy: 'container' }, 'shop/api carries a classic istio-proxy written by istiod');
  t.ok((await calledFor(main, 'shop', 'api')) >= 1, "istiod's injection webhook was called for it");
  for (const [namespace, app] of [['legacy', 'web'], ['batch', 'worker']] as const) {
    t.same(pods(namespace, app).map((p) => injectedBy(p)), pods(namespace, app).map(() => ({})), `${namespace}/${app}: not injected`);
    t.equal(requestsFor(main, namespace, app) + requestsFor(canary, namespace, app), 0, `no injector webhook selects ${namespace}`);
  }
});

t.test("the seeds' procedure: denied in an unlabelled namespace; labelled, admitted and injected by istiod; then STRICT", async (t) => {
  const denied = kubectl(['apply', '-f', manifest('reports-deployment.yaml')]);
  t.equal(denied.code, 1, 'the Deployment is denied');
  t.match(
    denied.stderr,
    '[pod-requires-mesh] Deployment reports/summary would create pods that run outside the Istio mesh: namespace reports has no istio-injection or istio.io/rev label',
  );
  t.match(denied.stderr, 'kubectl label namespace reports istio-injection=enabled');
  plane.must(['label', 'namespace', 'reports', 'istio-injection=enabled']);
  t.match(await applyOnceAllowed(['-f', manifest('reports-deployment.yaml')]), 'deployment.apps/summary created');
  const created = await podsOnce('reports', 'summary', 2);
  for (const pod of created) {
    t.equal(pod['metadata'].ownerReferences[0].kind, 'ReplicaSet', `${pod['metadata'].name}: made by the ReplicaSet controller`);
    t.same(injectedBy(pod, template('reports', 'summary')), { revision: 'default', proxy: 'container' }, 'istiod injected an istio-proxy container');
    t.same((pod['spec'].containers as Doc[]).map((c) => c['name']), ['summary', 'istio-proxy'], '2 containers: the app and the sidecar');
  }
  const calls = await calledFor(main, 'reports', 'summary', 2);
  t.ok(calls >= 2, `istiod's injection webhook was called for both (${calls})`);
  const allowed = await podReviews('reports', 'allow', 2);
  t.ok(allowed.length >= 2, `mtls-guard reviewed the injected Pod CREATEs and allowed them (${allowed.length})`);
  t.same(await podReviews('reports', 'deny', 0), [], 'and denied none');
  t.match(
    await applyOnceAllowed(['-f', '-'], strict('reports')),
    'peerauthentication.security.istio.io/default created',
    'STRICT on reports is allowed',
  );
});

t.test('an existing Deployment: STRICT denied; label the namespace, restart, 2/2; STRICT allowed', async (t) => {
  const denied = kubectl(['apply', '-f', manifest('strict-legacy.yaml')]);
  t.equal(denied.code, 1, 'STRICT on legacy is denied');
  t.match(denied.stderr, '[strict-requires-mesh] PeerAuthentication legacy/default makes namespace legacy STRICT');
  t.match(denied.stderr, 'Deployment legacy/web');
  t.match(denied.stderr, 'kubectl rollout restart deployment -n legacy', 'the fix names the restart');
  plane.must(['label', 'namespace', 'legacy', 'istio-injection=enabled']);
  // The restart is a Deployment UPDATE that mtls-guard reviews: allowed once it has seen the label.
  await until('the restart is allowed', () => kubectl(['rollout', 'restart', 'deployment/web', '-n', 'legacy']).code === 0, 15_000);
  await until('both new pods are injected', () => {
    const current = pods('legacy', 'web');
    return current.length === 2 && current.every((p) => injectedBy(p).proxy === 'container');
  });
  for (const pod of pods('legacy', 'web')) {
    t.same((pod['spec'].containers as Doc[]).map((c) => c['name']), ['web', 'istio-proxy'], `${pod['metadata'].name}: 2/2`);
  }
  t.match(
    await applyOnceAllowed(['-f', manifest('strict-legacy.yaml')]),
    'peerauthentication.security.istio.io/default created',
    'STRICT on legacy is allowed',
  );
});

t.test('mesh-wide STRICT with one non-injected namespace, its namespace PERMISSIVE, then the workload selector', async (t) => {
  const denied = kubectl(['apply', '-f', manifest('mesh-strict.yaml')]);
  t.equal(denied.code, 1, 'mesh-wide STRICT is denied while batch is not injected');
  t.match(denied.stderr, 'PeerAuthentication istio-system/default makes the whole mesh STRICT');
  t.match(denied.stderr, 'batch/worker');
  t.notMatch(denied.stderr, /legacy|reports|shop/, 'the injected namespaces are not named');
  const permissive = kubectl(['apply', '-f', manifest('batch-permissive.yaml')]);
  t.equal(permissive.code, 0, 'PERMISSIVE on batch is allowed');
  t.match(permissive.stderr, 'Warning: PeerAuthentication batch/default sets PERMISSIVE');
  t.match(
    await applyOnceAllowed(['-f', manifest('mesh-strict.yaml')]),
    'peerauthentication.security.istio.io/default created',
    'then mesh-wide STRICT is allowed',
  );

  const handsStrict = kubectl(['delete', '-f', manifest('batch-permissive.yaml')]);
  t.equal(handsStrict.code, 1, 'deleting the namespace override would hand STRICT to batch/worker: denied');
  t.match(handsStrict.stderr, 'batch/worker');
  t.match(
    await applyOnceAllowed(['-f', manifest('batch-worker-permissive.yaml')]),
    'Warning: PeerAuthentication batch/worker-plaintext sets PERMISSIVE',
  );
  await until(
    'the namespace override may go',
    () => kubectl(['delete', '--dry-run=server', '-f', manifest('batch-permissive.yaml')]).code === 0,
    15_000,
  );
  t.equal(
    kubectl(['delete', '-f', manifest('batch-permissive.yaml')]).code,
    0,
    'with the workload selector in place, the namespace override is deleted',
  );
});

t.test('native sidecars (canary, env.ENABLE_NATIVE_SIDECARS=true) and classic ones (default, false)', async (t) => {
  plane.must(['create', 'namespace', 'native']);
  plane.must(['label', 'namespace', 'native', 'istio.io/rev=canary']);
  await applyOnceAllowed(['-f', '-'], deployment('native', 'ledger'));
  await applyOnceAllowed(['-f', '-'], deployment('native', 'classic-ledger', { annotations: { 'sidecar.istio.io/nativeSidecar': 'false' } }));
  await applyOnceAllowed(['-f', '-'], deployment('shop', 'native-api', { annotations: { 'sidecar.istio.io/nativeSidecar': 'true' } }));
  const [native] = await podsOnce('native', 'ledger', 1);
  t.same(
    injectedBy(native as Doc),
    { revision: 'canary', proxy: 'native-sidecar' },
    'canary injects istio-proxy as an init container with restartPolicy: Always',
  );
  t.same((native?.['spec'].containers as Doc[]).map((c) => c['name']), ['ledger'], 'and no istio-proxy container');
  const [optedClassic] = await podsOnce('native', 'classic-ledger', 1);
  t.same(
    injectedBy(optedClassic as Doc),
    { revision: 'canary', proxy: 'container' },
    'the annotation nativeSidecar=false gets a classic sidecar from the same istiod',
  );
  const [optedNative] = await podsOnce('shop', 'native-api', 1);
  t.same(
    injectedBy(optedNative as Doc),
    { revision: 'default', proxy: 'native-sidecar' },
    'nativeSidecar=true gets a native one from the classic istiod',
  );
  t.ok((await podReviews('native', 'allow', 2)).length >= 2, 'mtls-guard admitted the native and the classic pods in native');
  t.same(await podReviews('native', 'deny', 0), []);
  t.match(
    await applyOnceAllowed(['-f', '-'], strict('native')),
    'peerauthentication.security.istio.io/default created',
    'STRICT over native sidecars is allowed',
  );
});

t.test('a revision install (istio.io/rev=canary), a revision tag (prod), and a revision nobody installed', async (t) => {
  plane.must(['create', 'namespace', 'tagged']);
  plane.must(['label', 'namespace', 'tagged', 'istio.io/rev=prod']);
  await applyOnceAllowed(['-f', '-'], deployment('tagged', 'orders'));
  const [tagged] = await podsOnce('tagged', 'orders', 1);
  t.same(injectedBy(tagged as Doc), { revision: 'canary', proxy: 'native-sidecar' }, 'the tag prod sends the pod to the canary istiod');
  t.ok((await calledFor(canary, 'tagged', 'orders')) >= 1, "through the canary istiod's webhook");
  t.equal(requestsFor(main, 'tagged', 'orders'), 0, 'not the default one');

  plane.must(['create', 'namespace', 'plain']);
  await applyOnceAllowed(['-f', '-'], deployment('plain', 'cart', { labels: { 'istio.io/rev': 'canary' } }));
  const [byLabel] = await podsOnce('plain', 'cart', 1);
  t.same(
    injectedBy(byLabel as Doc),
    { revision: 'canary', proxy: 'native-sidecar' },
    'the pod label istio.io/rev=canary selects canary in an unlabelled namespace',
  );

  plane.must(['create', 'namespace', 'stable']);
  plane.must(['label', 'namespace', 'stable', 'istio.io/rev=stable']);
  let denied = kubectl(['apply', '-f', '-'], deployment('stable', 'billing'));
  await until(
    'mtls-guard has seen the label',
    () => (denied = kubectl(['apply', '-f', '-'], deployment('stable', 'billing'))).stderr.includes('revision stable'),
    15_000,
  );
  t.equal(denied.code, 1, 'a Deployment in a namespace of a revision nobody installed is denied');
  t.match(denied.stderr, 'namespace stable has istio.io/rev=stable, but revision stable: no injector for it is installed (installed: ');
  t.match(denied.stderr, /installed: [^)]*canary/, 'naming the installed revisions and tags');
  t.match(denied.stderr, /installed: [^)]*prod/);
});
