/** ajv's errors as words: which field, and what is wrong with it. One formatter for the config and for AdmissionReviews. */
import type { ErrorObject } from 'ajv';

/** The field an error is about, as `a.b[0].c`; `root` names the document itself. */
export function fieldOf(error: ErrorObject, root: string): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'additionalProperties') path.push(String(error.params['additionalProperty']));
  if (error.keyword === 'required') path.push(String(error.params['missingProperty']));
  return path.length === 0 ? root : path.map((p) => (/^\d+$/.test(p) ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}

/** What is wrong, in words; `overrides` gives a caller's own words for a keyword. */
export function problemOf(error: ErrorObject, overrides: Partial<Record<string, string>> = {}): string {
  const own = overrides[error.keyword];
  if (own !== undefined) return own;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'unknown field';
    case 'const':
      return `must be ${JSON.stringify(error.params['allowedValue'])}`;
    case 'enum':
      return `must be one of ${(error.params['allowedValues'] as unknown[]).join(', ')}`;
    default:
      return error.message ?? 'is invalid';
  }
}
