/**
 * The callers STRICT would cut off, from a real Prometheus (tools/build-prometheus.sh) scraping Istio-shaped
 * counters: exactly the plaintext sources of each destination, as its own proxy reports them; mutual TLS, the
 * client's own reports and waypoints left out; unidentified sources counted; and the background source keeps its
 * last snapshot through Prometheus being down, says why, and recovers.
 */
import { createServer } from 'node:http';
import t from 'tap';
import type { PlaintextTraffic, TelemetryWorkload } from '../../src/telemetry/plaintext-callers.js';
import { PrometheusPlaintextSource, queryPlaintextTraffic } from '../../src/telemetry/prometheus-source.js';
import { startIstioExporter, startPrometheus, type FixtureSeries } from '../support/prometheus.js';

const workload = (namespace: string, name: string) => ({ namespace, name });
const pair = (source: TelemetryWorkload | 'unknown', destination: TelemetryWorkload) => ({
  source_workload: source === 'unknown' ? 'unknown' : source.name,
  source_workload_namespace: source === 'unknown' ? 'unknown' : source.namespace,
  destination_workload: destination.name,
  destination_workload_namespace: destination.namespace,
});

const checkout = workload('shop', 'checkout');
const cart = workload('shop', 'cart');
const payments = workload('shop', 'payments');
const inventory = workload('shop', 'inventory');
const ledger = workload('finance', 'ledger');
const batch = workload('legacy', 'batch-report');
const reporting = workload('legacy', 'reporting');
const once = workload('legacy', 'once');
const nightly = workload('legacy', 'nightly');
const frontend = workload('shop', 'frontend');

const requests = (labels: FixtureSeries['labels'], step = 2, start = 1): FixtureSeries => ({ metric: 'istio_requests_total', labels, start, step });
const connections = (labels: FixtureSeries['labels'], step = 1, start = 1): FixtureSeries => ({ metric: 'istio_tcp_connections_opened_total', labels, start, step });
const inbound = { reporter: 'destination', connection_security_policy: 'none' } as const;

const series: FixtureSeries[] = [
  // checkout's sidecar (PERMISSIVE) reports plaintext from two legacy workloads, over HTTP and over TCP.
  requests({ ...inbound, ...pair(batch, checkout) }),
  requests({ ...inbound, ...pair(batch, checkout), response_code: '503' }, 1),
  connections({ ...inbound, ...pair(reporting, checkout) }),
  // A caller that came once, before the first scrape: its counter never moves again.
  requests({ ...inbound, ...pair(once, checkout) }, 0, 3),
  // Clients without a sidecar that the proxy could not name.
  requests({ ...inbound, ...pair('unknown', checkout) }),
  connections({ ...inbound, ...pair('unknown', cart) }, 3),
  // Mutual TLS: in the mesh, STRICT changes nothing for them.
  requests({ reporter: 'destination', connection_security_policy: 'mutual_tls', ...pair(frontend, checkout) }, 5),
  requests({ reporter: 'destination', connection_security_policy: 'mutual_tls', ...pair(frontend, cart) }, 5),
  // The client's own view (its sidecar says "unknown"; one says "none") is not the destination's inbound side.
  requests({ reporter: 'source', connection_security_policy: 'unknown', ...pair(frontend, payments) }),
  requests({ reporter: 'source', connection_security_policy: 'none', ...pair(batch, payments) }),
  // A waypoint's report.
  requests({ reporter: 'waypoint', connection_security_policy: 'none', ...pair(batch, inventory) }),
  // ztunnel, for an ambient destination: plaintext inbound is "unknown", HBONE "mutual_tls".
  connections({ reporter: 'destination', connection_security_policy: 'unknown', ...pair(nightly, ledger) }),
  connections({ reporter: 'destination', connection_security_policy: 'mutual_tls', ...pair(frontend, ledger) }),
];

const names = (traffic: PlaintextTraffic, destination: TelemetryWorkload) =>
  traffic.callersOf(destination)?.sources.map((s) => `${s.source.namespace}/${s.source.name}`);

