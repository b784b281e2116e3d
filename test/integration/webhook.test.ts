/**
 * The webhook over real HTTPS with real certificates, serving the bundled examples as its cluster state
 * (the README's main command): decisions, bad input, TLS versions, metrics.
 */
import { connect } from 'node:tls';
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { BODY_LIMIT } from '../../src/server/json-body.js';
import { readYaml } from '../support/helpers.js';
import { admissionReview, https, postReview, startWebhook, type Operation } from '../support/webhook-helpers.js';

interface DecisionRow {
  name: string;
  operation: Operation;
  object?: Record<string, any>;
  oldObject?: Record<string, any>;
  dryRun?: boolean;
  stripTypeMeta?: boolean;
  allowed: boolean;
  code?: number;
  message?: string[];
  warnings?: string[];
}

interface BadInputRow {
  name: string;
  method?: string;
  path?: string;
  body?: string;
  contentType?: string;
  status: number;
  error: string;
  allow?: string;
}

const webhook = await startWebhook();
t.teardown(() => webhook.close());

t.test('decisions', async (t) => {
  for (const row of readYaml<DecisionRow[]>('test/tables/webhook.yaml')) {
    t.test(row.name, async (t) => {
      const review = admissionReview(row.object, row.operation, row.oldObject, { dryRun: row.dryRun === true });
      if (row.stripTypeMeta) {
        const request = review['request'] as { object: Record<string, unknown> };
        delete request.object['apiVersion'];
        delete request.object['kind'];
      }
      const uid = (review['request'] as { uid: string }).uid;
      const res = await postReview(webhook, review);
      t.equal(res.status, 200, 'HTTP 200');
      const body = res.json();
      t.equal(body.apiVersion, 'admission.k8s.io/v1');
      t.equal(body.kind, 'AdmissionReview');
      t.equal(body.response.uid, uid, 'response.uid echoes request.uid');
      t.equal(body.response.allowed, row.allowed, 'allowed', { response: body.response });
      if (row.code !== undefined) t.equal(body.response.status?.code, row.code, 'status code');
      else t.equal(body.response.status, undefined, 'no status when allowed');
      for (const fragment of row.message ?? []) t.ok(body.response.status?.message?.includes(fragment), `message has: ${fragment}`, { message: body.response.status?.message });
      if (row.warnings) t.same(body.response.warnings ?? [], row.warnings, 'warnings');
    });
  }
});

