/** Parsing JSON bodies: pure, shared by the webhook's event loop (small bodies) and its parse worker (large ones). */
import { NotAdmissionReview } from './http-errors.js';

/**
 * JSON objects and arrays (outside strings) a body may hold. Each costs at least three bytes (`{},`) of the
 * object or oldObject, together at most 3 MiB + 3 MiB as the API server accepts them: two million. Past it a
 * body is refused before parsing, which could otherwise take gigabytes (8 MiB of `[{},{},...]`).
 */
export const MAX_CONTAINERS = 2_000_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** More than `limit` JSON objects and arrays outside strings? String contents never count. */
export function holdsMoreContainers(text: string, limit: number): boolean {
  let count = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if ((c === OPEN_BRACE || c === OPEN_BRACKET) && ++count > limit) {
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

