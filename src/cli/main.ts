/** The `mtls-guard` command line. User errors print one line on stderr and exit 2; never a stack trace. */
import { parseArgs } from 'node:util';
import { check } from '../check/check.js';
import { formatJson, formatText } from '../check/format.js';
import { policyFor } from '../config/config.js';
import { loadConfig } from '../config/load.js';
import { UserError, usage } from '../errors.js';
import { loadManifests } from '../manifests/load.js';
import type { ServeOptions } from './serve.js';

// The webhook's dependencies (Fastify, the Kubernetes client, prom-client) load only for `serve` and `certs`,
// so `check` in CI starts fast.
const SERVE_HELP = `mtls-guard serve [--port 8443] [--host ADDRESS] [--metrics-port 9090]
                 [--tls-cert-file certs/tls.crt] [--tls-key-file certs/tls.key] [--config FILE]
                 [--kubeconfig FILE | --state PATH ...] [--log-level info] [--shutdown-delay 0]`;

const HELP = `mtls-guard: keeps Istio mutual TLS honest

Usage:
  mtls-guard check -f PATH [-f PATH ...] [-n NAMESPACE] [--config FILE] [--output text|json]
  ${SERVE_HELP}
  mtls-guard certs --out DIR --service NAME --namespace NS [--days 365]

Commands:
  check   evaluate manifests offline, as if applied to a cluster holding exactly them.
          PATH is a file, a directory (read recursively: .yaml, .yml, .json) or - for stdin.
  serve   run the HTTPS admission webhook (POST /validate, /healthz, /readyz; metrics on /metrics).
          Cluster state comes from --kubeconfig, in-cluster config, KUBECONFIG or ~/.kube/config;
          --state PATH serves a fixed state from manifests; with neither, the bundled examples.
  certs   write ca.crt, tls.crt and tls.key: a CA and a serving certificate for the webhook's Service.

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

type OptionSpec = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse<O extends OptionSpec>(args: string[], options: O) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    throw usage(`${(error as Error).message.split('\n')[0]} (see mtls-guard --help)`);
  }
}

function port(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65535) throw usage(`${flag} must be a port number from 0 to 65535 (got ${JSON.stringify(value)})`);
  return parsed;
}

async function runServe(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    'metrics-port': { type: 'string' },
    'tls-cert-file': { type: 'string' },
    'tls-key-file': { type: 'string' },
    config: { type: 'string' },
    kubeconfig: { type: 'string' },
    state: { type: 'string', multiple: true },
    'log-level': { type: 'string' },
    'shutdown-delay': { type: 'string' },
  });
  if (values.help) {
    io.stdout(`${SERVE_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.kubeconfig && values.state) throw usage('--kubeconfig and --state are alternatives: pass one');
  const { serve, serveDefaults } = await import('./serve.js');
  const defaults = serveDefaults();
  const levels = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];
  const logLevel = (values['log-level'] as string | undefined) ?? defaults.logLevel;
  if (!levels.includes(logLevel)) throw usage(`--log-level must be one of ${levels.join(', ')}`);
  const options: ServeOptions = {
    ...defaults,
    port: port('--port', values.port as string | undefined, defaults.port),
    metricsPort: port('--metrics-port', values['metrics-port'] as string | undefined, defaults.metricsPort),
    host: (values.host as string | undefined) ?? defaults.host,
    tlsCertFile: (values['tls-cert-file'] as string | undefined) ?? defaults.tlsCertFile,
    tlsKeyFile: (values['tls-key-file'] as string | undefined) ?? defaults.tlsKeyFile,
    logLevel,
  };
  const delay = values['shutdown-delay'] as string | undefined;
  if (delay !== undefined) {
    if (!/^\d+$/.test(delay) || Number(delay) > 60) throw usage(`--shutdown-delay must be whole seconds from 0 to 60 (got ${JSON.stringify(delay)})`);
    options.shutdownDelayMs = Number(delay) * 1000;
  }
  if (values.config) options.config = values.config as string;
  if (values.kubeconfig) options.kubeconfig = values.kubeconfig as string;
  if (values.state) options.state = values.state as string[];
  const server = await serve(options);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      // Stop accepting, finish in-flight reviews, then exit; a stuck drain is cut short.
      // Before the chart's terminationGracePeriodSeconds (delay + 25 s) runs out, so exit-time log flushing still happens.
      setTimeout(() => process.exit(1), 20_000 + options.shutdownDelayMs).unref();
      server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

async function runCerts(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    out: { type: 'string' },
    service: { type: 'string' },
    namespace: { type: 'string' },
    days: { type: 'string' },
  });
  if (values.help) {
    io.stdout('mtls-guard certs --out DIR --service NAME --namespace NS [--days 365]\n');
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const out = values.out as string | undefined;
  const service = values.service as string | undefined;
  const namespace = values.namespace as string | undefined;
  if (!out || !service || !namespace) throw usage('certs needs --out DIR, --service NAME and --namespace NS');
  const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!dnsLabel.test(service)) throw usage(`--service ${JSON.stringify(service)} is not a valid Service name`);
  if (!dnsLabel.test(namespace)) throw usage(`--namespace ${JSON.stringify(namespace)} is not a valid namespace name`);
  const days = values.days === undefined ? 365 : Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw usage('--days must be a whole number from 1 to 3650');
  const { generateCertificates, writeCertificates } = await import('../certs/generate.js');
  await writeCertificates(out, await generateCertificates({ service, namespace, days }));
  io.stdout(`wrote ${out}/ca.crt, ${out}/tls.crt and ${out}/tls.key for ${service}.${namespace}.svc (valid ${days} days)\n`);
  return 0;
}

async function runCheck(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    file: { type: 'string', short: 'f', multiple: true },
    namespace: { type: 'string', short: 'n' },
    config: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}: pass manifests with -f PATH`);
  const files = (values.file as string[] | undefined) ?? [];
  if (files.length === 0) throw usage('check needs at least one -f PATH (a file, a directory, or - for stdin)');
  const output = (values.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') throw usage(`--output must be text or json (got ${JSON.stringify(output)})`);
  const namespace = (values.namespace as string | undefined) ?? 'default';
  const config = await loadConfig(values.config as string | undefined);
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
      case 'serve':
        return await runServe(rest, io);
      case 'certs':
        return await runCerts(rest, io);
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
