/** `mtls-guard serve`: the HTTPS admission webhook. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { generateCertificates, writeCertificates } from '../certs/generate.js';
import { runtimeCertificates } from '../certs/runtime.js';
import { policyFor } from '../config/config.js';
import { loadConfig } from '../config/load.js';
import { describeFsError, UserError, usage } from '../errors.js';
import { buildApp, type WebhookServer } from '../server/app.js';
import { registerAuditMetrics } from '../server/audit-metrics.js';
import { AuditService } from '../server/audit-service.js';
import { PrometheusPlaintextSource } from '../telemetry/prometheus-source.js';
import { buildMetricsApp } from '../server/metrics-app.js';
import { Metrics } from '../server/metrics.js';
import { CertificateReloader, loadPair, TLS_OPTIONS, type KeyPair } from '../server/tls.js';
import { FileStateSource } from '../state/file-source.js';
import { KubeStateSource } from '../state/kube-source.js';
import { kubeGet } from '../state/kube-get.js';
import type { StateSource } from '../state/source.js';

/** The bundled example manifests: the state served when no cluster is configured. */
export const EMBEDDED_STATE = fileURLToPath(new URL('../../../examples/', import.meta.url));
const LOG_BUFFER_BYTES = 16 * 1024 * 1024;
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface ServeOptions {
  port: number;
  host: string;
  metricsPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  config?: string;
  kubeconfig?: string;
  state?: string[];
  logLevel: string;
  certPollMs: number;
  /** Runtime certificates: the Secret shared by the replicas, the webhook configuration whose caBundle to keep, and the Service the certificate names. */
  certSecret?: string;
  webhookConfig?: string;
  certService?: string;
  /** Istio's telemetry: the Prometheus that scrapes the mesh, and the window of plaintext traffic to look at. */
  prometheusUrl?: string;
  callersWindowSeconds?: number;
  /** After SIGTERM, keep answering (with /readyz failing) this long before closing, so endpoints drain first. */
  shutdownDelayMs: number;
}

const inCluster = (): boolean => process.env['KUBERNETES_SERVICE_HOST'] !== undefined;

