/**
 * One admission review, composed as decode -> filter -> evaluate -> respond.
 * Returns what to send and what to log; the HTTP layer stays thin.
 */
import { classify } from '../engine/decode.js';
import { withTypeMeta } from '../engine/objects.js';
import { evaluate } from '../engine/evaluate.js';
import type { Policy } from '../engine/types.js';
import type { Finding } from '../engine/findings.js';
import type { StateSource } from '../state/source.js';
import {
  apiVersionOf,
  parseAdmissionReview,
  respond,
  respondRetry,
  review,
  type AdmissionRequest,
  type AdmissionReviewResponse,
} from './admission-review.js';

export type ReviewOutcome =
  | { kind: 'answer'; body: AdmissionReviewResponse; request: AdmissionRequest; findings: readonly Finding[]; decision: Decision }
  | { kind: 'bad-request'; error: string }
  | { kind: 'unavailable'; error: string; request: AdmissionRequest };

/** What judging a valid AdmissionReview gives. */
export type JudgedOutcome = Exclude<ReviewOutcome, { kind: 'bad-request' }>;

export type Decision = 'allow' | 'warn' | 'deny' | 'skip' | 'retry' | 'invalid';

export const NOT_SYNCED_MESSAGE =
  'mtls-guard is still loading the cluster state (pods, namespaces, PeerAuthentications) and cannot judge this change yet; retry in a few seconds';

/** Objects may arrive without TypeMeta; the request's kind fills it in. */
function withRequestKind(object: Record<string, unknown> | null | undefined, request: AdmissionRequest): unknown {
  if (!object) return undefined;
  return withTypeMeta(object, apiVersionOf(request.kind), request.kind.kind);
}

function decisionOf(findings: readonly Finding[]): Decision {
  if (findings.some((f) => f.action === 'deny')) return 'deny';
  if (findings.some((f) => f.action === 'warn')) return 'warn';
  return 'allow';
}

/** How long a review waits for a namespace that the watch has not delivered yet. */
export const NAMESPACE_WAIT_MS = 2000;

/** Validate a parsed body as an AdmissionReview, then judge it. */
export async function handleReview(body: unknown, source: StateSource, policy: Policy): Promise<ReviewOutcome> {
  const parsed = parseAdmissionReview(body);
  if (!parsed.ok) return { kind: 'bad-request', error: parsed.error };
  return judgeRequest(parsed.request, source, policy);
}

/** Judge the request of a valid AdmissionReview; `peer` (the client's address) shares out waits for namespaces. */
export async function judgeRequest(request: AdmissionRequest, source: StateSource, policy: Policy, peer?: string): Promise<JudgedOutcome> {
  const checked = classify(apiVersionOf(request.kind), request.kind.kind);
  if (!checked || (checked === 'Namespace' && request.operation !== 'UPDATE') || request.operation === 'CONNECT') {
    return { kind: 'answer', body: respond(request.uid, []), request, findings: [], decision: 'skip' };
  }
  if (!source.ready()) {
    if (checked === 'PeerAuthentication') {
      return { kind: 'answer', body: respondRetry(request.uid, NOT_SYNCED_MESSAGE), request, findings: [], decision: 'retry' };
    }
    return { kind: 'unavailable', error: NOT_SYNCED_MESSAGE, request };
  }
  const waitForNamespace = source.namespaceArrival && checked !== 'PeerAuthentication' && checked !== 'Namespace' && request.namespace && !source.state.namespace(request.namespace);
  if (waitForNamespace && !(await source.namespaceArrival?.(request.namespace as string, NAMESPACE_WAIT_MS, peer))) {
    // Created a moment ago and not seen through the watch yet: its labels are unknown, so do not guess.
    return { kind: 'unavailable', error: `namespace ${request.namespace} is not in mtls-guard's cache yet; retry in a few seconds`, request };
  }
  const result = evaluate(
    {
      operation: request.operation,
      object: withRequestKind(request.object, request),
      oldObject: withRequestKind(request.oldObject, request),
      namespace: request.namespace ?? '',
      podJudgement: 'carries',
    },
    source.state,
    policy,
  );
  if (!result.ok) {
    const body = review({
      uid: request.uid,
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: `mtls-guard cannot read this object: ${result.error}` },
    });
    return { kind: 'answer', body, request, findings: [], decision: 'invalid' };
  }
  return { kind: 'answer', body: respond(request.uid, result.findings), request, findings: result.findings, decision: decisionOf(result.findings) };
}
