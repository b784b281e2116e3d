/**
 * The HTTPS webhook on Fastify: POST /validate, GET /healthz, GET /readyz. Built here, listened on by the
 * caller. Every answer that is not a judged review is a coded error (http-errors.ts), logged once and counted.
 */
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Policy } from '../engine/types.js';
import type { StateSource } from '../state/source.js';
import { ADMISSION_REVIEW_SCHEMA, describeSchemaErrors, validateAdmissionReview, type AdmissionRequest } from './admission-review.js';
import { BodyBudget } from './body-budget.js';
import { ConnectionGuard, type ConnectionLimits } from './connections.js';
import { clientErrorOf, errorBody, Internal, MethodNotAllowed, NotAdmissionReview, NotJudged, RouteNotFound, type CodedError } from './http-errors.js';
import { BODY_LIMIT, LargeBodyParser, readJsonBody, type BodyReader } from './json-body.js';
import type { Metrics } from './metrics.js';
import { judgeRequest } from './review-handler.js';
import { TLS_OPTIONS, type KeyPair } from './tls.js';

/** Request bodies held in memory at once across all peers, and by one peer: one largest review and then some. */
export const BODY_BUDGET = { total: 64 * 1024 * 1024, perPeer: BODY_LIMIT + 8 * 1024 * 1024 };

/**
 * The API server opens as many connections as it has reviews in flight, and keeps them; an HA control plane is a
 * few peers. New connections beyond a burst of 1,024 are let in at 128 a second per peer: each costs a handshake.
 */
export const CONNECTION_LIMITS: Omit<ConnectionLimits, 'firstRequestMs'> = { perPeer: 512, total: 4096, burst: 1024, perSecond: 128 };

/** Longer than any client's idle timeout (Go's default is 90 s), so the client, never we, closes an idle connection. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/** How long `close()` leaves idle kept-alive connections open, for reviews already on their way. */
const IDLE_GRACE_MS = 1000;

/** How long `close()` waits for in-flight reviews before cutting the remaining connections. */
const CLOSE_GRACE_MS = 10_000;

export interface AppOptions {
  pair: KeyPair;
  source: StateSource;
  policy: Policy;
  logger: Logger;
  metrics: Metrics;
  /** Reads of a request (headers and body), and a new connection's wait for its first request, are cut off after this. */
  requestTimeoutMs?: number;
  /** True once shutdown has begun: /readyz fails so that endpoints stop sending new reviews. */
  draining?: () => boolean;
  budget?: BodyBudget;
  connectionLimits?: Omit<ConnectionLimits, 'firstRequestMs'>;
}

export interface WebhookServer {
  readonly app: FastifyInstance<HttpsServer>;
  readonly server: HttpsServer;
  /** Accept connections on `host:port`; resolves with the port. */
  listen(port: number, host: string): Promise<number>;
  /** Stop accepting connections, finish the reviews in flight, then resolve. */
  close(): Promise<void>;
}

interface Refusal {
  peer: string;
  status: number;
  code: string;
  reason: string;
  uid?: string;
  path?: string;
}

const ROUTES = { '/validate': 'POST', '/healthz': 'GET', '/readyz': 'GET' } as const;

const peerOf = (request: FastifyRequest): string => request.raw.socket?.remoteAddress ?? 'unknown';

/** The uid of a review, when the body got far enough to have one. */
function uidOf(body: unknown): string | undefined {
  const uid = (body as { request?: { uid?: unknown } } | undefined)?.request?.uid;
  return typeof uid === 'string' ? uid.slice(0, 256) : undefined;
}

