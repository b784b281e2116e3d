/**
 * The webhook's HTTP layer in process, without a network: Fastify's inject() for routing, errors and limits;
 * the fair body budget, the large-body guard and the namespace wait as plain objects.
 */
import { pino } from 'pino';
import t from 'tap';
import { generateCertificates } from '../../src/certs/generate.js';
import { DEFAULT_CONFIG, policyFor } from '../../src/config/config.js';
import { buildApp, type WebhookServer } from '../../src/server/app.js';
import { BodyBudget } from '../../src/server/body-budget.js';
import { BODY_LIMIT } from '../../src/server/json-body.js';
import { holdsMoreValues } from '../../src/server/json-parse.js';
import { Metrics } from '../../src/server/metrics.js';
import { checkPair } from '../../src/server/tls.js';
import { FileStateSource } from '../../src/state/file-source.js';
import { NamespaceArrivals } from '../../src/state/namespace-arrivals.js';
import { repoPath } from '../support/helpers.js';
import { admissionReview } from '../support/webhook-helpers.js';

const certs = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
const source = new FileStateSource([repoPath('examples')]);
await source.start();
const lines: Record<string, unknown>[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
const metrics = new Metrics(source);
const webhook: WebhookServer = await buildApp({
  pair: checkPair(certs.cert, certs.key),
  source,
  policy: policyFor(DEFAULT_CONFIG, 'mtls-guard'),
  logger,
  metrics,
});
t.teardown(() => webhook.app.close());
const { app } = webhook;

const legacyPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'legacy' }, spec: { containers: [{ name: 'app', image: 'x' }] } };

t.test('routes: /validate judges, /healthz and /readyz answer, anything else is a coded JSON error', async (t) => {
  const denied = await app.inject({ method: 'POST', url: '/validate', payload: admissionReview(legacyPod) });
  t.equal(denied.statusCode, 200);
  t.equal(denied.json().response.allowed, false);
  t.same((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.equal(ready.json().status, 'ready');
  t.equal((await app.inject({ method: 'HEAD', url: '/healthz' })).statusCode, 200, 'HEAD on a GET route');
  const rows: [string, string, number, string][] = [
    ['GET', '/validate', 405, 'MTLS_GUARD_METHOD_NOT_ALLOWED'],
    ['PUT', '/healthz', 405, 'MTLS_GUARD_METHOD_NOT_ALLOWED'],
    ['GET', '/nowhere', 404, 'MTLS_GUARD_ROUTE_NOT_FOUND'],
  ];
  for (const [method, url, status, code] of rows) {
    const res = await app.inject({ method: method as 'GET', url });
    t.equal(res.statusCode, status, `${method} ${url}`);
    t.equal(res.json().code, code);
    t.match(res.headers['content-type'], /application\/json/);
  }
  t.equal((await app.inject({ method: 'GET', url: '/validate' })).headers['allow'], 'POST');
});

t.test('bodies: any content type is JSON; broken or invalid ones get 400 naming the problem; over the limit 413', async (t) => {
  const asText = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(admissionReview(legacyPod)) });
  t.equal(asText.statusCode, 200, 'text/plain is read as JSON');
  const malformed = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': ';;;' }, payload: JSON.stringify(admissionReview(legacyPod)) });
  t.equal(malformed.statusCode, 200, 'a malformed Content-Type too, never 415');
  const broken = await app.inject({ method: 'POST', url: '/validate', payload: '{not json' });
  t.equal(broken.statusCode, 400);
  t.match(broken.json().error, /not valid JSON/);
  const invalid = await app.inject({ method: 'POST', url: '/validate', payload: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} } });
  t.equal(invalid.statusCode, 400);
  t.equal(invalid.json().error, 'invalid AdmissionReview: request.uid is required');
  const proto = JSON.stringify(admissionReview({ ...legacyPod, metadata: { ...legacyPod.metadata, annotations: {} } })).replace('"annotations":{}', '"annotations":{"__proto__":"x"}');
  const judged = await app.inject({ method: 'POST', url: '/validate', payload: proto });
  t.equal(judged.statusCode, 200, 'a __proto__ key is data, and the object is judged');
  t.equal(judged.json().response.allowed, false);
  const large = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-length': String(BODY_LIMIT + 1) }, payload: 'x' });
  t.equal(large.statusCode, 413, 'a declared length over the limit');
  t.equal(large.json().code, 'MTLS_GUARD_BODY_TOO_LARGE');
});

