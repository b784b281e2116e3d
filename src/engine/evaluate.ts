/**
 * The policy engine's single entry point: one admission-like review against a cluster state gives findings.
 * Pure: no I/O, no clock. The webhook and `mtls-guard check` both call this.
 */
import {
  classify,
  decodePeerAuthentication,
  decodeWorkload,
  identify,
  isBeingDeleted,
  podTemplateOf,
  sameStoredSpec,
  type Decoded,
  type Identity,
} from './decode.js';
import type { Finding, RuleFinding } from './findings.js';
import { meshContext } from './mesh.js';
import { effectiveMode, withPolicy } from './peer-authentication.js';
import { namespaceDrift } from './rules/namespace-drift.js';
import { driftOnDelete, driftOnWrite, droppedFieldWarnings } from './rules/mtls-drift.js';
import { podRequiresMesh } from './rules/pod-requires-mesh.js';
import { strictCallers } from './rules/strict-callers.js';
import { strictOnDelete, strictRequiresMesh } from './rules/strict-requires-mesh.js';
import type { ClusterState, Judgement, ObjectRef, Operation, PeerAuthenticationFacts, Policy } from './types.js';

export interface Review {
  operation: Operation;
  /** The object as it will be stored (CREATE, UPDATE). */
  object?: unknown;
  /** The object as it was (UPDATE, DELETE). */
  oldObject?: unknown;
  /** Namespace for objects whose metadata has none (the request's namespace, or `check -n`). */
  namespace: string;
  /** How a reviewed Pod's membership is judged: `carries` after the injector ran (webhook), `intent` before. */
  podJudgement: Judgement;
}

export type Evaluation = { ok: true; object?: ObjectRef; findings: Finding[] } | { ok: false; error: string };

function withNamespace(identity: Identity, namespace: string): Required<Identity> {
  return { ...identity, namespace: identity.namespace ?? namespace };
}

function applyActions(policy: Policy, object: ObjectRef, found: RuleFinding[]): Finding[] {
  const findings: Finding[] = [];
  for (const finding of found) {
    let action = policy.actions[finding.rule];
    if (action === 'off') continue;
    if (finding.severity === 'advisory' && action === 'deny') action = 'warn';
    const message = action === 'warn' ? finding.warning : finding.message;
    findings.push({ rule: finding.rule, action, object, message, subjects: finding.subjects });
  }
  return findings;
}

function enabled(policy: Policy, rule: Finding['rule']): boolean {
  return policy.actions[rule] !== 'off';
}

function reviewPeerAuthentication(review: Review, identity: Required<Identity>, state: ClusterState, policy: Policy): Decoded<RuleFinding[]> {
  const decodeSide = (object: unknown): Decoded<PeerAuthenticationFacts | undefined> => {
    if (object === undefined || object === null) return { ok: true, value: undefined };
    const id = identify(object);
    if (!id.ok) return id;
    return decodePeerAuthentication(object, withNamespace(id.value, review.namespace));
  };
  const next = review.operation === 'DELETE' ? { ok: true as const, value: undefined } : decodeSide(review.object);
  if (!next.ok) return next;
  const previous = review.operation === 'CREATE' ? { ok: true as const, value: undefined } : decodeSide(review.oldObject);
  if (!previous.ok) return previous;
  const root = policy.rootNamespace;
  if (policy.exempt.has(identity.namespace) && identity.namespace !== root) return { ok: true, value: [] };
  // A change of metadata alone (finalizers, labels, annotations) changes nothing istiod enforces, even on a
  // policy being deleted; any other UPDATE is judged, deletionTimestamp or not: istiod enforces it until it is gone.
  if (review.operation === 'UPDATE' && sameStoredSpec(review.oldObject, review.object)) return { ok: true, value: [] };
  // The namespace controller deletes what a deleted namespace holds: never block that.
  if (review.operation === 'DELETE' && state.namespace(identity.namespace)?.terminating) return { ok: true, value: [] };

  const target = next.value ?? previous.value;
  if (!target) return { ok: true, value: [] };
  const current = state.policyIndex(root);
  const after = withPolicy(current, target, next.value);
  const before = previous.value ? withPolicy(current, target, previous.value) : undefined;

  const found: RuleFinding[] = [];
  if (next.value) {
    if (enabled(policy, 'strict-requires-mesh')) {
      const strict = strictRequiresMesh(next.value, after, state, policy);
      found.push(...strict);
      // Once nothing in the mesh is left unprotected, who outside it does STRICT cut off? Asked when STRICT is
      // new: an UPDATE of a policy that was STRICT already cuts off no one new.
      const wasStrict = previous.value && before ? effectiveMode(before, previous.value).mode === 'STRICT' : false;
      if (!wasStrict && !strict.some((f) => f.severity === 'violation')) found.push(...strictCallers(next.value, after, state, policy, state.callers?.()));
    }
    if (enabled(policy, 'mtls-drift')) {
      const prior = previous.value && before ? { policy: previous.value, index: before } : undefined;
      found.push(...droppedFieldWarnings(next.value, root));
      found.push(...driftOnWrite(next.value, after, prior));
    }
  } else if (previous.value && before) {
    if (enabled(policy, 'strict-requires-mesh')) found.push(...strictOnDelete(previous.value, before, after, state, policy));
    if (enabled(policy, 'mtls-drift')) found.push(...driftOnDelete(previous.value, before, after));
  }
  return { ok: true, value: found };
}

