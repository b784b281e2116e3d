/**
 * The continuous audit as Prometheus metrics. Cardinality is bounded by the namespaces: per namespace one
 * mode series, two workload series, one own-policy series and three violation series (7), plus one gauge.
 */
import { Gauge, type Registry } from 'prom-client';
import { RULE_IDS, type Policy } from '../engine/types.js';
import type { PrometheusPlaintextSource } from '../telemetry/prometheus-source.js';
import type { AuditService } from './audit-service.js';

export function registerAuditMetrics(registry: Registry, audit: AuditService, policy: Policy, telemetry?: PrometheusPlaintextSource): void {
  if (telemetry) {
    new Gauge({
      name: 'mtls_guard_telemetry_last_success_timestamp_seconds',
      help: "When Istio's telemetry (the plaintext callers) was last read from Prometheus (Unix time); absent before the first success",
      registers: [registry],
      collect() {
        const at = telemetry.lastSuccessAt;
        if (at !== undefined) this.set(at / 1000);
      },
    });
    new Gauge({
      name: 'mtls_guard_telemetry_consecutive_failures',
      help: 'Failed reads of the plaintext callers from Prometheus since the last success (the last good reading is kept)',
      registers: [registry],
      collect() {
        this.set(telemetry.consecutiveFailures);
      },
    });
  }
  const current = (): ReturnType<AuditService['figures']> => audit.figures();
  new Gauge({
    name: 'mtls_guard_namespace_mode',
    help: 'Always 1: the mTLS mode a workload without its own PeerAuthentication gets in the namespace (label mode)',
    labelNames: ['namespace', 'mode'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const ns of current().namespaces) this.set({ namespace: ns.name, mode: ns.mode.mode }, 1);
    },
  });
  new Gauge({
    name: 'mtls_guard_workloads',
    help: 'Running workloads (pods not finished, and pod templates of controllers) in the namespace, in and outside the mesh (mesh="in"|"out")',
    labelNames: ['namespace', 'mesh'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const ns of current().namespaces) {
        this.set({ namespace: ns.name, mesh: 'in' }, ns.tally.pods.inMesh + ns.tally.templates.inMesh);
        this.set({ namespace: ns.name, mesh: 'out' }, ns.tally.pods.outOfMesh + ns.tally.templates.outOfMesh);
      }
    },
  });
  new Gauge({
    name: 'mtls_guard_workloads_own_policy',
    help: 'Workloads in the namespace whose mode a workload-selector PeerAuthentication decides',
    labelNames: ['namespace'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const ns of current().namespaces) this.set({ namespace: ns.name }, ns.tally.ownPolicy);
    },
  });
  new Gauge({
    name: 'mtls_guard_violations',
    help:
      'Existing violations in the namespace by rule: workloads outside the mesh under STRICT (strict-requires-mesh), workloads outside the mesh (pod-requires-mesh), mtls-drift findings of its PeerAuthentications; rules set to off count 0',
    labelNames: ['namespace', 'rule'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const { namespaces, drift } = current();
      for (const ns of namespaces) {
        const counted = (rule: (typeof RULE_IDS)[number], value: number): number => (policy.actions[rule] === 'off' ? 0 : value);
        const checked = !ns.exempt;
        this.set({ namespace: ns.name, rule: 'strict-requires-mesh' }, checked ? counted('strict-requires-mesh', ns.tally.strict) : 0);
        this.set({ namespace: ns.name, rule: 'pod-requires-mesh' }, checked ? counted('pod-requires-mesh', ns.tally.outside) : 0);
        this.set({ namespace: ns.name, rule: 'mtls-drift' }, counted('mtls-drift', drift.get(ns.name) ?? 0));
      }
    },
  });
  new Gauge({
    name: 'mtls_guard_audit_settled',
    help: '1 when every cached workload has been judged against the latest state; 0 while a change is being re-judged',
    registers: [registry],
    collect() {
      this.set(audit.settled ? 1 : 0);
    },
  });
}
