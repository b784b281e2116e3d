/** The `mtls-guard` command line. User errors print one line on stderr and exit 2; never a stack trace. */
import { parseArgs } from 'node:util';
import { check } from '../check/check.js';
import { formatJson, formatText } from '../check/format.js';
import { loadConfig } from '../config/load.js';
import { policyFor } from '../engine/evaluate.js';
import { UserError, usage } from '../errors.js';
import { loadManifests } from '../manifests/load.js';

const HELP = `mtls-guard: keeps Istio mutual TLS honest

Usage:
  mtls-guard check -f PATH [-f PATH ...] [-n NAMESPACE] [--config FILE] [--output text|json]

Commands:
  check   evaluate manifests offline, as if applied to a cluster holding exactly them.
          PATH is a file, a directory (read recursively: .yaml, .yml, .json) or - for stdin.

Exit codes: 0 nothing denied, 1 at least one deny, 2 usage or input error.
`;

/** Where the CLI reads and writes; tests pass their own. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string', short: 'f', multiple: true },
        namespace: { type: 'string', short: 'n' },
        config: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw usage(`${(error as Error).message.split('\n')[0]} (see mtls-guard --help)`);
  }
}

async function runCheck(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}: pass manifests with -f PATH`);
  const files = values.file ?? [];
  if (files.length === 0) throw usage('check needs at least one -f PATH (a file, a directory, or - for stdin)');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw usage(`--output must be text or json (got ${JSON.stringify(output)})`);
  const namespace = values.namespace ?? 'default';
  const config = await loadConfig(values.config);
  const objects = await loadManifests(files, io.stdin);
  const result = check(objects, policyFor(config), namespace);
  io.stdout(output === 'json' ? formatJson(result) : formatText(result));
  return result.summary.deny > 0 ? 1 : 0;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await runCheck(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(HELP);
        return command === undefined ? 2 : 0;
      default:
        throw usage(`unknown command ${JSON.stringify(command)} (see mtls-guard --help)`);
    }
  } catch (error) {
    if (error instanceof UserError) {
      io.stderr(`mtls-guard: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
