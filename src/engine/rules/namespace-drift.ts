/**
 * SPEC 2.2 mtls-drift for Namespaces: an UPDATE that turns sidecar injection or ambient enrollment off (removes or
 * changes istio-injection, istio.io/rev, istio.io/dataplane-mode) where STRICT governs. Existing pods keep their
 * proxies; the pods created next land outside the mesh, where STRICT is not enforced.
 */
import { decodeNamespace, isBeingDeleted, type Decoded } from '../decode.js';
import type { Review } from '../evaluate.js';
import { fitted, type RuleFinding } from '../findings.js';
import { DATAPLANE_MODE, INJECTION_LABEL, REVISION_LABEL } from '../istio-labels.js';
import { membership, meshContext, type MeshContext } from '../mesh.js';
import { composeMode, describeSource, effectiveMode, type PolicyIndex } from '../peer-authentication.js';
import type { ClusterState, Labels, NamespaceFacts, Policy, WorkloadFacts } from '../types.js';

const ENROLLMENT_LABELS = [INJECTION_LABEL, REVISION_LABEL, DATAPLANE_MODE] as const;

/** A pod with nothing of its own, created from now on in the namespace: does it join the mesh? */
function newPodJoins(namespace: NamespaceFacts, context: MeshContext): { inMesh: boolean; ambient: boolean; because: string } {
  const probe: WorkloadFacts = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: namespace.name,
    name: 'new-pod',
    labels: {},
    sidecarStatus: false,
    hostNetwork: false,
    finished: false,
    judgedBy: 'intent',
  };
  const verdict = membership(probe, namespace, context);
  return { inMesh: verdict.inMesh, ambient: verdict.because === 'it is enrolled in ambient mode', because: verdict.because };
}

function changes(before: Labels, after: Labels): { said: string[]; undo: string[] } {
  const said: string[] = [];
  const undo: string[] = [];
  for (const key of ENROLLMENT_LABELS) {
    const was = before[key];
    const now = after[key];
    if (was === now) continue;
    if (now === undefined) said.push(`removing ${key}=${was}`);
    else if (was === undefined) said.push(`adding ${key}=${now}`);
    else said.push(`changing ${key}=${was} to ${now}`);
    undo.push(was === undefined ? `${key}-` : `${key}=${was}`);
  }
  return { said, undo };
}

/** Where STRICT governs the namespace: its namespace-level mode, else its STRICT workload policies. */
function strictThere(index: PolicyIndex, namespace: string): string | undefined {
  const resolved = composeMode(index.mesh, index.namespaceWide.get(namespace));
  if (resolved.mode === 'STRICT') return describeSource(resolved);
  const strict = (index.workloadScoped.get(namespace) ?? []).filter((p) => effectiveMode(index, p).mode === 'STRICT');
  if (strict.length === 0) return undefined;
  const names = strict.slice(0, 2).map((p) => `${p.namespace}/${p.name}`).join(', ');
  return `STRICT workload policies ${names}${strict.length > 2 ? ', …' : ''}; namespace mode: ${describeSource(resolved)}`;
}

export function namespaceDrift(review: Review, state: ClusterState, policy: Policy): Decoded<RuleFinding[]> {
  const after = decodeNamespace(review.object);
  if (!after.ok) return after;
  if (review.oldObject === undefined || review.oldObject === null) return { ok: true, value: [] };
  const before = decodeNamespace(review.oldObject);
  if (!before.ok) return before;
  const ns = after.value.name;
  if (policy.exempt.has(ns) || isBeingDeleted(review.object)) return { ok: true, value: [] };
  const { said, undo } = changes(before.value.labels, after.value.labels);
  if (said.length === 0) return { ok: true, value: [] };
  const context = meshContext(state, policy);
  const was = newPodJoins(before.value, context);
  const now = newPodJoins(after.value, context);
  if (!was.inMesh || now.inMesh) return { ok: true, value: [] };
  const strict = strictThere(state.policyIndex(policy.rootNamespace), ns);
  if (!strict) return { ok: true, value: [] };
  const what = was.ambient ? 'ambient enrollment' : 'sidecar injection';
  const head = `Namespace ${ns}: ${said.join(' and ')} turns ${what} off under STRICT (${strict}): new pods there run outside the mesh and accept plaintext.`;
  const fix = ` Fix: kubectl label namespace ${ns} ${undo.join(' ')} --overwrite`;
  const message = `${head} New pods: ${now.because}.${fix}`;
  return {
    ok: true,
    value: [
      {
        rule: 'mtls-drift',
        // Never blocks a namespace change, whatever the rule's action (SPEC 2.2: a warning).
        severity: 'advisory',
        message,
        warning: fitted([head, fix]),
        subjects: [{ kind: 'Namespace', namespace: ns, name: ns }],
      },
    ],
  };
}
