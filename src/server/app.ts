/**
 * The HTTPS webhook: POST /validate, GET /healthz, GET /readyz, on plain `node:https`.
 * Three routes do not need a framework, and every pod creation in the cluster waits on this path.
 * Nothing a client sends may crash the process or leak a stack trace: every error is a small JSON body.
 */
import { createServer, type Server } from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { Policy } from '../engine/types.js';
import type { StateSource } from '../state/source.js';
import type { Metrics } from './metrics.js';
import { BodyError, parseJsonBody } from './admission-review.js';
import { handleReview } from './review-handler.js';
import { TLS_OPTIONS, type KeyPair } from './tls.js';

export const BODY_LIMIT = 8 * 1024 * 1024;

/** Request bodies held in memory at once, across connections: beyond it, 503 (failurePolicy decides), not OOM. */
export const IN_FLIGHT_LIMIT = 4 * BODY_LIMIT;

/** Longer than any client's idle timeout (Go's default is 90 s), so the client, never we, closes an idle connection. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/** How long `close()` leaves idle kept-alive connections open, for reviews already on their way. */
const IDLE_GRACE_MS = 1000;

/** How long `close()` waits for in-flight reviews before cutting the remaining connections. */
const CLOSE_GRACE_MS = 10_000;

/** Stops listening without closing idle connections (https.Server#close closes them at once). */
const tlsServerClose = TlsServer.prototype.close;

export interface AppOptions {
  pair: KeyPair;
  source: StateSource;
  policy: Policy;
  logger: Logger;
  metrics: Metrics;
  /** Reads of a request (headers and body) that take longer are cut off. */
  requestTimeoutMs?: number;
  /** True once shutdown has begun: /readyz fails so that endpoints stop sending new reviews. */
  draining?: () => boolean;
}

export interface WebhookServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<void>;
  /** Stop accepting connections, finish the reviews in flight, then resolve. */
  close(): Promise<void>;
}

/** Status and message for the HTTP parser's and the server's own errors, by Node's error code. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request took too long to arrive'],
  HPE_HEADER_OVERFLOW: [431, 'request headers are too large'],
  HPE_INVALID_EOF_STATE: [400, 'the request ended before its body was complete'],
};

const ROUTES: Record<string, string> = { '/validate': 'POST', '/healthz': 'GET', '/readyz': 'GET' };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Bytes of request bodies being read across all connections (at most IN_FLIGHT_LIMIT). */
interface InFlightBytes {
  used: number;
}

/** Read the whole body; undefined after `refuse` answered it (413 too large, 503 too much in flight) or the client left. */
function readBody(req: IncomingMessage, res: ServerResponse, inFlight: InFlightBytes, refuse: (status: 413 | 503) => void): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (text: string | undefined): void => {
      if (done) return;
      done = true;
      inFlight.used -= length;
      chunks.length = 0;
      resolve(text);
    };
    const stop = (status: 413 | 503): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      refuse(status);
      req.resume();
      finish(undefined);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      inFlight.used += chunk.length;
      if (length > BODY_LIMIT) return stop(413);
      if (inFlight.used > IN_FLIGHT_LIMIT) return stop(503);
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, length).toString('utf8'));
    if (Number(req.headers['content-length']) > BODY_LIMIT) return stop(413);
    req.on('data', onData);
    req.on('end', onEnd);
    // A client that goes away mid-body has nothing left to answer.
    req.on('error', () => finish(undefined));
    res.on('close', () => finish(undefined));
  });
}

/**
 * Parsing JSON can take 60 times the memory of its text: 8 MiB of `[{},{},...]` is millions of objects. Bodies
 * this large are looked at before parsing; no real AdmissionReview comes near the limit on containers.
 */
const LARGE_BODY_BYTES = 256 * 1024;
const MAX_CONTAINERS = 200_000;

/** More than `limit` `{` and `[` characters (strings included, so this errs on the side of refusing)? */
function tooManyContainers(text: string, limit: number): boolean {
  let count = 0;
  for (const open of ['{', '[']) {
    for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) if (++count > limit) return true;
  }
  return false;
}

