/**
 * A worker thread that parses and validates large request bodies, so that the webhook's event loop (and
 * /healthz) is never held by a parse. Only a valid AdmissionReview, without fields the API server never sends,
 * is copied back to the main thread: that copy is all the event loop pays.
 */
import { parentPort } from 'node:worker_threads';
import { admissionEnvelope, describeSchemaErrors, validateAdmissionReview } from './admission-review.js';
import { holdsMoreValues, MAX_VALUES, parseJson } from './json-parse.js';

export interface ParseRequest {
  id: number;
  body: ArrayBuffer;
}

export type ParseAnswer = { id: number; value: unknown } | { id: number; error: string };

parentPort?.on('message', ({ id, body }: ParseRequest) => {
  let answer: ParseAnswer;
  try {
    const text = Buffer.from(body).toString('utf8');
    if (holdsMoreValues(text, MAX_VALUES)) {
      answer = { id, error: `request body holds more than ${MAX_VALUES} JSON values: more than any object the API server can store` };
    } else {
      const value = parseJson(text);
      answer = validateAdmissionReview(value)
        ? { id, value: admissionEnvelope(value as Parameters<typeof admissionEnvelope>[0]) }
        : { id, error: `invalid AdmissionReview: ${describeSchemaErrors(validateAdmissionReview.errors)}` };
    }
  } catch (error) {
    answer = { id, error: (error as Error).message };
  }
  parentPort?.postMessage(answer);
});
