/**
 * The CI jobs of docs/ci.md run (issue 14): the GitHub Actions workflow and the GitLab CI jobs are extracted
 * from the page and their shell steps run, in order, in a sample application repository (a Deployment in
 * k8s/ and a chart), against a real kube-apiserver through the read-only identity the page defines, and
 * offline. mtls-guard is installed by the jobs' own install step, from a tarball of this repository.
 * Action steps (`uses:`) are not shell: the test provides what they do (the repository, Node.js, helm).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse as parseJunit, type TestSuites } from 'junit2json';
import t from 'tap';
import { parse } from 'yaml';
import { helmBinary, startControlPlane } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';

t.setTimeout(600_000);

const page = readFileSync(repoPath('docs/ci.md'), 'utf8');
const blocks = new Map<string, string>();
for (const match of page.matchAll(/```yaml\n# (\S+)\n([\s\S]*?)```/g)) blocks.set(match[1] as string, match[2] as string);
const block = (name: string): string => {
  const text = blocks.get(name);
  if (text === undefined) throw new Error(`docs/ci.md has no yaml block "# ${name}"`);
  return text;
};

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface GithubJob {
  env?: Record<string, string>;
  steps: Step[];
}
interface GitlabJob {
  stage?: string;
  before_script?: string[];
  script?: string[];
}

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const must = plane.must;
must(['apply', '-f', '-'], readFileSync(repoPath('test/e2e/peerauthentication-crd.yaml'), 'utf8'));
must(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { istio-injection: enabled } }\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: istio-system }\n');
must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
must(['apply', '-f', '-'], block('mtls-guard-check-rbac.yaml'));

const work = mkdtempSync(join(tmpdir(), 'mtls-guard-ci-docs-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

// The read-only identity of the page, as the secret would hold it.
const token = must(['create', 'token', 'mtls-guard-check', '-n', 'default']).trim();
const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{ name: ci, cluster: { server: "${plane.server}", certificate-authority-data: "${readFileSync(plane.caFile).toString('base64')}" } }]
users: [{ name: mtls-guard-check, user: { token: "${token}" } }]
contexts: [{ name: ci, context: { cluster: ci, user: mtls-guard-check } }]
current-context: ci
`;
const kubeconfigFile = join(work, 'kubeconfig-variable');
writeFileSync(kubeconfigFile, kubeconfig);

// mtls-guard as the jobs install it: a tarball of this repository (npm pack), installed globally into a prefix.
const pack = spawnSync('npm', ['pack', '--pack-destination', work], { cwd: repoPath('.'), encoding: 'utf8' });
if (pack.status !== 0) throw new Error(`npm pack: ${pack.stderr}`);
const tarball = join(work, pack.stdout.trim().split('\n').pop() ?? '');
const prefix = join(work, 'prefix');

function sampleRepository(name: string, namespace: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'k8s'), { recursive: true });
  mkdirSync(join(dir, 'charts/web/templates'), { recursive: true });
  writeFileSync(
    join(dir, 'k8s/api.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: api, image: "registry.example.com/api:1" }] }
`,
  );
  writeFileSync(join(dir, 'charts/web/Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
  writeFileSync(
    join(dir, 'charts/web/templates/deployment.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: {{ .Release.Name }}, namespace: {{ .Release.Namespace }} }
spec:
  selector: { matchLabels: { app: {{ .Release.Name }} } }
  template:
    metadata: { labels: { app: {{ .Release.Name }} } }
    spec: { containers: [{ name: web, image: "registry.example.com/web:1" }] }
`,
  );
  return dir;
}

const PATH = [join(prefix, 'bin'), dirname(helmBinary()), dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter);
const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH,
  CI: 'true',
  npm_config_prefix: prefix,
  npm_config_prefer_offline: 'true',
  npm_config_update_notifier: 'false',
});

interface StepRun {
  name: string;
  code: number | null;
  output: string;
}

function runShell(script: string, cwd: string, env: NodeJS.ProcessEnv, name: string): StepRun {
  // GitHub's `shell: bash`; GitLab runs each script line in one shell that stops at the first failure.
  const run = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env, encoding: 'utf8', timeout: 300_000 });
  return { name, code: run.status, output: `${run.stdout}${run.stderr}` };
}

/** GitHub's ${{ }} expressions this page uses; any other makes the test fail, so the page stays runnable. */
function expand(value: string, context: Record<string, string>): string {
  return value.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, expression: string) => {
    const resolved = context[expression];
    if (resolved === undefined) throw new Error(`docs/ci.md uses \${{ ${expression} }}, which this test cannot provide`);
    return resolved;
  });
}

function runGithubJob(job: GithubJob, repo: string): StepRun[] {
  const runnerTemp = mkdtempSync(join(work, 'runner-temp-'));
  const context = { 'vars.MTLS_GUARD_PACKAGE': tarball, 'secrets.MTLS_GUARD_KUBECONFIG': kubeconfig };
  const jobEnv = Object.fromEntries(Object.entries(job.env ?? {}).map(([k, v]) => [k, expand(String(v), context)]));
  const runs: StepRun[] = [];
  for (const step of job.steps) {
    if (step.run === undefined) continue;
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v), context)]));
    const run = runShell(step.run, repo, { ...baseEnv(), GITHUB_ACTIONS: 'true', RUNNER_TEMP: runnerTemp, ...jobEnv, ...stepEnv }, step.name ?? step.run);
    runs.push(run);
    if (run.code !== 0) break;
  }
  return runs;
}

