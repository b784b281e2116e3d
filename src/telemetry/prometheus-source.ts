/**
 * Plaintext inbound traffic from Istio's standard metrics in a Prometheus, queried in the background: the review
 * path reads the last good snapshot (`current()`) and never waits on Prometheus.
 *
 * What counts as plaintext inbound: series reported by the destination (`reporter="destination"`) whose
 * `connection_security_policy` is not `mutual_tls`. A sidecar reports `none` for a plaintext connection
 * (istio/proxy istio_stats.cc: mutual TLS needs both a peer and a local certificate); ztunnel, for an ambient
 * destination, reports plaintext inbound as `unknown` (ztunnel proxy/inbound_passthrough.rs) and HBONE as
 * `mutual_tls`. Matching `="none"` alone would miss every plaintext caller of an ambient workload. A client's own
 * report (`reporter="source"`) always says `unknown` and is not about the destination's inbound side; waypoints
 * report `reporter="waypoint"`. Both are left out.
 */
import { PlaintextTraffic, telemetryWorkload, type PlaintextObservation } from './plaintext-callers.js';

export const REQUESTS_METRIC = 'istio_requests_total';
export const CONNECTIONS_METRIC = 'istio_tcp_connections_opened_total';
const GROUPING = ['source_workload', 'source_workload_namespace', 'destination_workload', 'destination_workload_namespace'];

/**
 * A day: callers that come once a day (nightly batch, CronJobs, business-hours clients) are the ones an hour's
 * window misses, and they are the outage at 3 a.m. after STRICT goes on.
 */
export const DEFAULT_WINDOW_SECONDS = 24 * 60 * 60;
export const DEFAULT_REFRESH_INTERVAL_MS = 60_000;
export const DEFAULT_MAX_BACKOFF_MS = 10 * 60_000;
export const DEFAULT_TIMEOUT_MS = 15_000;
/** The answer is one series per (source, destination) workload pair: 16 MiB is some 50,000 pairs. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface PrometheusQueryOptions {
  /** Base URL of Prometheus (a path prefix such as http://host:9090/prometheus is kept). */
  url: string;
  windowSeconds?: number;
  /** Per query, also passed to Prometheus as its own `timeout`. */
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Aborts the queries (stop()). */
  signal?: AbortSignal;
}

/**
 * The PromQL for plaintext inbound traffic on one counter over the window, summed per source and destination
 * workload. A series that already existed when the window began counts its increase; a series born inside the
 * window counts its whole value: Istio creates a counter at its first request, so a caller that came once (a
 * CronJob) would otherwise show an increase of zero and be missed.
 */
export function plaintextQuery(metric: string, windowSeconds: number): string {
  const series = `${metric}{reporter="destination",connection_security_policy!="mutual_tls"}`;
  const window = `${Math.max(1, Math.round(windowSeconds))}s`;
  const before = `${series} offset ${window}`;
  const grown = `increase(${series}[${window}]) and ${before}`;
  const born = `max_over_time(${series}[${window}]) unless ${before}`;
  return `sum by (${GROUPING.join(', ')}) ((${grown}) or (${born})) > 0`;
}

