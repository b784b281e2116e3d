/**
 * The live cluster's objects as context for `check`: a file's object replaces the live object of the same
 * identity (group, kind, namespace, name), and a live object that cannot be read is skipped with a note
 * rather than failing the run (the cluster is not the user's input).
 */
import { groupOf, identify } from '../engine/decode.js';
import { UserError } from '../errors.js';
import type { SourcedObject } from '../manifests/load.js';
import { buildState } from '../state/build-state.js';
import type { LiveInput } from './check.js';

/** Kinds without a namespace among those check reads (a file's object of these kinds gets no -n namespace). */
const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

function identityKey(object: Record<string, unknown>, defaultNamespace: string): string | undefined {
  const id = identify(object);
  if (!id.ok) return undefined;
  const namespace = CLUSTER_SCOPED.has(id.value.kind) ? '' : (id.value.namespace ?? defaultNamespace);
  return `${groupOf(id.value.apiVersion)}/${id.value.kind}/${namespace}/${id.value.name}`;
}

function describe(object: Record<string, unknown>): string {
  const id = identify(object);
  if (!id.ok) return 'an object';
  return `${id.value.kind} ${id.value.namespace ? `${id.value.namespace}/` : ''}${id.value.name}`;
}

export interface LiveContext {
  /** The live objects that enter the state. */
  used: SourcedObject[];
  /** Live objects a file replaced, e.g. "Namespace shop". */
  overridden: string[];
  skipped: number;
  notes: string[];
  isLive: (item: SourcedObject) => boolean;
}

export function liveContext(files: readonly SourcedObject[], live: LiveInput | undefined, defaultNamespace: string): LiveContext {
  if (!live) return { used: [], overridden: [], skipped: 0, notes: [], isLive: () => false };
  const fromFiles = new Set<string>();
  for (const item of files) {
    const key = identityKey(item.object, defaultNamespace);
    if (key) fromFiles.add(key);
  }
  const used: SourcedObject[] = [];
  const overridden: string[] = [];
  const notes = [...(live.notes ?? [])];
  let skipped = 0;
  for (const item of live.objects) {
    const key = identityKey(item.object, defaultNamespace);
    if (key && fromFiles.has(key)) {
      overridden.push(describe(item.object));
      continue;
    }
    // The same builder as for the files, one object at a time: what it refuses is skipped, not fatal.
    try {
      buildState([item], defaultNamespace);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      skipped += 1;
      const what = describe(item.object);
      const reason = error.message.replace(/^.*?:\d+: /, '').replace(`${what}: `, '');
      notes.push(`skipped ${what} from ${live.source}: ${reason}`);
      continue;
    }
    used.push(item);
  }
  const liveItems = new Set<SourcedObject>(used);
  return { used, overridden: overridden.sort(), skipped, notes, isLive: (item) => liveItems.has(item) };
}
