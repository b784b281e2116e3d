/**
 * The workload name Istio's telemetry reports for a pod or a controller's pods (istio pkg/kube/util.go
 * GetDeployMetaFromPod, and the injector's ISTIO_META_WORKLOAD_NAME with its service.istio.io/workload-name label).
 */
import t from 'tap';
import { decodeWorkload, identify } from '../../src/engine/decode.js';
import { istioWorkloadName, type WorkloadIdentity } from '../../src/engine/istio-workload-name.js';

interface Case {
  what: string;
  workload: Partial<WorkloadIdentity> & Pick<WorkloadIdentity, 'kind' | 'name'>;
  /** The expected workload name, or undefined for none. */
  expect: string | undefined;
}

const generated = (owner: { kind: string; name: string }, labels: Record<string, string> = {}, name = '') =>
  ({ kind: 'Pod', name, nameGenerated: true, owner, labels }) as const;

const cases: Case[] = [
  { what: "a Deployment's pod: the ReplicaSet's pod-template-hash is trimmed", expect: 'web',
    workload: generated({ kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5' }, 'web-7d9f8b6c5-x2x9q') },
  { what: 'the same pod at admission, before the API server names it', expect: 'web',
    workload: generated({ kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5' }) },
  { what: 'a ReplicaSet of its own (no pod-template-hash): the ReplicaSet', expect: 'cache',
    workload: generated({ kind: 'ReplicaSet', name: 'cache' }, {}, 'cache-abcde') },
  { what: "a ReplicaSet whose name does not end with the pod's hash: the ReplicaSet", expect: 'web-1111',
    workload: generated({ kind: 'ReplicaSet', name: 'web-1111' }, { 'pod-template-hash': '2222' }) },
  { what: 'a hash the name ends with, without its dash: kept whole, as Istio trims "-<hash>" only', expect: 'web2222',
    workload: generated({ kind: 'ReplicaSet', name: 'web2222' }, { 'pod-template-hash': '2222' }) },
  { what: "an Argo Rollout's pod: rollouts-pod-template-hash trimmed", expect: 'checkout',
    workload: generated({ kind: 'ReplicaSet', name: 'checkout-6c8f7' }, { 'rollouts-pod-template-hash': '6c8f7' }) },
  { what: "an OpenShift DeploymentConfig's pod: the deploymentconfig label", expect: 'frontend',
    workload: generated({ kind: 'ReplicationController', name: 'frontend-3' }, { deploymentconfig: 'frontend' }) },
  { what: 'a ReplicationController of its own', expect: 'legacy',
    workload: generated({ kind: 'ReplicationController', name: 'legacy' }) },
  { what: "a CronJob's pod: the Job's minutes suffix (8 digits) trimmed", expect: 'backup',
    workload: generated({ kind: 'Job', name: 'backup-29312345' }) },
  { what: 'a Job with a 10-digit suffix is taken for a CronJob too', expect: 'report',
    workload: generated({ kind: 'Job', name: 'report-1234567890' }) },
  { what: 'a Job with a 7-digit suffix is its own workload', expect: 'report-1234567',
    workload: generated({ kind: 'Job', name: 'report-1234567' }) },
  { what: 'a Job with an 11-digit suffix is its own workload', expect: 'report-12345678901',
    workload: generated({ kind: 'Job', name: 'report-12345678901' }) },
  { what: 'a plain Job', expect: 'migrate', workload: generated({ kind: 'Job', name: 'migrate' }) },
  { what: "a StatefulSet's pod (generateName set by the controller)", expect: 'db',
    workload: generated({ kind: 'StatefulSet', name: 'db' }, { 'controller-revision-hash': 'db-5d4b7' }, 'db-0') },
  { what: "a DaemonSet's pod", expect: 'node-agent', workload: generated({ kind: 'DaemonSet', name: 'node-agent' }, {}, 'node-agent-q7k2p') },
  { what: 'a pod named by hand, with an owner: Istio ignores the owner of a pod without generateName', expect: 'hand-made',
    workload: { kind: 'Pod', name: 'hand-made', owner: { kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, labels: { 'pod-template-hash': '7d9f8b6c5' } } },
  { what: 'a bare pod', expect: 'debug', workload: { kind: 'Pod', name: 'debug' } },
  { what: 'a generateName pod without a controller, at admission (decode names it "worker-*"): no workload name', expect: undefined,
    workload: { kind: 'Pod', name: 'worker-*', nameGenerated: true } },
  { what: 'a pod without any name: no workload name', expect: undefined, workload: { kind: 'Pod', name: '', nameGenerated: true } },
  { what: 'a generateName pod without a controller, once named: its name (as ztunnel reports it)', expect: 'worker-abcde',
    workload: { kind: 'Pod', name: 'worker-abcde', nameGenerated: true } },
  { what: "a Deployment's pod at admission, named by its generateName: the Deployment", expect: 'web',
    workload: generated({ kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5' }, 'web-7d9f8b6c5-*') },
  { what: 'service.istio.io/workload-name on the pod wins over its owner', expect: 'payments',
    workload: generated({ kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5', 'service.istio.io/workload-name': 'payments' }) },
  { what: 'service.istio.io/workload-name on a bare pod', expect: 'payments',
    workload: { kind: 'Pod', name: 'debug', labels: { 'service.istio.io/workload-name': 'payments' } } },
  { what: 'service.istio.io/workload-name empty: the injector falls back (sprig default)', expect: 'web',
    workload: generated({ kind: 'ReplicaSet', name: 'web-7d9f8b6c5' }, { 'pod-template-hash': '7d9f8b6c5', 'service.istio.io/workload-name': '' }) },
  { what: "a Deployment's template", expect: 'web', workload: { kind: 'Deployment', name: 'web' } },
  { what: "a Deployment's template named like a CronJob's Job: still the Deployment", expect: 'web-12345678',
    workload: { kind: 'Deployment', name: 'web-12345678' } },
  { what: "a CronJob's template", expect: 'backup', workload: { kind: 'CronJob', name: 'backup' } },
  { what: "a Job's template", expect: 'migrate', workload: { kind: 'Job', name: 'migrate' } },
  { what: "a Job's template named like a CronJob's Job: Istio's heuristic takes it for one", expect: 'migrate',
    workload: { kind: 'Job', name: 'migrate-20240101' } },
  { what: "a StatefulSet's template", expect: 'db', workload: { kind: 'StatefulSet', name: 'db' } },
  { what: "a DaemonSet's template", expect: 'node-agent', workload: { kind: 'DaemonSet', name: 'node-agent' } },
  { what: "the template of a Deployment's ReplicaSet (it carries the hash): the Deployment", expect: 'web',
    workload: { kind: 'ReplicaSet', name: 'web-7d9f8b6c5', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5' } } },
  { what: "a ReplicaSet's own template", expect: 'cache', workload: { kind: 'ReplicaSet', name: 'cache', labels: { app: 'cache' } } },
  { what: "a DeploymentConfig's ReplicationController template", expect: 'frontend',
    workload: { kind: 'ReplicationController', name: 'frontend-3', labels: { deploymentconfig: 'frontend' } } },
  { what: 'service.istio.io/workload-name on a template', expect: 'payments',
    workload: { kind: 'Deployment', name: 'web', labels: { 'service.istio.io/workload-name': 'payments' } } },
];

for (const c of cases) {
  t.test(c.what, async (t) => {
    const workload: WorkloadIdentity = { namespace: 'shop', labels: {}, ...c.workload };
    t.same(istioWorkloadName(workload), c.expect === undefined ? undefined : { namespace: 'shop', name: c.expect });
  });
}

t.test('from Pod objects through decode: generateName and the controller owner reference are read', async (t) => {
  const nameOf = (pod: Record<string, unknown>) => {
    const identity = identify(pod);
    if (!identity.ok) throw new Error(identity.error);
    const facts = decodeWorkload(pod, { namespace: 'shop', ...identity.value }, 'carries');
    if (!facts.ok) throw new Error(facts.error);
    return istioWorkloadName(facts.value)?.name;
  };
  const owner = (kind: string, name: string, controller: boolean) => ({ apiVersion: 'apps/v1', kind, name, uid: `${name}-uid`, controller });
  const pod = (metadata: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'shop', ...metadata }, spec: { containers: [] } });
  const hash = { 'pod-template-hash': '7d9f8b6c5' };
  t.equal(nameOf(pod({ name: 'web-7d9f8b6c5-x2x9q', generateName: 'web-7d9f8b6c5-', labels: hash, ownerReferences: [owner('ReplicaSet', 'web-7d9f8b6c5', true)] })), 'web');
  t.equal(nameOf(pod({ generateName: 'web-7d9f8b6c5-', labels: hash, ownerReferences: [owner('ReplicaSet', 'web-7d9f8b6c5', true)] })), 'web', 'at admission');
  t.equal(nameOf(pod({ generateName: 'worker-' })), undefined, 'at admission, no controller');
  t.equal(nameOf(pod({ name: 'web-7d9f8b6c5-x2x9q', labels: hash, ownerReferences: [owner('ReplicaSet', 'web-7d9f8b6c5', true)] })), 'web-7d9f8b6c5-x2x9q', 'no generateName');
  t.equal(
    nameOf(pod({ name: 'web-x', generateName: 'web-', labels: hash, ownerReferences: [owner('ReplicaSet', 'web-7d9f8b6c5', false)] })),
    'web-x',
    'an owner that is not the controller is not looked at',
  );
});
