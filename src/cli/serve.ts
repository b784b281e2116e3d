/** `mtls-guard serve`: the HTTPS admission webhook. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { generateCertificates, writeCertificates } from '../certs/generate.js';
import { loadConfig } from '../config/load.js';
import { policyFor } from '../engine/evaluate.js';
import { UserError, usage } from '../errors.js';
import { buildApp } from '../server/app.js';
import { Metrics } from '../server/metrics.js';
import { CertificateReloader, loadPair, TLS_OPTIONS, type KeyPair } from '../server/tls.js';
import { FileStateSource } from '../state/file-source.js';
import { KubeStateSource } from '../state/kube-source.js';
import type { StateSource } from '../state/source.js';

/** The bundled example manifests: the state served when no cluster is configured. */
export const EMBEDDED_STATE = fileURLToPath(new URL('../../../examples/', import.meta.url));
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

function stateSource(options: ServeOptions, logger: Logger): StateSource {
  if (options.state && options.state.length > 0) return new FileStateSource(options.state);
  const kube = clusterConfig(options.kubeconfig);
  if (kube) return new KubeStateSource(kube, logger);
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
    await writeCertificates(dir, certs);
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

/** Start the webhook; resolves once it listens. The returned function shuts it down (also on SIGTERM). */
export async function serve(options: ServeOptions): Promise<{ port: number; metricsPort: number; close: () => Promise<void> }> {
  const logger = pino({ level: options.logLevel, base: { service: 'mtls-guard' } });
  const config = await loadConfig(options.config);
  const policy = policyFor(config, ownNamespace());
  const pair = await servingCertificate(options, logger);
  const source = stateSource(options, logger);
  await source.start();
  const metrics = new Metrics(source);
  const app = await buildApp({ pair, source, policy, logger, metrics });
  const reloader = new CertificateReloader(
    options.tlsCertFile,
    options.tlsKeyFile,
    pair,
    {
      onReload: (next) => {
        app.server.setSecureContext({ cert: next.cert, key: next.key, ...TLS_OPTIONS });
        metrics.certificateReloads.inc({ result: 'loaded' });
        logger.info({ fingerprint: next.fingerprint, notAfter: next.notAfter }, 'serving certificate reloaded');
      },
      onRejected: (reason) => {
        metrics.certificateReloads.inc({ result: 'rejected' });
        logger.error({ reason }, 'new serving certificate rejected; keeping the current one');
      },
    },
    options.certPollMs,
  );
  reloader.start();

  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const metricsServer = metrics.server();
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(options.metricsPort, options.host, () => resolve());
  });
  const metricsAddress = metricsServer.address();
  const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : options.metricsPort;
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
      reloader.stop();
      await app.close();
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      await source.stop();
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
  };
}
