/**
 * The list-watch cluster state against a real kube-apiserver + etcd: initial list (paginated), changes seen
 * through the watch, resumed watches, the v1beta1 fallback, and recovery after the API server restarts.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import t from 'tap';
import { startControlPlane, startSource } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';
import { istioInstall } from '../support/istio-install.js';
import { stringify } from 'yaml';

t.setTimeout(300_000);

const plane = await startControlPlane();
t.teardown(() => plane.stop());

const must = plane.must;

async function eventually(what: string, condition: () => boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const pod = (name: string, namespace: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace}${extra} }
spec: { automountServiceAccountToken: false, containers: [{ name: app, image: "registry.example.com/app:1", env: [{ name: SECRET, value: hunter2 }] }] }
`;

must(['apply', '-f', '-'], readFileSync(repoPath('test/e2e/peerauthentication-crd.yaml'), 'utf8'));
must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
must(
  ['apply', '-f', '-'],
  `apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default, namespace: legacy }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default, namespace: shop }
---
${pod('web-1', 'legacy')}---
${pod('web-2', 'legacy')}---
${pod('web-3', 'legacy')}---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`,
);

const logger = pino({ level: 'silent' });
const source = await startSource(plane.kubeconfig, logger, {
  pageSize: 2,
  watchTimeoutSeconds: 3,
  watchdogGraceMs: 2000,
  backoffInitialMs: 100,
  backoffMaxMs: 1000,
  relistIntervalMs: 60_000,
});
t.teardown(() => source.stop());

t.test(`lists everything from ${plane.version}, page by page`, async (t) => {
  await eventually('synced', () => source.ready());
  const names = (ns: string) => [...source.state.workloads(ns)].map((w) => w.name).sort();
  t.same(names('legacy'), ['web-1', 'web-2', 'web-3'], 'pods, listed 2 per page');
  t.same(source.state.namespace('shop')?.labels, { 'istio-injection': 'enabled', 'kubernetes.io/metadata.name': 'shop' });
  const policies = [...source.state.peerAuthentications()];
  t.equal(policies.length, 1);
  t.equal(policies[0]?.mode, 'STRICT', 'a policy created as v1beta1 is read (through v1)');
  t.ok(policies[0]?.createdAt, 'with its creationTimestamp');
  t.match(source.status(), { pods: { synced: true, objects: 3 }, namespaces: { synced: true }, peerauthentications: { synced: true, objects: 1 } });
  const kept = JSON.stringify([...source.state.workloads('legacy')]);
  t.notMatch(kept, /hunter2|registry\.example\.com/, 'only the fields the rules need are kept');
});

t.test('changes arrive through the watch, also after the server ends a watch', async (t) => {
  must(['apply', '-f', '-'], pod('late', 'legacy', ', labels: { app: late }'));
  await eventually('the new pod is seen', () => [...source.state.workloads('legacy')].some((w) => w.name === 'late'));
  must(['label', 'namespace', 'legacy', 'istio-injection=enabled']);
  await eventually('the namespace label is seen', () => source.state.namespace('legacy')?.labels['istio-injection'] === 'enabled');
  // Outlive the 3 s server-side watch timeout: the watch is resumed from the last resourceVersion.
  await new Promise((r) => setTimeout(r, 4000));
  must(['delete', 'pod', 'late', '-n', 'legacy', '--wait=false']);
  await eventually('the deleted pod is gone', () => ![...source.state.workloads('legacy')].some((w) => w.name === 'late'));
  must(['delete', 'peerauthentication.security.istio.io', 'default', '-n', 'shop']);
  await eventually('the deleted policy is gone', () => [...source.state.peerAuthentications()].length === 0);
  t.ok(source.ready(), 'still synced');
});

t.test('the cache goes unsynced while the API server is down and recovers on its own', async (t) => {
  await plane.stopApiServer();
  await eventually('unsynced', () => !source.ready(), 30_000);
  t.notOk(source.ready(), 'not ready while the API server is down');
  await plane.startApiServer();
  await eventually('synced again', () => source.ready(), 60_000);
  must(['apply', '-f', '-'], pod('after-restart', 'legacy'));
  await eventually('a pod created after the restart is seen', () => [...source.state.workloads('legacy')].some((w) => w.name === 'after-restart'));
  t.ok(source.ready());
});

t.test('a cluster serving PeerAuthentication only as v1beta1', async (t) => {
  must(
    ['patch', 'crd', 'peerauthentications.security.istio.io', '--type=json', '-p',
      '[{"op":"replace","path":"/spec/versions/0/served","value":false}]'],
  );
  must(['apply', '-f', '-'], 'apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: { name: beta, namespace: shop }\nspec: { mtls: { mode: PERMISSIVE } }\n');
  const beta = await startSource(plane.kubeconfig, logger, { backoffInitialMs: 100, watchTimeoutSeconds: 3 });
  t.teardown(() => beta.stop());
  await eventually('the v1beta1-only source syncs', () => beta.ready(), 30_000);
  t.same([...beta.state.peerAuthentications()].map((p) => `${p.apiVersion} ${p.name} ${p.mode}`), ['security.istio.io/v1beta1 beta PERMISSIVE']);
});

t.test('a cluster without the PeerAuthentication CRD has none and is ready; a CRD installed later is picked up', async (t) => {
  must(['delete', 'crd', 'peerauthentications.security.istio.io']);
  await eventually('the CRD is gone', () => plane.kubectl(['get', 'crd', 'peerauthentications.security.istio.io']).code !== 0, 30_000);
  const bare = await startSource(plane.kubeconfig, logger, { backoffInitialMs: 100, absentRecheckMs: 500, watchTimeoutSeconds: 3 });
  t.teardown(() => bare.stop());
  await eventually('synced without the CRD', () => bare.ready(), 30_000);
  t.equal([...bare.state.peerAuthentications()].length, 0);
  must(['apply', '-f', '-'], readFileSync(repoPath('test/e2e/peerauthentication-crd.yaml'), 'utf8'));
  must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
  await eventually('the CRD serves', () => plane.kubectl(['get', 'peerauthentications.security.istio.io', '-A']).code === 0, 30_000);
  must(['apply', '-f', '-'], 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: later, namespace: shop }\nspec: { mtls: { mode: STRICT } }\n');
  await eventually('a policy created after the CRD appeared is seen', () => [...bare.state.peerAuthentications()].some((p) => p.name === 'later'), 30_000);
  t.ok(bare.ready());
});

t.test("Istio's injector: its webhook configurations and the root namespace's istio-sidecar-injector ConfigMap", async (t) => {
  // failurePolicy Ignore: no istiod answers in this cluster, and pods created later must not fail.
  const objects = istioInstall({ revision: 'canary', tags: ['prod'], policy: 'disabled' }).map((o) =>
    o['kind'] === 'MutatingWebhookConfiguration'
      ? { ...o, webhooks: (o['webhooks'] as Record<string, unknown>[]).map((w) => ({ ...w, failurePolicy: 'Ignore' })) }
      : o,
  );
  const rootConfig = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-sidecar-injector', namespace: 'istio-system' }, data: { config: 'policy: disabled\n' } };
  const other = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: '{}' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-sidecar-injector', namespace: 'shop' }, data: { config: 'policy: enabled\n' } },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'not-istio' },
      webhooks: [{ name: 'mutate.example.com', clientConfig: { url: 'https://example.com/m' }, sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Ignore', rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }],
    },
  ];
  must(['create', 'namespace', 'istio-system']);
  must(['apply', '-f', '-'], [...objects, rootConfig, ...other].map((o) => stringify(o)).join('---\n'));
  await eventually('the injector objects arrive', () => {
    const injection = source.state.injection();
    return injection.configurations.length === 2 && injection.configs.length === 1;
  });
  const injection = source.state.injection();
  t.same(injection.configurations.map((c) => `${c.name} ${c.revision} ${c.tag ?? '-'} ${c.webhooks.length}`), [
    'istio-revision-tag-prod canary prod 2',
    'istio-sidecar-injector-canary canary - 2',
  ], "only Istio's injector webhook configurations, ordered by name");
  t.same(injection.configs.map((c) => `${c.namespace}/${c.name} ${c.policy}`), ['istio-system/istio-sidecar-injector disabled'], 'only that ConfigMap, by field selector');
  must(['delete', 'mutatingwebhookconfiguration', 'istio-revision-tag-prod']);
  must(['patch', 'configmap', 'istio-sidecar-injector', '-n', 'istio-system', '--type=merge', '-p', '{"data":{"config":"policy: enabled"}}']);
  await eventually('the deletion and the change arrive through the watch', () => {
    const now = source.state.injection();
    return now.configurations.length === 1 && now.configs[0]?.policy === 'enabled';
  });
  t.ok(source.ready());
});
