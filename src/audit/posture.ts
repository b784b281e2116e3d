/**
 * The mesh's posture kept current as the cluster state changes (SPEC 2.5). A workload change re-judges that
 * workload alone; a change that can move many verdicts at once (a namespace's labels, a PeerAuthentication, the
 * injector, a node's topology) marks whole namespaces stale, and settle() re-judges them a slice at a time, so
 * no event costs a full scan and no scan blocks the event loop for long. No I/O and no clock: the caller
 * decides when settle() runs and when it stops.
 */
import { compareSubjects } from '../engine/findings.js';
import { meshContext } from '../engine/mesh.js';
import { topologyOf } from '../engine/rules/strict-requires-mesh.js';
import type { ClusterState, NamespaceFacts, Policy, SubjectRef, WorkloadFacts } from '../engine/types.js';
import type { StateChanges } from '../state/memory-state.js';
import type { Coverage } from './report.js';
import { judgeWorkload, type PostureContext, type WorkloadPosture } from './workload-posture.js';

/** What the posture needs from the state beyond ClusterState: one workload by identity. */
export interface AuditedState extends ClusterState {
  workload(namespace: string, kind: string, name: string): WorkloadFacts | undefined;
}

export interface NamespaceTally {
  pods: Coverage;
  templates: Coverage;
  ownPolicy: number;
  /** Workloads outside the mesh under STRICT (strict-requires-mesh). */
  strict: number;
  /** Workloads outside the mesh, hostNetwork aside (pod-requires-mesh). */
  outside: number;
}

interface NamespaceRecords {
  tally: NamespaceTally;
  /** The walk through the namespace's workloads that re-judges every one, while one is under way. */
  walk?: Iterator<WorkloadFacts>;
}

const coverage = (): Coverage => ({ total: 0, inMesh: 0, outOfMesh: 0, hostNetwork: 0 });
const emptyTally = (): NamespaceTally => ({ pods: coverage(), templates: coverage(), ownPolicy: 0, strict: 0, outside: 0 });

function count(tally: NamespaceTally, workload: WorkloadFacts, posture: WorkloadPosture, sign: 1 | -1): void {
  const side = workload.kind === 'Pod' ? tally.pods : tally.templates;
  side.total += sign;
  if (posture.inMesh) side.inMesh += sign;
  else side.outOfMesh += sign;
  if (posture.hostNetwork) side.hostNetwork += sign;
  if (posture.ownPolicy) tally.ownPolicy += sign;
  if (posture.strict) tally.strict += sign;
  if (posture.outside && !posture.hostNetwork) tally.outside += sign;
}

/** Finished pods are recorded as judged, counting nowhere. */
const FINISHED = null;

export class MeshPosture implements StateChanges {
  readonly #state: AuditedState;
  readonly #policy: Policy;
  readonly #namespaces = new Map<string, NamespaceRecords>();
  /**
   * Each workload's posture, keyed by the facts object the state holds: a change replaces that object, so the
   * old record goes with it and no key string is kept per workload.
   */
  #judged = new WeakMap<WorkloadFacts, WorkloadPosture | typeof FINISHED>();
  /** Namespaces waiting for a walk, in the order settle() takes them. */
  readonly #stale = new Set<string>();
  #everythingStale = true;
  #context: PostureContext | undefined;
  /** Most workloads are in the mesh with the same mode from the same policy: one shared posture for each such. */
  #shared = new Map<string, WorkloadPosture>();

  constructor(state: AuditedState, policy: Policy) {
    this.#state = state;
    this.#policy = policy;
  }

  /** Istio's view of policies, injector and topology, rebuilt only after something it holds changed. */
  #contextNow(): PostureContext {
    if (!this.#context) {
      this.#context = {
        index: this.#state.policyIndex(this.#policy.rootNamespace),
        topology: topologyOf(this.#state, this.#policy),
        mesh: meshContext(this.#state, this.#policy),
      };
      this.#shared = new Map();
    }
    return this.#context;
  }

