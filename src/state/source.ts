/** Where the webhook's cluster state comes from: manifests on disk, or list-watch against a cluster. */
import type { MemoryState } from './memory-state.js';

export interface ResourceStatus {
  synced: boolean;
  objects: number;
}

export interface StateSource {
  readonly state: MemoryState;
  /** True when the state mirrors a live cluster: something missing from it may simply not have arrived yet. */
  readonly live: boolean;
  /** Live sources: resolves true once the namespace is in the state, false if it has not arrived within the time. */
  namespaceArrival?(name: string, timeoutMs: number, peer?: string): Promise<boolean>;
  /** True once every resource has been listed and is being watched. */
  ready(): boolean;
  /** Per-resource sync state and object counts, for /readyz and metrics. */
  status(): Record<string, ResourceStatus>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A short description for the log. */
  readonly description: string;
}
