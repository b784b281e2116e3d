/** `serve --state PATH`: a fixed cluster state read from manifests, exactly as `check` reads them. */
import { buildState } from './build-state.js';
import { loadManifests } from '../manifests/load.js';
import type { MemoryState } from './memory-state.js';
import type { ResourceStatus, StateSource } from './source.js';

export class FileStateSource implements StateSource {
  readonly description: string;
  readonly live = false;
  #state: MemoryState | undefined;
  readonly #paths: readonly string[];
  readonly #defaultNamespace: string;

  constructor(paths: readonly string[], defaultNamespace = 'default') {
    this.#paths = paths;
    this.#defaultNamespace = defaultNamespace;
    this.description = `static manifests (${paths.join(', ')})`;
  }

  get state(): MemoryState {
    if (!this.#state) throw new Error('FileStateSource used before start()');
    return this.#state;
  }

  /** Throws a UserError for unreadable or invalid manifests. */
  async start(): Promise<void> {
    const objects = await loadManifests(this.#paths, async () => '');
    this.#state = buildState(objects, this.#defaultNamespace).state;
  }

  async stop(): Promise<void> {}

  ready(): boolean {
    return this.#state !== undefined;
  }

  status(): Record<string, ResourceStatus> {
    const counts = this.#state?.counts;
    const synced = this.ready();
    return {
      namespaces: { synced, objects: counts?.namespaces ?? 0 },
      workloads: { synced, objects: counts?.workloads ?? 0 },
      peerauthentications: { synced, objects: counts?.peerAuthentications ?? 0 },
    };
  }
}
