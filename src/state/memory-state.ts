/** An in-memory ClusterState, indexed by namespace. Fed by manifests (`check`) or by informers (`serve`). */
import type { InjectionState, InjectorConfig, InjectorWebhookConfiguration } from '../engine/injector.js';
import { mayBeOutsideMesh } from '../engine/mesh.js';
import { indexPolicies, type PolicyIndex } from '../engine/peer-authentication.js';
import type { ClusterState, NamespaceFacts, NodeFacts, PeerAuthenticationFacts, WorkloadFacts } from '../engine/types.js';

export class MemoryState implements ClusterState {
  readonly #namespaces = new Map<string, NamespaceFacts>();
  readonly #workloads = new Map<string, Map<string, WorkloadFacts>>();
  /** Per namespace, the workloads whose membership depends on namespace labels (see mayBeOutsideMesh). */
  readonly #candidates = new Map<string, Map<string, WorkloadFacts>>();
  readonly #policies = new Map<string, PeerAuthenticationFacts>();
  readonly #nodes = new Map<string, NodeFacts>();
  /** Built on the first PeerAuthentication review after a policy changed. */
  #policyIndex: PolicyIndex | undefined;
  readonly #injectorWebhooks = new Map<string, InjectorWebhookConfiguration>();
  readonly #injectorConfigs = new Map<string, InjectorConfig>();
  #injection: InjectionState | undefined;

  namespace(name: string): NamespaceFacts | undefined {
    return this.#namespaces.get(name);
  }

  *namespaceNames(): Iterable<string> {
    yield* this.#namespaces.keys();
    for (const ns of this.#workloads.keys()) if (!this.#namespaces.has(ns)) yield ns;
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
    this.#nodes.set(node.name, node);
  }

  deleteNode(name: string): void {
    this.#nodes.delete(name);
  }

  upsertNamespace(namespace: NamespaceFacts): void {
    this.#namespaces.set(namespace.name, namespace);
  }

  deleteNamespace(name: string): void {
    this.#namespaces.delete(name);
  }

  upsertWorkload(workload: WorkloadFacts): void {
    const key = `${workload.kind}/${workload.name}`;
    setIn(this.#workloads, workload.namespace, key, workload);
    if (mayBeOutsideMesh(workload)) setIn(this.#candidates, workload.namespace, key, workload);
    else deleteIn(this.#candidates, workload.namespace, key);
  }

  deleteWorkload(namespace: string, kind: string, name: string): void {
    const key = `${kind}/${name}`;
    deleteIn(this.#workloads, namespace, key);
    deleteIn(this.#candidates, namespace, key);
  }

  upsertPeerAuthentication(policy: PeerAuthenticationFacts): void {
    this.#policies.set(`${policy.namespace}/${policy.name}`, policy);
    this.#policyIndex = undefined;
  }

  deletePeerAuthentication(namespace: string, name: string): void {
    if (this.#policies.delete(`${namespace}/${name}`)) this.#policyIndex = undefined;
  }

  injection(): InjectionState {
    this.#injection ??= {
      configurations: [...this.#injectorWebhooks.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      configs: [...this.#injectorConfigs.values()],
    };
    return this.#injection;
  }

  upsertInjectorWebhooks(configuration: InjectorWebhookConfiguration): void {
    this.#injectorWebhooks.set(configuration.name, configuration);
    this.#injection = undefined;
  }

  deleteInjectorWebhooks(name: string): void {
    if (this.#injectorWebhooks.delete(name)) this.#injection = undefined;
  }

  upsertInjectorConfig(config: InjectorConfig): void {
    this.#injectorConfigs.set(`${config.namespace}/${config.name}`, config);
    this.#injection = undefined;
  }

  deleteInjectorConfig(namespace: string, name: string): void {
    if (this.#injectorConfigs.delete(`${namespace}/${name}`)) this.#injection = undefined;
  }

  get counts(): { namespaces: number; workloads: number; peerAuthentications: number } {
    let workloads = 0;
    for (const byName of this.#workloads.values()) workloads += byName.size;
    return { namespaces: this.#namespaces.size, workloads, peerAuthentications: this.#policies.size };
  }
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
