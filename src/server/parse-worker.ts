/**
 * A worker thread that parses and validates large request bodies, so that the webhook's event loop (and
 * /healthz) is never held by a parse. Only a valid AdmissionReview, without fields the API server never sends
 * and with its large label maps cut to the keys the engine reads (unread-maps.ts), is copied back to the main
 * thread: that copy is all the event loop pays. The body goes back too, to be parsed again should the keys the
 * engine reads have grown meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { admissionEnvelope, describeSchemaErrors, validateAdmissionReview } from './admission-review.js';
import { holdsMoreValues, MAX_VALUES, parseJson } from './json-parse.js';
import { cutUnreadMaps } from './unread-maps.js';

export interface ParseRequest {
  id: number;
  body: ArrayBuffer;
  /** The label keys the engine reads: every other label of a large map is cut. */
  labelKeys: readonly string[];
}

export type ParseAnswer = { id: number; value: unknown; body: ArrayBuffer } | { id: number; error: string };

parentPort?.on('message', ({ id, body, labelKeys }: ParseRequest) => {
  let answer: ParseAnswer;
  try {
    const text = Buffer.from(body).toString('utf8');
    if (holdsMoreValues(text, MAX_VALUES)) {
      answer = { id, error: `request body holds more than ${MAX_VALUES} JSON values: more than any object the API server can store` };
    } else {
      const value = parseJson(text);
      if (validateAdmissionReview(value)) {
        const envelope = admissionEnvelope(value as Parameters<typeof admissionEnvelope>[0]);
        cutUnreadMaps(envelope, new Set(labelKeys));
        answer = { id, value: envelope, body };
      } else {
        answer = { id, error: `invalid AdmissionReview: ${describeSchemaErrors(validateAdmissionReview.errors)}` };
      }
    }
  } catch (error) {
    answer = { id, error: (error as Error).message };
  }
  parentPort?.postMessage(answer, 'body' in answer ? [answer.body] : []);
});
