/** Parsing JSON bodies: pure, shared by the webhook's event loop (small bodies) and its parse worker (large ones). */
import { NotAdmissionReview } from './http-errors.js';

/**
 * JSON values (members and elements, objects and arrays among them) a body may hold. An object the API server
 * can store is at most 1.5 MiB in etcd (its default), and a value costs at least three bytes there (`"",`): an
 * AdmissionReview's object and oldObject hold at most about a million together. Past it a body is refused
 * before parsing: parsing 8 MiB of `[{},{},...]` takes gigabytes, and copying millions of parsed values onto
 * the event loop would hold /healthz for seconds.
 */
export const MAX_VALUES = 1_000_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;

/** More than `limit` JSON values? Counted as objects, arrays and separating commas outside strings; string contents never count. */
export function holdsMoreValues(text: string, limit: number): boolean {
  let count = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if ((c === OPEN_BRACE || c === OPEN_BRACKET || c === COMMA) && ++count > limit) {
      return true;
    }
  }
  return false;
}

/** JSON.parse with errors that say what was wrong. Keys like `__proto__` are data: JSON.parse defines them as own properties. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (text.trim() === '') throw new NotAdmissionReview('request body is empty: expected an AdmissionReview');
    if (error instanceof RangeError) throw new NotAdmissionReview('request body is nested too deeply');
    throw new NotAdmissionReview(`request body is not valid JSON: ${(error as Error).message}`);
  }
}

