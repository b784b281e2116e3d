/**
 * `mtls-guard check`: treat the given objects (plus, with --kubeconfig, the live cluster's) as the desired
 * cluster state and evaluate each given object as if it were applied to that state. The result does not depend
 * on the order of the input.
 */
import { evaluate } from '../engine/evaluate.js';
import type { Finding } from '../engine/findings.js';
import type { Action, ObjectRef, Policy, RuleId } from '../engine/types.js';
import { badObject } from '../errors.js';
import { where, type SourcedObject } from '../manifests/load.js';
import { buildState, type Entry } from '../state/build-state.js';
import { liveContext, type LiveContext } from './live-context.js';
import { NAMESPACE_UNKNOWN, resolveUnknownNamespaces } from './namespace-unknown.js';

export type CheckRuleId = RuleId | typeof NAMESPACE_UNKNOWN;

export interface CheckSummary {
  objects: number;
  deny: number;
  warn: number;
  audit: number;
  /** With a live cluster: where the state came from. */
  sources?: StateSources;
}

export interface StateSources {
  /** The checked input's objects. */
  files: number;
  /** Objects read from the cluster and used, by source label (`cluster:<context>`). */
  cluster: Record<string, number>;
  /** Live objects replaced by a file's object of the same identity. */
  overridden: string[];
  /** Live objects that could not be read (skipped). */
  skipped: number;
}

export interface LocatedFinding extends Omit<Finding, 'rule'> {
  rule: CheckRuleId;
  /** file:line of the checked object. */
  source: string;
}

export interface CheckedObject {
  object: ObjectRef;
  source: string;
  /** Read as cluster state only: a Namespace, a Node, Istio's injector configuration (no rule judges it on its own). */
  stateOnly?: true;
  /** A kind mtls-guard does not check: why it was skipped. */
  skipped?: string;
}

export interface CheckResult {
  findings: LocatedFinding[];
  summary: CheckSummary;
  /** Every input object (one JUnit test case each), in input order; those no rule judged say why. */
  checked: CheckedObject[];
  /** Notes about the state (e.g. the cluster has no PeerAuthentication CRD; skipped live objects). */
  notes: string[];
}

export interface LiveInput {
  source: string;
  objects: readonly SourcedObject[];
  notes?: readonly string[];
}

export interface CheckOptions {
  /** The live cluster's objects: state for the checked objects, never checked themselves. */
  live?: LiveInput;
  /** Action of the `namespace-unknown` finding (default warn). */
  namespaceUnknown?: Action;
}

/** A finding of one of the engine's rules (which the webhook reports too), not of check's own namespace-unknown. */
export function isEngineFinding(finding: LocatedFinding): finding is LocatedFinding & { rule: RuleId } {
  return finding.rule !== NAMESPACE_UNKNOWN;
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

function inputRef(item: SourcedObject, defaultNamespace: string): ObjectRef {
  const metadata = (item.object['metadata'] ?? {}) as { name?: unknown; namespace?: unknown };
  const kind = String(item.object['kind']);
  const given = typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : undefined;
  const namespace = given ?? (kind === 'ConfigMap' ? defaultNamespace : undefined);
  return {
    apiVersion: String(item.object['apiVersion']),
    kind,
    ...(namespace ? { namespace } : {}),
    name: typeof metadata.name === 'string' ? metadata.name : '(no name)',
  };
}

const objectOf = (entry: Entry): ObjectRef => ({
  apiVersion: entry.identity.apiVersion,
  kind: entry.identity.kind,
  namespace: entry.identity.namespace,
  name: entry.identity.name,
});

/** Build the state from every object, then evaluate each checked object against it. Throws UserError on bad input objects. */
export function check(items: readonly SourcedObject[], policy: Policy, defaultNamespace: string, options: CheckOptions = {}): CheckResult {
  const context: LiveContext = liveContext(items, options.live, defaultNamespace);
  const { state, entries, stateOnly } = buildState([...items, ...context.used], defaultNamespace);
  const checkedEntries = entries.filter((entry) => !context.isLive(entry.item));
  const findingsOf = (entry: Entry): Finding[] => {
    const result = evaluate(
      { operation: 'CREATE', object: entry.item.object, namespace: entry.identity.namespace, podJudgement: entry.judged },
      state,
      policy,
    );
    if (!result.ok) throw badObject(where(entry.item.source), result.error);
    return result.findings;
  };
  const raw = new Map<Entry, Finding[]>();
  for (const entry of checkedEntries) raw.set(entry, findingsOf(entry));
  const resolved = resolveUnknownNamespaces({
    state,
    entries,
    checked: raw,
    findingsOf,
    policy,
    action: options.namespaceUnknown ?? 'warn',
    ...(options.live ? { cluster: options.live.source } : {}),
  });

  const findings: LocatedFinding[] = [];
  for (const [entry, found] of resolved) {
    for (const finding of found) findings.push({ ...finding, source: where(entry.item.source) });
  }
  findings.sort(compareFindings);
  const summary: CheckSummary = { objects: items.length, deny: 0, warn: 0, audit: 0 };
  for (const finding of findings) summary[finding.action] += 1;
  const notes = [...context.notes];
  if (options.live) {
    summary.sources = {
      files: items.length,
      cluster: { [options.live.source]: context.used.length },
      overridden: context.overridden,
      skipped: context.skipped,
    };
  }
  const judged = new Map(checkedEntries.map((entry) => [entry.item, entry]));
  const checked = items.map((item): CheckedObject => {
    const entry = judged.get(item);
    if (entry) return { object: objectOf(entry), source: where(item.source) };
    const object = inputRef(item, defaultNamespace);
    if (stateOnly.has(item)) return { object, source: where(item.source), stateOnly: true };
    const injectorKind = object.kind === 'ConfigMap' || object.kind === 'MutatingWebhookConfiguration';
    const why = injectorKind ? `not Istio's sidecar injector configuration: mtls-guard does not read this ${object.kind}` : `kind ${object.kind} is not checked by mtls-guard`;
    return { object, source: where(item.source), skipped: why };
  });
  return { findings, summary, checked, notes };
}
