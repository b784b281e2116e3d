/** The CLI as a user runs it: exit codes, output, and one clear line for every bad input (test/tables/cli.yaml). */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { readYaml, repoPath, spawnCli } from '../support/helpers.js';

interface Row {
  name: string;
  args: string[];
  stdinFile?: string;
  exit: number;
  stdout?: string[];
  stderr?: string[];
  stderrLines?: number;
}

for (const row of readYaml<Row[]>('test/tables/cli.yaml')) {
  t.test(row.name, async (t) => {
    const input = row.stdinFile ? readFileSync(repoPath(row.stdinFile), 'utf8') : undefined;
    const run = spawnCli(row.args, input);
    t.equal(run.code, row.exit, 'exit code', { stderr: run.stderr });
    for (const fragment of row.stdout ?? []) t.ok(run.stdout.includes(fragment), `stdout has: ${fragment}`, { stdout: run.stdout });
    for (const fragment of row.stderr ?? []) t.ok(run.stderr.includes(fragment), `stderr has: ${fragment}`, { stderr: run.stderr });
    if (row.stderrLines !== undefined) {
      t.equal(run.stderr.split('\n').filter(Boolean).length, row.stderrLines, 'lines on stderr', { stderr: run.stderr });
    }
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
}

t.test('--output json prints exactly one JSON document', async (t) => {
  const run = spawnCli(['check', '-f', 'examples/', '--output', 'json']);
  const parsed = JSON.parse(run.stdout) as { findings: unknown[]; summary: unknown };
  t.same(parsed.summary, { objects: 9, deny: 2, warn: 1, audit: 0 });
  t.equal(parsed.findings.length, 3);
});
