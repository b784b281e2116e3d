import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { main } from '../../src/cli/main.js';

/** Absolute path of a file in the repository (tests run from dist/test). */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../../${relative}`, import.meta.url));
}

export function readYaml<T>(relative: string): T {
  return parse(readFileSync(repoPath(relative), 'utf8')) as T;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in-process with captured output. */
export async function runCli(args: string[], stdin = ''): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    stdin: async () => stdin,
  });
  return { code, stdout, stderr };
}

/** Run the built CLI as a user would, in a child process. */
export function spawnCli(args: string[], input?: string): CliRun {
  const result = spawnSync(process.execPath, [repoPath('dist/src/cli.js'), ...args], {
    cwd: repoPath('.'),
    input: input ?? '',
    encoding: 'utf8',
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