t.test('bad input gets a clear JSON error, never a crash or a stack trace', async (t) => {
  for (const row of readYaml<BadInputRow[]>('test/tables/webhook-bad-input.yaml')) {
    t.test(row.name, async (t) => {
      const options: Parameters<typeof https>[3] = { method: row.method ?? 'POST' };
      if (row.body !== undefined) options.body = row.body;
      if (row.contentType) options.headers = { 'content-type': row.contentType };
      const res = await https(webhook.port, webhook.ca, row.path ?? '/validate', options);
      t.equal(res.status, row.status, 'status', { body: res.text });
      t.match(res.headers['content-type'], /application\/json/, 'JSON body');
      if (row.status !== 200) t.ok(res.json().error.includes(row.error), `error says: ${row.error}`, { got: res.json().error });
      t.notMatch(res.text, /\bat .+\.js:\d+/, 'no stack trace');
      if (row.allow) t.equal(res.headers['allow'], row.allow, 'Allow header');
    });
  }
  t.test('a body over the limit gets 413', async (t) => {
    // Refused on its Content-Length, before any of it is read: only a byte is sent, so the client never writes
    // into the closing connection (EPIPE).
    const res = await https(webhook.port, webhook.ca, '/validate', { body: ' ', headers: { 'content-length': String(BODY_LIMIT + 1) } });
    t.equal(res.status, 413);
    t.match(res.json().error, `larger than ${BODY_LIMIT} bytes`);
  });
  t.test('a chunked body that grows past the limit, with no Content-Length to refuse it early, gets 413', async (t) => {
    const res = await https(webhook.port, webhook.ca, '/validate', {
      body: Buffer.alloc(BODY_LIMIT + 1024 * 1024, 0x20),
      headers: { 'transfer-encoding': 'chunked' },
    });
    t.equal(res.status, 413);
    t.match(res.json().error, `larger than ${BODY_LIMIT} bytes`);
  });
  t.test('a review just below the limit is still answered', async (t) => {
    const big = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'legacy' }, data: { blob: 'x'.repeat(BODY_LIMIT - 64 * 1024) } };
    const res = await postReview(webhook, admissionReview(big));
    t.equal(res.status, 200);
    t.equal(res.json().response.allowed, true);
  });
  t.test('a body nested too deeply gets 400, not 500', async (t) => {
    const body = `{"constructor":1,"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const res = await https(webhook.port, webhook.ca, '/validate', { body });
    t.equal(res.status, 400);
    t.match(res.json().error, /nested too deeply|invalid AdmissionReview/);
  });
  t.test('bodies that stop arriving get 408 after 10 s, and release their memory though the clients keep their connections open', async (t) => {
    // Four clients each send just under 8 MiB of an 8 MiB body, then nothing, and never close their side
    // (allowHalfOpen). Unless the server closes these connections, their bytes fill the 32 MiB in-flight budget
    // and every later review gets 503.
    const stalled = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const options = { host: '127.0.0.1', port: webhook.port, ca: webhook.ca, servername: 'localhost', allowHalfOpen: true };
        const socket = connect(options);
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
        socket.write('POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 8388608\r\n\r\n');
        socket.write(Buffer.alloc(8388608 - 10, 0x20));
        return { socket, received: () => received };
      }),
    );
    const started = Date.now();
    while (stalled.some((s) => !s.received().startsWith('HTTP/1.1 408 ')) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 100));
    t.ok(stalled.every((s) => /^HTTP\/1\.1 408 [\s\S]*"error":"the request took too long to arrive"/.test(s.received())), 'each gets a JSON 408');
    await new Promise((r) => setTimeout(r, 500));
    const after = await postReview(webhook, admissionReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'legacy' } }));
    t.equal(after.status, 200, 'a review afterwards is answered, not refused for want of memory budget');
    for (const s of stalled) s.socket.destroy();
  });
  t.test('the server still answers after all of that', async (t) => {
    const res = await https(webhook.port, webhook.ca, '/healthz');
    t.equal(res.status, 200);
  });
});

t.test('health and readiness', async (t) => {
  t.same((await https(webhook.port, webhook.ca, '/healthz')).json(), { status: 'ok' });
  const ready = await https(webhook.port, webhook.ca, '/readyz');
  t.equal(ready.status, 200);
  t.equal(ready.json().status, 'ready');
});

t.test('TLS 1.2 and 1.3 are accepted; TLS 1.1 and plaintext are not', async (t) => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const res = await https(webhook.port, webhook.ca, '/healthz', { tls: { minVersion: version, maxVersion: version } });
    t.equal(res.status, 200, `${version} works`);
  }
  const legacy = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: webhook.port, ca: webhook.ca, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
    socket.on('secureConnect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error) => resolve(error.message));
  });
  t.not(legacy, 'connected', `TLS 1.1 refused (${legacy})`);
  const plaintext = await new Promise<string>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: webhook.port, path: '/healthz' }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
  t.notMatch(plaintext, /^HTTP 200/, `plaintext HTTP refused (${plaintext})`);
});

t.test('metrics count decisions by rule, action, kind and operation', async (t) => {
  const text = await new Promise<string>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: webhook.metricsPort, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
  t.match(text, /mtls_guard_decisions_total\{rule="strict-requires-mesh",action="deny",kind="PeerAuthentication",operation="CREATE"\} [1-9]/);
  t.match(text, /mtls_guard_decisions_total\{rule="mtls-drift",action="warn",kind="PeerAuthentication",operation="UPDATE"\} 1/);
  t.match(text, /mtls_guard_decisions_total\{rule="pod-requires-mesh",action="deny",kind="Deployment",operation="CREATE"\} 1/);
  t.match(text, /mtls_guard_review_duration_seconds_count\{kind="Pod"\} [1-9]/);
  t.match(text, /mtls_guard_cache_synced\{resource="peerauthentications"\} 1/);
  t.match(text, /mtls_guard_rejected_requests_total\{code="400"\} [1-9]/);
  t.match(text, /mtls_guard_rejected_requests_total\{code="413"\} 2/);
  t.match(text, /mtls_guard_rejected_requests_total\{code="405"\} [1-9]/, 'wrong methods are counted');
  t.match(text, /mtls_guard_certificate_expiry_timestamp_seconds \d{10}/, 'the serving certificate expiry');
  t.match(text, /mtls_guard_decisions_total\{rule="none",action="allow",kind="other",operation="CREATE"\} [1-9]/, 'unchecked kinds share one label');
  t.notMatch(text, /kind="ConfigMap"/, 'a client cannot create label values');
});
