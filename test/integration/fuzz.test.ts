/**
 * Bad input at POST /validate, black box: the built `mtls-guard serve` runs as a child process on the bundled
 * examples, and is sent seeded mutations of real AdmissionReviews as raw HTTP/1.1 over TLS. Every answer must
 * be a well-formed 200/400/413 within a deadline, the process must stay up with bounded memory, and verdicts
 * must be right afterwards. Then slow clients (slowloris) must be cut off while others are still served.
 *
 * Replay a run: FUZZ_SEED=<seed printed below> (FUZZ_COUNT, FUZZ_SECONDS change its size).
 */
import { BODY_BUDGET } from '../../src/server/app.js';
import { MAX_VALUES } from '../../src/server/json-parse.js';
import { connect as tcpConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { MiB, rawRequest, rssBytes, sleep, startChildWebhook, type ChildWebhook, type Part, type RawResult } from '../support/child-webhook.js';
import { corpus as loadCorpus, reviewFor, type JsonObject } from '../support/fuzz/corpus.js';
import { KINDS, makeCase, pinnedCases, type FuzzCase } from '../support/fuzz/mutate.js';
import { seedFromEnv } from '../support/fuzz/random.js';
import { repoPath } from '../support/helpers.js';

t.setTimeout(600_000);

const SEED = seedFromEnv('FUZZ_SEED');
const COUNT = Number(process.env['FUZZ_COUNT'] ?? 2000);
const BUDGET_MS = Number(process.env['FUZZ_SECONDS'] ?? 60) * 1000;
const CONCURRENCY = 4;
/** Every answer must arrive within this; the server's own timeouts are 10 s and nothing here waits for them. */
const DEADLINE_MS = 15_000;
/** The memory limit the Helm chart gives the container (charts/mtls-guard/values.yaml): above it, the pod is OOM-killed. */
const CHART_LIMIT = 512 * MiB;
/**
 * The child's resident memory must stay under PEAK_BOUND during the run (no runaway growth), and fall back
 * under the chart's limit within AFTER_WINDOW_MS once the run is over. Under the chart's limit throughout is
 * the goal, but maximum-size bodies of tiny JSON values do not meet it today (see the memory amplification test).
 */
const PEAK_BOUND = 2048 * MiB;
const AFTER_BOUND = CHART_LIMIT;
const AFTER_WINDOW_MS = 45_000;

t.comment(`FUZZ_SEED=${SEED} (set FUZZ_SEED to replay this run)`);

const webhook: ChildWebhook = await startChildWebhook(['--state', repoPath('examples')]);
t.teardown(async () => {
  await webhook.stop();
});

const knownBad = readFileSync(repoPath('examples/admission-review.json'));
const knownGood = Buffer.from(
  JSON.stringify(
    reviewFor('CREATE', {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'shop' },
      spec: { mtls: { mode: 'STRICT' } },
    }),
  ),
);

