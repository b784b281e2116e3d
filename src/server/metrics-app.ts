/** The metrics port: plain HTTP, GET /metrics, with the same silent-connection and timeout rules as the webhook. */
import type { Server } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConnectionGuard } from './connections.js';
import type { AuditService } from './audit-service.js';
import type { Metrics } from './metrics.js';

/** Scrapers are few: a handful of Prometheus replicas and the occasional curl. */
const METRICS_CONNECTIONS = { perPeer: 16, total: 256 };

/** `audit`: GET /audit serves its report (JSON; `?format=html` the HTML page). */
export async function buildMetricsApp(metrics: Metrics, logger: Logger, audit?: AuditService, timeoutMs = 10_000): Promise<FastifyInstance<Server>> {
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    requestTimeout: timeoutMs,
    connectionTimeout: 60_000,
    forceCloseConnections: true,
    http: { headersTimeout: timeoutMs, connectionsCheckingInterval: 1000 },
  });
  const connections = new ConnectionGuard({ ...METRICS_CONNECTIONS, firstRequestMs: timeoutMs }, (peer, reason) => {
    metrics.refusedConnections.inc({ reason });
    logger.warn({ peer, reason, port: 'metrics' }, 'connection closed');
  });
  connections.admitOn(app.server, 'connection');
  connections.watchOn(app.server, 'connection');
  app.addHook('onRequest', async (request) => connections.requestStarted(request.raw.socket));
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  if (audit) {
    app.get<{ Querystring: { format?: string } }>('/audit', async (request, reply) => {
      const format = request.query.format ?? 'json';
      if (format !== 'json' && format !== 'html') return reply.code(400).type('text/plain').send('format must be json or html\n');
      const report = audit.report();
      if (format === 'json') return reply.type('application/json').send(JSON.stringify(report));
      const { renderHtml } = await import('../audit/html.js');
      return reply.type('text/html; charset=utf-8').send(renderHtml(report));
    });
  }
  app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain').send('not found\n'));
  await app.ready();
  return app as unknown as FastifyInstance<Server>;
}
