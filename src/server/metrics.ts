/** Prometheus metrics, served on their own plain-HTTP port. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VERSION } from '../version.js';
import type { Finding } from '../engine/findings.js';
import type { ResourceStatus, StateSource } from '../state/source.js';

export class Metrics {
  readonly registry = new Registry();

  readonly decisions = new Counter({
    name: 'mtls_guard_decisions_total',
    help:
      'Findings by rule and action; reviews without findings have rule="none" and action "allow", "retry" (denied until the cache syncs) or "invalid" (an object mtls-guard cannot read)',
    labelNames: ['rule', 'action', 'kind', 'operation'] as const,
    registers: [this.registry],
  });

  readonly reviews = new Counter({
    name: 'mtls_guard_reviews_total',
    help: 'AdmissionReviews answered with a judgement, one per review: decision allow, warn, deny, skip (a kind mtls-guard does not check), retry (denied until the cache syncs) or invalid (an object it cannot read)',
    labelNames: ['kind', 'operation', 'decision', 'dry_run'] as const,
    registers: [this.registry],
  });

  readonly reviewDuration = new Histogram({
    name: 'mtls_guard_review_duration_seconds',
    help: 'Time to answer one AdmissionReview, from parsed body to response',
    labelNames: ['kind'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  readonly rejectedRequests = new Counter({
    name: 'mtls_guard_rejected_requests_total',
    help: 'Requests answered without a review: bad body (400), unknown path (404), wrong method (405), too large (413), internal error (500), not synced (503)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly refusedConnections = new Counter({
    name: 'mtls_guard_refused_connections_total',
    help: 'Connections closed without a request: over the per-peer or total limit, silent past the request timeout, or arriving while closing',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly certificateReloads = new Counter({
    name: 'mtls_guard_certificate_reloads_total',
    help: 'Serving certificate reloads by result (loaded, rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly certificateExpiry = new Gauge({
    name: 'mtls_guard_certificate_expiry_timestamp_seconds',
    help: 'When the serving certificate in use expires (Unix time): alert well before it',
    registers: [this.registry],
  });

  constructor(source: StateSource) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'mtls_guard_build_info',
      help: 'Always 1: the version of mtls-guard and of Node.js that run',
      labelNames: ['version', 'node'] as const,
      registers: [this.registry],
    }).set({ version: VERSION, node: process.version }, 1);
    /** A per-resource gauge read from the state source's status at scrape time. */
    const cacheGauge = (name: string, help: string, value: (status: ResourceStatus) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['resource'] as const,
        registers: [this.registry],
        collect() {
          for (const [resource, status] of Object.entries(source.status())) this.set({ resource }, value(status));
        },
      });
    };
    cacheGauge('mtls_guard_cache_synced', '1 when the resource has been listed and is being watched', (s) => (s.synced ? 1 : 0));
    cacheGauge('mtls_guard_cache_objects', 'Objects held in the cluster-state cache', (s) => s.objects);
  }

  /** `outcome` names reviews answered without findings: allowed, or denied before any rule ran. */
  recordReview(
    kind: string,
    operation: string,
    findings: readonly Finding[],
    seconds: number,
    outcome: 'allow' | 'retry' | 'invalid' = 'allow',
    review: { decision: string; dryRun: boolean } = { decision: outcome, dryRun: false },
  ): void {
    this.reviews.inc({ kind, operation, decision: review.decision, dry_run: String(review.dryRun) });
    if (findings.length === 0) this.decisions.inc({ rule: 'none', action: outcome, kind, operation });
    for (const finding of findings) this.decisions.inc({ rule: finding.rule, action: finding.action, kind, operation });
    this.reviewDuration.observe({ kind }, seconds);
  }
}
