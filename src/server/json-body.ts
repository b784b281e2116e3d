/**
 * Reading request bodies as JSON (any content type), within a body limit and a memory budget shared fairly
 * between peers. Small bodies are parsed on the spot; large ones in a worker thread, one at a time, peers
 * taking turns, so that the event loop (and /healthz) is never held by a parse.
 */
import type { IncomingMessage } from 'node:http';
import { Worker } from 'node:worker_threads';
import type { BodyBudget } from './body-budget.js';
import { BodyTooLarge, Busy, ClientGone, NotAdmissionReview } from './http-errors.js';
import { parseJson } from './json-parse.js';
import type { ParseAnswer, ParseRequest } from './parse-worker.js';

/**
 * The largest body accepted. The API server caps a request body at 3 MiB and etcd an object at 1.5 MiB, but
 * it re-encodes the object (and, for UPDATE and DELETE, the stored oldObject) as JSON, escaping `<`, `>`, `&`
 * and control characters six bytes for one. 24 MiB holds a CREATE of the largest request it accepts even
 * when every character is escaped (18 MiB), and any review whose object and oldObject are ordinary JSON.
 */
export const BODY_LIMIT = 24 * 1024 * 1024;

/** Bodies above this are parsed in the worker. */
export const LARGE_BODY_BYTES = 256 * 1024;

/** The worker's heap: a body that needs more to parse is no review the API server sends. */
const WORKER_HEAP_MB = 256;

/**
 * A worker idle this long is stopped: the memory it grew to parse a large body goes back to the system at
 * once, where a live worker's heap would keep the process's RSS high. Large bodies are rare; starting a new
 * worker costs tens of milliseconds.
 */
const WORKER_IDLE_MS = 1000;

interface Task {
  body: ArrayBuffer;
  /** The label keys the engine read when the body was handed to the worker. */
  labelKeys?: ReadonlySet<string>;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const NO_KEYS: ReadonlySet<string> = new Set();

/** The queue of bodies to parse again: served as a peer of its own, at its turn. */
const PARSED_AGAIN = '\u0000parsed again';

/**
 * Parses large bodies in a worker thread, one at a time; peers take turns, so one peer's queue never delays
 * another's by more than one parse. `labelKeys` gives the label keys the engine reads now: the worker cuts large
 * label maps down to them, and a body parsed while they grew is parsed again.
 */
export class LargeBodyParser {
  readonly #waiting = new Map<string, Task[]>();
  readonly #labelKeys: () => ReadonlySet<string>;
  #worker: Worker | undefined;
  #idle: NodeJS.Timeout | undefined;
  #current: Task | undefined;
  #nextId = 0;

  constructor(labelKeys: () => ReadonlySet<string>) {
    this.#labelKeys = labelKeys;
  }

  parse(peer: string, body: ArrayBuffer): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const task: Task = { body, resolve, reject };
      const queue = this.#waiting.get(peer);
      if (queue) queue.push(task);
      else this.#waiting.set(peer, [task]);
      if (!this.#current) this.#next();
    });
  }

  get pending(): number {
    let count = this.#current ? 1 : 0;
    for (const queue of this.#waiting.values()) count += queue.length;
    return count;
  }

  async close(): Promise<void> {
    clearTimeout(this.#idle);
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
    this.#settle((task) => task.reject(new ClientGone()));
  }

  #next(): void {
    const first = this.#waiting.entries().next();
    if (first.done) {
      this.#stopWhenIdle();
      return;
    }
    clearTimeout(this.#idle);
    const [peer, queue] = first.value;
    const task = queue.shift() as Task;
    // The peer goes to the back of the line.
    this.#waiting.delete(peer);
    if (queue.length > 0) this.#waiting.set(peer, queue);
    this.#current = task;
    task.labelKeys = this.#labelKeys();
    const request: ParseRequest = { id: ++this.#nextId, body: task.body, labelKeys: [...task.labelKeys] };
    try {
      this.#spawned().postMessage(request, [task.body]);
    } catch (error) {
      this.#settle((current) => current.reject(new NotAdmissionReview(`request body could not be handed to the parser: ${(error as Error).message}`)));
    }
  }

  #stopWhenIdle(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      const worker = this.#worker;
      if (!worker || this.#current) return;
      this.#worker = undefined;
      void worker.terminate();
    }, WORKER_IDLE_MS);
    this.#idle.unref();
  }

  #answered(answer: ParseAnswer): void {
    if ('error' in answer) return this.#settle((task) => task.reject(new NotAdmissionReview(answer.error)));
    const task = this.#current;
    const used = task?.labelKeys ?? NO_KEYS;
    const now = this.#labelKeys();
    if (task && now !== used && [...now].some((key) => !used.has(key))) {
      // The injector came to select on a label the worker may have cut: parse the body again.
      this.#current = undefined;
      task.body = answer.body;
      this.#waiting.set(PARSED_AGAIN, [task, ...(this.#waiting.get(PARSED_AGAIN) ?? [])]);
      return this.#next();
    }
    this.#settle((current) => current.resolve(answer.value));
  }

  #settle(settle: (task: Task) => void): void {
    const task = this.#current;
    this.#current = undefined;
    if (task) settle(task);
    this.#next();
  }

  #spawned(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16 },
    });
    worker.unref();
    worker.on('message', (answer: ParseAnswer) => this.#answered(answer));
    // Out of memory (a body no API server sends) or any other death: that body is refused; the next gets a new worker.
    const died = (error?: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#settle((task) => task.reject(new NotAdmissionReview(`request body could not be parsed within ${WORKER_HEAP_MB} MiB${error ? ` (${error.message})` : ''}`)));
    };
    worker.on('error', died);
    worker.on('exit', () => died());
    this.#worker = worker;
    return worker;
  }
}

