/** An in-memory ClusterState, indexed by namespace. Fed by manifests (`check`) or by informers (`serve`). */
import type { InjectionState, InjectorConfig, InjectorWebhookConfiguration } from '../engine/injector.js';
import { mayBeOutsideMesh } from '../engine/mesh.js';
import { labelKeysRead } from '../engine/label-keys.js';
import { indexPolicies, type PolicyIndex } from '../engine/peer-authentication.js';
import type { CallerEvidence, ClusterState, Labels, NamespaceFacts, NodeFacts, PeerAuthenticationFacts, WorkloadFacts } from '../engine/types.js';
import { hashLabels, hashOwner, Interner, sameLabels, sameOwner } from './interner.js';
import { StoredWorkload } from './stored-workload.js';

/** What changed in the state, for whoever keeps something derived from it (the audit's posture). */
export interface StateChanges {
  /** `before`: the facts the workload had until now (undefined when it is new). */
  workload(namespace: string, kind: string, name: string, before: WorkloadFacts | undefined): void;
  /** A namespace appeared, went, or changed its labels or deletion state. */
  namespace(name: string): void;
  /** A PeerAuthentication in this namespace changed. */
  policy(namespace: string): void;
  /** Something every workload's verdict may depend on: the injector's configuration, a node's topology labels. */
  everything(): void;
}

export class MemoryState implements ClusterState {
  /** Told of every change after it is made. */
  changes: StateChanges | undefined;
  /** Who reaches whom in plaintext: set by whoever keeps telemetry and the audit's tallies. */
  callerEvidence: CallerEvidence | undefined;

  callers(): CallerEvidence | undefined {
    return this.callerEvidence;
  }
  readonly #namespaces = new Map<string, NamespaceFacts>();
  readonly #workloads = new Map<string, Map<string, WorkloadFacts>>();
  /** Per namespace, the workloads whose membership depends on namespace labels (see mayBeOutsideMesh). */
  readonly #candidates = new Map<string, Map<string, WorkloadFacts>>();
  readonly #policies = new Map<string, PeerAuthenticationFacts>();
  readonly #nodes = new Map<string, NodeFacts>();
  /** The pods of one controller carry equal labels and the same owner: each is held once. */
  readonly #labelSets = new Interner<Labels>(hashLabels, sameLabels);
  readonly #owners = new Interner<{ kind: string; name: string }>(hashOwner, sameOwner);
  /** Built on the first PeerAuthentication review after a policy changed. */
  #policyIndex: PolicyIndex | undefined;
  readonly #injectorWebhooks = new Map<string, InjectorWebhookConfiguration>();
  readonly #injectorConfigs = new Map<string, InjectorConfig>();
  #injection: InjectionState | undefined;
  /** Built when first asked after the injector changed. */
  #labelKeys: ReadonlySet<string> | undefined;

  namespace(name: string): NamespaceFacts | undefined {
    return this.#namespaces.get(name);
  }