function reviewWorkload(review: Review, identity: Required<Identity>, state: ClusterState, policy: Policy): Decoded<RuleFinding[]> {
  const isPod = identity.kind === 'Pod';
  const applies = review.operation === 'CREATE' || (!isPod && review.operation === 'UPDATE');
  if (!applies || policy.exempt.has(identity.namespace) || !enabled(policy, 'pod-requires-mesh')) {
    return { ok: true, value: [] };
  }
  // An UPDATE that leaves the pod template alone (scaling, status, labels, finalizers) changes no pod: judging
  // it would block scaling and deletion of every workload that predates mtls-guard.
  if (review.operation === 'UPDATE') {
    if (isBeingDeleted(review.object)) return { ok: true, value: [] };
    const before = podTemplateOf(review.oldObject, identity.kind);
    if (before !== undefined && JSON.stringify(before) === JSON.stringify(podTemplateOf(review.object, identity.kind))) {
      return { ok: true, value: [] };
    }
  }
  const workload = decodeWorkload(review.object, identity, isPod ? review.podJudgement : 'intent');
  if (!workload.ok) return workload;
  const finding = podRequiresMesh(workload.value, state.namespace(identity.namespace), meshContext(state, policy));
  return { ok: true, value: finding ? [finding] : [] };
}

/** Evaluate one review. Kinds mtls-guard does not check give no findings. */
export function evaluate(review: Review, state: ClusterState, policy: Policy): Evaluation {
  const subject = review.operation === 'DELETE' ? (review.oldObject ?? review.object) : review.object;
  if (subject === undefined || subject === null) return { ok: false, error: `${review.operation} review carries no object` };
  const id = identify(subject);
  if (!id.ok) return { ok: false, error: id.error };
  const identity = withNamespace(id.value, review.namespace);
  const object: ObjectRef = { apiVersion: identity.apiVersion, kind: identity.kind, namespace: identity.namespace, name: identity.name };
  const kind = classify(identity.apiVersion, identity.kind);
  let found: Decoded<RuleFinding[]>;
  switch (kind) {
    case 'PeerAuthentication':
      found = reviewPeerAuthentication(review, identity, state, policy);
      break;
    case 'Pod':
    case 'PodTemplateOwner':
      found = reviewWorkload(review, identity, state, policy);
      break;
    case 'Namespace':
      if (review.operation !== 'UPDATE' || !enabled(policy, 'mtls-drift')) return { ok: true, findings: [] };
      found = namespaceDrift(review, state, policy);
      break;
    default:
      return { ok: true, findings: [] };
  }
  if (!found.ok) return { ok: false, error: `${identity.kind} ${identity.namespace}/${identity.name}: ${found.error}` };
  return { ok: true, object, findings: applyActions(policy, object, found.value) };
}
