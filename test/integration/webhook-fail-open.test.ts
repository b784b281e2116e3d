/**
 * Ways a client could make the webhook fail open (issue 11's findings), each against a real `serve` in a child
 * process: starvation of the body budget from another address, valid objects with `__proto__`/`constructor`
 * keys or brace-heavy strings, silent connections on both ports, /healthz while large reviews are parsed, and
 * every refused request logged once and counted.
 */
import { connect as tcpConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import t from 'tap';
import { BODY_LIMIT } from '../../src/server/json-body.js';
import { scrape, sleep, startChildWebhook, type ChildWebhook } from '../support/child-webhook.js';
import { repoPath } from '../support/helpers.js';
import { admissionReview, https } from '../support/webhook-helpers.js';

t.setTimeout(240_000);

const webhook: ChildWebhook = await startChildWebhook(['--state', repoPath('examples')]);
t.teardown(() => webhook.stop());

/** A Pod in `legacy` (not labelled for injection): pod-requires-mesh denies it. */
function legacyPod(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'legacy', labels: { app: name } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }], ...extra },
  };
}

async function post(body: string, localAddress?: string): Promise<{ status: number; json: any; ms: number }> {
  const started = performance.now();
  const res = await https(webhook.port, webhook.ca, '/validate', { body, tls: localAddress ? { localAddress } : {} });
  return { status: res.status, json: res.headers['content-type']?.includes('json') ? res.json() : undefined, ms: performance.now() - started };
}

t.test('valid objects with __proto__ and constructor keys, or strings full of braces, are judged', async (t) => {
  const volumes = [
    { name: 'flex', flexVolume: { driver: 'example.com/flex', options: { __proto__: 'x', constructor: 'y', prototype: 'z' } } },
    { name: 'csi', csi: { driver: 'example.com/csi', volumeAttributes: { constructor: '{"prototype":{}}', __proto__: 'a' } } },
  ];
  // JSON.stringify drops an own __proto__ key made by an object literal; write it into the text instead.
  const text = JSON.stringify(admissionReview(legacyPod('keys', { volumes }))).replace('"options":{', '"options":{"__proto__":{"polluted":true},');
  t.ok(text.includes('"__proto__":{"polluted":true}'), 'the body holds a __proto__ key');
  const keys = await post(text);
  t.equal(keys.status, 200, 'HTTP 200');
  t.equal(keys.json.response.allowed, false, 'judged: the pod outside the mesh is denied');
  t.match(keys.json.response.status.message, /pod-requires-mesh/);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype polluted here either');

  const braces = JSON.stringify(admissionReview(legacyPod('braces', { containers: [{ name: 'app', image: 'x', env: [{ name: 'JSON', value: '{['.repeat(300_000) }] }] })));
  t.ok(braces.length > 256 * 1024, `a ${braces.length}-byte body, over the large-body threshold`);
  const judged = await post(braces);
  t.equal(judged.status, 200, 'HTTP 200 for 600,000 braces inside a string');
  t.equal(judged.json.response.allowed, false, 'judged');
});

t.test('connections from another address cannot starve reviews: five stalled near-limit bodies from 127.0.0.2', async (t) => {
  let stop = false;
  let opened = 0;
  let cut = 0;
  // Each attacker connection sends all but one byte of a BODY_LIMIT body, then nothing; reopened when cut.
  const attacker = async (): Promise<void> => {
    while (!stop) {
      opened += 1;
      await new Promise<void>((resolve) => {
        const raw = tcpConnect({ host: '127.0.0.1', port: webhook.port, localAddress: '127.0.0.2' });
        raw.on('error', () => undefined);
        const socket = connect({ socket: raw, ca: webhook.ca, servername: 'localhost' });
        socket.on('error', () => undefined);
        socket.once('close', () => {
          cut += 1;
          resolve();
        });
        socket.once('secureConnect', () => {
          socket.write(`POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${BODY_LIMIT}\r\n\r\n`);
          const chunk = Buffer.alloc(1024 * 1024, 0x20);
          let left = BODY_LIMIT - 1;
          const pump = (): void => {
            while (left > 0 && !stop) {
              const size = Math.min(left, chunk.length);
              left -= size;
              if (!socket.write(chunk.subarray(0, size))) return void socket.once('drain', pump);
            }
            if (stop) socket.destroy();
          };
          pump();
        });
        const check = setInterval(() => {
          if (stop) {
            clearInterval(check);
            socket.destroy();
          }
        }, 200);
        socket.once('close', () => clearInterval(check));
      });
    }
  };
  const attackers = Array.from({ length: 5 }, attacker);
  await sleep(1500);
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  const until = performance.now() + 8000;
  let i = 0;
  while (performance.now() < until) {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => post(JSON.stringify(admissionReview(legacyPod(`victim-${i++}`))), '127.0.0.1')),
    );
    for (const r of results) {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      latencies.push(r.ms);
    }
  }
  stop = true;
  await Promise.all(attackers);
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
  t.comment(`attacker: ${opened} connections opened, ${cut} cut; victim: ${latencies.length} reviews, statuses ${JSON.stringify(Object.fromEntries(statuses))}, p99 ${p99.toFixed(1)} ms`);
  t.same([...statuses.keys()], [200], 'every review from 127.0.0.1 got a judged 200');
  t.ok(latencies.length > 20, 'and there were many of them');
});

