/**
 * check's namespace-unknown (issue 14): no verdict guessed from the labels of a namespace nobody defined, and
 * a finding that holds whatever those labels are is still reported. Also the live context: files replace live
 * objects of the same identity, and unreadable live objects are skipped.
 */
import t from 'tap';
import { check, type CheckOptions } from '../../src/check/check.js';
import { policyFor, DEFAULT_CONFIG } from '../../src/config/config.js';
import { parseManifests } from '../../src/manifests/load.js';

const policy = policyFor(structuredClone(DEFAULT_CONFIG) as typeof DEFAULT_CONFIG & { exemptNamespaces: string[] });
const run = (yaml: string, options: CheckOptions = {}) => check(parseManifests(yaml, 'in.yaml'), policy, 'default', options);
const verdicts = (result: ReturnType<typeof run>) => result.findings.map((f) => `${f.action} ${f.rule} ${f.object.kind} ${f.object.namespace}/${f.object.name}`);

const deployment = (namespace: string, name: string, labels = '') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name}${labels} } }
    spec: { containers: [{ name: app, image: app }] }
`;

t.test('a Deployment in an undefined namespace: namespace-unknown, no deny', async (t) => {
  const result = run(deployment('shop', 'web'));
  t.same(verdicts(result), ['warn namespace-unknown Deployment shop/web']);
  t.match(result.findings[0]?.message, /namespace shop is not defined in the input.*--kubeconfig.*Namespace manifest for shop/);
  t.ok((result.findings[0]?.message.length ?? 0) < 256, 'under 256 characters, like every warning');
  t.same(result.findings[0]?.subjects, [{ kind: 'Deployment', namespace: 'shop', name: 'web' }]);
});

t.test('an opt-out holds whatever the namespace says: still denied, next to namespace-unknown', async (t) => {
  const result = run(deployment('shop', 'web', ', sidecar.istio.io/inject: "false", istio.io/dataplane-mode: none'));
  t.same(verdicts(result).sort(), ['deny pod-requires-mesh Deployment shop/web', 'warn namespace-unknown Deployment shop/web']);
  t.match(result.findings.find((f) => f.rule === 'pod-requires-mesh')?.message, /opts it out/);
});

t.test('a sidecar opt-out alone is not denied: an ambient namespace would still capture it', async (t) => {
  const result = run(deployment('shop', 'web', ', sidecar.istio.io/inject: "false"'));
  t.same(verdicts(result), ['warn namespace-unknown Deployment shop/web']);
});

t.test('a mesh-wide STRICT policy over workloads in undefined namespaces: namespace-unknown on the policy, not a deny', async (t) => {
  const result = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
${deployment('shop', 'web')}---
${deployment('data', 'db')}`);
  t.same(verdicts(result).sort(), [
    'warn namespace-unknown Deployment data/db',
    'warn namespace-unknown Deployment shop/web',
    'warn namespace-unknown PeerAuthentication istio-system/default',
  ]);
  const onPolicy = result.findings.find((f) => f.object.kind === 'PeerAuthentication');
  t.match(onPolicy?.message, /this verdict depends on namespaces data, shop, not defined in the input/);
  t.same(onPolicy?.subjects.map((s) => s.name).sort(), ['db', 'web']);
});

t.test('the same policy with a defined, unlabelled namespace: the deny names only what is known', async (t) => {
  const result = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
${deployment('legacy', 'billing')}---
${deployment('shop', 'web')}`);
  const strict = result.findings.find((f) => f.rule === 'strict-requires-mesh');
  t.equal(strict?.action, 'deny');
  t.same(strict?.subjects, [{ kind: 'Deployment', namespace: 'legacy', name: 'billing' }], 'shop/web is not guessed to be outside the mesh');
  t.same(verdicts(result).filter((v) => v.includes('namespace-unknown')), ['warn namespace-unknown Deployment shop/web']);
});

t.test('--namespace-unknown sets the action; off drops the finding but never brings the guess back', async (t) => {
  t.same(verdicts(run(deployment('shop', 'web'), { namespaceUnknown: 'deny' })), ['deny namespace-unknown Deployment shop/web']);
  const off = run(deployment('shop', 'web'), { namespaceUnknown: 'off' });
  t.same(off.findings, []);
  t.same(off.summary, { objects: 1, deny: 0, warn: 0, audit: 0 });
});

t.test('exempt namespaces are never unknown', async (t) => {
  t.same(run(deployment('kube-system', 'dns')).findings, []);
});

const live = (yaml: string) => ({ source: 'cluster:test', objects: parseManifests(yaml, 'cluster:test').map((o) => ({ ...o, source: { file: 'cluster:test', line: 0 } })) });

t.test('live namespaces decide; files replace live objects of the same identity', async (t) => {
  const cluster = live(`apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
`);
  t.same(run(deployment('shop', 'web'), { live: cluster }).findings, [], 'shop is labelled in the cluster');
  t.same(verdicts(run(deployment('legacy', 'web'), { live: cluster })), ['deny pod-requires-mesh Deployment legacy/web']);
  const replaced = run(`apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n---\n${deployment('shop', 'web')}`, { live: cluster });
  t.same(verdicts(replaced), ['deny pod-requires-mesh Deployment shop/web'], "the file's unlabelled shop wins");
  t.same(replaced.summary.sources, { files: 2, cluster: { 'cluster:test': 1 }, overridden: ['Namespace shop'], skipped: 0 });
  t.same(replaced.checked.map((c) => `${c.object.kind} ${c.object.name}${c.stateOnly ? ' (state)' : ''}`), ['Namespace shop (state)', 'Deployment web'], 'live objects are context, not checked');
  const nowhere = run(deployment('nowhere', 'web'), { live: cluster });
  t.match(nowhere.findings[0]?.message, /neither in the input nor in cluster:test.*create it in cluster:test/);
});

t.test('a live object that cannot be read is skipped with a note, not fatal', async (t) => {
  const cluster = live(`apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: bad, namespace: shop }
spec: { mtls: { mode: strict } }
`);
  const result = run(deployment('shop', 'web'), { live: cluster });
  t.same(result.findings, []);
  t.equal(result.summary.sources?.skipped, 1);
  t.match(result.notes, [/^skipped PeerAuthentication shop\/bad from cluster:test: spec\.mtls\.mode must be one of/]);
  t.throws(() => run(`${deployment('shop', 'web')}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: bad, namespace: shop }\nspec: { mtls: { mode: strict } }\n`), /in\.yaml:\d+: PeerAuthentication shop\/bad: spec\.mtls\.mode/, 'the same object in a file is an input error');
});
