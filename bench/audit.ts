/**
 * The continuous audit's cost at 100,000 pods in 2,000 namespaces: per informer event (a pod update applied to
 * the cached state with the posture following it, against the same update without it, alternating rounds);
 * a full re-judgement after a mesh-wide change, and the longest slice it holds the event loop; and the delay a
 * review waiting on the event loop sees while events stream in, with the audit on and off (alternating rounds).
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { DEFAULT_CONFIG, policyFor, type Config } from '../src/config/config.js';
import { decodeWorkload } from '../src/engine/decode.js';
import { evaluate } from '../src/engine/evaluate.js';
import type { WorkloadFacts } from '../src/engine/types.js';
import { AuditService } from '../src/server/audit-service.js';
import { buildState } from '../src/state/build-state.js';
import type { MemoryState } from '../src/state/memory-state.js';
import { cluster, peerAuthentication, pod } from './fixtures.js';
import { percentiles, type Percentiles } from './stats.js';

const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config);

export interface AuditBenchResults {
  pods: number;
  namespaces: number;
  /** µs per pod update applied to the state: with the posture following it, and without. */
  perEvent: { withAudit: Percentiles; withoutAudit: Percentiles; rounds: number };
  /** A mesh-wide policy change: every workload re-judged in slices. */
  meshWideChange: { totalMs: number; longestSliceMs: number; slices: number };
  /** µs from when a review was due to when it was answered, while pod events stream in. */
  reviewDelay: { withAudit: Percentiles; withoutAudit: Percentiles; rounds: number; eventsPerSecond: number };
}

function updates(count: number, salt: number): WorkloadFacts[] {
  const out: WorkloadFacts[] = [];
  for (let i = 0; i < count; i++) {
    const n = (i * 7919 + salt) % 2000;
    const object = pod(`team-${n}`, `svc${i % 5}-${i % 50}`, n % 10 !== 0, { rev: String(salt) });
    const decoded = decodeWorkload(object, { apiVersion: 'v1', kind: 'Pod', namespace: `team-${n}`, name: `svc${i % 5}-${i % 50}` }, 'carries');
    if (decoded.ok) out.push(decoded.value);
  }
  return out;
}

function timeEvents(state: MemoryState, events: readonly WorkloadFacts[]): number[] {
  const samples: number[] = [];
  for (const workload of events) {
    const start = performance.now();
    state.upsertWorkload(workload);
    samples.push((performance.now() - start) * 1000);
  }
  return samples;
}

/** Reviews due every millisecond for `ms`, and `eventsPerSecond` pod updates spread over the same time. */
async function reviewDelays(state: MemoryState, ms: number, eventsPerSecond: number, salt: number): Promise<number[]> {
  const review = pod('team-1', 'checkout-1', true);
  const events = updates(Math.round((eventsPerSecond * ms) / 1000), salt);
  const delays: number[] = [];
  const start = performance.now();
  let sent = 0;
  let fed = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const elapsed = now - start;
      const due = Math.floor(elapsed);
      while (sent < due && sent < ms) {
        evaluate({ operation: 'CREATE', object: review, namespace: 'team-1', podJudgement: 'carries' }, state, policy);
        delays.push(performance.now() - (start + sent));
        sent++;
      }
      const eventsDue = Math.min(events.length, Math.floor((elapsed * eventsPerSecond) / 1000));
      while (fed < eventsDue) state.upsertWorkload(events[fed++] as WorkloadFacts);
      if (sent >= ms) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
  return delays;
}

export async function runAudit(quick: boolean): Promise<AuditBenchResults> {
  const namespaces = quick ? 200 : 2000;
  const items = [...cluster(namespaces, 50, namespaces / 2)].map((object, i) => ({ object, source: { file: 'bench', line: i } }));
  const { state } = buildState(items, 'default');
  const logger = pino({ level: 'silent' });
  const rounds = quick ? 2 : 5;
  const perRound = quick ? 2000 : 10_000;
  const withAudit: number[] = [];
  const withoutAudit: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const on of round % 2 === 0 ? [true, false] : [false, true]) {
      const audit = on ? new AuditService(state, policy, 'bench', logger, () => true) : undefined;
      if (audit) audit.report();
      const samples = timeEvents(state, updates(perRound, round * 2 + (on ? 1 : 0)));
      (on ? withAudit : withoutAudit).push(...samples);
      audit?.stop();
    }
  }

  // A mesh-wide STRICT arrives: every namespace is re-judged, in slices between other work.
  const audit = new AuditService(state, policy, 'bench', logger, () => true);
  audit.report();
  const mesh = buildState([{ object: peerAuthentication('istio-system', 'default', 'STRICT'), source: { file: 'bench', line: 0 } }], 'default').state;
  const started = performance.now();
  let longest = 0;
  let slices = 0;
  let last = performance.now();
  for (const strict of mesh.peerAuthentications()) state.upsertPeerAuthentication(strict);
  await new Promise<void>((resolve) => {
    const watch = (): void => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      slices++;
      last = now;
      if (audit.settled) resolve();
      else setImmediate(watch);
    };
    last = performance.now();
    setImmediate(watch);
  });
  const totalMs = performance.now() - started;
  audit.stop();
  state.deletePeerAuthentication('istio-system', 'default');

  const eventsPerSecond = 2000;
  const delayRounds = quick ? 2 : 6;
  const roundMs = quick ? 1000 : 3000;
  const delayOn: number[] = [];
  const delayOff: number[] = [];
  for (let round = 0; round < delayRounds; round++) {
    for (const on of round % 2 === 0 ? [true, false] : [false, true]) {
      const service = on ? new AuditService(state, policy, 'bench', logger, () => true) : undefined;
      service?.report();
      (on ? delayOn : delayOff).push(...(await reviewDelays(state, roundMs, eventsPerSecond, 100 + round * 2 + (on ? 1 : 0))));
      service?.stop();
    }
  }
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    pods: namespaces * 50,
    namespaces,
    perEvent: { withAudit: percentiles(withAudit), withoutAudit: percentiles(withoutAudit), rounds },
    meshWideChange: { totalMs: round1(totalMs), longestSliceMs: round1(longest), slices },
    reviewDelay: { withAudit: percentiles(delayOn.map((x) => x * 1000)), withoutAudit: percentiles(delayOff.map((x) => x * 1000)), rounds: delayRounds, eventsPerSecond },
  };
}