t.test('silent connections are closed within the request timeout, on the webhook and the metrics port', async (t) => {
  const started = performance.now();
  const tlsClosed = new Promise<number>((resolve) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: webhook.port, ca: webhook.ca, servername: 'localhost' });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(performance.now() - started));
  });
  const plainClosed = new Promise<number>((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port: webhook.metricsPort });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(performance.now() - started));
  });
  const deadline = sleep(20_000).then(() => Infinity);
  const [webhookMs, metricsMs] = await Promise.all([Promise.race([tlsClosed, deadline]), Promise.race([plainClosed, deadline])]);
  t.comment(`closed after ${Math.round(webhookMs)} ms (webhook) and ${Math.round(metricsMs)} ms (metrics)`);
  t.ok(webhookMs < 12_000, 'the webhook closes a connection that sends nothing after the handshake');
  t.ok(metricsMs < 12_000, 'so does the metrics port');
  const refused = await scrape(webhook.metricsPort, 'mtls_guard_refused_connections_total');
  t.ok((refused.get('{reason="silent"}') ?? 0) >= 2, 'counted as silent');
});

t.test('/healthz answers within a second while two senders push the largest reviews a cluster can hold', async (t) => {
  // etcd stores at most 1.5 MiB per object by default: a Pod with 100,000 labels (a 3 MiB review) is about the
  // largest that can exist. Larger bodies are parsed off the event loop too, and their label maps cut there to
  // the keys the engine reads (bench/liveness.ts measures 490,000 labels on a busy machine).
  const labels: Record<string, string> = {};
  for (let i = 0; i < 100_000; i++) labels[`label-${i}`] = `value-${i}`;
  const body = JSON.stringify(admissionReview({ ...legacyPod('labels'), metadata: { name: 'labels', namespace: 'legacy', labels } }));
  t.comment(`a ${(body.length / 1048576).toFixed(1)} MiB review with 100,000 labels`);
  let stop = false;
  const answered: number[] = [];
  const sender = async (): Promise<void> => {
    while (!stop) {
      const r = await post(body);
      answered.push(r.status);
    }
  };
  const senders = [sender(), sender()];
  await sleep(500);
  const health: number[] = [];
  const until = performance.now() + 8000;
  while (performance.now() < until) {
    const started = performance.now();
    const res = await https(webhook.port, webhook.ca, '/healthz');
    health.push(performance.now() - started);
    t.equal(res.status, 200, 'healthy', { diagnostic: false });
    await sleep(100);
  }
  stop = true;
  await Promise.all(senders);
  const worst = Math.max(...health);
  t.comment(`/healthz: ${health.length} probes, worst ${worst.toFixed(0)} ms; large reviews answered: ${answered.length} (${[...new Set(answered)].join(', ')})`);
  t.ok(worst < 1000, `every probe answered within 1 s (worst ${worst.toFixed(0)} ms)`);
  t.ok(answered.length >= 2 && answered.every((s) => s === 200), 'the large reviews were judged');
});

t.test('a body with more values than any storable object is refused before it is parsed, not copied onto the event loop', async (t) => {
  const labels: Record<string, string> = {};
  for (let i = 0; i < 1_100_000; i++) labels[`k${i}`] = '';
  const body = JSON.stringify(admissionReview({ ...legacyPod('huge'), metadata: { name: 'huge', namespace: 'legacy', labels } }));
  const started = performance.now();
  const refused = await post(body);
  t.comment(`a ${(body.length / 1048576).toFixed(1)} MiB review with 1,100,000 labels: ${refused.status} in ${Math.round(performance.now() - started)} ms`);
  t.equal(refused.status, 400);
  t.match(refused.json?.error, /more than 1000000 JSON values/);
});

t.test('every refused request is logged once, with the peer and the uid when known, and counted', async (t) => {
  const before = await scrape(webhook.metricsPort, 'mtls_guard_rejected_requests_total');
  const bad = admissionReview(legacyPod('bad'));
  (bad['request'] as Record<string, unknown>)['operation'] = 'PATCH';
  const uid = (bad['request'] as { uid: string }).uid;
  const answers = [
    await https(webhook.port, webhook.ca, '/validate', { body: JSON.stringify(bad) }),
    await https(webhook.port, webhook.ca, '/nowhere'),
    await https(webhook.port, webhook.ca, '/validate', { method: 'GET' }),
    // Refused on its Content-Length: a body actually sent would race the closing connection (EPIPE).
    await https(webhook.port, webhook.ca, '/validate', { body: ' ', headers: { 'content-length': String(BODY_LIMIT + 1) } }),
  ];
  t.same(answers.map((a) => a.status), [400, 404, 405, 413]);
  t.same(answers.map((a) => typeof a.json().code), ['string', 'string', 'string', 'string'], 'each answer names its error code');
  await sleep(1500);
  const lines = webhook
    .logs()
    .split('\n')
    .filter((line) => line.includes('"request refused"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const mine = lines.filter((l) => l['uid'] === uid);
  t.equal(mine.length, 1, 'the 400 is logged once, with its uid');
  t.match(mine[0], { peer: '127.0.0.1', status: 400, code: 'MTLS_GUARD_NOT_ADMISSION_REVIEW', level: 'warn', reqId: /^req-/ });
  t.match(mine[0]?.['time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO time');
  for (const status of [404, 405, 413]) t.ok(lines.some((l) => l['status'] === status && l['peer'] === '127.0.0.1'), `a ${status} is logged with its peer`);
  const after = await scrape(webhook.metricsPort, 'mtls_guard_rejected_requests_total');
  for (const code of ['400', '404', '405', '413']) {
    const key = `{code="${code}"}`;
    t.ok((after.get(key) ?? 0) > (before.get(key) ?? 0), `${code} counted`);
  }
});