/** One round of queries: the plaintext traffic over the window, or an error saying what failed. */
export async function queryPlaintextTraffic(options: PrometheusQueryOptions): Promise<PlaintextTraffic> {
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const [requests, connections] = await Promise.all([
    instantQuery(options, plaintextQuery(REQUESTS_METRIC, windowSeconds)),
    instantQuery(options, plaintextQuery(CONNECTIONS_METRIC, windowSeconds)),
  ]);
  const observations: PlaintextObservation[] = [];
  for (const [samples, field] of [[requests, 'requests'], [connections, 'connections']] as const) {
    for (const sample of samples) {
      const destination = telemetryWorkload(sample.labels['destination_workload_namespace'], sample.labels['destination_workload']);
      // A proxy without a WORKLOAD_NAME reports an empty destination: nothing to attribute it to.
      if (!destination) continue;
      const source = telemetryWorkload(sample.labels['source_workload_namespace'], sample.labels['source_workload']);
      observations.push({ source, destination, requests: 0, connections: 0, [field]: sample.value });
    }
  }
  return PlaintextTraffic.from(observations, windowSeconds);
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

async function instantQuery(options: PrometheusQueryOptions, query: string): Promise<Sample[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  const url = new URL('api/v1/query', base);
  url.searchParams.set('query', query);
  url.searchParams.set('timeout', `${Math.max(1, Math.ceil(timeoutMs / 1000))}s`);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  const onStop = () => abort.abort(new Error('stopped'));
  options.signal?.addEventListener('abort', onStop, { once: true });
  try {
    const response = await fetch(url, { signal: abort.signal, headers: { accept: 'application/json' } });
    const body = await readBounded(response, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
    return parseVector(response.status, body);
  } catch (error) {
    const reason = describe(abort.signal.aborted ? abort.signal.reason : error);
    throw new Error(`Prometheus query at ${url.origin}${url.pathname} failed: ${reason}`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onStop);
  }
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`answer of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`answer is over the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseVector(status: number, body: string): Sample[] {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    throw new Error(`HTTP ${status}, not a Prometheus API answer: ${JSON.stringify(body.slice(0, 200))}`);
  }
  const envelope = answer as { status?: unknown; error?: unknown; errorType?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (envelope.status !== 'success') {
    throw new Error(`HTTP ${status}: ${String(envelope.errorType ?? 'error')}: ${String(envelope.error ?? 'no error message')}`);
  }
  if (envelope.data?.resultType !== 'vector' || !Array.isArray(envelope.data.result)) {
    throw new Error(`expected an instant vector, got ${String(envelope.data?.resultType)}`);
  }
  const samples: Sample[] = [];
  for (const entry of envelope.data.result as unknown[]) {
    const { metric, value } = (entry ?? {}) as { metric?: unknown; value?: unknown };
    const number = Array.isArray(value) ? Number(value[1]) : NaN;
    if (typeof metric !== 'object' || metric === null || !Number.isFinite(number)) continue;
    samples.push({ labels: metric as Record<string, string>, value: number });
  }
  return samples;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch says "fetch failed" and keeps the reason (ECONNREFUSED, a DNS failure) in its cause.
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

export interface PlaintextSnapshot {
  traffic: PlaintextTraffic;
  /** Date.now() when Prometheus answered. */
  takenAt: number;
}

export interface PrometheusSourceOptions extends Omit<PrometheusQueryOptions, 'signal'> {
  refreshIntervalMs?: number;
  /** While Prometheus fails, the wait doubles from refreshIntervalMs up to this. */
  maxBackoffMs?: number;
  /** Each failed round, for logging. */
  onError?: (error: Error) => void;
}

/**
 * Refreshes the plaintext traffic in the background. `current()` is the last good snapshot, kept through any
 * number of failures; the getters give what a metric or a health line needs.
 */
export class PrometheusPlaintextSource {
  private snapshot: PlaintextSnapshot | undefined;
  private failure: { at: number; message: string } | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<PlaintextSnapshot> | undefined;
  private abort: AbortController | undefined;
  private running = false;
  /** Bumped by start(): a round from before a stop() and start() schedules nothing. */
  private generation = 0;

  constructor(private readonly options: PrometheusSourceOptions) {}

  /** Starts refreshing at once, then every refresh interval; returns without waiting for Prometheus. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation += 1;
    this.abort = new AbortController();
    this.schedule(0);
  }

  /** Stops the timer and aborts a query under way. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    this.abort = undefined;
  }

  /** One round now (joining one already under way). Rejects when it fails; the last good snapshot stays. */
  refresh(): Promise<PlaintextSnapshot> {
    this.inFlight ??= this.round().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The last good snapshot, or undefined before the first success. Never waits. */
  current(): PlaintextSnapshot | undefined {
    return this.snapshot;
  }

  get lastSuccessAt(): number | undefined {
    return this.snapshot?.takenAt;
  }

  /** The most recent failure (kept after a later success: compare `at` with lastSuccessAt). */
  get lastError(): { at: number; message: string } | undefined {
    return this.failure;
  }

  /** Failed rounds since the last success: 0 while Prometheus answers. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** How old the snapshot is, in milliseconds. */
  ageMs(now = Date.now()): number | undefined {
    return this.snapshot ? now - this.snapshot.takenAt : undefined;
  }

  private async round(): Promise<PlaintextSnapshot> {
    const signal = this.abort?.signal;
    try {
      const traffic = await queryPlaintextTraffic({ ...this.options, ...(signal ? { signal } : {}) });
      this.snapshot = { traffic, takenAt: Date.now() };
      this.failures = 0;
      return this.snapshot;
    } catch (error) {
      const failed = error instanceof Error ? error : new Error(String(error));
      if (!signal?.aborted) {
        this.failures += 1;
        this.failure = { at: Date.now(), message: failed.message };
        this.options.onError?.(failed);
      }
      throw failed;
    }
  }

  private schedule(delayMs: number): void {
    const generation = this.generation;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh()
        .catch(() => undefined)
        .finally(() => {
          if (this.running && generation === this.generation) this.schedule(this.nextDelayMs());
        });
    }, delayMs);
    this.timer.unref();
  }

  private nextDelayMs(): number {
    const interval = this.options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (this.failures === 0) return interval;
    const ceiling = Math.max(interval, this.options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    return Math.min(ceiling, interval * 2 ** Math.min(this.failures - 1, 30));
  }
}
