/**
 * The mesh's posture kept current as the cluster state changes (SPEC 2.5). A workload change re-judges that
 * workload alone; a change that can move many verdicts at once (a namespace's labels, a PeerAuthentication, the
 * injector, a node's topology) marks whole namespaces stale, and settle() re-judges them a slice at a time, so
 * no event costs a full scan and no scan blocks the event loop for long. No I/O and no clock: the caller
 * decides when settle() runs and when it stops.
 */
import { meshContext } from '../engine/mesh.js';
import { topologyOf } from '../engine/rules/strict-requires-mesh.js';
import { compareSubjects } from '../engine/findings.js';
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

interface Judged {
  posture: WorkloadPosture | undefined;
  generation: number;
}

interface NamespaceRecords {
  workloads: Map<string, Judged>;
  tally: NamespaceTally;
  /** Bumped when every workload of the namespace must be judged again; a record older than it is stale. */
  generation: number;
  /** The walk through the namespace's workloads that re-judges stale ones, while one is under way. */
  walk?: Iterator<WorkloadFacts>;
}

const coverage = (): Coverage => ({ total: 0, inMesh: 0, outOfMesh: 0, hostNetwork: 0 });
const emptyTally = (): NamespaceTally => ({ pods: coverage(), templates: coverage(), ownPolicy: 0, strict: 0, outside: 0 });

function count(tally: NamespaceTally, workload: { kind: string }, posture: WorkloadPosture | undefined, sign: 1 | -1): void {
  if (!posture) return;
  const side = workload.kind === 'Pod' ? tally.pods : tally.templates;
  side.total += sign;
  if (posture.inMesh) side.inMesh += sign;
  else side.outOfMesh += sign;
  if (posture.hostNetwork) side.hostNetwork += sign;
  if (posture.ownPolicy) tally.ownPolicy += sign;
  if (posture.strict) tally.strict += sign;
  if (posture.outside && !posture.hostNetwork) tally.outside += sign;
}

const keyOf = (kind: string, name: string): string => `${kind}/${name}`;

export class MeshPosture implements StateChanges {
  readonly #state: AuditedState;
  readonly #policy: Policy;
  readonly #namespaces = new Map<string, NamespaceRecords>();
  /** Namespaces with stale records, in the order settle() takes them. */
  readonly #stale = new Set<string>();
  #everythingStale = true;
  #context: PostureContext | undefined;

  constructor(state: AuditedState, policy: Policy) {
    this.#state = state;
    this.#policy = policy;
  }

  /** Istio's view of policies, injector and topology, rebuilt only after something it holds changed. */
  #contextNow(): PostureContext {
    this.#context ??= {
      index: this.#state.policyIndex(this.#policy.rootNamespace),
      topology: topologyOf(this.#state, this.#policy),
      mesh: meshContext(this.#state, this.#policy),
    };
    return this.#context;
  }

  #records(namespace: string): NamespaceRecords {
    let records = this.#namespaces.get(namespace);
    if (!records) this.#namespaces.set(namespace, (records = { workloads: new Map(), tally: emptyTally(), generation: 0 }));
    return records;
  }

  #judge(records: NamespaceRecords, namespace: NamespaceFacts | undefined, kind: string, name: string, workload: WorkloadFacts | undefined): void {
    const key = keyOf(kind, name);
    const before = records.workloads.get(key);
    if (before) count(records.tally, { kind }, before.posture, -1);
    if (!workload) {
      records.workloads.delete(key);
      return;
    }
    const posture = judgeWorkload(workload, namespace, this.#contextNow());
    records.workloads.set(key, { posture, generation: records.generation });
    count(records.tally, { kind }, posture, 1);
  }

  workload(namespace: string, kind: string, name: string): void {
    // A namespace waiting for a walk that has not begun will be judged whole anyway (as the first list is).
    if (this.#everythingStale) return;
    const records = this.#records(namespace);
    if (this.#stale.has(namespace) && !records.walk) return;
    this.#judge(records, this.#state.namespace(namespace), kind, name, this.#state.workload(namespace, kind, name));
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
    records.generation++;
    delete records.walk;
    this.#stale.add(namespace);
  }

  /** Workload records not yet judged against the latest state, counted by namespace (cheap: no walk). */
  get settled(): boolean {
    return !this.#everythingStale && this.#stale.size === 0;
  }

  /**
   * Re-judge stale workloads until none is left (true) or `stop()` says to pause (false). `stop` is asked
   * every `slice` workloads.
   */
  settle(stop: () => boolean = () => false, slice = 256): boolean {
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
        const workload = next.value;
        const current = records.workloads.get(keyOf(workload.kind, workload.name));
        if (current?.generation !== records.generation) this.#judge(records, namespace, workload.kind, workload.name, workload);
        if (--budget === 0) {
          budget = slice;
          if (stop()) return false;
        }
      }
      delete records.walk;
      // Records the walk did not reach belong to workloads that are gone.
      for (const [key, judged] of records.workloads) {
        if (judged.generation === records.generation) continue;
        count(records.tally, { kind: key.slice(0, key.indexOf('/')) }, judged.posture, -1);
        records.workloads.delete(key);
      }
      this.#stale.delete(name);
      if (records.workloads.size === 0 && !this.#state.namespace(name)) this.#namespaces.delete(name);
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
    const records = this.#namespaces.get(namespace);
    if (!records) return;
    for (const [key, judged] of records.workloads) {
      if (!judged.posture) continue;
      const slash = key.indexOf('/');
      const workload = this.#state.workload(namespace, key.slice(0, slash), key.slice(slash + 1));
      if (workload) yield [workload, judged.posture];
    }
  }

  /** Workloads outside the mesh (hostNetwork aside) in the namespaces `checked` accepts: the count and the first `limit`, sorted. */
  outside(limit: number, checked: (namespace: string) => boolean): { count: number; first: SubjectRef[] } {
    let count = 0;
    const first: SubjectRef[] = [];
    const names = [...this.#namespaces.keys()].filter((name) => checked(name) && (this.#namespaces.get(name)?.tally.outside ?? 0) > 0).sort();
    for (const name of names) {
      const records = this.#namespaces.get(name) as NamespaceRecords;
      count += records.tally.outside;
      if (first.length >= limit) continue;
      const here: SubjectRef[] = [];
      for (const [key, judged] of records.workloads) {
        if (!judged.posture?.outside || judged.posture.hostNetwork) continue;
        const slash = key.indexOf('/');
        here.push({ kind: key.slice(0, slash), namespace: name, name: key.slice(slash + 1) });
      }
      first.push(...here.sort(compareSubjects).slice(0, limit - first.length));
    }
    return { count, first };
  }

  get context(): PostureContext {
    return this.#contextNow();
  }
}
