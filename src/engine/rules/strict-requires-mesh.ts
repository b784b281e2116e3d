/**
 * SPEC 2.1 strict-requires-mesh: a PeerAuthentication whose effective mode is STRICT must not govern
 * workloads outside the mesh — STRICT is not enforced there, and they still accept plaintext.
 */
import { compareSubjects, fitted, type RuleFinding } from '../findings.js';
import { namespaceFix, type Offender } from '../fixes.js';
import { membership, type MeshContext } from '../mesh.js';
import {
  applicablePolicies,
  describeScope,
  effectiveMode,
  governs,
  scopeOf,
  type PolicyIndex,
} from '../peer-authentication.js';
import type { ClusterState, PeerAuthenticationFacts } from '../types.js';

const LISTED_WORKLOADS = 10;
const LISTED_FIXES = 5;

/** Workloads the policy governs that are outside the mesh, oldest namespace first. */
export function ungovernableWorkloads(
  policy: PeerAuthenticationFacts,
  index: PolicyIndex,
  state: ClusterState,
  exempt: ReadonlySet<string>,
  context?: MeshContext,
): Offender[] {
  const scope = scopeOf(policy, index.rootNamespace);
  if (scope === 'ignored') return [];
  const namespaces = scope === 'mesh' ? [...state.namespaceNames()] : [policy.namespace];
  const offenders: Offender[] = [];
  for (const ns of namespaces) {
    if (exempt.has(ns)) continue;
    if (scope === 'mesh') {
      const namespaceWide = index.namespaceWide.get(ns);
      if (namespaceWide && namespaceWide.mode !== 'UNSET') continue;
    }
    const namespace = state.namespace(ns);
    for (const workload of state.meshCandidates(ns)) {
      if (!governs(policy, applicablePolicies(index, workload), scope)) continue;
      const verdict = membership(workload, namespace, context);
      if (!verdict.inMesh) offenders.push({ workload, membership: verdict });
    }
  }
  return offenders.sort((a, b) => compareSubjects(a.workload, b.workload));
}

export function strictRequiresMesh(
  policy: PeerAuthenticationFacts,
  index: PolicyIndex,
  state: ClusterState,
  exempt: ReadonlySet<string>,
  context?: MeshContext,
): RuleFinding | undefined {
  const resolved = effectiveMode(index, policy);
  if (resolved.mode !== 'STRICT') return undefined;
  const offenders = ungovernableWorkloads(policy, index, state, exempt, context);
  if (offenders.length === 0) return undefined;

  const inherited = policy.mode === 'UNSET' ? ` (inherited from ${resolved.source?.namespace}/${resolved.source?.name})` : '';
  const count = offenders.length === 1 ? '1 workload' : `${offenders.length} workloads`;
  const lines = [
    `PeerAuthentication ${policy.namespace}/${policy.name} makes ${describeScope(policy, index.rootNamespace)} STRICT${inherited}, ` +
      `but ${count} it governs ${offenders.length === 1 ? 'is' : 'are'} outside the mesh, where STRICT is not enforced and plaintext is still accepted:`,
  ];
  for (const { workload, membership: verdict } of offenders.slice(0, LISTED_WORKLOADS)) {
    lines.push(`- ${workload.kind} ${workload.namespace}/${workload.name}: ${verdict.because}`);
  }
  if (offenders.length > LISTED_WORKLOADS) lines.push(`- … and ${offenders.length - LISTED_WORKLOADS} more`);

  const byNamespace = new Map<string, Offender[]>();
  for (const offender of offenders) {
    const list = byNamespace.get(offender.workload.namespace);
    if (list) list.push(offender);
    else byNamespace.set(offender.workload.namespace, [offender]);
  }
  lines.push('Fix: inject, then protect:');
  for (const [ns, list] of [...byNamespace].slice(0, LISTED_FIXES)) {
    lines.push(`- ${ns}: ${namespaceFix(ns, list).join('; ')}`);
  }
  if (byNamespace.size > LISTED_FIXES) lines.push(`- … and ${byNamespace.size - LISTED_FIXES} more namespaces`);
  lines.push('then apply this policy again.');

  const first = byNamespace.keys().next().value as string;
  const firstStep = namespaceFix(first, byNamespace.get(first) ?? [])[0];
  const warning = fitted([
    `PeerAuthentication ${policy.namespace}/${policy.name} (STRICT) governs ${count} outside the mesh, which still accept plaintext.`,
    firstStep ? ` Fix: ${firstStep}, then restart them.` : '',
    ...offenders.slice(0, 3).map(({ workload }, i) => `${i === 0 ? ' Outside: ' : ', '}${workload.kind} ${workload.namespace}/${workload.name}`),
  ]);
  return {
    rule: 'strict-requires-mesh',
    severity: 'violation',
    message: lines.join('\n'),
    warning,
    subjects: offenders.map(({ workload }) => ({ kind: workload.kind, namespace: workload.namespace, name: workload.name })),
  };
}