export interface BodyReader {
  readonly budget: BodyBudget;
  readonly large: LargeBodyParser;
}

type BodyRefusal = 'busy' | 'gave-way';

/**
 * Read a request's body within the limit and the peer's share of the budget, then parse it. Rejects with a
 * coded error. A body refused on the way (413 past the limit, 503 past the peer's share or giving way to a
 * smaller peer) is answered at once and its connection closed: nothing more of it is read, so a flood of
 * refused bodies costs no more than their first bytes (reading them to their end cost every other client its
 * latency: p99 37 ms -> 9.5 s under 200 such connections).
 */
export function readJsonBody(reader: BodyReader, peer: string, payload: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (Number(payload.headers['content-length']) > BODY_LIMIT) {
      reject(new BodyTooLarge(BODY_LIMIT));
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const hold = reader.budget.open(peer, () => refuse('gave-way'));
    const finish = (): void => {
      settled = true;
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onGone);
      payload.off('close', onGone);
      chunks.length = 0;
    };
    const refuse = (why: BodyRefusal): void => {
      if (settled) return;
      finish();
      reader.budget.release(hold);
      reject(refusal(why, reader.budget.perPeer));
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > BODY_LIMIT) {
        finish();
        reader.budget.release(hold);
        reject(new BodyTooLarge(BODY_LIMIT));
        return;
      }
      if (!reader.budget.grow(hold, chunk.length)) return refuse('busy');
      chunks.push(chunk);
    };
    const onGone = (): void => {
      if (settled) return;
      finish();
      reader.budget.release(hold);
      reject(new ClientGone());
    };
    const onEnd = (): void => {
      if (settled) return;
      reader.budget.arrived(hold);
      if (length <= LARGE_BODY_BYTES) {
        const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, length).toString('utf8');
        finish();
        reader.budget.release(hold);
        try {
          resolve(parseJson(text));
        } catch (error) {
          reject(error as Error);
        }
        return;
      }
      // One buffer of its own (never a slice of Node's shared pool), handed over to the worker without a copy.
      const body = new ArrayBuffer(length);
      const view = new Uint8Array(body);
      let offset = 0;
      for (const chunk of chunks) {
        view.set(chunk, offset);
        offset += chunk.length;
      }
      finish();
      reader.large.parse(peer, body).then(
        (value) => {
          reader.budget.release(hold);
          resolve(value);
        },
        (error: Error) => {
          reader.budget.release(hold);
          reject(error);
        },
      );
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onGone);
    payload.on('close', onGone);
  });
}

function refusal(why: BodyRefusal, perPeer: number): Error {
  switch (why) {
    case 'busy':
      return new Busy(`this client is sending more than its share (${perPeer} bytes) of request bodies at once; retry`);
    case 'gave-way':
      return new Busy('mtls-guard is holding too many request bodies; this one gave way to a client sending less; retry');
  }
}
