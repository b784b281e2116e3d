/**
 * certs.mode=runtime: the webhook's CA and serving certificate live in one Secret that every replica shares, and
 * the CA is written into the caBundle of mtls-guard's own ValidatingWebhookConfiguration. Nothing certificate-
 * related is rendered by Helm, so `helm template` is the same on every run (GitOps-safe).
 *
 * - One Secret, many replicas: a replica that finds no Secret creates it; a 409 on create means another replica
 *   won, so it reads theirs. Rotations replace the Secret with the resourceVersion that was read; a 409 means
 *   another replica rotated first, so it reads and uses theirs. Replicas never overwrite each other's pair.
 * - Each rotation makes a new CA. The Secret's `ca.crt` holds the new CA and the one before it, and that bundle
 *   goes into the webhook configuration before any replica serves the new certificate, then `propagationDelayMs`
 *   passes (the API servers see webhook configurations through a watch): a replica still on the previous
 *   certificate, and one already on the new, are both trusted.
 * - Every `checkIntervalMs` a replica reads the Secret (a rotation by another replica, or one that is due) and
 *   puts the bundle back into the webhook configuration if something removed it (a `helm upgrade` or a reinstall).
 */
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { checkPair, type KeyPair } from '../server/tls.js';
import { generateCertificates } from './generate.js';

const DAY_MS = 86_400_000;

export interface RuntimeCertificateOptions {
  kubeConfig: KubeConfig;
  /** Where the Secret is: mtls-guard's own namespace. Also the namespace in the certificate's DNS names. */
  namespace: string;
  secretName: string;
  webhookConfigName: string;
  /** The Service the API server calls: the certificate covers NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local. */
  service: string;
  /** Lifetime of a serving certificate (default 365 days). */
  validityMs?: number;
  /** Rotate this long before the certificate expires (default a third of `validityMs`). */
  renewBeforeMs?: number;
  /** How often the Secret and the webhook configuration are checked (default 60 s). */
  checkIntervalMs?: number;
  /** After a failed check, the next one comes this soon (default 5 s). */
  retryIntervalMs?: number;
  /** Between writing a new CA into the webhook configuration and serving the certificate it signed (default 5 s). */
  propagationDelayMs?: number;
  /** A request to the API server that takes longer fails (default 10 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export interface RuntimeCertificates {
  /** The pair being served now. */
  readonly pair: KeyPair;
  /** The PEM CA bundle of that pair (the new CA first, then the one before it). */
  readonly caBundle: string;
  /** Called with every new pair, after the webhook configuration trusts its CA. */
  onRotate: (listener: (pair: KeyPair) => void) => void;
  stop: () => void;
}

interface Stored {
  resourceVersion: string;
  caBundle: string;
  pair: KeyPair;
}

const DATA_KEYS = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const;
const MAX_CONFLICTS = 10;

const status = (error: unknown): number | undefined => (error instanceof ApiException ? error.code : undefined);

function describe(error: unknown): string {
  if (error instanceof ApiException) {
    let body: unknown = error.body;
    try {
      if (typeof body === 'string') body = JSON.parse(body);
    } catch {
      // Not a Status object: the code alone says enough.
    }
    const message = (body as { message?: unknown } | undefined)?.message;
    return `HTTP ${error.code}${typeof message === 'string' ? `: ${message}` : ''}`;
  }
  return (error as Error).message;
}

