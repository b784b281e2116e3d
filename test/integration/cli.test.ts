/** The CLI as a user runs it: exit codes, output, and one clear line for every bad input (test/tables/cli.yaml). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  t.same(parsed.summary, { objects: 9, deny: 2, warn: 2, audit: 0 });
  t.equal(parsed.findings.length, 4);
});

t.test("README and --help agree: every command's flags appear in both", async (t) => {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const section = (command: string): string => {
    const start = readme.indexOf(`## \`mtls-guard ${command}\``);
    const end = readme.indexOf('\n## ', start + 1);
    return readme.slice(start, end < 0 ? undefined : end);
  };
  for (const command of ['check', 'audit', 'serve', 'certs']) {
    const help = spawnCli([command, '--help']).stdout.replace(/\s+/g, ' ');
    const flags = [...help.matchAll(/ (?:(-\w), )?(--[a-z-]+) </g)].map((m) => ({ short: m[1], long: m[2] as string }));
    t.ok(flags.length > 0, `${command} --help lists flags`);
    const usage = /```\n(mtls-guard [\s\S]*?)```/.exec(section(command))?.[1] ?? '';
    const named = new Set([...usage.matchAll(/(?<![\w-])(--?[a-z][a-z-]*)/g)].map((m) => m[1] as string));
    for (const { short, long } of flags) t.ok(named.has(long) || (short !== undefined && named.has(short)), `the README's ${command} usage names ${long}`);
    const known = new Set(flags.flatMap((f) => (f.short ? [f.short, f.long] : [f.long])));
    for (const flag of named) t.ok(known.has(flag), `${command} --help describes the README's ${flag}`);
  }
  const checkHelp = spawnCli(['check', '--help']).stdout.replace(/\s+/g, ' ');
  const checkUsage = /```\n(mtls-guard check[\s\S]*?)```/.exec(section('check'))?.[1] ?? '';
  for (const match of checkHelp.matchAll(/\(choices: ([^)]*?), default/g)) {
    const choices = (match[1] as string).replace(/"/g, '').split(', ');
    t.ok(checkUsage.includes(choices.join('|')), `README's check usage lists ${choices.join('|')}`);
  }
});

t.test('serve validates its inputs before writing certificates', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'mtls-guard-serve-inputs-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const serve = (args: string[]) => spawnSync(process.execPath, [repoPath('dist/src/cli.js'), 'serve', '--port', '0', '--metrics-port', '0', ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  for (const [args, message] of [
    [['--state', '/nonexistent'], 'mtls-guard: /nonexistent: cannot read: no such file or directory'],
    [['--state', repoPath('test/inputs/bad-mode.yaml')], 'spec.mtls.mode must be one of'],
    [['--config', repoPath('test/inputs/config-typo.yaml')], 'invalid config: enforcment: unknown field'],
    [['--kubeconfig', join(cwd, 'nope')], 'no such file'],
  ] as const) {
    const run = serve([...args]);
    t.equal(run.status, 2, `${args.join(' ')}: exit 2`);
    t.match(run.stderr, message);
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line');
    t.notOk(existsSync(join(cwd, 'certs')), `${args.join(' ')}: no certificates written`);
  }
});