t.test('metrics: reviews apart from findings, with dry_run; build info; process metrics', async (t) => {
  await app.inject({ method: 'POST', url: '/validate', payload: admissionReview(legacyPod, 'CREATE', undefined, { dryRun: true }) });
  const text = await metrics.registry.metrics();
  t.match(text, /mtls_guard_reviews_total\{kind="Pod",operation="CREATE",decision="deny",dry_run="true"\} 1/);
  t.match(text, /mtls_guard_build_info\{version="\d+\.\d+\.\d+",node="v\d+/);
  t.match(text, /process_cpu_seconds_total/);
  t.match(text, /nodejs_eventloop_lag_seconds/);
});

t.test('refused requests are logged once and counted', async (t) => {
  lines.length = 0;
  await app.inject({ method: 'DELETE', url: '/readyz' });
  const refused = lines.filter((l) => l['msg'] === 'request refused');
  t.equal(refused.length, 1);
  t.match(refused[0], { status: 405, code: 'MTLS_GUARD_METHOD_NOT_ALLOWED', path: '/readyz' });
  t.match(await metrics.registry.getSingleMetricAsString('mtls_guard_rejected_requests_total'), /code="405"\} [1-9]/);
});

t.test('the body budget is fair between peers: the largest holder gives way, never a smaller one', async (t) => {
  const budget = new BodyBudget(100, 60);
  const aborted: string[] = [];
  const hog1 = budget.open('10.0.0.9', () => aborted.push('hog1'));
  const hog2 = budget.open('10.0.0.9', () => aborted.push('hog2'));
  t.ok(budget.grow(hog1, 40));
  t.ok(budget.grow(hog2, 20));
  t.notOk(budget.grow(hog2, 1), 'a peer cannot pass its own share');
  const small = budget.open('10.0.0.1', () => aborted.push('small'));
  t.ok(budget.grow(small, 30));
  t.equal(budget.used, 90);
  t.ok(budget.grow(small, 15), 'past the total, the biggest peer gives way');
  t.same(aborted, ['hog1'], "its largest body is aborted, and it alone");
  t.equal(budget.usedBy('10.0.0.9'), 20);
  t.equal(budget.used, 65);
  const other = budget.open('10.0.0.2', () => aborted.push('other'));
  t.ok(budget.grow(other, 30));
  t.notOk(budget.grow(other, 20), 'a peer that would hold more than every other is refused instead');
  budget.release(small);
  budget.release(small);
  t.equal(budget.usedBy('10.0.0.1'), 0, 'release is idempotent');
  t.equal(budget.used, 50);
});

t.test('the large-body guard counts values outside strings only', async (t) => {
  t.notOk(holdsMoreValues(JSON.stringify({ a: '{[,'.repeat(1000) }), 10), 'braces and commas in a string do not count');
  t.ok(holdsMoreValues(JSON.stringify({ a: [[], [], {}, {}] }), 5), 'the document, a, and four containers are more than five');
  t.notOk(holdsMoreValues(JSON.stringify({ a: [1, 2, 3] }), 5), 'three numbers in a list: five values');
  t.ok(holdsMoreValues(JSON.stringify({ a: [1, 2, 3, 4] }), 5), 'four: more than five');
  t.notOk(holdsMoreValues(JSON.stringify({ a: ['\\",{', { b: '\\\\' }] }), 5), 'escaped quotes and backslashes keep the string state');
});

t.test('a review waiting for a namespace wakes when it arrives, gives up at its deadline, and waiters are bounded', async (t) => {
  const arrivals = new NamespaceArrivals(2);
  const started = performance.now();
  const first = arrivals.wait('shop', 5000);
  setTimeout(() => arrivals.arrived('shop'), 20);
  t.equal(await first, true);
  t.ok(performance.now() - started < 1000, 'woken by the arrival, not by polling or the deadline');
  t.equal(await arrivals.wait('nowhere', 30), false, 'false at the deadline');
  const a = arrivals.wait('x', 200);
  const b = arrivals.wait('y', 200);
  t.equal(await arrivals.wait('z', 200), false, 'a third waiter is turned away at once');
  t.equal(arrivals.waiting, 2);
  arrivals.arrived('x');
  arrivals.arrived('y');
  t.same(await Promise.all([a, b]), [true, true]);
  t.equal(arrivals.waiting, 0);
  const shared = new NamespaceArrivals(10, 2);
  const hog = [shared.wait('n1', 200, '10.0.0.9'), shared.wait('n2', 200, '10.0.0.9')];
  t.equal(await shared.wait('n3', 200, '10.0.0.9'), false, 'a peer past its share is turned away');
  const other = shared.wait('n4', 200, '10.0.0.1');
  shared.arrived('n4');
  t.equal(await other, true, 'while another peer still gets a slot');
  await Promise.all(hog);
});

t.test('a body that has fully arrived never gives way: its memory is still held until parsed', async (t) => {
  const budget = new BodyBudget(100, 80);
  const aborted: string[] = [];
  const parsed = budget.open('10.0.0.9', () => aborted.push('parsed'));
  t.ok(budget.grow(parsed, 70));
  budget.arrived(parsed);
  const small = budget.open('10.0.0.1', () => aborted.push('small'));
  t.notOk(budget.grow(small, 40), 'nothing arriving to evict: the newcomer is refused');
  t.same(aborted, []);
  t.equal(budget.used, 70);
});
