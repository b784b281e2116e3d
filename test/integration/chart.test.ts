/**
 * The Helm chart with the real helm: lint, what each certificate mode renders, the values schema, and
 * against a real kube-apiserver: server-side dry run, install, least-privilege RBAC, and an upgrade that
 * keeps the CA.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/config.js';
import { helmBinary, startControlPlane } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';

t.setTimeout(300_000);

const helm = helmBinary();
const chart = repoPath('charts/mtls-guard');
const EXISTING_CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(helm, args, { encoding: 'utf8' });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

type Doc = Record<string, any>;

function render(set: string[] = [], namespace = 'mtls-guard'): Doc[] {
  const result = run(['template', 'guard', chart, '-n', namespace, ...set.flatMap((s) => ['--set', s])]);
  if (result.code !== 0) throw new Error(result.stderr);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const find = (docs: Doc[], kind: string, name?: string): Doc | undefined =>
  docs.find((d) => d['kind'] === kind && (name === undefined || d['metadata']?.name === name));

const MODES: Record<string, string[]> = {
  helm: [],
  'cert-manager': ['certs.mode=cert-manager'],
  existing: ['certs.mode=existing', 'certs.existing.secretName=my-tls', `certs.existing.caBundle=${EXISTING_CA}`],
};

t.test('helm lint --strict is clean in every certificate mode', async (t) => {
  for (const [mode, set] of Object.entries(MODES)) {
    const lint = run(['lint', '--strict', chart, ...set.flatMap((s) => ['--set', s])]);
    t.equal(lint.code, 0, `${mode}: ${lint.stdout}${lint.stderr}`);
    t.notMatch(lint.stdout, /\[(WARNING|ERROR)\]/, `${mode}: no warnings`);
  }
});

t.test('the ValidatingWebhookConfiguration', async (t) => {
  const docs = render();
  const vwc = find(docs, 'ValidatingWebhookConfiguration');
  const [policies, workloads] = vwc?.['webhooks'] ?? [];
  t.equal(policies.name, 'peerauthentications.mtls-guard.dev');
  t.equal(workloads.name, 'workloads.mtls-guard.dev');
  for (const hook of [policies, workloads]) {
    t.same(hook.admissionReviewVersions, ['v1']);
    t.equal(hook.sideEffects, 'None');
    t.equal(hook.timeoutSeconds, 5);
    t.equal(hook.matchPolicy, 'Equivalent');
    t.same(hook.clientConfig.service, { name: 'guard-mtls-guard', namespace: 'mtls-guard', path: '/validate', port: 443 });
  }
  t.equal(policies.failurePolicy, 'Fail', 'PeerAuthentications fail closed');
  t.equal(workloads.failurePolicy, 'Ignore', 'pods and controllers fail open');
  const excluded = (hook: Doc) => hook.namespaceSelector.matchExpressions[0];
  t.same(excluded(policies), { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-node-lease', 'kube-public', 'kube-system', 'mtls-guard'] },
    'PeerAuthentications: exempt namespaces and the release namespace are skipped, the root namespace is not');
  t.same(excluded(workloads).values, ['istio-system', 'kube-node-lease', 'kube-public', 'kube-system', 'mtls-guard'], 'workloads: the root namespace is skipped too');
  t.same(policies.rules, [{ apiGroups: ['security.istio.io'], apiVersions: ['v1', 'v1beta1'], resources: ['peerauthentications'], operations: ['CREATE', 'UPDATE', 'DELETE'], scope: 'Namespaced' }]);
  t.same(workloads.rules.flatMap((r: Doc) => r['resources']).sort(), ['cronjobs', 'daemonsets', 'deployments', 'jobs', 'pods', 'replicasets', 'replicationcontrollers', 'statefulsets']);

  const tuned = find(render(['webhook.workloads.failurePolicy=Fail', 'webhook.peerAuthentications.failurePolicy=Ignore', 'webhook.timeoutSeconds=3'], 'platform'), 'ValidatingWebhookConfiguration');
  t.same(tuned?.['webhooks'].map((h: Doc) => h['failurePolicy']), ['Ignore', 'Fail'], 'failurePolicy is configurable per webhook');
  t.equal(tuned?.['webhooks'][0].timeoutSeconds, 3);
  t.ok(tuned?.['webhooks'][1].namespaceSelector.matchExpressions[0].values.includes('platform'), 'the release namespace follows -n');
});

t.test('the Deployment: HA, restricted, probed over HTTPS', async (t) => {
  const docs = render();
  const deployment = find(docs, 'Deployment');
  const pod = deployment?.['spec'].template.spec;
  const container = pod.containers[0];
  t.equal(deployment?.['spec'].replicas, 2);
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  t.same(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  t.same(container.livenessProbe.httpGet, { path: '/healthz', port: 'webhook', scheme: 'HTTPS' });
  t.same(container.readinessProbe.httpGet, { path: '/readyz', port: 'webhook', scheme: 'HTTPS' });
  t.ok(container.resources.requests && container.resources.limits.memory, 'resources set');
  t.same(pod.topologySpreadConstraints.map((c: Doc) => c['topologyKey']), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  t.same(pod.topologySpreadConstraints[0].labelSelector.matchLabels, { 'app.kubernetes.io/name': 'mtls-guard', 'app.kubernetes.io/instance': 'guard' });
  t.match(find(docs, 'PodDisruptionBudget')?.['spec'], { minAvailable: 1 });
  t.ok(container.args.includes('--config=/etc/mtls-guard/config/config.yaml'));
  t.equal(container.env[0].name, 'POD_NAMESPACE');
});

t.test('RBAC: get, list and watch on pods, namespaces, nodes, the pod controllers and peerauthentications, nothing else', async (t) => {
  const role = find(render(), 'ClusterRole');
  t.same(role?.['rules'], [
    { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'replicationcontrollers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['security.istio.io'], resources: ['peerauthentications'], verbs: ['get', 'list', 'watch'] },
  ]);
});

t.test('the ConfigMap holds a config mtls-guard accepts', async (t) => {
  const docs = render(['config.enforcement=warn', 'config.rules.mtls-drift=audit', 'config.exemptNamespaces={kube-system,monitoring}']);
  const text = find(docs, 'ConfigMap')?.['data']['config.yaml'] as string;
  const parsed = parseConfig(parseAllDocuments(text)[0]?.toJS());
  t.ok(parsed.ok, text);
  if (parsed.ok) t.match(parsed.config, { enforcement: 'warn', rules: { 'mtls-drift': 'audit' }, exemptNamespaces: ['kube-system', 'monitoring'] });
});

t.test('certs.mode=helm: a CA-signed serving certificate, its CA in the caBundle', async (t) => {
  const docs = render();
  const secret = find(docs, 'Secret', 'guard-mtls-guard-tls');
  const ca = Buffer.from(secret?.['data']['ca.crt'], 'base64').toString();
  const leaf = new X509Certificate(Buffer.from(secret?.['data']['tls.crt'], 'base64'));
  t.ok(leaf.verify(new X509Certificate(ca).publicKey), 'tls.crt is signed by ca.crt');
  for (const name of ['guard-mtls-guard.mtls-guard.svc', 'guard-mtls-guard.mtls-guard.svc.cluster.local']) t.match(leaf.subjectAltName, `DNS:${name}`);
  for (const hook of find(docs, 'ValidatingWebhookConfiguration')?.['webhooks'] ?? []) t.equal(hook.clientConfig.caBundle, secret?.['data']['ca.crt']);
});

t.test('certs.mode=cert-manager: Issuers, Certificates, and CA injection', async (t) => {
  const docs = render(MODES['cert-manager']);
  t.notOk(find(docs, 'Secret'), 'no Secret from the chart');
  t.equal(find(docs, 'ValidatingWebhookConfiguration')?.['metadata'].annotations['cert-manager.io/inject-ca-from'], 'mtls-guard/guard-mtls-guard-serving');
  t.equal(find(docs, 'Certificate', 'guard-mtls-guard-serving')?.['spec'].secretName, 'guard-mtls-guard-tls');
  t.ok(find(docs, 'Certificate', 'guard-mtls-guard-ca')?.['spec'].isCA);
  const own = render([...MODES['cert-manager']!, 'certs.certManager.issuerRef.name=corp-ca', 'certs.certManager.issuerRef.kind=ClusterIssuer']);
  t.notOk(find(own, 'Issuer'), 'with an issuerRef, no Issuer of our own');
  t.same(find(own, 'Certificate')?.['spec'].issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer' });
});

t.test('certs.mode=existing: your Secret and caBundle', async (t) => {
  const docs = render(MODES['existing']);
  t.notOk(find(docs, 'Secret'));
  t.equal(find(docs, 'Deployment')?.['spec'].template.spec.volumes[0].secret.secretName, 'my-tls');
  t.equal(find(docs, 'ValidatingWebhookConfiguration')?.['webhooks'][0].clientConfig.caBundle, EXISTING_CA);
});

t.test('values.schema.json rejects wrong values with a clear message', async (t) => {
  const cases: [string[], string][] = [
    [['certs.mode=bogus'], "at '/certs/mode': value must be one of 'helm', 'cert-manager', 'existing'"],
    [['certs.mode=existing'], "at '/certs/existing/secretName'"],
    [['webhook.workloads.failurePolicy=Never'], "at '/webhook/workloads/failurePolicy'"],
    [['replicaCount=0'], "at '/replicaCount'"],
    [['config.enforcement=strict'], "at '/config/enforcement'"],
    [['config.rules.pod-requires-mesh=block'], "at '/config/rules/pod-requires-mesh'"],
    [['config.exemptNamespaces={Kube_System}'], "at '/config/exemptNamespaces/0'"],
    [['replicas=3'], "additional properties 'replicas' not allowed"],
  ];
  for (const [set, message] of cases) {
    const result = run(['template', 'guard', chart, ...set.flatMap((s) => ['--set', s])]);
    t.not(result.code, 0, `${set.join(' ')} is rejected`);
    t.match(result.stderr, message, `${set.join(' ')}: ${message}`);
  }
});

t.test('against a real API server', async (t) => {
  const plane = await startControlPlane();
  t.teardown(() => plane.stop());
  const kubectl = (args: string[], input?: string) => plane.kubectl(args, input);
  t.equal(kubectl(['create', 'namespace', 'mtls-guard']).code, 0);
  t.equal(kubectl(['apply', '-f', repoPath('test/e2e/peerauthentication-crd.yaml')]).code, 0, 'Istio CRD installed');
  t.equal(kubectl(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']).code, 0);

  for (const mode of ['helm', 'existing']) {
    const rendered = run(['template', 'guard', chart, '-n', 'mtls-guard', ...MODES[mode]!.flatMap((s) => ['--set', s])]);
    const dryRun = kubectl(['apply', '--dry-run=server', '-f', '-'], rendered.stdout);
    t.equal(dryRun.code, 0, `${mode}: helm template | kubectl apply --dry-run=server: ${dryRun.stderr}`);
  }

  const helmArgs = ['--kubeconfig', plane.kubeconfig, '-n', 'mtls-guard'];
  const install = run(['install', 'guard', chart, ...helmArgs]);
  t.equal(install.code, 0, `helm install: ${install.stderr}`);
  t.match(install.stdout, 'kubectl -n mtls-guard rollout status deployment/guard-mtls-guard', 'NOTES say how to check it works');
  for (const object of ['deployment/guard-mtls-guard', 'service/guard-mtls-guard', 'serviceaccount/guard-mtls-guard', 'configmap/guard-mtls-guard',
    'secret/guard-mtls-guard-tls', 'poddisruptionbudget/guard-mtls-guard', 'clusterrole/guard-mtls-guard', 'clusterrolebinding/guard-mtls-guard',
    'validatingwebhookconfiguration/guard-mtls-guard']) {
    t.equal(kubectl(['get', object, '-n', 'mtls-guard']).code, 0, `${object} exists`);
  }

  const sa = 'system:serviceaccount:mtls-guard:guard-mtls-guard';
  const can = (verb: string, resource: string) => kubectl(['auth', 'can-i', verb, resource, '--as', sa, '-A']).stdout.trim();
  const readable = ['pods', 'namespaces', 'nodes', 'replicationcontrollers', 'deployments.apps', 'statefulsets.apps', 'daemonsets.apps', 'replicasets.apps', 'jobs.batch', 'cronjobs.batch', 'peerauthentications.security.istio.io'];
  for (const resource of readable) {
    for (const verb of ['get', 'list', 'watch']) t.equal(can(verb, resource), 'yes', `can ${verb} ${resource}`);
    for (const verb of ['create', 'update', 'patch', 'delete']) t.equal(can(verb, resource), 'no', `cannot ${verb} ${resource}`);
  }
  for (const resource of ['secrets', 'configmaps', 'validatingwebhookconfigurations']) t.equal(can('get', resource), 'no', `cannot get ${resource}`);

  const caOf = () => ({
    secret: kubectl(['get', 'secret', 'guard-mtls-guard-tls', '-n', 'mtls-guard', '-o', 'jsonpath={.data.ca\\.crt}']).stdout,
    bundle: kubectl(['get', 'validatingwebhookconfiguration', 'guard-mtls-guard', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']).stdout,
  });
  const before = caOf();
  t.ok(before.secret.length > 100, 'the chart generated a CA');
  t.equal(before.bundle, before.secret, 'the caBundle is that CA');
  const upgrade = run(['upgrade', 'guard', chart, ...helmArgs, '--set', 'replicaCount=3']);
  t.equal(upgrade.code, 0, `helm upgrade: ${upgrade.stderr}`);
  t.equal(kubectl(['get', 'deployment', 'guard-mtls-guard', '-n', 'mtls-guard', '-o', 'jsonpath={.spec.replicas}']).stdout, '3', 'the upgrade applied');
  t.same(caOf(), before, 'helm upgrade keeps the same CA and certificate');
});
