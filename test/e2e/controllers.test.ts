/**
 * With kube-controller-manager running, a Deployment admitted by mtls-guard is not the end of it: its ReplicaSet
 * controller then creates the Pods, and each of those Pod CREATEs is reviewed by mtls-guard too, judged by what
 * the pod carries (SPEC 1.2). There is no injector here, so a pod from a plain template carries no proxy and is
 * refused, which the ReplicaSet reports; a template that carries the sidecar yields Pods.
 */
import t from 'tap';
import { startE2E, until } from './harness.js';

t.setTimeout(240_000);

type Doc = Record<string, any>;

const e2e = await startE2E({ controllerManager: true });
t.teardown(() => e2e.stop());
await e2e.register();
const kubectl = e2e.kubectl;
const json = (args: string[]): Doc => JSON.parse(kubectl([...args, '-o', 'json']).stdout) as Doc;

/** The webhook's review lines for Pods in shop with `decision`; its log is flushed about once a second. */
async function podReviews(decision: string, atLeast: number): Promise<string[]> {
  const lines = () => e2e.logs().split('\n').filter((line) => line.includes('"kind":"Pod"') && line.includes('"namespace":"shop"') && line.includes('"operation":"CREATE"'));
  await until(`the log holds ${atLeast} Pod reviews decided ${decision}`, () => lines().filter((l) => l.includes(`"decision":"${decision}"`)).length >= atLeast, 10_000).catch(() => undefined);
  return lines().filter((l) => l.includes(`"decision":"${decision}"`));
}

const deployment = (name: string, template: Doc): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name }, ...template['metadata'] }, spec: template['spec'] } },
  });

// In a subtest, like everything after it: a top-level assertion followed by a top-level wait let tap end the
// root test before the first subtest was queued ("cannot create subtest after parent test ends", in CI).
t.test('the namespace shop, labelled for injection, with its default ServiceAccount', async (t) => {
  t.equal(kubectl(['create', 'namespace', 'shop']).code, 0);
  t.equal(kubectl(['label', 'namespace', 'shop', 'istio-injection=enabled']).code, 0);
  await until('the ServiceAccount controller made shop/default', () => kubectl(['get', 'serviceaccount', 'default', '-n', 'shop']).code === 0);
});

t.test('a Deployment admitted by intent; its ReplicaSet is refused the Pods, which carry no proxy', async (t) => {
  const created = kubectl(['apply', '-f', '-'], deployment('web', { spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1' }] } }));
  t.equal(created.code, 0, `the Deployment is admitted: the namespace asks for injection (${created.stderr})`);
  await until('the ReplicaSet reports the refused Pods', () => {
    const [rs] = json(['get', 'replicasets', '-n', 'shop', '-l', 'app=web'])['items'] as Doc[];
    return (rs?.['status']?.conditions ?? []).some((c: Doc) => c['type'] === 'ReplicaFailure');
  });
  const [rs] = json(['get', 'replicasets', '-n', 'shop', '-l', 'app=web'])['items'] as Doc[];
  t.equal(rs?.['metadata'].ownerReferences[0].kind, 'Deployment', 'the Deployment controller made the ReplicaSet');
  const failure = (rs?.['status'].conditions as Doc[]).find((c) => c['type'] === 'ReplicaFailure');
  t.equal(failure?.['reason'], 'FailedCreate');
  t.match(failure?.['message'], /admission webhook "workloads\.mtls-guard\.dev" denied the request: \[pod-requires-mesh\]/, 'the ReplicaSet controller was refused by mtls-guard');
  t.match(failure?.['message'], /istio-proxy|injector/, 'the message says the pod carries no sidecar although injection was asked for');
  t.same(json(['get', 'pods', '-n', 'shop', '-l', 'app=web'])['items'], [], 'no Pod was created');
  const denied = await podReviews('deny', 1);
  t.ok(denied.length >= 1, `mtls-guard reviewed and denied the ReplicaSet's Pod CREATEs (${denied.length})`);
  t.same(await podReviews('allow', 0), [], 'and allowed none');
});

t.test('a Deployment whose pods carry the sidecar: the ReplicaSet creates them, through mtls-guard', async (t) => {
  const sidecar = {
    metadata: { annotations: { 'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], initContainers: ['istio-init'] }) } },
    spec: { containers: [{ name: 'api', image: 'registry.example.com/api:1' }, { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.28.0' }] },
  };
  t.equal(kubectl(['apply', '-f', '-'], deployment('api', sidecar)).code, 0, 'the Deployment is admitted');
  await until('the ReplicaSet created 2 Pods', () => (json(['get', 'pods', '-n', 'shop', '-l', 'app=api'])['items'] as Doc[]).length === 2);
  const pods = json(['get', 'pods', '-n', 'shop', '-l', 'app=api', '--show-managed-fields'])['items'] as Doc[];
  for (const pod of pods) {
    t.equal(pod['metadata'].ownerReferences[0].kind, 'ReplicaSet', `${pod['metadata'].name} is owned by the ReplicaSet`);
    t.equal(pod['metadata'].managedFields[0].manager, 'kube-controller-manager', 'and was created by kube-controller-manager');
    t.equal(pod['status'].phase, 'Pending', 'no scheduler or kubelet: Pending');
  }
  const reviews = await podReviews('allow', 2);
  t.ok(reviews.length >= 2, `mtls-guard reviewed and allowed both Pod CREATEs (${reviews.length})`);
});