  #records(namespace: string): NamespaceRecords {
    let records = this.#namespaces.get(namespace);
    if (!records) this.#namespaces.set(namespace, (records = { tally: emptyTally() }));
    return records;
  }

  #forget(records: NamespaceRecords, workload: WorkloadFacts | undefined): void {
    if (!workload) return;
    const posture = this.#judged.get(workload);
    if (posture) count(records.tally, workload, posture, -1);
    this.#judged.delete(workload);
  }

  #judge(records: NamespaceRecords, namespace: NamespaceFacts | undefined, workload: WorkloadFacts): void {
    this.#forget(records, workload);
    const context = this.#contextNow();
    let posture = judgeWorkload(workload, namespace, context);
    if (posture?.inMesh) {
      const key = `${posture.mode}|${posture.ownPolicy}|${posture.hostNetwork}|${posture.modeSource ? `${posture.modeSource.namespace}/${posture.modeSource.name}` : ''}`;
      const shared = this.#shared.get(key);
      if (shared) posture = shared;
      else this.#shared.set(key, posture);
    }
    this.#judged.set(workload, posture ?? FINISHED);
    if (posture) count(records.tally, workload, posture, 1);
  }

  workload(namespace: string, kind: string, name: string, before: WorkloadFacts | undefined): void {
    const records = this.#records(namespace);
    this.#forget(records, before);
    // A namespace waiting for a walk that has not begun will be judged whole anyway (as the first list is).
    if (this.#everythingStale || (this.#stale.has(namespace) && !records.walk)) return;
    const workload = this.#state.workload(namespace, kind, name);
    if (workload) this.#judge(records, this.#state.namespace(namespace), workload);
  }

  namespace(name: string): void {
    this.#markStale(name);
  }

  policy(namespace: string): void {
    this.#context = undefined;
    if (namespace === this.#policy.rootNamespace) this.everything();
    else this.#markStale(namespace);
  }

  everything(): void {
    this.#context = undefined;
    this.#everythingStale = true;
  }

  #markStale(namespace: string): void {
    const records = this.#records(namespace);
    delete records.walk;
    this.#stale.add(namespace);
  }

  /** True when every workload has been judged against the latest state. */
  get settled(): boolean {
    return !this.#everythingStale && this.#stale.size === 0;
  }

  /**
   * Re-judge the workloads of stale namespaces until none is left (true) or `stop()` says to pause (false).
   * `stop` is asked every `slice` workloads. A workload that changes meanwhile is judged by its event, and may
   * be judged again by the walk: the same state gives the same posture.
   */
  settle(stop: () => boolean = () => false, slice = 64): boolean {
    if (this.#everythingStale) {
      this.#everythingStale = false;
      for (const name of this.#state.namespaceNames()) this.#markStale(name);
      for (const name of this.#namespaces.keys()) this.#markStale(name);
    }
    let budget = slice;
    for (const name of this.#stale) {
      const records = this.#records(name);
      const namespace = this.#state.namespace(name);
      records.walk ??= this.#state.workloads(name)[Symbol.iterator]();
      for (let next = records.walk.next(); !next.done; next = records.walk.next()) {
        this.#judge(records, namespace, next.value);
        if (--budget === 0) {
          budget = slice;
          if (stop()) return false;
        }
      }
      delete records.walk;
      this.#stale.delete(name);
      if (records.tally.pods.total + records.tally.templates.total === 0 && !namespace) this.#namespaces.delete(name);
    }
    return true;
  }

  /** Namespaces that have workloads or exist in the state, with their tallies (as of the last settle). */
  *tallies(): Generator<[string, NamespaceTally]> {
    for (const [name, records] of this.#namespaces) yield [name, records.tally];
    for (const name of this.#state.namespaceNames()) if (!this.#namespaces.has(name)) yield [name, emptyTally()];
  }

  /** Every judged workload of a namespace with its posture (finished ones aside). */
  *judged(namespace: string): Generator<[WorkloadFacts, WorkloadPosture]> {
    for (const workload of this.#state.workloads(namespace)) {
      const posture = this.#judged.get(workload);
      if (posture) yield [workload, posture];
    }
  }

  /** Workloads outside the mesh (hostNetwork aside) in the namespaces `checked` accepts: the count and the first `limit`, sorted. */
  outside(limit: number, checked: (namespace: string) => boolean): { count: number; first: SubjectRef[] } {
    let count = 0;
    const first: SubjectRef[] = [];
    const names = [...this.#namespaces.keys()].filter((name) => checked(name) && (this.#namespaces.get(name)?.tally.outside ?? 0) > 0).sort();
    for (const name of names) {
      count += (this.#namespaces.get(name) as NamespaceRecords).tally.outside;
      if (first.length >= limit) continue;
      const here: SubjectRef[] = [];
      for (const [workload, posture] of this.judged(name)) {
        if (posture.outside && !posture.hostNetwork) here.push({ kind: workload.kind, namespace: name, name: workload.name });
      }
      first.push(...here.sort(compareSubjects).slice(0, limit - first.length));
    }
    return { count, first };
  }

  get context(): PostureContext {
    return this.#contextNow();
  }
}
