/**
 * The `mtls-guard` command line, on commander. Usage and input errors print one line on stderr and exit 2;
 * never a stack trace. Every input is validated before anything is written or started.
 */
import { VERSION } from '../version.js';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { check } from '../check/check.js';
import { formatResult, OUTPUT_FORMATS, type OutputFormat } from '../check/format.js';
import { exitCode } from '../check/formats/where.js';
import { mtlsGuardNamespace } from '../check/own-namespace.js';
import { policyFor } from '../config/config.js';
import { loadConfig } from '../config/load.js';
import { UserError, usage } from '../errors.js';
import { loadManifests } from '../manifests/load.js';
import type { ServeOptions } from './serve.js';
import { AUDIT_FORMATS, runAudit, type AuditFlags } from './audit-command.js';
import { liveSnapshotFor } from './live-flags.js';
import { validateServeInputs } from './serve-inputs.js';

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

export { VERSION };

const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function portNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535.');
  return Number(value);
}

function wholeNumber(min: number, max: number, unit: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`must be whole ${unit} from ${min} to ${max}.`);
    return Number(value);
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** 30m, 6h, 7d: the window of telemetry to look at, from a minute to 30 days. */
function duration(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value);
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number) : NaN;
  if (!(seconds >= 60 && seconds <= 30 * 86400)) throw new InvalidArgumentError('must be a duration from 1m to 30d, like 30m, 6h or 1d.');
  return seconds;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('must be an http:// or https:// URL.');
  return value;
}

const PROMETHEUS_HELP = "Prometheus that scrapes Istio's standard metrics: name the plaintext callers STRICT cuts off from its telemetry";
const WINDOW_HELP = 'how far back to look for plaintext traffic (30m, 6h, 1d)';

interface CheckFlags {
  file?: string[];
  namespace: string;
  config?: string;
  output: OutputFormat;
  failOn: 'deny' | 'warn';
  kubeconfig?: string;
  context?: string;
  namespaceUnknown: 'deny' | 'warn' | 'audit' | 'off';
  requestTimeout: number;
}

async function runCheck(flags: CheckFlags, io: Io): Promise<number> {
  const files = flags.file ?? [];
  if (files.length === 0) throw usage('check needs at least one -f PATH (a file, a directory, or - for stdin)');
  const config = await loadConfig(flags.config);
  const objects = await loadManifests(files, io.stdin);
  const live = await liveSnapshotFor(flags, config.rootNamespace);
  const result = check(objects, policyFor(config, mtlsGuardNamespace(objects)), flags.namespace, {
    ...(live ? { live } : {}),
    namespaceUnknown: flags.namespaceUnknown,
  });
  io.stdout(formatResult(result, flags.output, { failOn: flags.failOn, version: VERSION, cwd: process.cwd() }));
  // The text report carries the notes; the machine formats keep their one document on stdout.
  if (flags.output !== 'text') for (const note of result.notes) io.stderr(`mtls-guard: note: ${note}\n`);
  return exitCode(result, flags.failOn);
}

interface ServeFlags {
  port: number;
  host: string;
  metricsPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  config?: string;
  kubeconfig?: string;
  state?: string[];
  logLevel: string;
  shutdownDelay: number;
  certSecret?: string;
  webhookConfig?: string;
  certService?: string;
  prometheusUrl?: string;
  callersWindow: number;
}