t.test('callers from a real Prometheus', async (t) => {
  const exporter = await startIstioExporter(series);
  t.teardown(() => exporter.close());
  const prometheus = await startPrometheus([exporter.target]);
  t.teardown(() => prometheus.stop());

  await t.test('over an hour: exactly the plaintext sources of each destination', async (t) => {
    const traffic = await queryPlaintextTraffic({ url: prometheus.url, windowSeconds: 3600 });
    t.equal(traffic.windowSeconds, 3600);
    t.same(
      [...traffic.destinations()].map((d) => `${d.destination.namespace}/${d.destination.name}`).sort(),
      ['finance/ledger', 'shop/cart', 'shop/checkout'],
      'mutual TLS, reporter=source and waypoint series name no destination',
    );
    t.same(names(traffic, checkout)?.sort(), ['legacy/batch-report', 'legacy/once', 'legacy/reporting']);
    t.same(names(traffic, cart), [], 'cart: no caller identified (frontend is mutual TLS)');
    t.same(names(traffic, ledger), ['legacy/nightly'], 'ztunnel reports plaintext as "unknown"');
    t.equal(traffic.callersOf(payments), undefined);
    t.equal(traffic.callersOf(inventory), undefined);

    const byName = new Map(traffic.callersOf(checkout)?.sources.map((s) => [s.source.name, s]));
    t.ok((byName.get('batch-report')?.requests ?? 0) > 0, 'batch-report: requests, both response codes added up');
    t.equal(byName.get('batch-report')?.connections, 0);
    t.equal(byName.get('once')?.requests, 3, 'a caller that came once counts its whole value');
    t.ok((byName.get('reporting')?.connections ?? 0) > 0, 'reporting: TCP connections');
    t.equal(byName.get('reporting')?.requests, 0);
    t.ok((traffic.callersOf(checkout)?.unidentified?.requests ?? 0) > 0, 'checkout: unidentified requests counted');
    t.ok((traffic.callersOf(cart)?.unidentified?.connections ?? 0) > 0, 'cart: unidentified connections counted');
    t.equal(traffic.callersOf(ledger)?.unidentified, undefined);
  });

  await t.test('over a short window: a caller whose counter stopped before it is gone', async (t) => {
    // Wait until the fixture has been scraped for longer than the window, so every series existed before it.
    await prometheus.waitFor('count_over_time(up{job="istio-fixture"}[1m]) >= 9', (r) => r.length === 1);
    const traffic = await queryPlaintextTraffic({ url: prometheus.url, windowSeconds: 5 });
    t.same(names(traffic, checkout)?.sort(), ['legacy/batch-report', 'legacy/reporting']);
    t.same(names(traffic, ledger), ['legacy/nightly']);
    t.ok((traffic.callersOf(cart)?.unidentified?.connections ?? 0) > 0);
  });

  await t.test('the background source keeps its last snapshot while Prometheus is down, and recovers', async (t) => {
    const errors: string[] = [];
    const source = new PrometheusPlaintextSource({
      url: prometheus.url,
      windowSeconds: 3600,
      refreshIntervalMs: 100,
      maxBackoffMs: 300,
      timeoutMs: 2000,
      onError: (error) => errors.push(error.message),
    });
    t.teardown(() => source.stop());
    t.equal(source.current(), undefined, 'nothing before the first answer');
    source.start();
    t.equal(source.current(), undefined, 'start() does not wait for Prometheus');
    await until(() => source.current() !== undefined);
    const first = source.current();
    t.same(first && names(first.traffic, checkout)?.sort(), ['legacy/batch-report', 'legacy/once', 'legacy/reporting']);
    t.equal(source.consecutiveFailures, 0);
    t.equal(source.lastError, undefined);
    t.ok((source.ageMs() ?? -1) >= 0);

    await prometheus.stopServer();
    await until(() => source.consecutiveFailures >= 2);
    const kept = source.current();
    t.ok(kept, 'the last good snapshot is kept');
    t.same(kept && names(kept.traffic, checkout)?.sort(), ['legacy/batch-report', 'legacy/once', 'legacy/reporting']);
    t.match(source.lastError?.message, /Prometheus query at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query failed: fetch failed: .*ECONNREFUSED/);
    t.ok((source.lastError?.at ?? 0) >= (source.lastSuccessAt ?? Infinity), 'the error is newer than the snapshot');
    t.ok(errors.length >= 2, 'each failed round is reported');

    await prometheus.startServer();
    const failedAt = source.lastError?.at ?? 0;
    await until(() => source.consecutiveFailures === 0 && (source.lastSuccessAt ?? 0) > failedAt);
    const recovered = source.current();
    t.same(recovered && names(recovered.traffic, checkout)?.sort(), ['legacy/batch-report', 'legacy/once', 'legacy/reporting']);
    t.ok((recovered?.takenAt ?? 0) > (kept?.takenAt ?? Infinity), 'a new snapshot');

    source.stop();
    const stoppedAt = source.lastSuccessAt;
    const round = source.refresh();
    await round;
    t.ok((source.lastSuccessAt ?? 0) >= (stoppedAt ?? 0), 'refresh() still answers after stop()');
  });

  await t.test('what Prometheus refuses, and an answer over the size limit, are errors that say so', async (t) => {
    await t.rejects(queryPlaintextTraffic({ url: `${prometheus.url}/no-such-prefix` }), /HTTP 404, not a Prometheus API answer/);
    await t.rejects(queryPlaintextTraffic({ url: prometheus.url, windowSeconds: 3600, maxResponseBytes: 64 }), /over the limit of 64 bytes/);
    // A window past what PromQL durations can hold: Prometheus's own error is passed on.
    await t.rejects(queryPlaintextTraffic({ url: prometheus.url, windowSeconds: 1e20 }), /failed: HTTP 400: bad_data: /);
  });
});

t.test('a server that is not Prometheus: no answer in time, an endless answer, the wrong kind of answer', async (t) => {
  const held: Array<{ destroy: () => void }> = [];
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === '/silent/api/v1/query') {
      held.push(request.socket);
    } else if (path === '/endless/api/v1/query') {
      // Chunked, no content-length: the limit is enforced while reading.
      response.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 10; i++) response.write('x'.repeat(100));
      response.end();
    } else {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"resultType":"matrix","result":[]}}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await t.rejects(queryPlaintextTraffic({ url: `${base}/silent`, timeoutMs: 300 }), /failed: no answer within 300 ms/);
  await t.rejects(queryPlaintextTraffic({ url: `${base}/endless/`, maxResponseBytes: 500 }), /failed: answer is over the limit of 500 bytes/);
  await t.rejects(queryPlaintextTraffic({ url: base }), /failed: expected an instant vector, got matrix/);
});

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
