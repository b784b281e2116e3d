/**
 * The Istio-guide scenarios under test/scenarios/: each directory holds manifests a user would recognise
 * and expected.yaml with the exact verdicts and subjects `mtls-guard check --output json` must give,
 * in any input order.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { check } from '../../src/check/check.js';
import { formatJson } from '../../src/check/format.js';
import { parseConfig } from '../../src/config/config.js';
import { policyFor } from '../../src/config/config.js';
import { loadManifests, type SourcedObject } from '../../src/manifests/load.js';
import { readYaml, repoPath, runCli } from '../support/helpers.js';

interface ExpectedFinding {
  rule: string;
  action: string;
  object: string;
  subjects: string[];
  message?: string[];
}

interface Expected {
  config?: unknown;
  exit: number;
  findings: ExpectedFinding[];
}

interface JsonFinding {
  rule: string;
  action: string;
  object: { apiVersion: string; kind: string; namespace?: string; name: string };
  message: string;
  subjects: { kind: string; namespace: string; name: string }[];
}

const ref = (o: { kind: string; namespace?: string; name: string }): string => `${o.kind} ${o.namespace}/${o.name}`;
const key = (f: { rule: string; object: string }): string => `${f.object} ${f.rule}`;

/** A deterministic shuffle (mulberry32), so a failing order can be reproduced. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const scenarioRoot = repoPath('test/scenarios');
const scenarios = readdirSync(scenarioRoot).sort();
const scratch = mkdtempSync(join(tmpdir(), 'mtls-guard-scenarios-'));

t.test('there are scenarios to run', async (t) => {
  t.ok(scenarios.length >= 20, `${scenarios.length} scenarios`);
});

for (const name of scenarios) {
  t.test(name, async (t) => {
    const dir = join(scenarioRoot, name);
    const expected = readYaml<Expected>(`test/scenarios/${name}/expected.yaml`);
    const files = readdirSync(dir)
      .filter((f) => f !== 'expected.yaml' && f.endsWith('.yaml'))
      .map((f) => join(dir, f));
    const args = ['check', '--output', 'json', ...files.flatMap((f) => ['-f', f])];
    if (expected.config !== undefined) {
      const configFile = join(scratch, `${name}.config.yaml`);
      writeFileSync(configFile, stringify(expected.config));
      args.push('--config', configFile);
    }

    const run = await runCli(args);
    t.equal(run.stderr, '', 'nothing on stderr');
    t.equal(run.code, expected.exit, 'exit code');
    const output = JSON.parse(run.stdout) as { findings: JsonFinding[]; summary: Record<string, number> };
    t.same(Object.keys(output).sort(), ['findings', 'summary'], 'one JSON document with findings and summary');

    const actual = output.findings
      .map((f) => ({ rule: f.rule, action: f.action, object: ref(f.object), subjects: f.subjects.map(ref) }))
      .sort((a, b) => key(a).localeCompare(key(b)));
    const wanted = expected.findings
      .map(({ rule, action, object, subjects }) => ({ rule, action, object, subjects }))
      .sort((a, b) => key(a).localeCompare(key(b)));
    t.same(actual, wanted, 'verdicts and subjects');

    for (const want of expected.findings) {
      const got = output.findings.find((f) => f.rule === want.rule && ref(f.object) === want.object);
      for (const fragment of want.message ?? []) {
        t.ok(got?.message.includes(fragment), `${want.rule} on ${want.object} says: ${fragment}`, { got: got?.message });
      }
    }
    for (const finding of output.findings) {
      if (finding.action === 'warn') t.ok(finding.message.length < 256, `warning under 256 characters (${finding.message.length})`);
    }
    const counts = { deny: 0, warn: 0, audit: 0 };
    for (const f of output.findings) counts[f.action as keyof typeof counts] += 1;
    t.match(output.summary, counts, 'summary counts the findings');

    // Order of files and documents must not change the result.
    const objects: SourcedObject[] = await loadManifests(files, async () => '');
    const parsed = parseConfig(expected.config);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const policy = policyFor(parsed.config);
    const baseline = formatJson(check(objects, policy, 'default'));
    t.equal(baseline, run.stdout, 'the CLI prints what the engine found');
    const orders = { reversed: [...objects].reverse(), shuffled1: shuffled(objects, 1), shuffled2: shuffled(objects, 2) };
    for (const [order, items] of Object.entries(orders)) {
      t.equal(formatJson(check(items, policy, 'default')), baseline, `same result in ${order} order`);
    }
  });
}
