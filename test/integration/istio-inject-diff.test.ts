/**
 * SPEC 3.5, issue 12: "will this pod be injected?" from mtls-guard (through check's state builder) against
 * istio-oracle, which asks Istio's own injector (pkg/kube/inject) behind the webhooks the real helm renders from
 * the istio-discovery chart of the same Istio module. Seeded cases over the injection corners, several chart
 * variants; 0 disagreements. INJECT_DIFF_SEED and INJECT_DIFF_CASES (per variant) reproduce or widen a run;
 * tools/inject-diff.sh runs more.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_CONFIG, policyFor, type Config } from '../../src/config/config.js';
import { helmBinary } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';
import { generateCases } from '../support/inject-cases.js';
import { disagreements, engineDecisions, injectorObjects, oracleDecisions } from '../support/inject-diff.js';

t.setTimeout(Number(process.env['INJECT_DIFF_CASES'] ?? 0) > 2000 ? 3_600_000 : 600_000);

function lastLine(args: string[]): string {
  const run = spawnSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error(`bash ${args.join(' ')} failed`);
  return run.stdout.trim().split('\n').pop() ?? '';
}

const buildScript = process.env['ISTIO_ORACLE_BUILD'] ?? repoPath('tools/build-istio-oracle.sh');
const oracle = process.env['ISTIO_ORACLE'] ?? lastLine([buildScript]);
const chart = process.env['ISTIO_CHART'] ?? lastLine([buildScript, '--chart']);
const helm = helmBinary();

const seed = Number(process.env['INJECT_DIFF_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const count = Number(process.env['INJECT_DIFF_CASES'] ?? 1000);
t.comment(`INJECT_DIFF_SEED=${seed} INJECT_DIFF_CASES=${count}`);

const never = JSON.stringify([{ matchExpressions: [{ key: 'app', operator: 'In', values: ['batch', 'cron'] }] }]);
const always = JSON.stringify([{ matchLabels: { tier: 'web' } }, { matchExpressions: [{ key: 'app', operator: 'Exists' }, { key: 'tier', operator: 'NotIn', values: ['web'] }] }]);

/** istio-discovery values for each variant (--set, or --set-json when the value is JSON). */
const VARIANTS: Record<string, string[]> = {
  default: [],
  'revision canary': ['revision=canary'],
  'tag prod': ['revisionTags={prod}'],
  'revision canary with the default tag': ['revision=canary', 'revisionTags={default,prod}'],
  enableNamespacesByDefault: ['sidecarInjectorWebhook.enableNamespacesByDefault=true'],
  'policy disabled': ['global.proxy.autoInject=disabled'],
  'neverInjectSelector and alwaysInjectSelector': [`json:sidecarInjectorWebhook.neverInjectSelector=${never}`, `json:sidecarInjectorWebhook.alwaysInjectSelector=${always}`],
  'alwaysInjectSelector under policy disabled': ['global.proxy.autoInject=disabled', `json:sidecarInjectorWebhook.alwaysInjectSelector=${always}`],
};

const scratch = mkdtempSync(join(tmpdir(), 'inject-diff-'));
const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config);
let total = 0;
let agreedInjected = 0;

Object.entries(VARIANTS).forEach(([variant, values], index) => {
  t.test(variant, async (t) => {
    const args = ['template', 'istiod', chart, '-n', 'istio-system'];
    for (const value of values) {
      if (value.startsWith('json:')) args.push('--set-json', value.slice('json:'.length));
      else args.push('--set', value);
    }
    const render = spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    t.equal(render.status, 0, `helm template: ${render.stderr.slice(0, 500)}`);
    const manifest = join(scratch, `variant-${index}.yaml`);
    writeFileSync(manifest, render.stdout);
    const objects = injectorObjects(readFileSync(manifest, 'utf8'));
    t.ok(objects.some((o) => o['kind'] === 'MutatingWebhookConfiguration'), 'the chart renders injector webhooks');

    const cases = generateCases(seed + index, count);
    const theirs = oracleDecisions(oracle, manifest, cases);
    const mine = engineDecisions(cases, objects, policy);
    const found = disagreements(cases, mine, theirs);
    total += cases.pods.length;
    agreedInjected += cases.pods.filter((c) => theirs.get(c.id)?.injected === true).length;
    t.equal(theirs.size, cases.pods.length, 'the oracle answers every case');
    t.equal(found.length, 0, `${found.length} of ${cases.pods.length} disagree (INJECT_DIFF_SEED=${seed}, variant ${index})`, {
      first: found.slice(0, 5),
    });
  });
});

t.teardown(() => {
  console.log(`# inject-diff: ${total} cases over ${Object.keys(VARIANTS).length} chart variants, ${agreedInjected} injected (INJECT_DIFF_SEED=${seed})`);
});
