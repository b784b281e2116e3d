/**
 * List-then-watch for one resource, feeding slim facts into a store. Written on top of client-node's Watch
 * rather than its informer, because the informer caches whole objects (pods carry env vars and are large)
 * and stops after an error.
 *
 * - The list is paginated and decoded page by page; keys missing from a relist are deleted.
 * - The watch asks the server to end it after `watchTimeoutSeconds`, and resumes from the last resourceVersion.
 * - A watchdog abandons a watch that has been silent for too long (a paused or partitioned API server): no event,
 *   bookmark or end of the watch for `watchTimeoutSeconds` + `watchdogGraceMs`. That sum bounds how long a hung API
 *   server goes unnoticed, so the default watch is short (60 s), not client-go's 5-10 min. Bookmarks cannot serve
 *   as a heartbeat instead: the watch cache sends them about once a minute and 2 s before a watch's deadline, but
 *   only once it has seen an event, and it may skip them, so a quiet resource can go minutes without one.
 * - Every `relistIntervalMs` the resource is listed again from scratch.
 * - Any error marks the resource unsynced and retries with exponential backoff until a list succeeds.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { kubeGet } from './kube-get.js';

/** Defaults: a hung API server is noticed within DEFAULT_WATCH_TIMEOUT_SECONDS + DEFAULT_WATCHDOG_GRACE_MS. */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 60;
export const DEFAULT_WATCHDOG_GRACE_MS = 15_000;

/** An object's identity: its namespace ('' when cluster-scoped) and name, the object's own strings. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

export interface ReflectorStore {
  /** The key of an object, or undefined when it has none. */
  keyOf(object: unknown): ObjectKey | undefined;
  /** Decode and store an object; returns its key, or undefined when the object cannot be read (it is skipped). */
  upsert(object: unknown): ObjectKey | undefined;
  /** Remove by key. */
  remove(key: ObjectKey): void;
}

/**
 * The keys a reflector holds, by namespace, kept as the objects' own name strings: no "namespace/name" string
 * is built per object (at 100,000 pods those cost 5 MB).
 */
class KeySet {
  readonly #byNamespace = new Map<string, Set<string>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(key: ObjectKey): void {
    let names = this.#byNamespace.get(key.namespace);
    if (!names) this.#byNamespace.set(key.namespace, (names = new Set()));
    if (names.has(key.name)) return;
    names.add(key.name);
    this.#size += 1;
  }

  has(key: ObjectKey): boolean {
    return this.#byNamespace.get(key.namespace)?.has(key.name) === true;
  }

  delete(key: ObjectKey): boolean {
    const names = this.#byNamespace.get(key.namespace);
    if (!names?.delete(key.name)) return false;
    if (names.size === 0) this.#byNamespace.delete(key.namespace);
    this.#size -= 1;
    return true;
  }

  *[Symbol.iterator](): Iterator<ObjectKey> {
    for (const [namespace, names] of this.#byNamespace) for (const name of names) yield { namespace, name };
  }
}

export interface ReflectorOptions {
  kubeConfig: KubeConfig;
  resource: string;
  /** Collection paths to try in order; the first that answers (not 404) is used, e.g. v1 then v1beta1. */
  paths: readonly string[];
  store: ReflectorStore;
  logger: Logger;
  pageSize?: number;
  watchTimeoutSeconds?: number;
  /** Extra silence allowed beyond the watch timeout before the watchdog gives up on a watch. */
  watchdogGraceMs?: number;
  relistIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  requestTimeoutMs?: number;
  /** When every path answers 404 (e.g. no PeerAuthentication CRD), treat the resource as empty and synced. */
  absentIsEmpty?: boolean;
  /** How often to look again for a resource that was not served (the CRD may be installed later). */
  absentRecheckMs?: number;
  /** Passed on list and watch, e.g. metadata.name=X: RBAC by resourceNames allows list/watch only with it. */
  fieldSelector?: string;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

class GoneError extends Error {}

interface ListPage {
  items: unknown[];
  resourceVersion: string;
  continueToken?: string;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

export class Reflector {
  #synced = false;
  #keys = new KeySet();
  #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #path: string | undefined;
  readonly #o: Required<Omit<ReflectorOptions, 'kubeConfig' | 'store' | 'logger' | 'paths' | 'resource' | 'fieldSelector'>> & ReflectorOptions;

  constructor(options: ReflectorOptions) {
    this.#o = {
      pageSize: 500,
      watchTimeoutSeconds: DEFAULT_WATCH_TIMEOUT_SECONDS,
      watchdogGraceMs: DEFAULT_WATCHDOG_GRACE_MS,
      relistIntervalMs: 15 * 60_000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      requestTimeoutMs: 30_000,
      absentIsEmpty: false,
      absentRecheckMs: 10_000,
      ...options,
    };
  }

  get synced(): boolean {
    return this.#synced;
  }

  get size(): number {
    return this.#keys.size;
  }

  start(): void {
    this.#loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
  }

  private get log(): Logger {
    return this.#o.logger;
  }

