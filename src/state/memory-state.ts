/** An in-memory ClusterState, indexed by namespace. Fed by manifests (`check`) or by informers (`serve`). */
import type { ClusterState, NamespaceFacts, PeerAuthenticationFacts, WorkloadFacts } from '../engine/types.js';

export class MemoryState implements ClusterState {
  readonly #namespaces = new Map<string, NamespaceFacts>();
  readonly #workloads = new Map<string, Map<string, WorkloadFacts>>();
  readonly #policies = new Map<string, PeerAuthenticationFacts>();

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

  peerAuthentications(): Iterable<PeerAuthenticationFacts> {
    return this.#policies.values();
  }

  upsertNamespace(namespace: NamespaceFacts): void {
    this.#namespaces.set(namespace.name, namespace);
  }

  deleteNamespace(name: string): void {
    this.#namespaces.delete(name);
  }

  upsertWorkload(workload: WorkloadFacts): void {
    let byName = this.#workloads.get(workload.namespace);
    if (!byName) this.#workloads.set(workload.namespace, (byName = new Map()));
    byName.set(`${workload.kind}/${workload.name}`, workload);
  }

  deleteWorkload(namespace: string, kind: string, name: string): void {
    const byName = this.#workloads.get(namespace);
    byName?.delete(`${kind}/${name}`);
    if (byName?.size === 0) this.#workloads.delete(namespace);
  }

  upsertPeerAuthentication(policy: PeerAuthenticationFacts): void {
    this.#policies.set(`${policy.namespace}/${policy.name}`, policy);
  }

  deletePeerAuthentication(namespace: string, name: string): void {
    this.#policies.delete(`${namespace}/${name}`);
  }

  get counts(): { namespaces: number; workloads: number; peerAuthentications: number } {
    let workloads = 0;
    for (const byName of this.#workloads.values()) workloads += byName.size;
    return { namespaces: this.#namespaces.size, workloads, peerAuthentications: this.#policies.size };
  }
}