export async function buildApp(options: AppOptions): Promise<WebhookServer> {
  const { source, policy, logger, metrics } = options;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  let closing = false;
  const ending = (): boolean => closing || options.draining?.() === true;

  /** Count and log a refusal once; with the request's logger (and so its reqId) when there is a request. */
  const refused = (refusal: Refusal, log: FastifyBaseLogger = logger): void => {
    metrics.rejectedRequests.inc({ code: String(refusal.status) });
    log.warn(refusal, 'request refused');
  };

  const connections = new ConnectionGuard({ ...(options.connectionLimits ?? CONNECTION_LIMITS), firstRequestMs: timeoutMs }, (peer, why) => {
    metrics.refusedConnections.inc({ reason: why });
    logger.warn({ peer, reason: why }, 'connection closed');
  });
  const reader: BodyReader = { budget: options.budget ?? new BodyBudget(BODY_BUDGET.total, BODY_BUDGET.perPeer), large: new LargeBodyParser(() => source.state.labelKeysRead()) };

  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    requestTimeout: timeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // A backstop for any socket silent for longer than an idle kept-alive connection may be.
    connectionTimeout: KEEP_ALIVE_TIMEOUT_MS + 10_000,
    // Reviews that arrive on open connections while closing are still answered (with Connection: close).
    return503OnClosing: false,
    forceCloseConnections: false,
    https: {
      cert: options.pair.cert,
      key: options.pair.key,
      ...TLS_OPTIONS,
      handshakeTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      // How often slow requests are looked for: Node's default of 30 s would let a trickling client hold a
      // connection three times longer than the timeout.
      connectionsCheckingInterval: 1000,
    },
    clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const httpLevel = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code?.startsWith('HPE_') === true;
      // TLS-level failures (a handshake that times out or fails) have no HTTP to answer in.
      if (!httpLevel || !socket.writable || connections.answered(socket)) {
        socket.destroy();
        return;
      }
      const coded = clientErrorOf(error.code);
      refused({ peer: socket.remoteAddress ?? 'unknown', status: coded.statusCode, code: coded.code, reason: coded.message });
      const body = JSON.stringify(errorBody(coded));
      // end() only closes our side: a client that never closes its own would keep the socket, and the bytes
      // its body holds in the budget, for ever.
      socket.once('finish', () => socket.destroy());
      socket.end(
        `HTTP/1.1 ${coded.statusCode} ${statusText(coded.statusCode)}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    },
  });
  connections.watchOn(app.server, 'secureConnection');

  const send = (reply: FastifyReply, status: number, body: unknown): FastifyReply => reply.code(status).type('application/json; charset=utf-8').send(body);

  app.setValidatorCompiler(({ schema }) => {
    if (schema !== ADMISSION_REVIEW_SCHEMA) throw new Error('the webhook validates AdmissionReviews only');
    return validateAdmissionReview;
  });
  app.setSchemaErrorFormatter((errors) => new NotAdmissionReview(`invalid AdmissionReview: ${describeSchemaErrors(errors as Parameters<typeof describeSchemaErrors>[0])}`));

  // Every body is read as JSON, whatever its Content-Type says (the API server sends application/json): a
  // body that is not JSON gets the same clear 400 as broken JSON, never 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (request: FastifyRequest, payload: IncomingMessage) => readJsonBody(reader, peerOf(request), payload));

  // Unknown paths and wrong methods are answered before any body is read.
  app.addHook('onRequest', async (request, reply) => {
    connections.requestStarted(request.raw.socket);
    const path = request.url.split('?')[0] as string;
    const method = ROUTES[path as keyof typeof ROUTES];
    // Answered before the body is read: a body still on its way ends the connection.
    const early = (): FastifyReply => (request.raw.complete ? reply : reply.header('connection', 'close'));
    if (method === undefined) return notFound(request, early());
    if (request.method !== method && !(method === 'GET' && request.method === 'HEAD')) {
      early();
      const coded = new MethodNotAllowed(method);
      refused({ peer: peerOf(request), status: 405, code: coded.code, reason: coded.message, path }, request.log);
      return send(reply.header('allow', method), 405, errorBody(coded));
    }
    request.raw.headers['content-type'] = 'application/json';
    return undefined;
  });
  app.addHook('onSend', async (request, reply) => {
    connections.responseStarted(request.raw.socket);
    // Once shutdown begins (the drain delay included), every answer ends its connection: the client opens a
    // new one, which reaches a pod that is staying, instead of reusing one that is about to close under it.
    if (ending()) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    connections.responseEnded(request.raw.socket, reply.getHeader('connection') === 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // Nobody to answer and nothing refused (a timeout that cut the connection was counted where it fired).
    if (error.code === 'MTLS_GUARD_CLIENT_GONE') {
      request.log.debug({ peer: peerOf(request) }, error.message);
      return reply.code(499).send();
    }
    const status = error.statusCode ?? 500;
    const known = status < 500 || error.code?.startsWith('MTLS_GUARD_');
    const coded: CodedError = known ? { code: error.code ?? 'MTLS_GUARD_BAD_REQUEST', statusCode: status, message: error.message } : new Internal();
    if (!known) request.log.error({ err: { message: error.message, code: error.code } }, 'unexpected error while handling a request');
    refused({ peer: peerOf(request), status: coded.statusCode, code: coded.code, reason: coded.message, uid: uidOf(request.body), path: request.url.split('?')[0] }, request.log);
    if (!request.raw.complete) reply.header('connection', 'close');
    return send(reply, coded.statusCode, errorBody(coded));
  });

  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const coded = new RouteNotFound(request.method, request.url.split('?')[0]);
    refused({ peer: peerOf(request), status: 404, code: coded.code, reason: coded.message }, request.log);
    return send(reply, 404, errorBody(coded));
  };
  app.setNotFoundHandler(notFound);

  app.get('/healthz', async (_request, reply) => send(reply, 200, { status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const draining = options.draining?.() === true;
    const ready = source.ready() && !draining && !closing;
    const status = draining ? 'shutting down' : ready ? 'ready' : 'not ready';
    return send(reply, ready ? 200 : 503, { status, resources: source.status() });
  });

  app.post<{ Body: { request: AdmissionRequest } }>('/validate', { schema: { body: ADMISSION_REVIEW_SCHEMA } }, async (request, reply) => {
    const started = process.hrtime.bigint();
    const outcome = await judgeRequest(request.body.request, source, policy, peerOf(request));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const review = outcome.request;
    const line = {
      uid: review.uid,
      kind: review.kind.kind,
      namespace: review.namespace,
      name: review.name,
      operation: review.operation,
      dryRun: review.dryRun === true,
    };
    if (outcome.kind === 'unavailable') {
      const coded = new NotJudged(outcome.error);
      metrics.rejectedRequests.inc({ code: '503' });
      request.log.warn({ ...line, peer: peerOf(request), decision: 'unavailable', reason: outcome.error, latencyMs: seconds * 1000 }, 'review not judged: answered 503');
      return send(reply, 503, errorBody(coded));
    }
    const unjudged = outcome.decision === 'retry' || outcome.decision === 'invalid' ? outcome.decision : 'allow';
    metrics.recordReview(outcome.decision === 'skip' ? 'other' : review.kind.kind, review.operation, outcome.findings, seconds, unjudged, {
      decision: outcome.decision,
      dryRun: review.dryRun === true,
    });
    request.log.info(
      {
        ...line,
        decision: outcome.decision,
        allowed: outcome.body.response.allowed,
        rules: outcome.findings.map((f) => `${f.rule}:${f.action}`),
        latencyMs: Math.round(seconds * 1e6) / 1000,
      },
      'review',
    );
    return send(reply, 200, outcome.body);
  });

  await app.ready();

  // Connections are accepted by a TCP listener of our own and handed to the Fastify server (the 'connection'
  // event injects them). Closing it stops accepting and nothing else, whereas the HTTP server's close() also
  // closes every idle kept-alive connection at once, losing a review a client has just written on one. The
  // Fastify server itself listens on an abstract Unix socket that nothing else can reach: Node starts its
  // request and header timeouts only for a listening server.
  const acceptor = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => app.server.emit('connection', socket));
  connections.admitOn(acceptor, 'connection');
  // Out of file descriptors or memory while accepting: say so, and keep serving the connections open.
  acceptor.on('error', (error: NodeJS.ErrnoException) => logger.error({ err: { message: error.message, code: error.code } }, 'accepting connections failed'));
  return {
    app: app as unknown as FastifyInstance<HttpsServer>,
    server: app.server as HttpsServer,
    listen: async (port, host) => {
      await app.listen({ path: `\0mtls-guard-${process.pid}-${randomUUID()}`, listenTextResolver: () => 'webhook server ready for the acceptor' });
      await new Promise<void>((resolve, reject) => {
        const failed = (error: Error): void => reject(error);
        acceptor.prependOnceListener('error', failed);
        acceptor.listen(port, host, () => {
          acceptor.off('error', failed);
          resolve();
        });
      });
      const address = acceptor.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    close: async () => {
      closing = true;
      // No new connections; those open get a moment for a review a client may have written already (answered
      // with Connection: close). Then Fastify closes: idle connections first, the rest as their reviews are
      // answered, and whatever is left after CLOSE_GRACE_MS is cut.
      // The acceptor's close() resolves once every connection it accepted has ended.
      const ended = acceptor.listening ? new Promise<void>((resolve) => acceptor.close(() => resolve())) : Promise.resolve();
      await new Promise((resolve) => setTimeout(resolve, IDLE_GRACE_MS));
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      await app.close();
      await ended;
      clearTimeout(cut);
      await reader.large.close();
    },
  };
}

function statusText(status: number): string {
  return { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status] ?? 'Error';
}
