/**
 * `check --output sarif|junit|github|yaml|json` read by real consumers: SARIF by Microsoft's SARIF validator
 * (@microsoft/sarif-multitool), JUnit by a JUnit XML parser (junit2json), YAML by a YAML parser.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseJunit, type TestSuites } from 'junit2json';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { repoPath, spawnCli } from '../support/helpers.js';

t.setTimeout(300_000);
const scratch = mkdtempSync(join(tmpdir(), 'mtls-guard-formats-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

/** examples/ (deny and warn) plus an object in a namespace the input does not define (namespace-unknown). */
const unknownNamespace = 'test/inputs/unnamespaced.yaml';
const args = ['check', '-f', 'examples/', '-f', unknownNamespace];

interface SarifLog {
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string; shortDescription: { text: string }; fullDescription: { text: string }; help: { text: string } }[] } };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: { physicalLocation?: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
    }[];
  }[];
}

function validateSarif(file: string): { errors: string[]; warnings: string[]; status: number | null } {
  const out = join(scratch, `${Math.random().toString(36).slice(2)}.validation.sarif`);
  const run = spawnSync(repoPath('node_modules/.bin/sarif-multitool'), ['validate', file, '-o', out], { encoding: 'utf8', timeout: 240_000 });
  const report = JSON.parse(readFileSync(out, 'utf8')) as { runs: { results?: { level?: string; ruleId: string; message: { text?: string; id?: string; arguments?: string[] } }[] }[] };
  const results = report.runs.flatMap((r) => r.results ?? []);
  const text = (r: (typeof results)[number]): string => `${r.ruleId} ${r.message.text ?? `${r.message.id} ${(r.message.arguments ?? []).join(' | ')}`}`;
  // The validator's results default to level warning; errors are the schema and spec violations.
  return {
    status: run.status,
    errors: results.filter((r) => r.level === 'error').map(text),
    warnings: results.filter((r) => r.level === undefined || r.level === 'warning').map(text),
  };
}

t.test('SARIF 2.1.0 passes Microsoft SARIF validator, with rule metadata and file:line locations', async (t) => {
  const run = spawnCli([...args, '-o', 'sarif']);
  t.equal(run.code, 1, run.stderr);
  const file = join(scratch, 'check.sarif');
  writeFileSync(file, run.stdout);
  const validation = validateSarif(file);
  t.equal(validation.status, 0, 'the validator ran');
  t.same(validation.errors, [], 'no errors');
  // The one warning left: the project has no public home page for tool.driver.informationUri yet.
  t.same(validation.warnings.map((w) => w.split(' ')[0]), ['SARIF2005'], 'no warning but the missing informationUri');
  t.match(validation.warnings[0], /nformationUri/, "(the validator's own message id spells it ProvideToolnformationUri)");

  const log = JSON.parse(run.stdout) as SarifLog;
  t.equal(log.version, '2.1.0');
  const [only] = log.runs;
  if (!only) throw new Error('no run');
  t.equal(only.tool.driver.name, 'mtls-guard');
  t.same(only.tool.driver.rules.map((r) => r.id), ['strict-requires-mesh', 'mtls-drift', 'pod-requires-mesh', 'namespace-unknown']);
  for (const rule of only.tool.driver.rules) {
    t.ok(rule.shortDescription.text && rule.fullDescription.text && rule.help.text, `${rule.id} has short and full descriptions and help`);
  }
  const byRule = (id: string) => only.results.find((r) => r.ruleId === id);
  t.match(byRule('strict-requires-mesh'), { level: 'error', locations: [{ physicalLocation: { artifactLocation: { uri: 'examples/legacy.yaml' }, region: { startLine: 20 } } }] });
  t.match(byRule('mtls-drift'), { level: 'warning', locations: [{ physicalLocation: { artifactLocation: { uri: 'examples/mesh-wide.yaml' }, region: { startLine: 2 } } }] });
  t.match(byRule('namespace-unknown'), { level: 'warning', locations: [{ physicalLocation: { artifactLocation: { uri: unknownNamespace }, region: { startLine: 6 } } }] });
  for (const result of only.results) t.equal(only.tool.driver.rules[result.ruleIndex]?.id, result.ruleId, 'ruleIndex points at its rule');
});

t.test('SARIF from stdin and without findings also validates', async (t) => {
  const stdin = spawnCli(['check', '-f', '-', '-o', 'sarif'], readFileSync(repoPath('test/inputs/pod-list.json'), 'utf8'));
  const clean = spawnCli(['check', '-f', 'test/inputs/nested', '-o', 'sarif', '--config', 'test/inputs/config-audit.yaml']);
  for (const [name, run] of Object.entries({ stdin, clean })) {
    const file = join(scratch, `${name}.sarif`);
    writeFileSync(file, run.stdout);
    t.same(validateSarif(file).errors, [], `${name}: no errors`);
  }
  const log = JSON.parse(stdin.stdout) as SarifLog;
  t.notOk(log.runs[0]?.results[0]?.locations[0]?.physicalLocation, 'stdin has no file to point at: a logical location only');
});

