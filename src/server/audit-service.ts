/**
 * The continuous audit in `serve` (SPEC 2.5): the posture follows every change of the cached state, and the
 * namespaces a change made stale are re-judged in the background, a few milliseconds at a time, between reviews.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { buildReport, driftCounts, namespaceMode, observedCallers, possibleCallers, type ReportInputs } from '../audit/build-report.js';
import { MeshPosture, type NamespaceTally } from '../audit/posture.js';
import type { AuditReport, EffectiveMode } from '../audit/report.js';
import type { CallerEvidence, Policy } from '../engine/types.js';
import type { PrometheusPlaintextSource } from '../telemetry/prometheus-source.js';
import type { MemoryState } from '../state/memory-state.js';

/** The longest the event loop is held by one slice of re-judging. */
const SLICE_MS = 4;

export interface NamespaceFigures {
  name: string;
  tally: NamespaceTally;
  mode: EffectiveMode;
  exempt: boolean;
}

export class AuditService {
  readonly #state: MemoryState;
  readonly #policy: Policy;
  readonly #posture: MeshPosture;
  readonly #source: string;
  #scheduled: NodeJS.Immediate | undefined;
  #stopped = false;
  /** The figures as of the last change, for the scrapes until the next one. */
  #figures: ReturnType<AuditService['figures']> | undefined;
  #logSettled: (() => void) | undefined;
  readonly #outside: NonNullable<CallerEvidence['outside']>;
  #telemetry: PrometheusPlaintextSource | undefined;

  readonly #ready: () => boolean;

  /** `ready`: the cache has synced, so a settled posture is the whole cluster's. */
  constructor(state: MemoryState, policy: Policy, source: string, logger: Logger, ready: () => boolean) {
    this.#ready = ready;
    this.#state = state;
    this.#policy = policy;
    this.#source = source;
    const posture = (this.#posture = new MeshPosture(state, policy));
    const later = (): void => {
      this.#figures = undefined;
      this.#schedule();
    };
    state.changes = {
      workload: (namespace, kind, name, before) => {
        this.#figures = undefined;
        posture.workload(namespace, kind, name, before);
      },
      namespace: (name) => (posture.namespace(name), later()),
      policy: (namespace) => (posture.policy(namespace), later()),
      everything: () => (posture.everything(), later()),
    };
    const startedAt = performance.now();
    this.#logSettled = () => {
      this.#logSettled = undefined;
      logger.info({ ms: Math.round(performance.now() - startedAt) }, 'audit: every workload in the cache judged');
    };
    this.#outside = (limit) => posture.outside(limit, (ns) => !policy.exempt.has(ns));
    state.callerEvidence = { outside: this.#outside };
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      const deadline = performance.now() + SLICE_MS;
      this.#figures = undefined;
      if (!this.#posture.settle(() => performance.now() > deadline)) this.#schedule();
      else if (this.#logSettled && this.#ready()) this.#logSettled();
    });
  }

  /** Name the callers from Istio's telemetry, refreshed in the background by `telemetry`, never read per review. */
  useTelemetry(telemetry: PrometheusPlaintextSource): void {
    this.#telemetry = telemetry;
    const outside = this.#outside;
    this.#state.callerEvidence = {
      outside,
      get observed() {
        return telemetry.current()?.traffic;
      },
    };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#state.changes = undefined;
    this.#state.callerEvidence = undefined;
  }

  /** True when every workload has been judged against the latest state. */
  get settled(): boolean {
    return this.#posture.settled;
  }

  /** The per-namespace figures as they stand (cheap: the tallies, no walk over workloads). */
  figures(): { namespaces: NamespaceFigures[]; drift: Map<string, number> } {
    if (this.#figures) return this.#figures;
    const namespaces: NamespaceFigures[] = [];
    for (const [name, tally] of this.#posture.tallies()) {
      namespaces.push({ name, tally, mode: namespaceMode(this.#posture, name), exempt: this.#policy.exempt.has(name) });
    }
    this.#figures = { namespaces, drift: driftCounts(this.#state, this.#policy, this.#posture) };
    return this.#figures;
  }

  /** The whole report; finishes re-judging first. */
  report(): AuditReport {
    this.#posture.settle();
    const inputs: ReportInputs = { state: this.#state, policy: this.#policy, posture: this.#posture, source: this.#source };
    if (this.#telemetry) inputs.callers = callersFrom(this.#telemetry);
    return { ...buildReport(inputs), generatedAt: new Date().toISOString() };
  }
}

/** The report's callers from the last telemetry snapshot; before the first one, the possible callers and why. */
function callersFrom(telemetry: PrometheusPlaintextSource): NonNullable<ReportInputs['callers']> {
  const snapshot = telemetry.current();
  const failure = telemetry.lastError;
  const error = failure && (!snapshot || failure.at > snapshot.takenAt) ? failure.message : undefined;
  if (snapshot) return observedCallers(snapshot.traffic, new Date(snapshot.takenAt).toISOString(), error);
  return (strict, outside) => ({ ...possibleCallers(strict, outside), error: error ?? 'telemetry not read yet' });
}