const decode = (secret: V1Secret, key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The certificates of a PEM bundle, in order; unreadable blocks are skipped. */
function certificatesOf(bundle: string): X509Certificate[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class RuntimeCertificateManager implements RuntimeCertificates {
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;
  readonly #validityMs: number;
  readonly #renewBeforeMs: number;
  readonly #checkIntervalMs: number;
  readonly #retryIntervalMs: number;
  readonly #propagationDelayMs: number;
  readonly #requestTimeoutMs: number;
  readonly #listeners: ((pair: KeyPair) => void)[] = [];
  #served: Stored | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #webhookMissingLogged = false;

  constructor(private readonly options: RuntimeCertificateOptions) {
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.#validityMs = options.validityMs ?? 365 * DAY_MS;
    this.#renewBeforeMs = options.renewBeforeMs ?? Math.floor(this.#validityMs / 3);
    if (this.#renewBeforeMs >= this.#validityMs) throw new Error('renewBeforeMs must be shorter than validityMs');
    this.#checkIntervalMs = options.checkIntervalMs ?? 60_000;
    this.#retryIntervalMs = options.retryIntervalMs ?? 5000;
    this.#propagationDelayMs = options.propagationDelayMs ?? 5000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  get pair(): KeyPair {
    return this.#current().pair;
  }

  get caBundle(): string {
    return this.#current().caBundle;
  }

  onRotate(listener: (pair: KeyPair) => void): void {
    this.#listeners.push(listener);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async start(): Promise<void> {
    const stored = await this.#settle();
    await this.#trustInWebhook(stored.caBundle).catch((error: unknown) =>
      this.options.logger?.error({ webhookConfiguration: this.options.webhookConfigName, error: describe(error) }, 'cannot write the caBundle; retrying'),
    );
    this.#served = stored;
    this.options.logger?.info(
      { secret: this.#secretRef(), fingerprint: stored.pair.fingerprint, notAfter: stored.pair.notAfter },
      'runtime certificates: serving the pair from the Secret',
    );
    this.#schedule(this.#checkIntervalMs);
  }

  #current(): Stored {
    if (!this.#served) throw new Error('runtime certificates are not started');
    return this.#served;
  }

  #secretRef(): string {
    return `${this.options.namespace}/${this.options.secretName}`;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), ms);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    try {
      const stored = await this.#settle();
      await this.#trustInWebhook(stored.caBundle);
      const served = this.#current();
      if (stored.pair.fingerprint !== served.pair.fingerprint || stored.caBundle !== served.caBundle) {
        if (stored.pair.fingerprint !== served.pair.fingerprint) await sleep(this.#propagationDelayMs);
        if (this.#stopped) return;
        this.#served = stored;
        this.options.logger?.info({ secret: this.#secretRef(), fingerprint: stored.pair.fingerprint, notAfter: stored.pair.notAfter }, 'runtime certificates: rotated');
        for (const listener of this.#listeners) listener(stored.pair);
      }
      this.#schedule(this.#checkIntervalMs);
    } catch (error) {
      this.options.logger?.error({ secret: this.#secretRef(), error: describe(error) }, 'runtime certificates: check failed; retrying');
      this.#schedule(this.#retryIntervalMs);
    }
  }

  /** The Secret's pair when it is usable and not due; otherwise this replica's new pair, or another replica's. */
  async #settle(): Promise<Stored> {
    const { namespace, secretName: name } = this.options;
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      const secret = await this.#request(this.#core.readNamespacedSecret({ name, namespace }), 'read the Secret').catch((error: unknown) => {
        if (status(error) === 404) return undefined;
        throw error;
      });
      const stored = secret && this.#usable(secret);
      if (stored) return stored;
      const previous = secret ? certificatesOf(decode(secret, DATA_KEYS.ca))[0] : undefined;
      const fresh = await this.#mint(previous);
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: secret?.type ?? 'Opaque',
        metadata: { ...(secret?.metadata ?? {}), name, namespace },
        data: { ...(secret?.data ?? {}), [DATA_KEYS.ca]: encode(fresh.caBundle), [DATA_KEYS.cert]: encode(fresh.pair.cert), [DATA_KEYS.key]: encode(fresh.pair.key) },
      };
      try {
        const written = secret
          ? await this.#request(this.#core.replaceNamespacedSecret({ name, namespace, body }), 'update the Secret')
          : await this.#request(this.#core.createNamespacedSecret({ namespace, body }), 'create the Secret');
        this.options.logger?.info({ secret: this.#secretRef(), fingerprint: fresh.pair.fingerprint, notAfter: fresh.pair.notAfter }, secret ? 'runtime certificates: rotated the pair in the Secret' : 'runtime certificates: created the Secret');
        return { ...fresh, resourceVersion: written.metadata?.resourceVersion ?? '' };
      } catch (error) {
        // Another replica created or rotated it between our read and our write: use theirs.
        if (status(error) === 409) continue;
        if (status(error) === 403 && !secret) {
          throw new Error(`the Secret ${this.#secretRef()} does not exist and this service account may not create it (the chart creates it empty: helm upgrade restores it)`);
        }
        throw error;
      }
    }
    throw new Error(`the Secret ${this.#secretRef()} changed under every one of ${MAX_CONFLICTS} attempts to write it`);
  }

  /** The Secret's content when it is a valid pair for our Service, signed by its bundle, and not due for rotation. */
  #usable(secret: V1Secret): Stored | undefined {
    let pair: KeyPair;
    try {
      pair = checkPair(decode(secret, DATA_KEYS.cert), decode(secret, DATA_KEYS.key));
    } catch {
      return undefined;
    }
    const caBundle = decode(secret, DATA_KEYS.ca);
    const leaf = new X509Certificate(pair.cert);
    const signed = certificatesOf(caBundle).some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
    const serviceName = `${this.options.service}.${this.options.namespace}.svc`;
    const names = (leaf.subjectAltName ?? '').split(', ');
    if (!signed || !names.includes(`DNS:${serviceName}`)) return undefined;
    if (Date.parse(pair.notAfter) - this.#renewBeforeMs <= Date.now()) return undefined;
    return { resourceVersion: secret.metadata?.resourceVersion ?? '', caBundle, pair };
  }

  async #mint(previous: X509Certificate | undefined): Promise<Omit<Stored, 'resourceVersion'>> {
    const generated = await generateCertificates({ service: this.options.service, namespace: this.options.namespace, validityMs: this.#validityMs });
    const stillValid = previous && Date.parse(previous.validTo) > Date.now() ? [previous.toString()] : [];
    return { caBundle: [generated.caCert, ...stillValid].map((pem) => pem.trim()).join('\n') + '\n', pair: checkPair(generated.cert, generated.key) };
  }

  /** Make every webhook of our configuration trust `caBundle`; absent configurations are left for the next check. */
  async #trustInWebhook(caBundle: string): Promise<void> {
    const name = this.options.webhookConfigName;
    const wanted = encode(caBundle);
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      const config = await this.#request(this.#admission.readValidatingWebhookConfiguration({ name }), 'read the webhook configuration').catch((error: unknown) => {
        if (status(error) === 404) return undefined;
        throw error;
      });
      if (!config) {
        if (!this.#webhookMissingLogged) this.options.logger?.warn({ webhookConfiguration: name }, 'runtime certificates: the webhook configuration does not exist (yet)');
        this.#webhookMissingLogged = true;
        return;
      }
      this.#webhookMissingLogged = false;
      const webhooks = config.webhooks ?? [];
      if (webhooks.every((hook) => hook.clientConfig.caBundle === wanted)) return;
      for (const hook of webhooks) hook.clientConfig.caBundle = wanted;
      try {
        await this.#request(this.#admission.replaceValidatingWebhookConfiguration({ name, body: config }), 'update the webhook configuration');
        this.options.logger?.info({ webhookConfiguration: name, webhooks: webhooks.length }, 'runtime certificates: wrote the caBundle');
        return;
      } catch (error) {
        if (status(error) === 409) continue;
        throw error;
      }
    }
    throw new Error(`the webhook configuration ${name} changed under every one of ${MAX_CONFLICTS} attempts to write it`);
  }

  #request<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.#requestTimeoutMs, what);
  }
}

/**
 * Load or create the serving pair in the Secret, write its CA into the webhook configuration, and keep both
 * current. Resolves once a pair is settled; throws when the Secret cannot be read or written.
 */
export async function runtimeCertificates(options: RuntimeCertificateOptions): Promise<RuntimeCertificates> {
  const manager = new RuntimeCertificateManager(options);
  await manager.start();
  return manager;
}