const post = (body: Buffer, deadlineMs = DEADLINE_MS): Promise<RawResult> =>
  rawRequest(webhook.port, webhook.ca, [Buffer.from(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`), body], { deadlineMs });

interface Verdict {
  allowed: boolean;
  code: number | undefined;
}

const verdictOf = (result: RawResult): Verdict | undefined => {
  if (result.response?.status !== 200) return undefined;
  const response = JSON.parse(result.response.body.toString('utf8')).response as { allowed: boolean; status?: { code: number } };
  return { allowed: response.allowed, code: response.status?.code };
};

/** The uid a server that reads this body as UTF-8 JSON must echo; undefined when it is not JSON. */
function expectedUid(body: Buffer): unknown {
  try {
    const parsed = JSON.parse(body.toString('utf8').replace(/^\uFEFF/, '')) as { request?: { uid?: unknown } };
    return parsed.request?.uid;
  } catch {
    return undefined;
  }
}

/** An AdmissionReview answer names at most ten workloads and a few warnings: a few kilobytes. */
const ANSWER_BOUND = 64 * 1024;

interface KnownDefect {
  /** What a correct server does. */
  expectation: string;
  /** The defect this test found, since fixed. */
  defect: string;
  matches: (fuzzCase: FuzzCase, result: RawResult) => boolean;
  seen: string[];
}

/**
 * Product defects this test found, all fixed since: answers that would show one again are collected here,
 * and each has an assertion that none was seen.
 */
const KNOWN_DEFECTS: KnownDefect[] = [
  {
    // A malformed Content-Type header ("", ";;;", "application/json, text/html") gets 415 Unsupported Media Type,
    // a status outside the contract: any content type is to be read as JSON, or refused with 400.
    expectation: 'a malformed Content-Type is read as JSON or refused with 400, never 415',
    defect: 'malformed Content-Type headers are answered 415',
    matches: (c, r) => c.kind === 'content-type' && r.response?.status === 415,
    seen: [],
  },
  {
    // spec.mtls.mode (or a portLevelMtls mode) nested some 5,000 arrays or objects deep makes the engine's error
    // message (JSON.stringify of the bad value, src/engine/decode.ts) overflow the stack: HTTP 500 "internal error"
    // instead of the usual answer for a bad mode (200, allowed: false, code 400, "cannot read this object").
    expectation: 'a deeply nested mtls mode is answered 200 (cannot read this object) or 400, never 500',
    defect: 'a deeply nested spec.mtls.mode gets HTTP 500',
    matches: (c, r) => c.kind === 'deep-nesting' && / at \S*\.mode$/.test(c.detail) && r.response?.status === 500,
    seen: [],
  },
  {
    // A review without request.operation whose request.object is null (a DELETE) is refused with
    // "request.object must be object": the 400 names a consequence, not the missing field.
    expectation: 'a review without request.operation is refused with a 400 that names operation',
    defect: 'the 400 for a missing operation names request.object instead',
    matches: (c, r) => c.detail === 'required request.operation removed' && r.response?.status === 400 && r.response.body.toString().includes('request.object must be object'),
    seen: [],
  },
  {
    // The "cannot read this object" and denial messages quote client input in full (a bad mode, via JSON.stringify;
    // a name): a 1 MiB spec.mtls.mode gets a 1 MiB answer, a 7 MiB one of newlines an 11 MiB answer.
    expectation: `an answer stays small (under ${ANSWER_BOUND / 1024} KiB) whatever the input`,
    defect: 'messages quote unbounded client input',
    matches: (_c, r) => r.response?.status === 200 && r.response.body.length > ANSWER_BOUND,
    seen: [],
  },
];

const RESPONSE_KEYS = new Set(['uid', 'allowed', 'status', 'warnings', 'auditAnnotations']);
const LEAK = /\n\s+at |node_modules|\/work\/|\.js:\d+/;

/** Everything wrong with one answer, or undefined when it is what a correct server may send. */
function problemWith(fuzzCase: FuzzCase, result: RawResult, baseline: readonly (Verdict | undefined)[]): string | undefined {
  const { expect } = fuzzCase;
  if (result.outcome === 'deadline') return `no answer within ${DEADLINE_MS} ms`;
  if (result.outcome === 'error') return `connection failed: ${result.error}`;
  if (result.outcome === 'closed') return expect.mayClose ? undefined : `connection closed without an answer (received ${JSON.stringify(result.partial)})`;
  const { status, headers, body } = result.response!;
  const text = body.toString('utf8');
  if (!expect.statuses.includes(status)) return `HTTP ${status}, expected ${expect.statuses.join(' or ')}: ${text.slice(0, 200)}`;
  if (!/^application\/json/i.test(headers['content-type'] ?? '')) return `HTTP ${status} with content-type ${headers['content-type']}`;
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    return `HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (status !== 200) {
    if (typeof json?.error !== 'string' || json.error === '') return `HTTP ${status} without an error string: ${text.slice(0, 200)}`;
    if (LEAK.test(json.error)) return `HTTP ${status} leaks internals: ${json.error.slice(0, 300)}`;
    if (status === 400 && expect.errorMentions && !json.error.includes(expect.errorMentions)) return `400 does not name ${expect.errorMentions}: ${json.error}`;
    return undefined;
  }
  if (json?.apiVersion !== 'admission.k8s.io/v1' || json?.kind !== 'AdmissionReview') return `200 that is not an AdmissionReview v1: ${text.slice(0, 200)}`;
  const response = json.response;
  if (typeof response !== 'object' || response === null) return '200 without a response';
  const extra = Object.keys(response).filter((key) => !RESPONSE_KEYS.has(key));
  if (extra.length > 0) return `response has unexpected fields ${extra.join(', ')} (polluted?)`;
  if (typeof response.allowed !== 'boolean') return `response.allowed is ${JSON.stringify(response.allowed)}`;
  if (!response.allowed && (typeof response.status?.code !== 'number' || typeof response.status?.message !== 'string')) return 'a denial without status.code and status.message';
  if (typeof response.status?.message === 'string' && LEAK.test(response.status.message)) return `response leaks internals: ${response.status.message.slice(0, 300)}`;
  if (body.length > ANSWER_BOUND) return `an answer of ${body.length} bytes: ${text.slice(0, 200)}`;
  const uid = expectedUid(fuzzCase.body);
  if (uid === undefined) return '200 for a body that is not a JSON AdmissionReview';
  if (response.uid !== uid) return `response.uid ${JSON.stringify(response.uid)?.slice(0, 80)} is not request.uid ${JSON.stringify(uid)?.slice(0, 80)}`;
  const before = baseline[fuzzCase.base];
  if (expect.sameVerdict && (response.allowed !== before?.allowed || response.status?.code !== before?.code)) {
    return `verdict changed: allowed=${response.allowed} code=${response.status?.code}, unmutated review: allowed=${before?.allowed} code=${before?.code}`;
  }
  return undefined;
}

t.test(`fuzz: seeded mutations of real AdmissionReviews (seed ${SEED})`, async (t) => {
  const corpus: JsonObject[] = loadCorpus();
  const baseline: (Verdict | undefined)[] = [];
  for (const review of corpus) baseline.push(verdictOf(await post(Buffer.from(JSON.stringify(review)))));
  t.equal(baseline.filter((v) => v === undefined).length, 0, `all ${corpus.length} unmutated reviews get HTTP 200`);
  t.ok(baseline.some((v) => v?.allowed) && baseline.some((v) => v && !v.allowed), 'the corpus has allowed and denied reviews');

  let peakRss = rssBytes(webhook.pid);
  const startRss = peakRss;
  const sampler = setInterval(() => {
    if (webhook.exit() === undefined) peakRss = Math.max(peakRss, rssBytes(webhook.pid));
  }, 200);

  const byKind = new Map<string, Map<string, number>>(KINDS.map((kind) => [kind, new Map()]));
  const byStatus = new Map<string, number>();
  const maxByKind = new Map<string, number>();
  const problems: string[] = [];
  const pinned = pinnedCases(corpus);
  let next = 0;
  let bytes = 0;
  let inFlight = 0;
  let busy = 0;
  const active = new Set<{ peak: number }>();
  let maxMs = 0;
  let slowest = '';
  const started = Date.now();
  const worker = async (): Promise<void> => {
    while (next < COUNT && Date.now() - started < BUDGET_MS && webhook.exit() === undefined) {
      const fuzzCase = next < pinned.length ? pinned[next]! : makeCase(SEED, next - pinned.length, corpus);
      next += 1;
      // This client's bodies in flight while this one is: past the per-peer budget, MTLS_GUARD_BUSY is the fair answer.
      const size = fuzzCase.parts.reduce((sum, part) => sum + (Buffer.isBuffer(part) ? part.length : 0), 0);
      const mine = { peak: 0 };
      active.add(mine);
      inFlight += size;
      for (const other of active) other.peak = Math.max(other.peak, inFlight);
      const result = await rawRequest(webhook.port, webhook.ca, fuzzCase.parts as Part[], { deadlineMs: DEADLINE_MS + 5000, end: fuzzCase.end });
      inFlight -= size;
      active.delete(mine);
      const overShare = mine.peak > BODY_BUDGET.perPeer && result.response?.status === 503 && result.response.body.toString('utf8').includes('"MTLS_GUARD_BUSY"');
      if (overShare) busy += 1;
      const outcome = result.outcome === 'response' ? String(result.response!.status) : result.outcome;
      const counts = byKind.get(fuzzCase.kind)!;
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      byStatus.set(outcome, (byStatus.get(outcome) ?? 0) + 1);
      bytes += fuzzCase.parts.reduce((sum, part) => sum + (Buffer.isBuffer(part) ? part.length : 0), 0);
      if (result.ms > maxMs) {
        maxMs = result.ms;
        slowest = `#${fuzzCase.index} ${fuzzCase.kind}: ${fuzzCase.detail}`;
      }
      maxByKind.set(fuzzCase.kind, Math.max(maxByKind.get(fuzzCase.kind) ?? 0, result.ms));
      const problem = overShare ? undefined : (problemWith(fuzzCase, result, baseline) ?? (result.ms > DEADLINE_MS ? `answered after ${Math.round(result.ms)} ms` : undefined));
      const defect = problem ? KNOWN_DEFECTS.find((d) => d.matches(fuzzCase, result)) : undefined;
      if (defect) defect.seen.push(`case #${fuzzCase.index} [${fuzzCase.kind}: ${fuzzCase.detail}]: ${problem}`);
      else if (problem) problems.push(`FUZZ_SEED=${SEED} case #${fuzzCase.index} [${fuzzCase.kind}: ${fuzzCase.detail}] (base review ${fuzzCase.base}): ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (Date.now() - started) / 1000;
  clearInterval(sampler);
  const alive = webhook.exit() === undefined;
  // After the run: some ordinary reviews, then idle. V8 keeps the heap it grew until it collects and shrinks it
  // (its memory reducer runs once allocation slows down), so wait up to AFTER_WINDOW_MS for RSS to fall under the
  // bound. Memory that a leak kept would not be given back.
  const afterSamples: number[] = [];
  const afterStarted = Date.now();
  if (alive) {
    for (let i = 0; i < 300; i += 1) await post(Buffer.from(JSON.stringify(corpus[i % corpus.length])));
    while (Date.now() - afterStarted < AFTER_WINDOW_MS) {
      afterSamples.push(rssBytes(webhook.pid));
      if (afterSamples[afterSamples.length - 1]! < AFTER_BOUND) break;
      await sleep(1000);
    }
  }
  const afterRss = afterSamples.length > 0 ? Math.min(...afterSamples) : 0;
  const afterSeconds = (Date.now() - afterStarted) / 1000;
  peakRss = Math.max(peakRss, ...afterSamples);

  t.comment(`${next} inputs (${pinned.length} pinned, the rest seeded) in ${elapsed.toFixed(1)} s (${(bytes / MiB).toFixed(0)} MiB sent), concurrency ${CONCURRENCY}`);
  t.comment(`${busy} answered 503 MTLS_GUARD_BUSY while this client had more than its ${BODY_BUDGET.perPeer / MiB} MiB share of bodies in flight (the per-peer budget, as designed)`);
  t.comment(`by status: ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
  for (const [kind, counts] of byKind) {
    t.comment(`  ${kind.padEnd(14)} ${JSON.stringify(Object.fromEntries([...counts].sort()))} max ${Math.round(maxByKind.get(kind) ?? 0)} ms`);
  }
  t.comment(`max latency ${Math.round(maxMs)} ms (${slowest.slice(0, 160)})`);
  t.comment(`child RSS: start ${(startRss / MiB).toFixed(0)} MiB, peak ${(peakRss / MiB).toFixed(0)} MiB, after the run ${(afterRss / MiB).toFixed(0)} MiB (${afterSeconds.toFixed(0)} s later, 300 ordinary reviews in between)`);

  t.ok(alive, 'the webhook process never exited', { exit: webhook.exit(), logs: webhook.logs().slice(-2000) });
  t.same(problems.slice(0, 20), [], `every answer is a well-formed 200/400/413 within ${DEADLINE_MS} ms (${problems.length} problems)`);
  t.ok(next >= Math.min(COUNT, 500), `enough inputs were tried (${next})`);
  t.ok(maxMs <= DEADLINE_MS, `max latency ${Math.round(maxMs)} ms <= ${DEADLINE_MS} ms`);
  for (const defect of KNOWN_DEFECTS) t.same(defect.seen.slice(0, 5), [], `${defect.expectation} (${defect.seen.length} seen; found before: ${defect.defect})`);
  t.ok(peakRss < PEAK_BOUND, `peak RSS ${(peakRss / MiB).toFixed(0)} MiB < ${PEAK_BOUND / MiB} MiB`);
  t.ok(peakRss < CHART_LIMIT, `peak RSS ${(peakRss / MiB).toFixed(0)} MiB < the chart's limit of ${CHART_LIMIT / MiB} MiB`);
  t.ok(afterRss > 0 && afterRss < AFTER_BOUND, `RSS falls back to ${(afterRss / MiB).toFixed(0)} MiB < ${AFTER_BOUND / MiB} MiB (the chart's limit) within ${AFTER_WINDOW_MS / 1000} s of the run`);
  for (const kind of KINDS) t.ok((byKind.get(kind)?.size ?? 0) > 0 || next < 500, `mutation kind ${kind} was tried`);

  const bad = await post(knownBad);
  t.same(verdictOf(bad), { allowed: false, code: 403 }, 'afterwards, the known-bad review (STRICT in legacy) is still denied');
  t.match(JSON.parse(bad.response?.body.toString() ?? '{}'), { response: { uid: '3f1a2b4c-5d6e-4f70-8192-a3b4c5d6e7f8', status: { message: /strict-requires-mesh/ } } });
  const good = await post(knownGood);
  t.same(verdictOf(good), { allowed: true, code: undefined }, 'afterwards, the known-good review (STRICT in shop) is still allowed');
});

t.test('memory amplification: four maximum-size bodies of tiny JSON values at once', async (t) => {
  // 8 MiB of "{}," is 2.8 million objects once parsed (about 250 MiB of heap each): more than any review the API
  // server sends holds. The server refuses such a body before parsing it, with a 400 that says why.
  const review = JSON.parse(knownBad.toString()) as Record<string, unknown>;
  const rest = JSON.stringify({ ...review, 'x-fuzz-huge': [] }).length;
  const count = Math.floor((8 * MiB - rest) / 3);
  const body = Buffer.from(JSON.stringify({ ...review, 'x-fuzz-huge': '@@' }).replace('"@@"', `[${new Array<string>(count).fill('{}').join(',')}]`));
  let peak = rssBytes(webhook.pid);
  const before = peak;
  const sampler = setInterval(() => {
    if (webhook.exit() === undefined) peak = Math.max(peak, rssBytes(webhook.pid));
  }, 50);
  const results = await Promise.all(Array.from({ length: 4 }, () => post(body, 60_000)));
  clearInterval(sampler);
  t.comment(`4 x ${body.length} bytes: ${results.map((r) => `${r.response?.status ?? r.outcome} in ${Math.round(r.ms)} ms`).join(', ')}; RSS ${(before / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB`);
  t.same(results.map((r) => r.response?.status), Array(4).fill(400), 'each is refused with 400 before parsing');
  for (const r of results) t.match(r.response?.body.toString() ?? '', `more than ${MAX_VALUES} JSON values`, 'naming the limit');
  t.equal(webhook.exit(), undefined, 'the webhook process is still running');
  // Found before the fix: about 250 MiB of memory per maximum-size body; four at once took the process past the
  // chart's 512 Mi container limit, where it would be OOM-killed.
  t.ok(peak < CHART_LIMIT, `peak RSS ${(peak / MiB).toFixed(0)} MiB < the chart's limit of ${CHART_LIMIT / MiB} MiB`);
});

/** One byte at a time, a pause between: enough of them to outlast any server timeout many times over. */
function trickle(bytes: Buffer, pauseMs: number): Part[] {
  const parts: Part[] = [];
  for (const byte of bytes) parts.push(Buffer.from([byte]), { pauseMs });
  return parts;
}

t.test('slow clients (slowloris) are cut off by the server while other reviews are still answered quickly', async (t) => {
  const PAUSE = 250;
  const WINDOW_MS = 60_000;
  const endlessHeader = Buffer.from(`X-Slow: ${'a'.repeat(WINDOW_MS / PAUSE + 100)}`);
  const endlessBody = Buffer.alloc(WINDOW_MS / PAUSE + 100, 0x20);
  const headers = (extra: string) => Buffer.from(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${extra}\r\n`);
  const slow: { kind: string; result: Promise<RawResult> }[] = [];
  const open = (kind: string, parts: Part[], count: number): void => {
    for (let i = 0; i < count; i += 1) slow.push({ kind, result: rawRequest(webhook.port, webhook.ca, parts, { deadlineMs: WINDOW_MS }) });
  };
  open('headers trickled', [Buffer.from('POST /validate HTTP/1.1\r\nHost: localhost\r\n'), ...trickle(endlessHeader, PAUSE)], 20);
  open('body trickled', [headers(`Content-Length: ${endlessBody.length + 10}\r\n`), ...trickle(endlessBody, PAUSE)], 20);
  open('chunked body trickled', [headers('Transfer-Encoding: chunked\r\n'), Buffer.from(`${(endlessBody.length + 10).toString(16)}\r\n`), ...trickle(endlessBody, PAUSE)], 5);
  open('idle after the TLS handshake', [], 5);
  // Raw TCP connections that never finish a TLS handshake.
  const preTls: { socket: Socket; closedAfter?: number }[] = [];
  const opened = Date.now();
  for (let i = 0; i < 5; i += 1) {
    const entry: { socket: Socket; closedAfter?: number } = { socket: tcpConnect(webhook.port, '127.0.0.1') };
    entry.socket.on('error', () => undefined);
    entry.socket.on('close', () => (entry.closedAfter = Date.now() - opened));
    if (i % 2 === 1) entry.socket.on('connect', () => entry.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
    preTls.push(entry);
  }

  // Meanwhile, another client keeps sending reviews on fresh connections and checks their verdicts.
  const latencies: number[] = [];
  const fastProblems: string[] = [];
  let slowDone = false;
  const fast = (async () => {
    let i = 0;
    while (!slowDone) {
      const bad = i % 2 === 0;
      const result = await post(bad ? knownBad : knownGood, 10_000);
      latencies.push(result.ms);
      const verdict = verdictOf(result);
      if (verdict?.allowed !== !bad) fastProblems.push(`review ${i}: ${result.outcome} ${result.response?.status} ${JSON.stringify(verdict)}`);
      i += 1;
      await sleep(100);
    }
  })();
  const results = await Promise.all(slow.map(async ({ kind, result }) => ({ kind, result: await result })));
  await sleep(Math.max(0, 20_000 - (Date.now() - opened)));
  slowDone = true;
  await fast;
  for (const { socket } of preTls) socket.destroy();

  const cutAfter = new Map<string, number[]>();
  const badAnswers: string[] = [];
  for (const { kind, result } of results) {
    if (!cutAfter.has(kind)) cutAfter.set(kind, []);
    // Not cut off within the window: an infinite time, so that no bound below can pass by accident.
    cutAfter.get(kind)!.push(result.outcome === 'deadline' ? Infinity : result.ms);
    const answer = result.response;
    if (result.outcome === 'error') badAnswers.push(`${kind}: ${result.error}`);
    if (answer && !(answer.status >= 400 && typeof JSON.parse(answer.body.toString() || '{}').error === 'string')) {
      badAnswers.push(`${kind}: HTTP ${answer.status} ${answer.body.toString().slice(0, 100)}`);
    }
  }
  const maxFast = Math.max(...latencies);
  const cut = (times: number[]) => times.filter(Number.isFinite);
  for (const [kind, times] of cutAfter) {
    t.comment(`${kind}: ${cut(times).length} of ${times.length} cut off${cut(times).length ? `, after ${(Math.min(...cut(times)) / 1000).toFixed(1)}-${(Math.max(...cut(times)) / 1000).toFixed(1)} s` : ''}`);
  }
  t.comment(`TCP without a TLS handshake: ${preTls.filter((p) => p.closedAfter !== undefined).length}/5 closed within ${((Date.now() - opened) / 1000).toFixed(0)} s`);
  t.comment(`other client: ${latencies.length} reviews, max latency ${Math.round(maxFast)} ms`);

  t.equal(results.length, 50, '50 slow connections were opened');
  for (const [kind, times] of cutAfter) t.equal(cut(times).length, times.length, `every "${kind}" connection is cut off within ${WINDOW_MS / 1000} s`);
  t.same(badAnswers, [], 'a slow client is answered with a JSON error (408) or the connection is closed');
  t.ok(Math.max(...cutAfter.get('idle after the TLS handshake')!) <= 15_000, 'idle connections are closed after ~10 s');
  const trickled = [...cutAfter.get('headers trickled')!, ...cutAfter.get('body trickled')!, ...cutAfter.get('chunked body trickled')!];
  // Found before the fix: a trickling client was only cut off when the server next checked its connections,
  // every 30 s (Node's default connectionsCheckingInterval), so after 10-40 s.
  t.ok(Math.max(...trickled) <= 13_000, `trickling clients are cut off after ~10 s (max ${(Math.max(...trickled) / 1000).toFixed(1)} s)`);
  // Found before the fix: a TCP connection that never completed the TLS handshake was held for TLS's default 120 s.
  t.ok(preTls.every((p) => p.closedAfter !== undefined && p.closedAfter <= 13_000), 'connections that never finish the TLS handshake are closed after ~10 s');
  t.same(fastProblems, [], 'every review of the other client got its verdict');
  t.ok(latencies.length >= 50, `the other client was served throughout (${latencies.length} reviews)`);
  t.ok(maxFast < 2000, `its max latency ${Math.round(maxFast)} ms < 2000 ms while 55 slow connections are open`);
  t.equal(webhook.exit(), undefined, 'the webhook process is still running');
});

t.test('the webhook exits cleanly on SIGTERM after all this', async (t) => {
  t.equal(await webhook.stop(), 0, 'exit code 0');
});