function ownNamespace(): string | undefined {
  if (process.env['POD_NAMESPACE']) return process.env['POD_NAMESPACE'];
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Does anything answer at the cluster's address? Any HTTP status counts; a refused or silent connection does not. */
async function reachable(config: KubeConfig, timeoutMs = 3000): Promise<boolean> {
  try {
    await kubeGet(config, '/version', timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** The cluster to list-watch: --kubeconfig, then in-cluster, then KUBECONFIG or ~/.kube/config; undefined when there is none. */
function clusterConfig(kubeconfig: string | undefined): KubeConfig | undefined {
  const config = new KubeConfig();
  try {
    if (kubeconfig) {
      if (!existsSync(kubeconfig)) throw usage(`--kubeconfig ${kubeconfig}: no such file`);
      config.loadFromFile(kubeconfig);
    } else if (inCluster()) {
      config.loadFromCluster();
    } else if (process.env['KUBECONFIG'] || existsSync(join(homedir(), '.kube', 'config'))) {
      config.loadFromDefault();
    } else {
      return undefined;
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw usage(`cannot load the kubeconfig: ${(error as Error).message}`);
  }
  if (!config.getCurrentCluster()) throw usage('the kubeconfig has no current cluster');
  return config;
}

async function stateSource(options: ServeOptions, logger: Logger, rootNamespace: string): Promise<StateSource> {
  if (options.state && options.state.length > 0) return new FileStateSource(options.state);
  const kube = clusterConfig(options.kubeconfig);
  // An explicit --kubeconfig or the in-cluster account is used even while unreachable (readiness waits for it);
  // a kubeconfig merely found in the environment is used only if its cluster answers.
  if (kube && (options.kubeconfig || inCluster())) return new KubeStateSource(kube, logger, {}, rootNamespace);
  if (kube && (await reachable(kube))) return new KubeStateSource(kube, logger, {}, rootNamespace);
  if (kube) {
    logger.warn({ server: kube.getCurrentCluster()?.server }, 'the cluster in KUBECONFIG / ~/.kube/config does not answer');
  }
  logger.warn(
    { state: EMBEDDED_STATE },
    '!!! NO CLUSTER CONFIGURED: serving decisions from the bundled example manifests, not from a live cluster. ' +
      'Pass --kubeconfig, run in a cluster, or pass --state PATH. !!!',
  );
  return new FileStateSource([EMBEDDED_STATE]);
}

async function servingCertificate(options: ServeOptions, logger: Logger): Promise<KeyPair> {
  const { tlsCertFile, tlsKeyFile } = options;
  if (!existsSync(tlsCertFile) && !existsSync(tlsKeyFile)) {
    if (inCluster()) throw usage(`${tlsCertFile} and ${tlsKeyFile} do not exist: mount the serving certificate Secret`);
    const dir = dirname(tlsCertFile);
    const certs = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
    try {
      await writeCertificates(dir, certs);
    } catch (error) {
      throw usage(`cannot write development certificates to ${dir}: ${describeFsError(error)} (pass --tls-cert-file and --tls-key-file)`);
    }
    if (tlsKeyFile !== join(dir, 'tls.key') || tlsCertFile !== join(dir, 'tls.crt')) {
      throw usage(`generated development certificates in ${dir}; point --tls-cert-file and --tls-key-file at ${dir}/tls.crt and tls.key`);
    }
    logger.warn({ dir }, 'no serving certificate: generated a development CA and certificate (ca.crt is the caBundle)');
  }
  try {
    return await loadPair(tlsCertFile, tlsKeyFile);
  } catch (error) {
    throw usage(`cannot use ${tlsCertFile} / ${tlsKeyFile}: ${(error as Error).message}`);
  }
}

/**
 * Buffered, asynchronous writes: lines go out 4 KiB at a time, or at least every second, off the event loop
 * (one write per review was an eighth of the CPU a review costs). pino flushes the buffer when the process
 * exits; a SIGKILL loses at most a second of lines. If stdout stops draining, lines past 16 MiB are dropped
 * rather than holding up reviews.
 */
function createLogger(level: string): Logger {
  return pino(
    { level, base: { service: 'mtls-guard' }, formatters: { level: (label) => ({ level: label }) }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 1000, maxLength: LOG_BUFFER_BYTES }),
  );
}

/** The serving certificate, and later ones as they are swapped in without a restart. */
interface CertificateSource {
  pair: KeyPair;
  onRotate(listener: (next: KeyPair) => void): void;
  stop(): void;
}

/**
 * Files (re-read when they change; a bad pair keeps the old one), or with --cert-secret a Secret that the
 * replicas share, created and rotated by mtls-guard itself, its CA written into its own webhook configuration.
 */
async function certificateSource(options: ServeOptions, logger: Logger, metrics: Metrics): Promise<CertificateSource> {
  if (options.certSecret) {
    const namespace = ownNamespace();
    const kubeConfig = clusterConfig(options.kubeconfig);
    if (!kubeConfig || !namespace) throw usage('--cert-secret needs a cluster: run in one (or pass --kubeconfig and set POD_NAMESPACE)');
    if (!options.webhookConfig || !options.certService) throw usage('--cert-secret needs --webhook-config and --cert-service');
    try {
      const runtime = await runtimeCertificates({
        kubeConfig,
        namespace,
        secretName: options.certSecret,
        webhookConfigName: options.webhookConfig,
        service: options.certService,
        logger,
      });
      return { pair: runtime.pair, onRotate: (listener) => runtime.onRotate(listener), stop: () => runtime.stop() };
    } catch (error) {
      throw usage(`cannot set up runtime certificates in Secret ${namespace}/${options.certSecret}: ${(error as Error).message}`);
    }
  }
  const pair = await servingCertificate(options, logger);
  const listeners: ((next: KeyPair) => void)[] = [];
  const reloader = new CertificateReloader(
    options.tlsCertFile,
    options.tlsKeyFile,
    pair,
    {
      onReload: (next) => listeners.forEach((listener) => listener(next)),
      onRejected: (reason) => {
        metrics.certificateReloads.inc({ result: 'rejected' });
        logger.error({ reason }, 'new serving certificate rejected; keeping the current one');
      },
    },
    options.certPollMs,
  );
  reloader.start();
  return { pair, onRotate: (listener) => void listeners.push(listener), stop: () => reloader.stop() };
}

/** Listen, or one line saying why not (the port is in use, permission denied). */
async function listenFor(what: string, host: string, port: number, listen: () => Promise<number>): Promise<number> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw usage(`cannot listen for ${what} on ${host}:${port}: ${reason}`);
  }
}

/** Start the webhook; resolves once it listens. The returned function shuts it down (also on SIGTERM). */
export async function serve(options: ServeOptions): Promise<{ port: number; metricsPort: number; close: () => Promise<void> }> {
  const logger = createLogger(options.logLevel);
  const config = await loadConfig(options.config);
  const policy = policyFor(config, ownNamespace());
  const source = await stateSource(options, logger, config.rootNamespace);
  const metrics = new Metrics(source);
  const certificates = await certificateSource(options, logger, metrics);
  const { pair } = certificates;
  await source.start();
  const audit = new AuditService(source.state, policy, source.description, logger, () => source.ready());
  const telemetry = options.prometheusUrl
    ? new PrometheusPlaintextSource({
        url: options.prometheusUrl,
        ...(options.callersWindowSeconds ? { windowSeconds: options.callersWindowSeconds } : {}),
        onError: (error) => logger.warn({ prometheus: options.prometheusUrl, error: error.message }, 'cannot read the plaintext callers from Prometheus; keeping the last reading'),
      })
    : undefined;
  if (telemetry) {
    audit.useTelemetry(telemetry);
    telemetry.start();
  }
  registerAuditMetrics(metrics.registry, audit, policy, telemetry);
  metrics.certificateExpiry.set(Date.parse(pair.notAfter) / 1000);
  let draining = false;
  const webhook = await buildApp({ pair, source, policy, logger, metrics, draining: () => draining });
  const metricsApp = await buildMetricsApp(metrics, logger, audit);
  certificates.onRotate((next) => {
    webhook.server.setSecureContext({ cert: next.cert, key: next.key, ...TLS_OPTIONS });
    metrics.certificateReloads.inc({ result: 'loaded' });
    metrics.certificateExpiry.set(Date.parse(next.notAfter) / 1000);
    logger.info({ fingerprint: next.fingerprint, notAfter: next.notAfter }, 'serving certificate reloaded');
  });

  const stopAll = async (): Promise<void> => {
    certificates.stop();
    telemetry?.stop();
    audit.stop();
    await webhook.close();
    await metricsApp.close();
    await source.stop();
  };
  let port: number;
  let metricsPort: number;
  try {
    port = await listenFor('the webhook', options.host, options.port, () => webhook.listen(options.port, options.host));
    metricsPort = await listenFor('metrics', options.host, options.metricsPort, async () => {
      await metricsApp.listen({ port: options.metricsPort, host: options.host });
      const address = metricsApp.server.address();
      return typeof address === 'object' && address ? address.port : options.metricsPort;
    });
  } catch (error) {
    await stopAll();
    throw error;
  }
  logger.info(
    {
      port,
      metricsPort,
      host: options.host,
      state: source.description,
      rootNamespace: config.rootNamespace,
      enforcement: config.enforcement,
      rules: config.rules,
      certificate: { fingerprint: pair.fingerprint, notAfter: pair.notAfter },
    },
    'mtls-guard webhook listening',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (options.shutdownDelayMs > 0) {
        draining = true;
        logger.info({ delayMs: options.shutdownDelayMs }, 'shutting down: /readyz now fails; still answering reviews while endpoints drain');
        await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
      }
      await stopAll();
      logger.info('mtls-guard stopped');
    })());
  return { port, metricsPort, close };
}

export function serveDefaults(): Omit<ServeOptions, 'config' | 'kubeconfig' | 'state'> {
  return {
    port: 8443,
    host: inCluster() ? '0.0.0.0' : '127.0.0.1',
    metricsPort: 9090,
    tlsCertFile: 'certs/tls.crt',
    tlsKeyFile: 'certs/tls.key',
    logLevel: 'info',
    certPollMs: 2000,
    shutdownDelayMs: 0,
  };
}
