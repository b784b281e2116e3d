/**
 * `mtls-guard check`: treat the given objects as the desired cluster state and evaluate each one
 * as if it were applied to that state. The result does not depend on the order of the input.
 */
import { evaluate } from '../engine/evaluate.js';
import type { Finding } from '../engine/findings.js';
import type { Policy } from '../engine/types.js';
import { badObject } from '../errors.js';
import { where, type SourcedObject } from '../manifests/load.js';
import { buildState } from '../state/build-state.js';

export interface CheckSummary {
  objects: number;
  deny: number;
  warn: number;
  audit: number;
}

export interface LocatedFinding extends Finding {
  source: string;
}

export interface CheckResult {
  findings: LocatedFinding[];
  summary: CheckSummary;
}

function compareFindings(a: LocatedFinding, b: LocatedFinding): number {
  const key = (f: LocatedFinding): string[] => [f.object.kind, f.object.namespace ?? '', f.object.name, f.rule, f.action, f.message];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) {
    const order = (ka[i] as string).localeCompare(kb[i] as string);
    if (order !== 0) return order;
  }
  return 0;
}

/** Build the state from every object, then evaluate each checked object against it. Throws UserError on bad objects. */
export function check(items: readonly SourcedObject[], policy: Policy, defaultNamespace: string): CheckResult {
  const { state, entries } = buildState(items, defaultNamespace);
  const findings: LocatedFinding[] = [];
  for (const { item, identity, judged } of entries) {
    const result = evaluate(
      { operation: 'CREATE', object: item.object, namespace: identity.namespace, podJudgement: judged },
      state,
      policy,
    );
    if (!result.ok) throw badObject(where(item.source), result.error);
    for (const finding of result.findings) findings.push({ ...finding, source: where(item.source) });
  }
  findings.sort(compareFindings);
  const summary: CheckSummary = { objects: items.length, deny: 0, warn: 0, audit: 0 };
  for (const finding of findings) summary[finding.action] += 1;
  return { findings, summary };
}
