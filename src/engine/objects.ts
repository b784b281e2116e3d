/** Shapes of plain JSON data, shared by the decoders and the readers of manifests and reviews. */
export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object without its own apiVersion and kind (a list item, a review's object) gets the ones its context names. */
export function withTypeMeta(object: unknown, apiVersion: string, kind: string): unknown {
  if (!isPlainObject(object)) return object;
  if (typeof object['apiVersion'] === 'string' && typeof object['kind'] === 'string') return object;
  return { ...object, apiVersion, kind };
}
