/**
 * The Helm chart with the real helm: lint, what each certificate mode and option renders, the values schema, the
 * alerts against the metrics the server exports, and against a real kube-apiserver with kube-controller-manager:
 * server-side dry run, install (ReplicaSet and Pods), least-privilege RBAC, runtime certificates with the chart's
 * own service account, an upgrade that keeps them, and `helm test`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { runtimeCertificates } from '../../src/certs/runtime.js';
import { parseConfig } from '../../src/config/config.js';
import { helmBinary, startControlPlane } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';
import { https, startWebhook } from '../support/webhook-helpers.js';

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
  runtime: [],
  helm: ['certs.mode=helm'],
  'cert-manager': ['certs.mode=cert-manager'],
  existing: ['certs.mode=existing', 'certs.existing.secretName=my-tls', `certs.existing.caBundle=${EXISTING_CA}`],
};

t.test('helm lint --strict is clean in every certificate mode', async (t) => {
  for (const [mode, set] of Object.entries(MODES)) {
    const lint = run(['lint', '--strict', chart, '-n', 'mtls-guard', ...set.flatMap((s) => ['--set', s])]);
    t.equal(lint.code, 0, `${mode}: ${lint.stdout}${lint.stderr}`);
    t.notMatch(lint.stdout, /\[(WARNING|ERROR)\]/, `${mode}: no warnings`);
  }
  const everything = ['metrics.serviceMonitor.enabled=true', 'metrics.prometheusRule.enabled=true', 'networkPolicy.enabled=true', `image.digest=sha256:${'0'.repeat(64)}`];
  const lint = run(['lint', '--strict', chart, '-n', 'mtls-guard', ...everything.flatMap((s) => ['--set', s])]);
  t.equal(lint.code, 0, `every option on: ${lint.stdout}${lint.stderr}`);
  t.notMatch(lint.stdout, /\[(WARNING|ERROR)\]/, 'every option on: no warnings');
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
  const namespaces = vwc?.['webhooks'][2];
  t.equal(namespaces?.name, 'namespaces.mtls-guard.dev', 'Namespace UPDATEs for mtls-drift');
  t.equal(namespaces?.failurePolicy, 'Ignore', 'Namespace reviews never block');
  t.same(namespaces?.rules, [{ apiGroups: [''], apiVersions: ['v1'], resources: ['namespaces'], operations: ['UPDATE'], scope: 'Cluster' }], 'UPDATE only');
  t.same(excluded(namespaces).values, excluded(workloads).values, 'exempt namespaces are skipped');
  t.equal(find(render(['webhook.namespaces.enabled=false']), 'ValidatingWebhookConfiguration')?.['webhooks'].length, 2, 'the Namespace webhook can be turned off');

  const tuned = find(render(['webhook.workloads.failurePolicy=Fail', 'webhook.peerAuthentications.failurePolicy=Ignore', 'webhook.timeoutSeconds=3'], 'platform'), 'ValidatingWebhookConfiguration');
  t.same(tuned?.['webhooks'].map((h: Doc) => h['failurePolicy']), ['Ignore', 'Fail', 'Ignore'], 'failurePolicy is configurable per webhook');
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

t.test("RBAC: get, list and watch on pods, namespaces, nodes, the pod controllers, peerauthentications and Istio's injector config, nothing else", async (t) => {
  const docs = render();
  const role = find(docs, 'ClusterRole', 'guard-mtls-guard');
  t.same(role?.['rules'], [
    { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'replicationcontrollers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['security.istio.io'], resources: ['peerauthentications'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['get', 'list', 'watch'] },
  ]);
  const injectorRole = find(docs, 'Role', 'guard-mtls-guard-istio-injector');
  t.equal(injectorRole?.['metadata'].namespace, 'istio-system', 'in the root namespace');
  t.same(injectorRole?.['rules'], [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['istio-sidecar-injector'], verbs: ['get', 'list', 'watch'] }], 'that one ConfigMap, by name');
  t.equal(find(render(['config.rootNamespace=istio-config']), 'Role', 'guard-mtls-guard-istio-injector')?.['metadata'].namespace, 'istio-config', 'follows config.rootNamespace');
});

t.test('the ConfigMap holds a config mtls-guard accepts', async (t) => {
  const docs = render(['config.enforcement=warn', 'config.rules.mtls-drift=audit', 'config.exemptNamespaces={kube-system,monitoring}']);
  const text = find(docs, 'ConfigMap')?.['data']['config.yaml'] as string;
  const parsed = parseConfig(parseAllDocuments(text)[0]?.toJS());
  t.ok(parsed.ok, text);
  if (parsed.ok) t.match(parsed.config, { enforcement: 'warn', rules: { 'mtls-drift': 'audit' }, exemptNamespaces: ['kube-node-lease', 'kube-public', 'kube-system', 'monitoring', 'mtls-guard'] });
});

t.test('certs.mode=helm: a CA-signed serving certificate, its CA in the caBundle', async (t) => {
  const docs = render(MODES['helm']);
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

const labelsOf = (doc: Doc | undefined): Record<string, string> => doc?.['metadata']?.labels ?? {};

t.test('certs.mode=runtime (the default): nothing certificate-related is rendered but an empty Secret and narrow RBAC', async (t) => {
  const first = run(['template', 'guard', chart, '-n', 'mtls-guard']);
  const second = run(['template', 'guard', chart, '-n', 'mtls-guard']);
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stdout, second.stdout, 'helm template twice gives byte-identical output');
  const everything = ['metrics.serviceMonitor.enabled=true', 'metrics.prometheusRule.enabled=true', 'networkPolicy.enabled=true'].flatMap((v) => ['--set', v]);
  t.equal(run(['template', 'guard', chart, '-n', 'mtls-guard', ...everything]).stdout, run(['template', 'guard', chart, '-n', 'mtls-guard', ...everything]).stdout, 'also with every option on');

  const docs = render();
  const secret = find(docs, 'Secret', 'guard-mtls-guard-runtime-tls');
  t.same(secret?.['data'], undefined, 'the Secret is rendered without data: what mtls-guard writes is never reset by Helm or GitOps');
  t.equal(secret?.['type'], 'Opaque');
  t.equal(docs.filter((d) => d['kind'] === 'Secret').length, 1, 'no other Secret');
  for (const hook of find(docs, 'ValidatingWebhookConfiguration')?.['webhooks'] ?? []) t.notOk(hook.clientConfig.caBundle, `${hook.name}: no caBundle rendered`);
  t.same(find(docs, 'Role', 'guard-mtls-guard-runtime-certs')?.['rules'], [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['guard-mtls-guard-runtime-tls'], verbs: ['get', 'update'] }],
    'the Secret: get and update, by name; no create (the chart creates it) and no list');
  t.same(find(docs, 'ClusterRole', 'guard-mtls-guard-runtime-certs')?.['rules'],
    [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], resourceNames: ['guard-mtls-guard'], verbs: ['get', 'update'] }],
    'its own webhook configuration: get and update, by name');
  t.same(find(docs, 'RoleBinding', 'guard-mtls-guard-runtime-certs')?.['subjects'], [{ kind: 'ServiceAccount', name: 'guard-mtls-guard', namespace: 'mtls-guard' }]);
  t.same(find(docs, 'ClusterRoleBinding', 'guard-mtls-guard-runtime-certs')?.['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'guard-mtls-guard-runtime-certs' });
  const pod = find(docs, 'Deployment')?.['spec'].template.spec;
  const args: string[] = pod.containers[0].args;
  for (const arg of ['--cert-secret=guard-mtls-guard-runtime-tls', '--webhook-config=guard-mtls-guard', '--cert-service=guard-mtls-guard']) t.ok(args.includes(arg), arg);
  t.notOk(args.some((a) => a.startsWith('--tls-')), 'no certificate files');
  t.notOk(pod.volumes.some((v: Doc) => v['name'] === 'tls'), 'no Secret volume: a rotation needs no kubelet sync');
  t.notOk(find(render(MODES['helm']), 'Role', 'guard-mtls-guard-runtime-certs'), 'the other modes have no runtime RBAC');
});

t.test('image, names, labels, priority and security contexts', async (t) => {
  const image = (set: string[]) => find(render(set), 'Deployment')?.['spec'].template.spec.containers[0].image;
  t.equal(image([]), 'mtls-guard/mtls-guard:0.1.0', "the tag defaults to the chart's appVersion");
  const digest = `sha256:${'ab'.repeat(32)}`;
  t.equal(image([`image.digest=${digest}`, 'image.tag=ignored']), `mtls-guard/mtls-guard@${digest}`, 'a digest wins over the tag');

  const names = (set: string[]) => render(set).map((d) => `${d['kind']}/${d['metadata'].name}`);
  t.ok(names(['fullnameOverride=guardian']).includes('Deployment/guardian'), 'fullnameOverride');
  t.ok(names(['nameOverride=meshcop']).includes('Deployment/guard-meshcop'), 'nameOverride');
  t.equal(labelsOf(find(render(['nameOverride=meshcop']), 'Deployment'))['app.kubernetes.io/name'], 'meshcop');

  const docs = render();
  for (const kind of ['Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'ValidatingWebhookConfiguration']) {
    t.equal(labelsOf(find(docs, kind))['app.kubernetes.io/component'], 'webhook', `${kind} has app.kubernetes.io/component=webhook`);
  }
  const deployment = find(docs, 'Deployment');
  t.equal(deployment?.['spec'].template.metadata.labels['app.kubernetes.io/component'], 'webhook', 'the pods too');
  t.same(deployment?.['spec'].selector.matchLabels, { 'app.kubernetes.io/name': 'mtls-guard', 'app.kubernetes.io/instance': 'guard' }, 'the selector is unchanged (it is immutable)');
  t.equal(deployment?.['spec'].template.spec.priorityClassName, 'system-cluster-critical');

  const openshift = find(render(['podSecurityContext.runAsUser=null', 'podSecurityContext.runAsGroup=null', 'podSecurityContext.fsGroup=null']), 'Deployment')?.['spec'].template.spec;
  t.same(openshift.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, 'the fixed UID can be dropped (OpenShift restricted SCC) and the rest stays');
  const container = find(render(['securityContext.runAsUser=1000750000']), 'Deployment')?.['spec'].template.spec.containers[0];
  t.same(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, runAsUser: 1000750000 }, 'a container field added, the restricted defaults kept');
});

t.test('exempt namespaces add to the defaults unless replaced; extra webhook selectors', async (t) => {
  const skipped = (set: string[]) => find(render(set), 'ValidatingWebhookConfiguration')?.['webhooks'][1].namespaceSelector.matchExpressions[0].values;
  t.same(skipped(['config.exemptNamespaces={monitoring}']), ['istio-system', 'kube-node-lease', 'kube-public', 'kube-system', 'monitoring', 'mtls-guard'], 'a list that forgets kube-system keeps it');
  t.same(skipped(['config.exemptNamespaces={monitoring}', 'config.replaceDefaultExemptNamespaces=true']), ['istio-system', 'monitoring', 'mtls-guard'], 'replaced only when told to');

  const selected = find(render(['webhook.namespaceSelector.matchLabels.mesh=yes', 'webhook.namespaceSelector.matchExpressions[0].key=tier',
    'webhook.namespaceSelector.matchExpressions[0].operator=In', 'webhook.namespaceSelector.matchExpressions[0].values={prod}', 'webhook.workloads.objectSelector.matchLabels.checked=yes']), 'ValidatingWebhookConfiguration');
  for (const hook of selected?.['webhooks'] ?? []) {
    t.same(hook.namespaceSelector.matchLabels, { mesh: 'yes' }, `${hook.name}: extra matchLabels`);
    t.same(hook.namespaceSelector.matchExpressions.slice(1), [{ key: 'tier', operator: 'In', values: ['prod'] }], `${hook.name}: extra expressions after the exempt names`);
  }
  t.same(selected?.['webhooks'][1].objectSelector, { matchLabels: { checked: 'yes' } }, 'the workloads webhook objectSelector');
  t.notOk(selected?.['webhooks'][0].objectSelector, 'PeerAuthentications are never filtered by object');
});

t.test('the namespace default is refused unless allowed', async (t) => {
  const refused = run(['template', 'guard', chart, '-n', 'default']);
  t.not(refused.code, 0);
  t.match(refused.stderr, 'mtls-guard would be installed into the namespace "default"');
  t.match(refused.stderr, 'set allowDefaultNamespace=true');
  t.equal(run(['template', 'guard', chart]).code, refused.code, 'also without -n');
  t.equal(run(['template', 'guard', chart, '-n', 'default', '--set', 'allowDefaultNamespace=true']).code, 0, 'allowed when told');
});

t.test('monitoring: ServiceMonitor and PrometheusRule, off by default', async (t) => {
  t.notOk(find(render(), 'ServiceMonitor'));
  t.notOk(find(render(), 'PrometheusRule'));
  const docs = render(['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.labels.release=kube-prometheus', 'metrics.prometheusRule.enabled=true']);
  const monitor = find(docs, 'ServiceMonitor');
  t.same(monitor?.['spec'].endpoints, [{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' }]);
  t.same(monitor?.['spec'].selector.matchLabels, { 'app.kubernetes.io/name': 'mtls-guard', 'app.kubernetes.io/instance': 'guard' });
  t.equal(labelsOf(monitor)['release'], 'kube-prometheus', 'labels for the Prometheus selector');
  const service = find(docs, 'Service');
  t.ok(service?.['spec'].ports.some((p: Doc) => p['name'] === 'metrics'), 'the Service has the port it scrapes');
  const alerts = find(docs, 'PrometheusRule')?.['spec'].groups.flatMap((g: Doc) => g['rules']) as Doc[];
  t.same(alerts.map((a) => a['alert']).sort(), [
    'MtlsGuardAbsent', 'MtlsGuardCacheNotSynced', 'MtlsGuardCertificateExpiresSoon', 'MtlsGuardCertificateRejected', 'MtlsGuardInternalError',
    'MtlsGuardReviewsUnchecked', 'MtlsGuardSlowReviews', 'MtlsGuardStrictOverWorkloadsOutsideMesh',
  ]);
  const withTelemetry = find(render(['metrics.prometheusRule.enabled=true', 'audit.prometheusUrl=http://prometheus.monitoring:9090']), 'PrometheusRule');
  t.ok(
    withTelemetry?.['spec'].groups.flatMap((g: Doc) => g['rules']).some((a: Doc) => a['alert'] === 'MtlsGuardTelemetryUnreadable'),
    'with audit.prometheusUrl, an alert for telemetry that cannot be read',
  );
  const args = find(render(['audit.prometheusUrl=http://prometheus.monitoring:9090', 'audit.callersWindow=6h']), 'Deployment')?.['spec'].template.spec.containers[0].args as string[];
  t.ok(args.includes('--prometheus-url=http://prometheus.monitoring:9090') && args.includes('--callers-window=6h'), 'the telemetry values reach serve');
  for (const alert of alerts) t.match(alert['labels'], { severity: /^(warning|critical)$/ }, `${alert['alert']} has a severity`);

  // The names the server really exports, from a running webhook's /metrics.
  const webhook = await startWebhook();
  t.teardown(() => webhook.close());
  const text = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: webhook.metricsPort, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject).end();
  });
  const exported = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exported.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
  }
  t.ok(exported.has('mtls_guard_cache_synced'), `the scrape lists the exported metrics (${exported.size})`);
  const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'unless', 'and', 'or', 'bool', 'offset']);
  for (const alert of alerts) {
    const expr = String(alert['expr'])
      .replace(/"(?:[^"\\]|\\.)*"/g, '')
      .replace(/\{[^}]*\}/g, '')
      .replace(/\[[^\]]*\]/g, '')
      .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
    const names = [...expr.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g)].map((m) => m[0]).filter((n) => !KEYWORDS.has(n));
    t.ok(names.length > 0, `${alert['alert']} names a metric`);
    for (const name of names) t.ok(exported.has(name), `${alert['alert']}: ${name} is exported by the server`);
    t.match(alert['expr'], /namespace="mtls-guard"/, `${alert['alert']} is scoped to the release namespace`);
  }
});

t.test('NetworkPolicy (optional): the webhook port from anywhere or given peers, metrics from selected namespaces', async (t) => {
  t.notOk(find(render(), 'NetworkPolicy'));
  const policy = find(render(['networkPolicy.enabled=true']), 'NetworkPolicy');
  t.same(policy?.['spec'].policyTypes, ['Ingress'], 'ingress only: egress to the API server is left alone');
  t.same(policy?.['spec'].podSelector.matchLabels, { 'app.kubernetes.io/name': 'mtls-guard', 'app.kubernetes.io/instance': 'guard' });
  const [webhook, metrics] = policy?.['spec'].ingress ?? [];
  t.same(webhook, { ports: [{ port: 'webhook', protocol: 'TCP' }] }, 'the webhook port from any source (kube-apiserver is not a selectable pod)');
  t.same(metrics, { ports: [{ port: 'metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] });
  const narrowed = find(render(['networkPolicy.enabled=true', 'networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.0/28', 'networkPolicy.metrics.namespaceSelector.matchLabels.team=observability',
    'networkPolicy.metrics.podSelector.matchLabels.app=prometheus']), 'NetworkPolicy');
  t.same(narrowed?.['spec'].ingress[0].from, [{ ipBlock: { cidr: '10.0.0.0/28' } }]);
  t.same(narrowed?.['spec'].ingress[1].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring', team: 'observability' } }, podSelector: { matchLabels: { app: 'prometheus' } } }]);
});

t.test('the helm test hook: what it expects follows the configuration', async (t) => {
  const hooks = (set: string[]) => render(set).filter((d) => d['metadata'].annotations?.['helm.sh/hook'] === 'test');
  const docs = hooks([]);
  t.same(docs.map((d) => d['kind']).sort(), ['ConfigMap', 'Pod', 'Role', 'RoleBinding', 'ServiceAccount']);
  const pod = docs.find((d) => d['kind'] === 'Pod');
  t.equal(pod?.['spec'].containers[0].image, 'mtls-guard/mtls-guard:0.1.0', "mtls-guard's own image by default");
  t.same(pod?.['spec'].containers[0].command, ['node', '/etc/mtls-guard-test/check.mjs']);
  t.same(pod?.['spec'].containers[0].securityContext, find(render(), 'Deployment')?.['spec'].template.spec.containers[0].securityContext, 'restricted like the webhook');
  t.equal(docs.find((d) => d['kind'] === 'Role')?.['metadata'].namespace, 'default');
  t.same(docs.find((d) => d['kind'] === 'Role')?.['rules'], [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['create'] }]);
  for (const doc of docs) t.equal(doc['metadata'].annotations['helm.sh/hook-delete-policy'], 'before-hook-creation,hook-succeeded', `${doc['kind']} is deleted after a passing test`);
  t.equal(hooks(['test.image=node:24-alpine']).find((d) => d['kind'] === 'Pod')?.['spec'].containers[0].image, 'node:24-alpine', 'the image is configurable');
  const expectOf = (set: string[]) => hooks(set).find((d) => d['kind'] === 'ConfigMap')?.['data'].expect;
  t.equal(expectOf([]), 'deny');
  t.equal(expectOf(['config.enforcement=warn']), 'warn');
  t.equal(expectOf(['config.rules.pod-requires-mesh=warn']), 'warn');
  t.same(hooks(['config.rules.pod-requires-mesh=audit']), [], 'nothing observable to test: no hook');
  t.same(hooks(['test.enabled=false']), []);
  t.equal(hooks(['test.namespace=shop']).find((d) => d['kind'] === 'ConfigMap')?.['data'].namespace, 'shop');
});

t.test('values.schema.json rejects wrong values with a clear message', async (t) => {
  const cases: [string[], string][] = [
    [['certs.mode=bogus'], "at '/certs/mode': value must be one of 'runtime', 'helm', 'cert-manager', 'existing'"],
    [['certs.mode=existing'], "at '/certs/existing/secretName'"],
    [['webhook.workloads.failurePolicy=Never'], "at '/webhook/workloads/failurePolicy'"],
    [['replicaCount=0'], "at '/replicaCount'"],
    [['config.enforcement=strict'], "at '/config/enforcement'"],
    [['config.rules.pod-requires-mesh=block'], "at '/config/rules/pod-requires-mesh'"],
    [['config.exemptNamespaces={Kube_System}'], "at '/config/exemptNamespaces/0'"],
    [['replicas=3'], "additional properties 'replicas' not allowed"],
    [['image.digest=latest'], "at '/image/digest'"],
    [['metrics.serviceMonitor.interval=often'], "at '/metrics/serviceMonitor/interval'"],
    [['webhook.namespaceSelector.matchExpressions[0].key=x', 'webhook.namespaceSelector.matchExpressions[0].operator=Maybe'], "at '/webhook/namespaceSelector/matchExpressions/0/operator'"],
    [['test.namespace=Not_A_Namespace'], "at '/test/namespace'"],
    [['networkPolicy.open=true'], "additional properties 'open' not allowed"],
  ];
  for (const [set, message] of cases) {
    const result = run(['template', 'guard', chart, '-n', 'mtls-guard', ...set.flatMap((s) => ['--set', s])]);
    t.not(result.code, 0, `${set.join(' ')} is rejected`);
    t.match(result.stderr, message, `${set.join(' ')}: ${message}`);
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}`);
}

t.test('against a real API server with kube-controller-manager', async (t) => {
  const plane = await startControlPlane({ controllerManager: true });
  t.teardown(() => plane.stop());
  const kubectl = (args: string[], input?: string) => plane.kubectl(args, input);
  const json = (args: string[]) => JSON.parse(kubectl([...args, '-o', 'json']).stdout) as Doc;
  t.equal(kubectl(['create', 'namespace', 'mtls-guard']).code, 0);
  t.equal(kubectl(['create', 'namespace', 'istio-system']).code, 0, 'the root namespace (Istio installed)');
  t.equal(kubectl(['apply', '-f', repoPath('test/e2e/peerauthentication-crd.yaml')]).code, 0, 'Istio CRD installed');
  t.equal(kubectl(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']).code, 0);

  for (const mode of ['runtime', 'helm', 'existing']) {
    const rendered = run(['template', 'guard', chart, '-n', 'mtls-guard', '--skip-tests', ...MODES[mode]!.flatMap((s) => ['--set', s])]);
    const dryRun = kubectl(['apply', '--dry-run=server', '-f', '-'], rendered.stdout);
    t.equal(dryRun.code, 0, `${mode}: helm template | kubectl apply --dry-run=server: ${dryRun.stderr}`);
  }
  const optional = run(['template', 'guard', chart, '-n', 'mtls-guard', '--skip-tests', '--set', 'networkPolicy.enabled=true']);
  t.equal(kubectl(['apply', '--dry-run=server', '-f', '-'], optional.stdout).code, 0, 'the NetworkPolicy is accepted by the API server');

  const helmArgs = ['--kubeconfig', plane.kubeconfig, '-n', 'mtls-guard'];
  const install = run(['install', 'guard', chart, ...helmArgs]);
  t.equal(install.code, 0, `helm install: ${install.stderr}`);
  t.match(install.stdout, 'kubectl -n mtls-guard rollout status deployment/guard-mtls-guard', 'NOTES say how to check it works');
  for (const object of ['deployment/guard-mtls-guard', 'service/guard-mtls-guard', 'serviceaccount/guard-mtls-guard', 'configmap/guard-mtls-guard',
    'secret/guard-mtls-guard-runtime-tls', 'poddisruptionbudget/guard-mtls-guard', 'clusterrole/guard-mtls-guard', 'clusterrolebinding/guard-mtls-guard',
    'role/guard-mtls-guard-runtime-certs', 'rolebinding/guard-mtls-guard-runtime-certs', 'clusterrole/guard-mtls-guard-runtime-certs',
    'clusterrolebinding/guard-mtls-guard-runtime-certs', 'validatingwebhookconfiguration/guard-mtls-guard']) {
    t.equal(kubectl(['get', object, '-n', 'mtls-guard']).code, 0, `${object} exists`);
  }
  await until('the Deployment has its ReplicaSet and 2 Pods', () => (json(['get', 'pods', '-n', 'mtls-guard', '-l', 'app.kubernetes.io/instance=guard'])['items'] as Doc[]).length === 2);
  const pods = json(['get', 'pods', '-n', 'mtls-guard', '-l', 'app.kubernetes.io/instance=guard'])['items'] as Doc[];
  t.same(pods.map((p) => p['metadata'].ownerReferences?.[0]?.kind), ['ReplicaSet', 'ReplicaSet'], 'the ReplicaSet controller created the Pods');
  t.same(pods.map((p) => p['spec'].priorityClassName), ['system-cluster-critical', 'system-cluster-critical'], 'system-cluster-critical is admitted outside kube-system');
  t.same(pods.map((p) => p['spec'].securityContext.runAsUser), [65532, 65532]);
  t.same(pods.map((p) => p['status'].phase), ['Pending', 'Pending'], 'no kubelet: they stay Pending');

  const sa = 'system:serviceaccount:mtls-guard:guard-mtls-guard';
  const can = (verb: string, resource: string, namespace?: string) =>
    kubectl(['auth', 'can-i', verb, resource, '--as', sa, ...(namespace ? ['-n', namespace] : ['-A'])]).stdout.trim();
  const readable = ['pods', 'namespaces', 'nodes', 'replicationcontrollers', 'deployments.apps', 'statefulsets.apps', 'daemonsets.apps', 'replicasets.apps', 'jobs.batch', 'cronjobs.batch', 'peerauthentications.security.istio.io'];
  for (const resource of readable) {
    for (const verb of ['get', 'list', 'watch']) t.equal(can(verb, resource), 'yes', `can ${verb} ${resource}`);
    for (const verb of ['create', 'update', 'patch', 'delete']) t.equal(can(verb, resource), 'no', `cannot ${verb} ${resource}`);
  }
  for (const resource of ['secrets', 'configmaps', 'validatingwebhookconfigurations']) t.equal(can('get', resource), 'no', `cannot get every ${resource}`);
  for (const verb of ['get', 'update']) {
    t.equal(can(verb, 'secret/guard-mtls-guard-runtime-tls', 'mtls-guard'), 'yes', `can ${verb} its own Secret`);
    t.equal(can(verb, 'validatingwebhookconfiguration/guard-mtls-guard'), 'yes', `can ${verb} its own webhook configuration`);
    t.equal(can(verb, 'secret/other', 'mtls-guard'), 'no', `cannot ${verb} another Secret`);
    t.equal(can(verb, 'validatingwebhookconfiguration/istio-validator'), 'no', `cannot ${verb} another webhook configuration`);
  }
  for (const verb of ['create', 'delete', 'list', 'watch']) t.equal(can(verb, 'secrets', 'mtls-guard'), 'no', `cannot ${verb} Secrets`);
  const injectorWebhooks = 'mutatingwebhookconfigurations.admissionregistration.k8s.io';
  for (const verb of ['get', 'list', 'watch']) t.equal(can(verb, injectorWebhooks), 'yes', `can ${verb} ${injectorWebhooks}`);
  for (const verb of ['create', 'update', 'patch', 'delete']) t.equal(can(verb, injectorWebhooks), 'no', `cannot ${verb} ${injectorWebhooks}`);
  const canIn = (verb: string, resource: string, namespace: string) =>
    kubectl(['auth', 'can-i', verb, resource, '--as', sa, '-n', namespace]).stdout.trim();
  for (const verb of ['get', 'list', 'watch']) {
    t.equal(canIn(verb, 'configmaps/istio-sidecar-injector', 'istio-system'), 'yes', `can ${verb} the injector's ConfigMap in the root namespace`);
  }
  for (const verb of ['create', 'update', 'patch', 'delete']) {
    t.equal(canIn(verb, 'configmaps/istio-sidecar-injector', 'istio-system'), 'no', `cannot ${verb} the injector's ConfigMap`);
  }
  t.equal(canIn('get', 'configmaps/istio', 'istio-system'), 'no', 'cannot get another ConfigMap in the root namespace');
  t.equal(canIn('list', 'configmaps', 'istio-system'), 'no', 'cannot list every ConfigMap in the root namespace');
  t.equal(canIn('get', 'configmaps/istio-sidecar-injector', 'default'), 'no', 'cannot get a ConfigMap of that name elsewhere');
  t.equal(kubectl(['create', 'configmap', 'istio-sidecar-injector', '-n', 'istio-system', '--from-literal=config=policy: enabled']).code, 0);
  const listed = kubectl(['get', 'configmaps', '-n', 'istio-system', '--field-selector', 'metadata.name=istio-sidecar-injector', '--as', sa, '-o', 'name']);
  t.equal(listed.stdout.trim(), 'configmap/istio-sidecar-injector', `the reflector's list (fieldSelector metadata.name) is allowed: ${listed.stderr}`);
  t.not(kubectl(['get', 'configmaps', '-n', 'istio-system', '--as', sa]).code, 0, 'a list without the field selector is refused');

  // Runtime certificates with the chart's service account: its RBAC is enough.
  const token = kubectl(['create', 'token', 'guard-mtls-guard', '-n', 'mtls-guard']).stdout.trim();
  const asGuard = new KubeConfig();
  asGuard.loadFromOptions({
    clusters: [{ name: 'test', server: plane.server, caFile: plane.caFile }],
    users: [{ name: 'guard', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'guard' }],
    currentContext: 'test',
  });
  const replicas = await Promise.all([0, 1].map(() =>
    runtimeCertificates({ kubeConfig: asGuard, namespace: 'mtls-guard', secretName: 'guard-mtls-guard-runtime-tls', webhookConfigName: 'guard-mtls-guard', service: 'guard-mtls-guard' })));
  for (const replica of replicas) replica.stop();
  t.equal(replicas[0]?.pair.fingerprint, replicas[1]?.pair.fingerprint, 'two replicas settle on one pair in the chart-made Secret');
  const state = () => ({
    secret: kubectl(['get', 'secret', 'guard-mtls-guard-runtime-tls', '-n', 'mtls-guard', '-o', 'jsonpath={.data.tls\\.crt}']).stdout,
    bundles: (json(['get', 'validatingwebhookconfiguration', 'guard-mtls-guard'])['webhooks'] as Doc[]).map((h) => h['clientConfig'].caBundle as string),
  });
  const before = state();
  t.equal(Buffer.from(before.secret, 'base64').toString(), replicas[0]?.pair.cert, 'the Secret holds that pair');
  t.same(before.bundles, before.bundles.map(() => Buffer.from(replicas[0]!.caBundle).toString('base64')), 'every webhook trusts its CA');

  const upgrade = run(['upgrade', 'guard', chart, ...helmArgs, '--set', 'replicaCount=3']);
  t.equal(upgrade.code, 0, `helm upgrade: ${upgrade.stderr}`);
  t.equal(kubectl(['get', 'deployment', 'guard-mtls-guard', '-n', 'mtls-guard', '-o', 'jsonpath={.spec.replicas}']).stdout, '3', 'the upgrade applied');
  t.same(state(), before, 'helm upgrade leaves the Secret and the caBundles mtls-guard wrote alone');
  await until('the new ReplicaSet scales to 3 Pods', () => (json(['get', 'pods', '-n', 'mtls-guard', '-l', 'app.kubernetes.io/instance=guard'])['items'] as Doc[]).length >= 3);

  // helm test. The pods cannot run (no kubelet), so this test stands in for one: it runs the hook Pod's own
  // script with the hook's service account token against the API server, and reports the exit code as the phase.
  // The API server reaches a real mtls-guard through the webhook configuration, pointed at it by URL.
  const webhook = await startWebhook({ kubeconfig: plane.kubeconfig });
  t.teardown(() => webhook.close());
  await until('mtls-guard has synced', async () => {
    const res = await https(webhook.port, webhook.ca, '/readyz').catch(() => undefined);
    return res?.status === 200;
  });

  const accountDir = mkdtempSync(join(tmpdir(), 'mtls-guard-helm-test-'));
  let script: Record<string, string> | undefined;
  /** The hook Pod's script, run as its service account (read once: a passing test deletes the hook's objects). */
  const runHook = async (): Promise<{ code: number; output: string }> => {
    if (!script) {
      script = json(['get', 'configmap', 'guard-mtls-guard-test', '-n', 'mtls-guard'])['data'] as Record<string, string>;
      writeFileSync(join(accountDir, 'check.mjs'), script['check.mjs']!);
      writeFileSync(join(accountDir, 'token'), kubectl(['create', 'token', 'guard-mtls-guard-test', '-n', 'mtls-guard']).stdout.trim());
      writeFileSync(join(accountDir, 'ca.crt'), readFileSync(plane.caFile));
    }
    const url = new URL(plane.server);
    // Not spawnSync: the webhook answering the API server runs in this process.
    const child = spawn(process.execPath, [join(accountDir, 'check.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '', KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port, SERVICE_ACCOUNT_DIR: accountDir,
        EXPECT: script['expect']!, TEST_NAMESPACE: script['namespace']! },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number>((resolve) => child.on('exit', (status) => resolve(status ?? -1)));
    return { code, output };
  };
  const helmTest = spawn(helm, ['test', 'guard', ...helmArgs, '--timeout', '120s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let helmOutput = '';
  helmTest.stdout.on('data', (c: Buffer) => (helmOutput += c.toString()));
  helmTest.stderr.on('data', (c: Buffer) => (helmOutput += c.toString()));
  const helmExit = new Promise<number | null>((resolve) => helmTest.on('exit', resolve));
  await until('helm test created the hook Pod', () => kubectl(['get', 'pod', 'guard-mtls-guard-test', '-n', 'mtls-guard']).code === 0);
  const hookPod = json(['get', 'pod', 'guard-mtls-guard-test', '-n', 'mtls-guard']);
  t.equal(hookPod['spec'].serviceAccountName, 'guard-mtls-guard-test');
  // The check can fail: while the API server cannot reach mtls-guard (failurePolicy Ignore), the Deployment is admitted.
  const admitted = await runHook();
  t.equal(admitted.code, 1);
  t.match(admitted.output, 'FAIL: expected mtls-guard to deny the dry-run Deployment in default, got HTTP 201', 'a Deployment admitted without mtls-guard fails the check');
  const clientConfig = { url: `https://127.0.0.1:${webhook.port}/validate`, caBundle: Buffer.from(webhook.ca).toString('base64') };
  const patch = JSON.stringify([0, 1].map((i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig`, value: clientConfig })));
  t.equal(kubectl(['patch', 'validatingwebhookconfiguration', 'guard-mtls-guard', '--type=json', '-p', patch]).code, 0);
  // As in the e2e harness: the API server takes a moment to call a newly registered webhook.
  await until('the API server calls mtls-guard', async () => (await runHook()).code === 0, 30_000).catch(() => undefined);
  const hook = await runHook();
  t.equal(hook.code, 0, `the hook's check passes: ${hook.output}`);
  t.match(hook.output, /PASS: mtls-guard denied the dry-run Deployment in default: admission webhook "workloads\.mtls-guard\.dev" denied the request: \[pod-requires-mesh\]/);
  const phase = hook.code === 0 ? 'Succeeded' : 'Failed';
  t.equal(kubectl(['patch', 'pod', 'guard-mtls-guard-test', '-n', 'mtls-guard', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase } })]).code, 0);
  t.equal(await helmExit, 0, `helm test passes: ${helmOutput}`);
  t.match(helmOutput, /TEST SUITE:\s+guard-mtls-guard-test[\s\S]*Phase:\s+Succeeded/);
  t.equal(kubectl(['get', 'deployment', 'mtls-guard-helm-test', '-n', 'default']).code, 1, 'the dry run stored nothing');

  // certs.mode=helm is kept: its upgrade keeps the CA it generated.
  const legacyArgs = ['--kubeconfig', plane.kubeconfig, '-n', 'legacy', '--create-namespace', '--set', 'certs.mode=helm'];
  t.equal(run(['install', 'legacy', chart, ...legacyArgs]).code, 0, 'helm install in helm mode');
  const caOf = () => ({
    secret: kubectl(['get', 'secret', 'legacy-mtls-guard-tls', '-n', 'legacy', '-o', 'jsonpath={.data.ca\\.crt}']).stdout,
    bundle: kubectl(['get', 'validatingwebhookconfiguration', 'legacy-mtls-guard', '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}']).stdout,
  });
  const legacy = caOf();
  t.ok(legacy.secret.length > 100, 'the chart generated a CA');
  t.equal(legacy.bundle, legacy.secret, 'the caBundle is that CA');
  t.equal(run(['upgrade', 'legacy', chart, ...legacyArgs, '--set', 'replicaCount=3']).code, 0, 'helm upgrade in helm mode');
  t.same(caOf(), legacy, 'helm upgrade keeps the same CA and certificate');
});