async function runServe(flags: ServeFlags, defaults: Omit<ServeOptions, 'config' | 'kubeconfig' | 'state'>): Promise<number> {
  if (flags.kubeconfig && flags.state) throw usage('--kubeconfig and --state are alternatives: pass one');
  const options: ServeOptions = {
    ...defaults,
    port: flags.port,
    metricsPort: flags.metricsPort,
    host: flags.host,
    tlsCertFile: flags.tlsCertFile,
    tlsKeyFile: flags.tlsKeyFile,
    logLevel: flags.logLevel,
    shutdownDelayMs: flags.shutdownDelay * 1000,
  };
  if (flags.config) options.config = flags.config;
  if (flags.kubeconfig) options.kubeconfig = flags.kubeconfig;
  if (flags.state) options.state = flags.state;
  if (flags.certSecret) options.certSecret = flags.certSecret;
  if (flags.webhookConfig) options.webhookConfig = flags.webhookConfig;
  if (flags.certService) options.certService = flags.certService;
  if (flags.prometheusUrl) options.prometheusUrl = flags.prometheusUrl;
  options.callersWindowSeconds = flags.callersWindow;
  await validateServeInputs(options);
  const { serve } = await import('./serve.js');
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

interface CertsFlags {
  out: string;
  service: string;
  namespace: string;
  days: number;
}

async function runCerts(flags: CertsFlags, io: Io): Promise<number> {
  if (!DNS_LABEL.test(flags.service)) throw usage(`--service ${JSON.stringify(flags.service)} is not a valid Service name`);
  if (!DNS_LABEL.test(flags.namespace)) throw usage(`--namespace ${JSON.stringify(flags.namespace)} is not a valid namespace name`);
  const { generateCertificates, writeCertificates } = await import('../certs/generate.js');
  await writeCertificates(flags.out, await generateCertificates({ service: flags.service, namespace: flags.namespace, days: flags.days }));
  io.stdout(`wrote ${flags.out}/ca.crt, ${flags.out}/tls.crt and ${flags.out}/tls.key for ${flags.service}.${flags.namespace}.svc (valid ${flags.days} days)\n`);
  return 0;
}

const CHECK_DESCRIPTION =
  'evaluate manifests as if applied to a cluster, for CI. The input (and, with --kubeconfig or --context, the live ' +
  "cluster's state, read once and read-only) is the desired state; every object in the input is evaluated against " +
  'it, independent of file order. The input replaces live objects of the same kind, namespace and name. An object ' +
  'in a namespace that neither defines gets a namespace-unknown finding instead of a verdict guessed from labels.';

const CHECK_FOOTER = `
Rules: strict-requires-mesh (deny), pod-requires-mesh (deny), mtls-drift (warn), namespace-unknown (warn;
check only). Actions of the first three come from --config.

Exit codes: 0 no finding at or above --fail-on, 1 findings at it, 2 usage, input or cluster error.

Examples:
  mtls-guard check -f k8s/
  helm template web charts/web -n shop | mtls-guard check -f - --kubeconfig ~/.kube/ci --output sarif
  mtls-guard check -f k8s/ --fail-on warn --output github`;

function buildProgram(io: Io, exit: { code: number }, serveDefaults: Omit<ServeOptions, 'config' | 'kubeconfig' | 'state'> | undefined): Command {
  const program = new Command('mtls-guard')
    .description('keeps Istio mutual TLS honest: an admission webhook and a CI check')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: () => undefined,
    })
    .addHelpText('after', `\nExit codes: 0 success, 1 findings at --fail-on (check), 2 usage or input error.\nRun mtls-guard COMMAND --help for a command's flags.`);

  const inherit = (command: Command): Command =>
    command.exitOverride().showSuggestionAfterError(true).configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: () => undefined,
    });

  inherit(
    program
      .command('check')
      .summary('evaluate manifests offline or against a live cluster (CI)')
      .description(CHECK_DESCRIPTION)
      .option('-f, --file <path>', 'manifests: a file, a directory (recursive: .yaml, .yml, .json) or - for stdin; repeatable', collect)
      .option('-n, --namespace <ns>', 'namespace of objects that have none', 'default')
      .option('--config <file>', 'mtls-guard config (YAML or JSON): rule actions, enforcement, exempt and root namespaces')
      .addOption(new Option('-o, --output <format>', 'report format').choices([...OUTPUT_FORMATS]).default('text'))
      .addOption(new Option('--fail-on <action>', 'exit 1 when a finding has this action or a stronger one').choices(['deny', 'warn']).default('deny'))
      .option('--kubeconfig <file>', 'add the live state of the cluster in this kubeconfig (read-only, listed once)')
      .option('--context <name>', 'kubeconfig context to read (alone: from KUBECONFIG or ~/.kube/config)')
      .addOption(
        new Option('--namespace-unknown <action>', 'action of the namespace-unknown finding').choices(['deny', 'warn', 'audit', 'off']).default('warn'),
      )
      .addOption(new Option('--request-timeout <seconds>', 'give up on a cluster request after this long').argParser(wholeNumber(1, 600, 'seconds')).default(30))
      .addHelpText('after', CHECK_FOOTER)
      .action(async (flags: CheckFlags) => {
        exit.code = await runCheck(flags, io);
      }),
  );

  inherit(
    program
      .command('audit')
      .summary("report what is wrong in the mesh now: modes, coverage, violations, callers")
      .description(
        "report the mesh's posture (SPEC 2.5) from a live cluster (--kubeconfig / --context, read once and read-only) " +
          'or from manifests (-f), or both (the files replace live objects of the same identity): per namespace the ' +
          'effective mTLS mode, how many workloads are in and outside the mesh and how many have their own policy; ' +
          'every existing violation of strict-requires-mesh and pod-requires-mesh and the mtls-drift in force, each ' +
          'with its fix; and the workloads outside the mesh that STRICT cuts off.',
      )
      .option('-f, --file <path>', 'manifests: a file, a directory (recursive: .yaml, .yml, .json) or - for stdin; repeatable', collect)
      .option('-n, --namespace <ns>', 'namespace of objects that have none', 'default')
      .option('--config <file>', 'mtls-guard config (YAML or JSON): rule actions, enforcement, exempt and root namespaces')
      .addOption(new Option('-o, --output <format>', 'report format (html: one self-contained file)').choices([...AUDIT_FORMATS]).default('text'))
      .addOption(
        new Option('--fail-on <action>', 'exit 1 when a finding has this action or a stronger one').choices(['deny', 'warn', 'never']).default('never'),
      )
      .option('--kubeconfig <file>', 'audit the cluster in this kubeconfig (read-only, listed once)')
      .option('--context <name>', 'kubeconfig context to read (alone: from KUBECONFIG or ~/.kube/config)')
      .addOption(new Option('--prometheus-url <url>', PROMETHEUS_HELP).argParser(httpUrl))
      .addOption(new Option('--callers-window <duration>', WINDOW_HELP).argParser(duration).default(86400, '1d'))
      .addOption(new Option('--request-timeout <seconds>', 'give up on a cluster request after this long').argParser(wholeNumber(1, 600, 'seconds')).default(30))
      .addHelpText(
        'after',
        `
Exit codes: 0 report written (and nothing at --fail-on), 1 findings at --fail-on, 2 usage, input or cluster error.

Examples:
  mtls-guard audit --kubeconfig ~/.kube/config
  mtls-guard audit --context prod --output html > posture.html
  mtls-guard audit -f k8s/ --output json`,
      )
      .action(async (flags: AuditFlags) => {
        exit.code = await runAudit(flags, io);
      }),
  );

  const d = serveDefaults;
  const serve = inherit(
    program
      .command('serve')
      .summary('run the HTTPS admission webhook')
      .description(
        'run the HTTPS admission webhook: POST /validate, /healthz, /readyz; metrics on /metrics. Cluster state ' +
          'comes from --kubeconfig, in-cluster config, KUBECONFIG or ~/.kube/config; --state PATH serves a fixed state ' +
          'from manifests; with neither, the bundled examples (said loudly in the log). A missing certificate pair is ' +
          'generated on first start outside a cluster.',
      ),
  );
  if (d) {
    serve
      .addOption(new Option('--port <port>', 'webhook HTTPS port').argParser(portNumber).default(d.port))
      .addOption(new Option('--host <address>', 'address to listen on').default(d.host))
      .addOption(new Option('--metrics-port <port>', 'Prometheus metrics HTTP port').argParser(portNumber).default(d.metricsPort))
      .addOption(new Option('--tls-cert-file <file>', 'serving certificate (PEM); re-read when it changes').default(d.tlsCertFile))
      .addOption(new Option('--tls-key-file <file>', 'serving key (PEM)').default(d.tlsKeyFile))
      .option('--config <file>', 'mtls-guard config (YAML or JSON)')
      .option('--kubeconfig <file>', 'list-watch the cluster in this kubeconfig')
      .option('--state <path>', 'serve a fixed state from manifests instead of a cluster; repeatable', collect)
      .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default(d.logLevel))
      .addOption(
        new Option('--shutdown-delay <seconds>', 'after SIGTERM, keep answering (with /readyz failing) this long before closing')
          .argParser(wholeNumber(0, 60, 'seconds'))
          .default(d.shutdownDelayMs / 1000),
      )
      .option('--cert-secret <name>', 'runtime certificates: keep the serving certificate in this Secret (in the pod namespace), shared by the replicas')
      .option('--webhook-config <name>', "with --cert-secret: the ValidatingWebhookConfiguration whose caBundle to keep current")
      .option('--cert-service <name>', 'with --cert-secret: the Service the certificate names')
      .addOption(new Option('--prometheus-url <url>', `${PROMETHEUS_HELP} (read in the background, never per review)`).argParser(httpUrl))
      .addOption(new Option('--callers-window <duration>', WINDOW_HELP).argParser(duration).default(86400, '1d'))
      .action(async (flags: ServeFlags) => {
        exit.code = await runServe(flags, d);
      });
  }

  inherit(
    program
      .command('certs')
      .summary("write a CA and a serving certificate for the webhook's Service")
      .description(
        "write ca.crt, tls.crt and tls.key: a CA and a serving certificate (SHA-256) for the webhook's Service, with " +
          'SANs NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, localhost and 127.0.0.1',
      )
      .requiredOption('--out <dir>', 'directory to write ca.crt, tls.crt and tls.key to')
      .requiredOption('--service <name>', "the webhook's Service name")
      .requiredOption('--namespace <ns>', "the webhook's namespace")
      .addOption(new Option('--days <days>', 'validity of the serving certificate').argParser(wholeNumber(1, 3650, 'days')).default(365))
      .action(async (flags: CertsFlags) => {
        exit.code = await runCerts(flags, io);
      }),
  );
  return program;
}

/** Commander's message as one line: "error: unknown option '--bogus'\n(Did you mean --kubeconfig?)" becomes one. */
function oneLine(message: string): string {
  return message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const exit = { code: 0 };
  try {
    // serve's defaults (and its dependencies: Fastify, the Kubernetes client) load only for serve and the global help.
    const wantsServe = argv.length === 0 || argv[0] === 'serve' || (argv[0] !== 'check' && argv[0] !== 'audit' && argv[0] !== 'certs' && argv.some((a) => /^(-h|--help|help)$/.test(a)));
    const defaults = wantsServe ? (await import('./serve.js')).serveDefaults() : undefined;
    const program = buildProgram(io, exit, defaults);
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      const command = argv[0] && !argv[0].startsWith('-') && ['check', 'audit', 'serve', 'certs'].includes(argv[0]) ? `${argv[0]} ` : '';
      io.stderr(`mtls-guard: ${oneLine(error.message)} (see mtls-guard ${command}--help)\n`);
      return 2;
    }
    if (error instanceof UserError) {
      io.stderr(`mtls-guard: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
