/**
 * The HTTPS webhook: POST /validate, /healthz, /readyz. Nothing a client sends may crash the process or leak
 * a stack trace: every error becomes a small JSON body.
 */
import Fastify, { LogController, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Policy } from '../engine/evaluate.js';
import type { StateSource } from '../state/source.js';
import type { Metrics } from './metrics.js';
import { parseJsonBody, type BodyError } from './admission-review.js';
import { handleReview } from './review-handler.js';
import { TLS_OPTIONS, type KeyPair } from './tls.js';

export const BODY_LIMIT = 8 * 1024 * 1024;

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

function sendError(reply: FastifyReply, code: number, error: string): FastifyReply {
  return reply.code(code).type('application/json').send({ error });
}

export async function buildApp(options: AppOptions) {
  const { source, policy, logger, metrics } = options;
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    connectionTimeout: options.requestTimeoutMs ?? 10_000,
    return503OnClosing: true,
    https: { cert: options.pair.cert, key: options.pair.key, ...TLS_OPTIONS },
  });
  app.server.headersTimeout = options.requestTimeoutMs ?? 10_000;

  // Any content type is read as JSON: the API server sends application/json, and a client that sends
  // something else gets the same clear 400 as one that sends broken JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as BodyError, undefined);
    }
  });

  app.setErrorHandler((error: { statusCode?: number; code?: string; message?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      metrics.rejectedRequests.inc({ code: '413' });
      return sendError(reply, 413, `request body is larger than ${BODY_LIMIT} bytes`);
    }
    if (status >= 400 && status < 500) {
      metrics.rejectedRequests.inc({ code: String(status) });
      const reason = error.message ?? 'bad request';
      return sendError(reply, status, reason);
    }
    request.log.error({ err: { message: error.message, code: error.code } }, 'unexpected error while handling a request');
    return sendError(reply, 500, 'internal error');
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no route for ${request.method} ${request.url.split('?')[0]}`));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const resources = source.status();
    const draining = options.draining?.() === true;
    const ready = source.ready() && !draining;
    const status = draining ? 'shutting down' : ready ? 'ready' : 'not ready';
    return reply.code(ready ? 200 : 503).send({ status, tls: 'loaded', resources });
  });

  app.post('/validate', async (request, reply) => {
    const started = process.hrtime.bigint();
    const outcome = await handleReview(request.body, source, policy);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (outcome.kind === 'bad-request') {
      metrics.rejectedRequests.inc({ code: '400' });
      request.log.warn({ error: outcome.error }, 'rejected a request that is not a valid AdmissionReview');
      return sendError(reply, 400, `invalid AdmissionReview: ${outcome.error}`);
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
      metrics.rejectedRequests.inc({ code: '503' });
      request.log.warn({ ...line, decision: 'unavailable', latencyMs: seconds * 1000 }, 'review before the cluster state synced');
      return sendError(reply, 503, outcome.error);
    }
    metrics.recordReview(outcome.decision === 'skip' ? 'other' : review.kind.kind, review.operation, outcome.findings, seconds);
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
    return reply.code(200).send(outcome.body);
  });

  const notAllowed = (allow: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.header('allow', allow).code(405).send({ error: `method not allowed: use ${allow}` });
  app.route({ method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/validate', handler: notAllowed('POST') });
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/healthz', handler: notAllowed('GET') });
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/readyz', handler: notAllowed('GET') });

  return app;
}

export type WebhookApp = Awaited<ReturnType<typeof buildApp>>;