t.test('a validator that can fail: broken logs are errors', async (t) => {
  const good = JSON.parse(spawnCli([...args, '-o', 'sarif']).stdout) as { runs: { results: Record<string, unknown>[] }[] };
  const plants: Record<string, (result: Record<string, unknown>) => void> = {
    'a result without a message': (result) => delete result['message'],
    'a ruleIndex past the rules': (result) => (result['ruleIndex'] = 42),
  };
  for (const [name, plant] of Object.entries(plants)) {
    const log = structuredClone(good);
    plant(log.runs[0]?.results[0] as Record<string, unknown>);
    const file = join(scratch, 'broken.sarif');
    writeFileSync(file, JSON.stringify(log));
    t.not(validateSarif(file).errors.length, 0, `${name} is reported`);
  }
});

t.test('JUnit XML: one test case per checked object, parsed by junit2json', async (t) => {
  const run = spawnCli([...args, '-o', 'junit']);
  t.equal(run.code, 1);
  const parsed = (await parseJunit(run.stdout)) as TestSuites;
  const suite = parsed.testsuite?.[0];
  const cases = suite?.testcase ?? [];
  const json = JSON.parse(spawnCli([...args, '-o', 'json']).stdout) as { findings: { object: { kind: string; namespace: string; name: string } }[] };
  // examples/ holds 9 objects (3 Namespaces, 5 judged, an AdmissionReview); unnamespaced.yaml adds 3 more (one an app ConfigMap).
  const summary = (JSON.parse(spawnCli([...args, '-o', 'json']).stdout) as { summary: { objects: number } }).summary;
  t.equal(cases.length, 12, 'one test case per input object, passing ones included, as conftest does');
  t.equal(suite?.tests, summary.objects, 'as many as the objects check counts');
  t.equal(suite?.failures, 2, 'the two denials fail');
  t.equal(suite?.skipped, 2, 'the kind mtls-guard does not check, and a ConfigMap that is not the injector, are skipped');
  const passing = cases.filter((c) => !c.failure && !c.skipped).map((c) => c.name);
  t.ok(passing.includes('Deployment shop/storefront'), 'an object without findings passes');
  t.ok(passing.includes('Namespace shop'), 'a Namespace, read as state, passes');
  t.match(cases.find((c) => c.name === 'AdmissionReview (no name)')?.skipped?.[0]?.message, /kind AdmissionReview is not checked/);
  t.match(cases.find((c) => c.name === 'ConfigMap default/ignored')?.skipped?.[0]?.message, /not Istio's sidecar injector configuration/);
  const failed = cases.filter((c) => c.failure).map((c) => c.name).sort();
  t.same(failed, ['Deployment legacy/billing', 'PeerAuthentication legacy/default']);
  const billing = cases.find((c) => c.name === 'Deployment legacy/billing');
  t.match(billing?.failure?.[0]?.message, /^pod-requires-mesh: Deployment legacy\/billing would create pods/);
  const unknown = cases.find((c) => c.name === 'Deployment default/api');
  t.match(unknown?.['system-out']?.[0], /WARN namespace-unknown/, 'a warning below --fail-on is reported, not failed');
  t.ok(json.findings.length >= 3);

  const strict = (await parseJunit(spawnCli([...args, '-o', 'junit', '--fail-on', 'warn']).stdout)) as TestSuites;
  t.equal(strict.testsuite?.[0]?.failures, 5, 'with --fail-on warn the warnings fail too');
});

t.test('github: one workflow command per finding, escaped as the runner reads them', async (t) => {
  const run = spawnCli([...args, '-o', 'github']);
  const json = JSON.parse(spawnCli([...args, '-o', 'json']).stdout) as { findings: unknown[] };
  const commands = run.stdout.split('\n').filter((line) => line.startsWith('::'));
  t.equal(commands.length, json.findings.length, 'one per finding');
  t.ok(commands.includes(commands.find((c) => c.startsWith('::error file=examples/legacy.yaml,line=20,title=')) ?? ''), 'deny is an error at file and line');
  t.ok(commands.some((c) => c.startsWith('::warning file=test/inputs/unnamespaced.yaml,line=6,title=mtls-guard namespace-unknown%3A Deployment default/api::')));
  for (const command of commands) t.notMatch(command.split('::')[2] ?? '', /\n|\r/, 'no raw newline in a message');
  const strict = spawnCli([...args, '-o', 'github', '--fail-on', 'warn']);
  t.notOk(strict.stdout.split('\n').some((line) => line.startsWith('::warning')), 'warnings that fail the run are errors');
});

t.test('yaml is the json document', async (t) => {
  const yaml = parseYaml(spawnCli([...args, '-o', 'yaml']).stdout) as unknown;
  const json = JSON.parse(spawnCli([...args, '-o', 'json']).stdout) as unknown;
  t.same(yaml, json);
});

t.test('json keeps SPEC 3.1 keys and adds the source of each finding', async (t) => {
  const json = JSON.parse(spawnCli([...args, '-o', 'json']).stdout) as { findings: Record<string, unknown>[]; summary: Record<string, unknown> };
  t.same(Object.keys(json).sort(), ['findings', 'summary']);
  for (const finding of json.findings) t.same(Object.keys(finding).sort(), ['action', 'message', 'object', 'rule', 'source', 'subjects']);
  t.same(json.summary, { objects: 12, deny: 2, warn: 3, audit: 0 });
});