  *namespaceNames(): Iterable<string> {
    yield* this.#namespaces.keys();
    for (const ns of this.#workloads.keys()) if (!this.#namespaces.has(ns)) yield ns;
  }

  workload(namespace: string, kind: string, name: string): WorkloadFacts | undefined {
    return this.#workloads.get(namespace)?.get(workloadKey(kind, name));
  }

  workloads(namespace: string): Iterable<WorkloadFacts> {
    return this.#workloads.get(namespace)?.values() ?? [];
  }

  meshCandidates(namespace: string): Iterable<WorkloadFacts> {
    return this.#candidates.get(namespace)?.values() ?? [];
  }

  peerAuthentications(): Iterable<PeerAuthenticationFacts> {
    return this.#policies.values();
  }

  policyIndex(rootNamespace: string): PolicyIndex {
    if (this.#policyIndex?.rootNamespace !== rootNamespace) this.#policyIndex = indexPolicies(this.#policies.values(), rootNamespace);
    return this.#policyIndex;
  }

  node(name: string): NodeFacts | undefined {
    return this.#nodes.get(name);
  }

  upsertNode(node: NodeFacts): void {
    const before = this.#nodes.get(node.name);
    this.#nodes.set(node.name, node);
    if (!before || !sameLabels(before.labels, node.labels)) this.changes?.everything();
  }

  deleteNode(name: string): void {
    if (this.#nodes.delete(name)) this.changes?.everything();
  }

  upsertNamespace(namespace: NamespaceFacts): void {
    const before = this.#namespaces.get(namespace.name);
    this.#namespaces.set(namespace.name, namespace);
    if (!before || before.terminating !== namespace.terminating || !sameLabels(before.labels, namespace.labels)) this.changes?.namespace(namespace.name);
  }

  deleteNamespace(name: string): void {
    if (this.#namespaces.delete(name)) this.changes?.namespace(name);
  }

  upsertWorkload(facts: WorkloadFacts): void {
    // A stored workload's packed fields are getters: `{ ...stored }` drops them. Copy one with toJSON().
    if (typeof facts.kind !== 'string') throw new TypeError('upsertWorkload: facts without a kind (a spread of a stored workload? copy it with toJSON())');
    const workload = new StoredWorkload(facts);
    const key = workloadKey(workload.kind, workload.name);
    const before = this.#workloads.get(workload.namespace)?.get(key);
    workload.labels = this.#labelSets.acquire(workload.labels);
    if (workload.owner) workload.owner = this.#owners.acquire(workload.owner);
    if (before) this.#release(before);
    setIn(this.#workloads, workload.namespace, key, workload);
    if (mayBeOutsideMesh(workload)) setIn(this.#candidates, workload.namespace, key, workload);
    else deleteIn(this.#candidates, workload.namespace, key);
    this.changes?.workload(workload.namespace, workload.kind, workload.name, before);
  }

  deleteWorkload(namespace: string, kind: string, name: string): void {
    const key = workloadKey(kind, name);
    const before = this.#workloads.get(namespace)?.get(key);
    deleteIn(this.#workloads, namespace, key);
    deleteIn(this.#candidates, namespace, key);
    if (before) {
      this.#release(before);
      this.changes?.workload(namespace, kind, name, before);
    }
  }

  #release(workload: WorkloadFacts): void {
    this.#labelSets.release(workload.labels);
    if (workload.owner) this.#owners.release(workload.owner);
  }

  /** Distinct label sets and owners the workloads share. */
  get shared(): { labelSets: number; owners: number } {
    return { labelSets: this.#labelSets.size, owners: this.#owners.size };
  }

  upsertPeerAuthentication(policy: PeerAuthenticationFacts): void {
    this.#policies.set(`${policy.namespace}/${policy.name}`, policy);
    this.#policyIndex = undefined;
    this.changes?.policy(policy.namespace);
  }

  deletePeerAuthentication(namespace: string, name: string): void {
    if (!this.#policies.delete(`${namespace}/${name}`)) return;
    this.#policyIndex = undefined;
    this.changes?.policy(namespace);
  }

  injection(): InjectionState {
    this.#injection ??= {
      configurations: [...this.#injectorWebhooks.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      configs: [...this.#injectorConfigs.values()],
    };
    return this.#injection;
  }

  upsertInjectorWebhooks(configuration: InjectorWebhookConfiguration): void {
    const before = this.#injectorWebhooks.get(configuration.name);
    this.#injectorWebhooks.set(configuration.name, configuration);
    if (JSON.stringify(before) !== JSON.stringify(configuration)) this.#injectionChanged();
  }

  deleteInjectorWebhooks(name: string): void {
    if (this.#injectorWebhooks.delete(name)) this.#injectionChanged();
  }

  upsertInjectorConfig(config: InjectorConfig): void {
    const key = `${config.namespace}/${config.name}`;
    const before = this.#injectorConfigs.get(key);
    this.#injectorConfigs.set(key, config);
    if (JSON.stringify(before) !== JSON.stringify(config)) this.#injectionChanged();
  }

  deleteInjectorConfig(namespace: string, name: string): void {
    if (this.#injectorConfigs.delete(`${namespace}/${name}`)) this.#injectionChanged();
  }

  /** Every label key the engine may read from a reviewed object in this state (a new Set after each change of them). */
  labelKeysRead(): ReadonlySet<string> {
    this.#labelKeys ??= labelKeysRead(this.injection());
    return this.#labelKeys;
  }

  #injectionChanged(): void {
    this.#injection = undefined;
    this.#labelKeys = undefined;
    this.changes?.everything();
  }

  get counts(): { namespaces: number; workloads: number; peerAuthentications: number } {
    let workloads = 0;
    for (const byName of this.#workloads.values()) workloads += byName.size;
    return { namespaces: this.#namespaces.size, workloads, peerAuthentications: this.#policies.size };
  }
}

/** A workload's key within its namespace: the name alone for Pods (a Pod name has no "/"), kind/name for controllers. */
function workloadKey(kind: string, name: string): string {
  return kind === 'Pod' ? name : `${kind}/${name}`;
}

function setIn(index: Map<string, Map<string, WorkloadFacts>>, namespace: string, key: string, workload: WorkloadFacts): void {
  let byName = index.get(namespace);
  if (!byName) index.set(namespace, (byName = new Map()));
  byName.set(key, workload);
}

function deleteIn(index: Map<string, Map<string, WorkloadFacts>>, namespace: string, key: string): void {
  const byName = index.get(namespace);
  byName?.delete(key);
  if (byName?.size === 0) index.delete(namespace);
}

