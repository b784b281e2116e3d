/**
 * `mtls-guard check --kubeconfig` against a real kube-apiserver + etcd (issue 14): the live state decides what
 * the files do not define, the files override live objects, unreadable live objects are skipped, and an
 * unreachable cluster, bad credentials or missing permissions are one line and exit 2. Also offline: the same
 * repository gives namespace-unknown.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, helmBinary, startControlPlane } from '../support/control-plane.js';
import { repoPath, spawnCli } from '../support/helpers.js';

t.setTimeout(300_000);

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const must = plane.must;

const scratch = mkdtempSync(join(tmpdir(), 'mtls-guard-check-live-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const repo = (name: string, manifests: string): string => {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, manifests);
  return file;
};
const deployment = (namespace: string, name = 'web') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec: { containers: [{ name: ${name}, image: "registry.example.com/${name}:1" }] }
`;
const shopWeb = repo('shop-web', deployment('shop'));
const legacyWeb = repo('legacy-web', deployment('legacy'));

must(
  ['apply', '-f', '-'],
  `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: v1
kind: Namespace
metadata: { name: mtls-guard }
---
${deployment('legacy', 'billing')}`,
);

t.test('without the PeerAuthentication CRD: none, said so, and the run goes on', async (t) => {
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /note: cluster test \(https:\/\/127\.0\.0\.1:\d+\) has no PeerAuthentication CRD: it has none/);
});

must(['apply', '-f', '-'], readFileSync(repoPath('test/e2e/peerauthentication-crd.yaml'), 'utf8'));
must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
for (let i = 0; i < 100 && plane.kubectl(['get', 'peerauthentications.security.istio.io', '-A']).code !== 0; i++) {
  await new Promise((resolve) => setTimeout(resolve, 200));
}
must(
  ['apply', '-f', '-'],
  `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: unreadable, namespace: legacy }
spec: { mtls: { mode: strict } }
`,
);

t.test('a repository with only Deployment shop/web, shop labelled for injection in the cluster: exit 0', async (t) => {
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.equal(run.stderr, '');
  t.match(run.stdout, /state: 1 object from the input, \d+ objects from cluster:test/, 'says where the state came from');
  t.match(run.stdout, /note: skipped PeerAuthentication legacy\/unreadable from cluster:test: .*spec\.mtls\.mode must be one of/, 'an unreadable live object is skipped, not fatal');
  t.match(run.stdout, /1 object checked: 0 denied, 0 warnings, 0 audited/);
  const json = JSON.parse(spawnCli(['check', '-f', shopWeb, '--kubeconfig', plane.kubeconfig, '-o', 'json']).stdout) as {
    summary: { sources: { files: number; cluster: Record<string, number>; skipped: number } };
  };
  t.equal(json.summary.sources.files, 1);
  t.ok((json.summary.sources.cluster['cluster:test'] ?? 0) >= 4, 'namespaces, the live Deployment, its policy');
  t.equal(json.summary.sources.skipped, 1);
  const sarif = spawnCli(['check', '-f', shopWeb, '--kubeconfig', plane.kubeconfig, '-o', 'sarif']);
  t.match(sarif.stderr, /^mtls-guard: note: skipped PeerAuthentication legacy\/unreadable from cluster:test/m, 'machine formats tell it on stderr');
});

t.test('the same repository for namespace legacy, unlabelled in the cluster: exit 1 naming the fix', async (t) => {
  const run = spawnCli(['check', '-f', legacyWeb, '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /DENY pod-requires-mesh: Deployment legacy\/web/);
  t.match(run.stdout, /namespace legacy has no istio-injection or istio\.io\/rev label/);
  t.match(run.stdout, /Fix: kubectl label namespace legacy istio-injection=enabled/);
});

t.test('--context picks the context, from KUBECONFIG', async (t) => {
  const run = spawnSync(process.execPath, [repoPath('dist/src/cli.js'), 'check', '-f', shopWeb, '--context', 'test'], {
    cwd: repoPath('.'),
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: plane.kubeconfig },
  });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /from cluster:test/);
  const missing = spawnCli(['check', '-f', shopWeb, '--kubeconfig', plane.kubeconfig, '--context', 'prod']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--context prod: no such context in the kubeconfig \(it has: test\)/);
});

t.test('the files override live objects of the same identity', async (t) => {
  const file = repo('shop-unlabelled', `apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n---\n${deployment('shop')}`);
  const run = spawnCli(['check', '-f', file, '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /DENY pod-requires-mesh: Deployment shop\/web/, "the file's unlabelled shop, not the cluster's");
  t.match(run.stdout, /the input replaces the cluster's Namespace shop/);
  const policy = repo('shop-permissive', `apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: shop }\nspec: { mtls: { mode: PERMISSIVE } }\n`);
  const replaced = spawnCli(['check', '-f', policy, '--kubeconfig', plane.kubeconfig]);
  t.match(replaced.stdout, /the input replaces the cluster's PeerAuthentication shop\/default/, 'v1beta1 in a file replaces the v1 object in the cluster');
});

t.test('helm template of the chart | check -f - --kubeconfig: exit 0 where the release namespace exists', async (t) => {
  const helm = spawnSync(helmBinary(), ['template', 'mtls-guard', repoPath('charts/mtls-guard'), '-n', 'mtls-guard'], { encoding: 'utf8' });
  t.equal(helm.status, 0, helm.stderr);
  const run = spawnCli(['check', '-f', '-', '--kubeconfig', plane.kubeconfig, '--fail-on', 'warn'], helm.stdout);
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.match(run.stdout, /objects checked: 0 denied, 0 warnings, 0 audited/);
  const offline = spawnCli(['check', '-f', '-', '--fail-on', 'warn'], helm.stdout);
  t.equal(offline.code, 0, `offline too: mtls-guard's own namespace is exempt\n${offline.stdout}`);
});

t.test('offline, the same repository gives namespace-unknown: exit 0 with --fail-on deny, 1 with --fail-on warn', async (t) => {
  const deny = spawnCli(['check', '-f', shopWeb, '--fail-on', 'deny']);
  t.equal(deny.code, 0, deny.stderr);
  t.match(deny.stdout, /WARN namespace-unknown: Deployment shop\/web/);
  t.match(deny.stdout, /namespace shop is not defined in the input/);
  t.match(deny.stdout, /--kubeconfig/);
  t.match(deny.stdout, /Namespace manifest for shop/);
  t.notMatch(deny.stdout, /DENY/, 'no deny guessed from labels it does not have');
  const warn = spawnCli(['check', '-f', shopWeb, '--fail-on', 'warn']);
  t.equal(warn.code, 1);
  const legacy = spawnCli(['check', '-f', legacyWeb]);
  t.equal(legacy.code, 0, 'the unlabelled namespace is not guessed either');
});

t.test('a namespace neither in the input nor in the cluster is unknown too', async (t) => {
  const run = spawnCli(['check', '-f', repo('nowhere', deployment('nowhere')), '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /namespace nowhere is neither in the input nor in cluster:test/);
  t.match(run.stdout, /create it in cluster:test/);
});

const kubeconfigWith = (server: string, user: string): string => {
  const file = join(scratch, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", certificate-authority: "${plane.caFile}" } }]
users: [{ name: u, user: ${user} }]
contexts: [{ name: ci, context: { cluster: c, user: u } }]
current-context: ci
`,
  );
  return file;
};

const oneLine = (t: Pick<typeof import('tap').default, 'equal' | 'match' | 'notMatch'>, run: { code: number; stderr: string }, pattern: RegExp): void => {
  t.equal(run.code, 2);
  t.match(run.stderr, pattern);
  t.equal(run.stderr.trim().split('\n').length, 1, 'one line on stderr');
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
};

t.test('an unreachable cluster is one line and exit 2', async (t) => {
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', kubeconfigWith(`https://127.0.0.1:${await freePort()}`, '{ token: x }')]);
  oneLine(t, run, /^mtls-guard: cannot reach cluster ci \(https:\/\/127\.0\.0\.1:\d+\): connection refused$/m);
});

t.test('bad credentials (401) are one line and exit 2', async (t) => {
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', kubeconfigWith(plane.server, '{ token: not-a-token }')]);
  oneLine(t, run, /rejected the kubeconfig's credentials \(401 Unauthorized\)/);
});

t.test('a user without read access (403) is one line and exit 2', async (t) => {
  must(['create', 'serviceaccount', 'ci', '-n', 'default']);
  const token = must(['create', 'token', 'ci', '-n', 'default']).trim();
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', kubeconfigWith(plane.server, `{ token: "${token}" }`)]);
  oneLine(t, run, /the kubeconfig's user may not list \w+ \(403 Forbidden\).*see docs\/ci\.md/);
});

t.test('a missing --kubeconfig file is a usage error before anything is read', async (t) => {
  const run = spawnCli(['check', '-f', shopWeb, '--kubeconfig', join(scratch, 'nope')]);
  oneLine(t, run, /--kubeconfig .*nope: no such file/);
});

t.test('a cluster serving PeerAuthentication only as v1beta1 is read through v1beta1', async (t) => {
  must(['patch', 'crd', 'peerauthentications.security.istio.io', '--type=json', '-p', '[{"op":"replace","path":"/spec/versions/0/served","value":false}]']);
  for (let i = 0; i < 100 && plane.kubectl(['get', '--raw', '/apis/security.istio.io/v1/peerauthentications']).code === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const policy = repo('shop-v1', `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: shop }\nspec: { mtls: { mode: STRICT } }\n`);
  const run = spawnCli(['check', '-f', policy, '--kubeconfig', plane.kubeconfig]);
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.match(run.stdout, /the input replaces the cluster's PeerAuthentication shop\/default/, 'the live policy was listed through v1beta1');
});