function runGitlabJob(job: GitlabJob, repo: string, variables: Record<string, string>): StepRun {
  const script = [...(job.before_script ?? []), ...(job.script ?? [])].join('\n');
  return runShell(script, repo, { ...baseEnv(), GITLAB_CI: 'true', MTLS_GUARD_PACKAGE: tarball, ...variables }, script);
}

const workflow = parse(block('.github/workflows/mtls-guard.yaml')) as { defaults?: { run?: { shell?: string } }; jobs: Record<string, GithubJob> };
const gitlab = parse(block('.gitlab-ci.yml')) as Record<string, GitlabJob | string[]>;
const gitlabJob = (name: string): GitlabJob => gitlab[name] as GitlabJob;

t.test('the page defines both pipelines and the RBAC', async (t) => {
  t.same([...blocks.keys()].sort(), ['.github/workflows/mtls-guard.yaml', '.gitlab-ci.yml', 'mtls-guard-check-rbac.yaml']);
  t.equal(workflow.defaults?.run?.shell, 'bash', 'run steps use bash -eo pipefail');
  t.same(Object.keys(workflow.jobs).sort(), ['cluster', 'offline']);
});

t.test('GitHub Actions, offline job: passes, annotating the namespace-unknown warnings', async (t) => {
  const repo = sampleRepository('gh-offline', 'shop');
  const runs = runGithubJob(workflow.jobs['offline'] as GithubJob, repo);
  t.same(runs.map((r) => r.code), [0, 0], runs.map((r) => `${r.name}: ${r.output}`).join('\n'));
  const check = runs[1]?.output ?? '';
  t.match(check, /^::warning file=k8s\/api\.yaml,line=1,title=mtls-guard namespace-unknown%3A Deployment shop\/api::/m);
  t.match(check, /^::warning file=.*web\.yaml,line=\d+,title=mtls-guard namespace-unknown%3A Deployment shop\/web::/m);
});

t.test('GitHub Actions, cluster job: passes where shop is labelled for injection, with a SARIF report', async (t) => {
  const repo = sampleRepository('gh-cluster', 'shop');
  const runs = runGithubJob(workflow.jobs['cluster'] as GithubJob, repo);
  t.same(runs.map((r) => r.code), [0, 0], runs.map((r) => `${r.name}: ${r.output}`).join('\n'));
  const sarif = JSON.parse(readFileSync(join(repo, 'mtls-guard.sarif'), 'utf8')) as { version: string; runs: { results: unknown[] }[] };
  t.equal(sarif.version, '2.1.0');
  t.same(sarif.runs[0]?.results, [], 'no findings');
});

t.test('GitHub Actions, cluster job: fails where the namespace is not labelled, naming the fix', async (t) => {
  must(['create', 'namespace', 'legacy']);
  const repo = sampleRepository('gh-cluster-legacy', 'legacy');
  const runs = runGithubJob(workflow.jobs['cluster'] as GithubJob, repo);
  t.same(runs.map((r) => r.code), [0, 1], 'the check step fails with exit 1');
  t.match(runs[1]?.output, /^::error file=k8s\/api\.yaml,line=1,title=mtls-guard pod-requires-mesh%3A Deployment legacy\/api::.*kubectl label namespace legacy istio-injection=enabled/m);
});

t.test('GitLab CI: render, then the cluster check writes a JUnit report; the offline job passes', async (t) => {
  const repo = sampleRepository('gitlab', 'shop');
  const stages = gitlab['stages'] as string[];
  t.same(stages, ['render', 'check']);
  const render = runGitlabJob(gitlabJob('render'), repo, {});
  t.equal(render.code, 0, render.output);
  t.ok(existsSync(join(repo, 'rendered/web.yaml')), 'the artifact the check job needs');
  const cluster = runGitlabJob(gitlabJob('mtls-guard'), repo, { MTLS_GUARD_KUBECONFIG: kubeconfigFile });
  t.equal(cluster.code, 0, cluster.output);
  const report = (await parseJunit(readFileSync(join(repo, 'mtls-guard.xml'), 'utf8'))) as TestSuites;
  t.equal(report.testsuite?.[0]?.tests, 2, 'one test case per checked object');
  t.equal(report.testsuite?.[0]?.failures, 0);
  const offline = runGitlabJob(gitlabJob('mtls-guard-offline'), repo, {});
  t.equal(offline.code, 0, offline.output);
  t.match(offline.output, /WARN namespace-unknown: Deployment shop\/api/);
});

t.test('GitLab CI: the cluster job fails with exit 2 and one line when the kubeconfig cannot be used', async (t) => {
  const repo = sampleRepository('gitlab-bad', 'shop');
  runGitlabJob(gitlabJob('render'), repo, {});
  const badConfig = join(work, 'bad-kubeconfig');
  writeFileSync(badConfig, kubeconfig.replace(token, 'expired'));
  const run = runGitlabJob(gitlabJob('mtls-guard'), repo, { MTLS_GUARD_KUBECONFIG: badConfig });
  t.equal(run.code, 2);
  t.match(run.output, /mtls-guard: cluster ci \(https:\/\/127\.0\.0\.1:\d+\) rejected the kubeconfig's credentials \(401 Unauthorized\)/);
});
