/**
 * A real Prometheus server for tests (built from its Go module by tools/build-prometheus.sh), on 127.0.0.1 with a
 * temporary config and data directory, scraping loopback targets every second; and a fixture exporter that serves
 * Istio-shaped counters whose values grow at each scrape.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './control-plane.js';
import { repoPath } from './helpers.js';

/** The prometheus binary, built (or reused from the cache) by tools/build-prometheus.sh. */
export function prometheusBinary(): string {
  if (process.env['MTLS_GUARD_PROMETHEUS']) return process.env['MTLS_GUARD_PROMETHEUS'];
  const build = spawnSync('bash', [repoPath('tools/build-prometheus.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error('tools/build-prometheus.sh failed');
  const binary = build.stdout.trim().split('\n').pop() ?? '';
  process.env['MTLS_GUARD_PROMETHEUS'] = binary;
  return binary;
}

/** Labels of Istio's standard metrics (istio/proxy istio_stats.cc); a series sets what it needs, the rest default. */
const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export interface FixtureSeries {
  metric: 'istio_requests_total' | 'istio_tcp_connections_opened_total' | 'istio_tcp_connections_closed_total';
  labels: Partial<Record<(typeof ISTIO_LABELS)[number] | 'response_code' | 'grpc_response_status', string>>;
  /** The value at the first scrape. */
  start: number;
  /** Added at each later scrape (0: a counter that no longer moves). */
  step: number;
}

export interface IstioExporter {
  /** host:port to scrape. */
  target: string;
  scrapes: () => number;
  close: () => Promise<void>;
}

/** Serves the series at /metrics in Prometheus's text format, every counter moving by its step at each scrape. */
export async function startIstioExporter(series: readonly FixtureSeries[]): Promise<IstioExporter> {
  let scrapes = 0;
  const server: Server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    const byMetric = new Map<string, string[]>();
    for (const s of series) {
      const labels = { ...defaultLabels(s), ...s.labels };
      const text = Object.entries(labels)
        .map(([name, value]) => `${name}="${value}"`)
        .join(',');
      const lines = byMetric.get(s.metric) ?? [];
      lines.push(`${s.metric}{${text}} ${s.start + s.step * scrapes}`);
      byMetric.set(s.metric, lines);
    }
    scrapes += 1;
    let body = '';
    for (const [metric, lines] of byMetric) body += `# TYPE ${metric} counter\n${lines.join('\n')}\n`;
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    target: `127.0.0.1:${port}`,
    scrapes: () => scrapes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What Istio's proxy writes where it knows nothing, and the protocol labels per metric. */
function defaultLabels(series: FixtureSeries): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const name of ISTIO_LABELS) labels[name] = 'unknown';
  const l = series.labels;
  labels['source_canonical_revision'] = 'latest';
  labels['destination_canonical_revision'] = 'latest';
  labels['response_flags'] = '-';
  if (l.destination_workload && l.destination_workload_namespace) {
    labels['destination_service'] = `${l.destination_workload}.${l.destination_workload_namespace}.svc.cluster.local`;
    labels['destination_service_name'] = l.destination_workload;
    labels['destination_service_namespace'] = l.destination_workload_namespace;
    labels['destination_canonical_service'] = l.destination_workload;
    labels['destination_app'] = l.destination_workload;
    labels['destination_cluster'] = 'Kubernetes';
  }
  if (l.source_workload && l.source_workload !== 'unknown') {
    labels['source_canonical_service'] = l.source_workload;
    labels['source_app'] = l.source_workload;
    labels['source_cluster'] = 'Kubernetes';
  }
  if (l.connection_security_policy === 'mutual_tls') {
    labels['source_principal'] = `spiffe://cluster.local/ns/${l.source_workload_namespace}/sa/${l.source_workload}`;
    labels['destination_principal'] = `spiffe://cluster.local/ns/${l.destination_workload_namespace}/sa/${l.destination_workload}`;
  }
  if (series.metric === 'istio_requests_total') {
    labels['request_protocol'] = 'http';
    labels['response_code'] = '200';
    labels['grpc_response_status'] = '';
  } else {
    labels['request_protocol'] = 'tcp';
  }
  return labels;
}

export type InstantVector = Array<{ metric: Record<string, string>; value: [number, string] }>;

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Stop the server (data kept), and start it again on the same port and data directory. */
  stopServer: () => Promise<void>;
  startServer: () => Promise<void>;
  /** An instant query that must succeed: its result vector. */
  query: (promql: string) => Promise<InstantVector>;
  /** Polls an instant query until its result passes `done` (or throws after `timeoutMs`). */
  waitFor: (promql: string, done: (result: InstantVector) => boolean, timeoutMs?: number) => Promise<void>;
  stop: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const FIXTURE_JOB = 'istio-fixture';

/**
 * Starts Prometheus scraping `targets` every second and waits until it is ready and every target is up and
 * has been scraped at least twice (so that increase() has two samples to work with).
 */
export async function startPrometheus(targets: readonly string[]): Promise<PrometheusServer> {
  const binary = prometheusBinary();
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ${FIXTURE_JOB}
    static_configs:
      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]
`,
  );
  let child: ChildProcess | undefined;
  let log = '';

  const query: PrometheusServer['query'] = async (promql) => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
    const body = (await response.json()) as { status: string; error?: string; data?: { result: InstantVector } };
    if (body.status !== 'success' || !body.data) throw new Error(`query ${promql}: ${body.error ?? response.status}`);
    return body.data.result;
  };

  const waitFor: PrometheusServer['waitFor'] = async (promql, done, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (child && child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
      try {
        const result = await query(promql);
        if (done(result)) return;
        last = JSON.stringify(result).slice(0, 500);
      } catch (error) {
        last = String(error);
      }
      await sleep(200);
    }
    throw new Error(`after ${timeoutMs} ms, ${promql} still gives ${last}; prometheus log: ${log}`);
  };

  const startServer = async (): Promise<void> => {
    child = spawn(
      binary,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    log = '';
    child.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 60 s: ${log}`);
      await sleep(100);
    }
    const up = `up{job="${FIXTURE_JOB}"}`;
    await waitFor(`count_over_time(${up}[1m]) >= 2 and ${up} == 1`, (r) => r.length === targets.length);
  };

  const stopServer = (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => running.kill('SIGKILL'), 10_000);
      running.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      running.kill('SIGTERM');
    });
  };

  try {
    await startServer();
  } catch (error) {
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    stopServer,
    startServer,
    query,
    waitFor,
    stop: async () => {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
