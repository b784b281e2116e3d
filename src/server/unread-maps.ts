/**
 * Cutting a large review's label and annotation maps down to the keys the engine reads, in the parse worker, so
 * that a review carrying hundreds of thousands of labels reaches the event loop as a few dozen. The verdict is
 * the same: the engine reads these maps by key only (engine/label-keys.ts). What was cut is kept as one entry
 * under a key no Kubernetes object can hold, whose value is a digest of the whole map: two maps compare equal
 * after the cut exactly when they did before (an UPDATE that changes only labels nobody reads still changes the
 * pod template).
 */
import { createHash } from 'node:crypto';
import { ANNOTATION_KEYS } from '../engine/label-keys.js';
import { isPlainObject as isObject, type PlainObject as Obj } from '../engine/objects.js';

const annotationKeys: ReadonlySet<string> = new Set(ANNOTATION_KEYS);

/** Maps with more keys than this are cut; smaller ones are left as they are. */
export const CUT_ABOVE_KEYS = 64;

/** Not a valid label or annotation key (a space, and no name part), so no object the API server stores has it. */
export const CUT_KEYS_ENTRY = ' keys mtls-guard does not read';

function cut(map: Obj, keep: ReadonlySet<string>): Obj | undefined {
  const keys = Object.keys(map);
  if (keys.length <= CUT_ABOVE_KEYS) return undefined;
  // A map holding anything but strings is left whole: the engine's decoder names the bad entry, as for a small one.
  for (const key of keys) if (typeof map[key] !== 'string') return undefined;
  const kept: Obj = {};
  for (const key of keys) if (keep.has(key)) kept[key] = map[key];
  kept[CUT_KEYS_ENTRY] = `${keys.length} keys, sha256 ${createHash('sha256').update(JSON.stringify(map)).digest('base64')}`;
  return kept;
}

/**
 * Cut, in place, every `metadata.labels` and `metadata.annotations` in `value` (the object, its pod template,
 * its oldObject: wherever they are) that holds more than CUT_ABOVE_KEYS keys, and drop `metadata.managedFields`
 * (bulky, with an entry per label, and nothing reads it). Returns how many maps were cut.
 */
export function cutUnreadMaps(value: unknown, labelKeys: ReadonlySet<string>): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    const metadata = (node as Obj)['metadata'];
    if (isObject(metadata)) {
      delete metadata['managedFields'];
      for (const [field, keep] of [['labels', labelKeys], ['annotations', annotationKeys]] as const) {
        const map = metadata[field];
        const kept = isObject(map) ? cut(map, keep) : undefined;
        if (kept) {
          metadata[field] = kept;
          count += 1;
        }
      }
    }
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) stack.push(child);
  }
  return count;
}