export function buildApp(options: AppOptions): WebhookServer {
  const { source, policy, logger, metrics } = options;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  let closing = false;
  const inFlight: InFlightBytes = { used: 0 };
  const CLOSE = { connection: 'close' };

  // Once shutdown begins (the drain delay included), every answer ends its connection: the client opens a new
  // one, which reaches a pod that is staying, instead of reusing one that is about to close under it.
  const send = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void => {
    const ending = closing || options.draining?.() === true;
    sendJson(res, status, body, ending ? { ...headers, ...CLOSE } : (headers ?? {}));
  };

  const fail = (res: ServerResponse, status: number, error: string, headers?: Record<string, string>): void => {
    metrics.rejectedRequests.inc({ code: String(status) });
    send(res, status, { error }, headers);
  };

  async function validate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req, res, inFlight, (status) =>
      status === 413
        ? fail(res, 413, `request body is larger than ${BODY_LIMIT} bytes`, CLOSE)
        : fail(res, 503, `mtls-guard is reading more than ${IN_FLIGHT_LIMIT} bytes of requests at once; retry`, CLOSE),
    );
    if (text === undefined) return;
    if (text.length > LARGE_BODY_BYTES && tooManyContainers(text, MAX_CONTAINERS)) {
      fail(res, 400, `request body holds more than ${MAX_CONTAINERS} JSON objects and arrays: not an AdmissionReview the API server sends`);
      return;
    }
    const started = process.hrtime.bigint();
    let body: unknown;
    try {
      body = parseJsonBody(text);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      fail(res, 400, error.message);
      return;
    }
    const outcome = await handleReview(body, source, policy);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (outcome.kind === 'bad-request') {
      logger.warn({ error: outcome.error }, 'rejected a request that is not a valid AdmissionReview');
      fail(res, 400, `invalid AdmissionReview: ${outcome.error}`);
      return;
    }
    const { request: review } = outcome;
    const line = {
      uid: review.uid,
      kind: review.kind.kind,
      namespace: review.namespace,
      name: review.name,
      operation: review.operation,
      dryRun: review.dryRun === true,
    };
    if (outcome.kind === 'unavailable') {
      logger.warn({ ...line, decision: 'unavailable', reason: outcome.error, latencyMs: seconds * 1000 }, 'review not judged: answered 503');
      fail(res, 503, outcome.error);
      return;
    }
    const unjudged = outcome.decision === 'retry' || outcome.decision === 'invalid' ? outcome.decision : 'allow';
    metrics.recordReview(outcome.decision === 'skip' ? 'other' : review.kind.kind, review.operation, outcome.findings, seconds, unjudged);
    logger.info(
      {
        ...line,
        decision: outcome.decision,
        allowed: outcome.body.response.allowed,
        rules: outcome.findings.map((f) => `${f.rule}:${f.action}`),
        latencyMs: Math.round(seconds * 1e6) / 1000,
      },
      'review',
    );
    send(res, 200, outcome.body);
  }

  function readiness(res: ServerResponse): void {
    const draining = options.draining?.() === true;
    const ready = source.ready() && !draining;
    const status = draining ? 'shutting down' : ready ? 'ready' : 'not ready';
    send(res, ready ? 200 : 503, { status, tls: 'loaded', resources: source.status() });
  }

  const serverOptions = {
    cert: options.pair.cert,
    key: options.pair.key,
    ...TLS_OPTIONS,
    handshakeTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // How often slow requests are looked for: Node's default of 30 s would let a trickling client hold a
    // connection three times longer than the timeout.
    connectionsCheckingInterval: 1000,
  };
  const server = createServer(serverOptions, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const method = ROUTES[path];
    if (method === undefined) return fail(res, 404, `no route for ${req.method} ${path}`);
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) return fail(res, 405, `method not allowed: use ${method}`, { allow: method });
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') return readiness(res);
    validate(req, res).catch((error: unknown) => {
      logger.error({ err: { message: (error as Error).message, code: (error as NodeJS.ErrnoException).code } }, 'unexpected error while handling a request');
      if (!res.headersSent) fail(res, 500, 'internal error');
      else res.destroy();
    });
  });
  // A backstop for any socket silent for longer than an idle keep-alive connection may be.
  server.setTimeout(KEEP_ALIVE_TIMEOUT_MS + 10_000);
  server.on('secureConnection', (socket) => socket.setNoDelay(true));
  // Requests that never become a request (malformed or truncated HTTP, headers or body too slow) get the same
  // small JSON error as everything else, and the connection is closed.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    const httpLevel = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code?.startsWith('HPE_') === true;
    // TLS-level failures (a handshake that times out or fails) have no HTTP to answer in.
    if (!httpLevel || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'malformed HTTP request'];
    metrics.rejectedRequests.inc({ code: String(status) });
    const body = JSON.stringify({ error: message });
    // end() only closes our side: a client that never closes its own would keep the socket, and the bytes
    // its body holds in the in-flight budget, forever.
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    listen: (port, host) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        // Stop accepting connections but, unlike https.Server#close, leave the idle ones open for a moment: a
        // client may have written its next review on one already. That review is answered, with
        // `Connection: close`; connections still idle after the grace period are closed, and any left after
        // CLOSE_GRACE_MS are cut.
        // (Called again once stopped, https.Server#close only closes idle connections and stops the slow-request check.)
        const sweep = setTimeout(() => server.close(), IDLE_GRACE_MS);
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        tlsServerClose.call(server, () => {
          clearTimeout(sweep);
          clearTimeout(cut);
          server.close();
          resolve();
        });
      }),
  };
}
