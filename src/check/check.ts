/**
 * `mtls-guard check`: treat the given objects as the desired cluster state and evaluate each one
 * as if it were applied to that state. The result does not depend on the order of the input.
 */
import {
  classify,
  decodeNamespace,
  decodePeerAuthentication,
  decodeWorkload,
  hasStatus,
  identify,
  type Identity,
} from '../engine/decode.js';
import { evaluate, type Policy } from '../engine/evaluate.js';
import type { Finding } from '../engine/findings.js';
import type { Judgement } from '../engine/types.js';
import { badObject, duplicate } from '../errors.js';
import { where, type SourcedObject } from '../manifests/load.js';
import { MemoryState } from '../state/memory-state.js';

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

export interface Entry {
  item: SourcedObject;
  identity: Required<Identity>;
  /** How a Pod is judged: by what it carries when it has a status (exported from a cluster), else by intent. */
  judged: Judgement;
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

export interface LoadedState {
  state: MemoryState;
  /** The objects mtls-guard checks (Pods, pod-template owners, PeerAuthentications), with their identity. */
  entries: Entry[];
}

/** The cluster state the objects describe. Throws UserError naming the file and line of a bad or duplicate object. */
export function buildState(items: readonly SourcedObject[], defaultNamespace: string): LoadedState {
  const state = new MemoryState();
  const entries: Entry[] = [];
  const seen = new Map<string, SourcedObject>();

  for (const item of items) {
    const { apiVersion, kind: objectKind } = item.object;
    if (typeof apiVersion !== 'string' || typeof objectKind !== 'string' || apiVersion === '' || objectKind === '') {
      throw badObject(where(item.source), 'not a Kubernetes object: apiVersion and kind must be non-empty strings');
    }
    const kind = classify(apiVersion, objectKind);
    if (!kind) continue;
    const id = identify(item.object);
    if (!id.ok) throw badObject(where(item.source), id.error);
    const namespace = kind === 'Namespace' ? '' : (id.value.namespace ?? defaultNamespace);
    const identity: Required<Identity> = { ...id.value, namespace };
    const key = `${kind === 'PeerAuthentication' ? 'PeerAuthentication' : identity.kind}/${namespace}/${identity.name}`;
    const first = seen.get(key);
    if (first) {
      const what = `${identity.kind} ${namespace ? `${namespace}/` : ''}${identity.name}`;
      throw duplicate(what, where(first.source), where(item.source));
    }
    seen.set(key, item);

    const fail = (error: string): never => {
      throw badObject(where(item.source), `${identity.kind} ${namespace ? `${namespace}/` : ''}${identity.name}: ${error}`);
    };
    if (kind === 'Namespace') {
      const decoded = decodeNamespace(item.object);
      if (!decoded.ok) fail(decoded.error);
      else state.upsertNamespace(decoded.value);
      continue;
    }
    const judged: Judgement = identity.kind === 'Pod' && hasStatus(item.object) ? 'carries' : 'intent';
    if (kind === 'PeerAuthentication') {
      const decoded = decodePeerAuthentication(item.object, identity);
      if (!decoded.ok) fail(decoded.error);
      else state.upsertPeerAuthentication(decoded.value);
    } else {
      const decoded = decodeWorkload(item.object, identity, judged);
      if (!decoded.ok) fail(decoded.error);
      else state.upsertWorkload(decoded.value);
    }
    entries.push({ item, identity, judged });
  }
  return { state, entries };
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
