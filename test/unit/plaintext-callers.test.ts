/**
 * The index of plaintext inbound traffic by destination: rows for one pair add up, unidentified sources are kept
 * with their count, sources come busiest first, rows without traffic are left out.
 */
import t from 'tap';
import { PlaintextTraffic, telemetryWorkload, type PlaintextObservation } from '../../src/telemetry/plaintext-callers.js';

const w = (namespace: string, name: string) => ({ namespace, name });
const row = (source: ReturnType<typeof w> | undefined, destination: ReturnType<typeof w>, requests: number, connections = 0): PlaintextObservation => ({
  source,
  destination,
  requests,
  connections,
});

t.test('telemetryWorkload: "unknown", empty or missing labels are no workload', async (t) => {
  t.same(telemetryWorkload('legacy', 'batch'), w('legacy', 'batch'));
  t.equal(telemetryWorkload('unknown', 'unknown'), undefined);
  t.equal(telemetryWorkload('legacy', 'unknown'), undefined);
  t.equal(telemetryWorkload('unknown', 'batch'), undefined);
  t.equal(telemetryWorkload('', 'batch'), undefined);
  t.equal(telemetryWorkload(undefined, undefined), undefined);
});

t.test('an index by destination', async (t) => {
  const checkout = w('shop', 'checkout');
  const traffic = PlaintextTraffic.from(
    [
      row(w('legacy', 'batch'), checkout, 5),
      row(w('legacy', 'batch'), checkout, 2, 1),
      row(w('legacy', 'cron'), checkout, 0, 40),
      row(w('legacy', 'idle'), checkout, 0, 0),
      row(undefined, checkout, 7),
      row(undefined, checkout, 0, 2),
      row(w('legacy', 'batch'), w('shop', 'cart'), 1),
      row(w('legacy', 'a'), w('shop', 'tie'), 1),
      row(w('aaa', 'z'), w('shop', 'tie'), 1),
      row(w('legacy', 'gone'), w('shop', 'quiet'), 0),
    ],
    600,
  );
  t.equal(traffic.windowSeconds, 600);
  t.equal(traffic.size, 3, 'a destination with no traffic is not listed');
  t.same(traffic.callersOf(checkout), {
    destination: checkout,
    sources: [
      { source: w('legacy', 'cron'), requests: 0, connections: 40 },
      { source: w('legacy', 'batch'), requests: 7, connections: 1 },
    ],
    unidentified: { requests: 7, connections: 2 },
  });
  t.same(traffic.callersOf(w('shop', 'cart')), { destination: w('shop', 'cart'), sources: [{ source: w('legacy', 'batch'), requests: 1, connections: 0 }] });
  t.same(traffic.callersOf(w('shop', 'tie'))?.sources.map((s) => `${s.source.namespace}/${s.source.name}`), ['aaa/z', 'legacy/a'], 'ties by namespace, name');
  t.equal(traffic.callersOf(w('shop', 'quiet')), undefined);
  t.equal(traffic.callersOf(w('other', 'checkout')), undefined, 'the namespace is part of the key');
  t.same([...traffic.destinations()].map((d) => d.destination.name).sort(), ['cart', 'checkout', 'tie']);
});
