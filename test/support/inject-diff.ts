/**
 * The two sides of the injection differential test: mtls-guard's decision, taken through `check`'s state builder
 * over the same objects the oracle gets, and istio-oracle's (tools/istio, over Istio's own pkg/kube/inject).
 */
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { decodeWorkload } from '../../src/engine/decode.js';
import { injectionIntent, meshContext } from '../../src/engine/mesh.js';
import type { Policy } from '../../src/engine/types.js';
import { buildState } from '../../src/state/build-state.js';
import { caseObjects, type InjectCases } from './inject-cases.js';

export interface Decision {
  inject: boolean;
  because: string;
}

/** Every case's "will it be injected?" as mtls-guard decides it, with the injector objects in the state. */
export function engineDecisions(cases: InjectCases, injectorObjects: readonly Record<string, unknown>[], policy: Policy): Map<string, Decision> {
  const objects = [...injectorObjects, ...caseObjects(cases)];
  const { state, entries } = buildState(objects.map((object, i) => ({ object, source: { file: 'inject-diff', line: i + 1 } })), 'default');
  const context = meshContext(state, policy);
  const decisions = new Map<string, Decision>();
  for (const entry of entries) {
    const decoded = decodeWorkload(entry.item.object, entry.identity, entry.judged);
    if (!decoded.ok) throw new Error(`${entry.identity.kind} ${entry.identity.name}: ${decoded.error}`);
    const intent = injectionIntent(decoded.value, state.namespace(entry.identity.namespace), context);
    decisions.set(entry.identity.name, { inject: intent.inject, because: intent.because });
  }
  return decisions;
}

export interface OracleResult {
  id: string;
  injected: boolean;
  reason: string;
  webhook?: string | null;
  revision?: string | null;
  error?: string;
}

/** Run `istio-oracle inject --manifest FILE` on the cases. */
export function oracleDecisions(oracle: string, manifest: string, cases: InjectCases): Map<string, OracleResult> {
  const input = JSON.stringify({
    namespaces: cases.namespaces.map(({ name, labels }) => ({ name, labels })),
    pods: cases.pods.map(({ id, namespace, pod }) => ({ id, namespace, pod })),
  });
  const run = spawnSync(oracle, ['inject', '--manifest', manifest], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  if (run.status !== 0) throw new Error(`istio-oracle inject failed (${run.status}): ${run.stderr.slice(0, 2000)}`);
  const output = JSON.parse(run.stdout) as { pods: OracleResult[] };
  return new Map(output.pods.map((p) => [p.id, p]));
}

export interface Disagreement {
  id: string;
  namespace: string;
  namespaceLabels: Record<string, string> | undefined;
  metadata: unknown;
  hostNetwork: boolean;
  asTemplate: boolean;
  engine: Decision | undefined;
  oracle: OracleResult | undefined;
}

/** Cases where the two sides differ on "will be injected", or where either side has no answer. */
export function disagreements(cases: InjectCases, engine: Map<string, Decision>, oracle: Map<string, OracleResult>): Disagreement[] {
  const out: Disagreement[] = [];
  for (const c of cases.pods) {
    const mine = engine.get(c.id);
    const theirs = oracle.get(c.id);
    if (mine !== undefined && theirs !== undefined && !theirs.error && mine.inject === theirs.injected) continue;
    const spec = c.pod['spec'] as { hostNetwork?: boolean };
    out.push({
      id: c.id,
      namespace: c.namespace,
      namespaceLabels: cases.namespaces.find((n) => n.name === c.namespace)?.labels,
      metadata: c.pod['metadata'],
      hostNetwork: spec.hostNetwork === true,
      asTemplate: c.asTemplate,
      engine: mine,
      oracle: theirs,
    });
  }
  return out;
}

/** The injector objects (MutatingWebhookConfigurations, ConfigMaps) of a rendered istio-discovery chart. */
export function injectorObjects(renderedYaml: string): Record<string, unknown>[] {
  return parseAllDocuments(renderedYaml)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null && (d['kind'] === 'MutatingWebhookConfiguration' || d['kind'] === 'ConfigMap'));
}