  private async run(): Promise<void> {
    let backoff = this.#o.backoffInitialMs;
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      try {
        let resourceVersion = await this.relist();
        backoff = this.#o.backoffInitialMs;
        const relistAt = Date.now() + this.#o.relistIntervalMs;
        while (!signal.aborted && Date.now() < relistAt && this.#path !== undefined) {
          const began = Date.now();
          resourceVersion = await this.watch(resourceVersion, relistAt - Date.now());
          // A watch the server closes at once, again and again, must not turn into a busy loop.
          if (Date.now() - began < 1000) await sleep(1000, signal);
        }
        if (this.#path === undefined) await sleep(this.#o.absentRecheckMs, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof GoneError) {
          this.log.info({ resource: this.#o.resource }, 'watch expired (410 Gone): relisting');
          continue;
        }
        this.#synced = false;
        this.log.warn({ resource: this.#o.resource, error: (error as Error).message, retryInMs: backoff }, 'list/watch failed; cache marked unsynced');
        await sleep(backoff * (0.8 + Math.random() * 0.4), signal);
        backoff = Math.min(backoff * 2, this.#o.backoffMaxMs);
      }
    }
  }

  /** List every object (paginated), replace the store's contents, and return the list's resourceVersion. */
  private async relist(): Promise<string> {
    const seen = new KeySet();
    let resourceVersion = '';
    let found = false;
    for (const path of this.#o.paths) {
      try {
        let continueToken: string | undefined;
        do {
          const page = await this.listPage(path, continueToken);
          for (const item of page.items) {
            const key = this.#o.store.upsert(item);
            if (key === undefined) continue;
            seen.add(key);
            // Known at once, so a later DELETED event or relist can remove it even if this relist fails halfway.
            this.#keys.add(key);
          }
          resourceVersion = page.resourceVersion;
          continueToken = page.continueToken;
        } while (continueToken);
        if (this.#path !== path) this.log.info({ resource: this.#o.resource, path }, 'listing and watching');
        this.#path = path;
        found = true;
        break;
      } catch (error) {
        if (error instanceof HttpError && error.statusCode === 404) continue;
        throw error;
      }
    }
    if (!found) {
      if (!this.#o.absentIsEmpty) throw new Error(`${this.#o.resource}: none of ${this.#o.paths.join(', ')} is served`);
      if (this.#path !== undefined || !this.#synced) {
        this.log.warn({ resource: this.#o.resource, paths: this.#o.paths }, 'resource not served by this cluster: treating it as empty and checking again later');
      }
      this.#path = undefined;
    }
    for (const key of this.#keys) if (!seen.has(key)) this.#o.store.remove(key);
    this.#keys = seen;
    this.#synced = true;
    return resourceVersion;
  }

  private async listPage(path: string, continueToken: string | undefined): Promise<ListPage> {
    const query = new URLSearchParams({ limit: String(this.#o.pageSize) });
    if (continueToken) query.set('continue', continueToken);
    if (this.#o.fieldSelector) query.set('fieldSelector', this.#o.fieldSelector);
    const { status, body: text } = await kubeGet(this.#o.kubeConfig, `${path}?${query}`, this.#o.requestTimeoutMs, this.#stopping.signal);
    if (status !== 200) throw new HttpError(status, `GET ${path}: HTTP ${status}: ${text.slice(0, 200)}`);
    const body = text;
    const list = JSON.parse(body) as { items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } };
    const page: ListPage = { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    if (list.metadata?.continue) page.continueToken = list.metadata.continue;
    return page;
  }

  /** Watch from `resourceVersion` until the server ends the watch, an error, or the watchdog; returns the last resourceVersion. */
  private watch(resourceVersion: string, budgetMs: number): Promise<string> {
    const path = this.#path as string;
    const timeoutSeconds = Math.max(1, Math.min(this.#o.watchTimeoutSeconds, Math.ceil(budgetMs / 1000)));
    return new Promise<string>((resolve, reject) => {
      let rv = resourceVersion;
      let settled = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.#stopping.signal.removeEventListener('abort', onStop);
        controller?.abort();
        if (error) reject(error);
        else resolve(rv);
      };
      const armWatchdog = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(
          () => finish(new Error(`watch on ${path} silent for ${timeoutSeconds}s + grace: abandoned`)),
          timeoutSeconds * 1000 + this.#o.watchdogGraceMs,
        );
      };
      const onStop = (): void => finish();
      this.#stopping.signal.addEventListener('abort', onStop, { once: true });
      armWatchdog();
      const watcher = new Watch(this.#o.kubeConfig);
      watcher
        .watch(
          path,
          { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds, ...(this.#o.fieldSelector ? { fieldSelector: this.#o.fieldSelector } : {}) },
          (type: string, object: unknown) => {
            if (settled) return;
            armWatchdog();
            const metadata = (object as { metadata?: { resourceVersion?: string } } | undefined)?.metadata;
            if (type === 'ERROR') {
              const status = object as { code?: number; message?: string };
              finish(status.code === 410 ? new GoneError('gone') : new Error(`watch error ${status.code}: ${status.message}`));
              return;
            }
            if (type === 'ADDED' || type === 'MODIFIED') {
              const key = this.#o.store.upsert(object);
              if (key !== undefined) this.#keys.add(key);
              else {
                // No longer readable: drop the stale facts rather than judge with them.
                const stale = this.#o.store.keyOf(object);
                if (stale !== undefined && this.#keys.delete(stale)) this.#o.store.remove(stale);
              }
            } else if (type === 'DELETED') {
              const key = this.#o.store.keyOf(object);
              if (key !== undefined) {
                this.#o.store.remove(key);
                this.#keys.delete(key);
              }
            }
            if (metadata?.resourceVersion) rv = metadata.resourceVersion;
          },
          (error: unknown) => {
            if (!error) finish();
            else if ((error as { statusCode?: number }).statusCode === 410) finish(new GoneError('gone'));
            else finish(error instanceof Error ? error : new Error(String(error)));
          },
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
        );
    });
  }
}
