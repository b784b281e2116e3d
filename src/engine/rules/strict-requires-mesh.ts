/**
 * SPEC 2.1 strict-requires-mesh: STRICT — top-level or on a port — must not govern workloads outside the
 * mesh: STRICT is not enforced there, and they still accept plaintext.
 */
import { compareSubjects, fitted, type RuleFinding } from '../findings.js';
import { namespaceFix, type Offender } from '../fixes.js';
import { membership, meshContext } from '../mesh.js';
import {
  applicablePolicies,
  describeScope,
  effectiveMode,
  formatSelector,
  governs,
  portMode,
  scopeOf,
  strictSomewhere,
  workloadMode,
  type ApplicablePolicies,
  type PolicyIndex,
} from '../peer-authentication.js';
import { DEFAULT_CLUSTER_ID, proxyLabels, type ProxyLabels, type Topology } from '../topology.js';
import type { ClusterState, PeerAuthenticationFacts, Policy, WorkloadFacts } from '../types.js';

const LISTED_WORKLOADS = 10;
const LISTED_FIXES = 5;

/** An out-of-mesh workload and where STRICT reaches it: every port (top-level) or only the listed ports. */
export interface StrictOffender extends Offender {
  ports?: readonly number[];
  /** The policy whose STRICT reaches the workload, when it is not the reviewed one (DELETE). */
  from?: PeerAuthenticationFacts;
}

/** A workload whose governing policies depend on topology labels mtls-guard cannot know yet. */
interface Uncertain {
  workload: WorkloadFacts;
  keys: string[];
}

export function topologyOf(state: ClusterState, policy: Pick<Policy, 'rootNamespace' | 'clusterID' | 'network'>): Topology {
  const topology: Topology = {
    clusterID: policy.clusterID ?? DEFAULT_CLUSTER_ID,
    rootNamespace: policy.rootNamespace,
    namespace: (name) => state.namespace(name),
  };
  if (policy.network) topology.network = policy.network;
  if (state.node) topology.node = (name) => state.node?.(name);
  return topology;
}

const ref = (p: PeerAuthenticationFacts): string => `${p.namespace}/${p.name}`;

/** Unknown topology keys that a workload policy of the namespace selects on, its other keys matching. */
function dependsOnUnknown(index: PolicyIndex, namespace: string, labels: ProxyLabels): string[] {
  if (labels.unknown.length === 0) return [];
  const keys = new Set<string>();
  for (const candidate of index.workloadScoped.get(namespace) ?? []) {
    const selector = Object.entries(candidate.selector ?? {});
    const open = selector.filter(([key]) => labels.unknown.includes(key));
    if (open.length === 0) continue;
    if (selector.every(([key, value]) => labels.unknown.includes(key) || labels.labels[key] === value)) {
      for (const [key] of open) keys.add(key);
    }
  }
  return [...keys].sort();
}

/** Out-of-mesh workloads in the scope's namespaces, with the policies that apply to each after `index`. */
function* candidates(
  scope: ReturnType<typeof scopeOf>,
  namespaceOf: string,
  index: PolicyIndex,
  state: ClusterState,
  policy: Policy,
  topology: Topology,
): Generator<{ workload: WorkloadFacts; labels: ProxyLabels; applicable: ApplicablePolicies; namespace: string }> {
  const namespaces = scope === 'mesh' ? [...state.namespaceNames()] : [namespaceOf];
  for (const ns of namespaces) {
    if (policy.exempt.has(ns)) continue;
    // A namespace-wide mode other than UNSET decides every workload there before the mesh policy could.
    const namespaceWide = index.namespaceWide.get(ns);
    if (scope === 'mesh' && namespaceWide && namespaceWide.mode !== 'UNSET') continue;
    for (const workload of state.meshCandidates(ns)) {
      const labels = proxyLabels(workload, topology);
      yield { workload, labels, applicable: applicablePolicies(index, { namespace: ns, labels: labels.labels }), namespace: ns };
    }
  }
}

/** Ports of the workload's winning policy where `reviewed` sets STRICT, when its top-level mode is not STRICT. */
function strictPorts(reviewed: PeerAuthenticationFacts, applicable: ApplicablePolicies): number[] {
  return reviewed.portLevel.filter((entry) => portMode(applicable, entry.port).mode === 'STRICT').map((entry) => entry.port);
}

/** CREATE or UPDATE: `index` is the state with `reviewed` in it. */
export function strictRequiresMesh(reviewed: PeerAuthenticationFacts, index: PolicyIndex, state: ClusterState, policy: Policy): RuleFinding[] {
  const scope = scopeOf(reviewed, index.rootNamespace);
  if (scope === 'ignored') return [];
  const topStrict = effectiveMode(index, reviewed).mode === 'STRICT';
  const anyStrictPort = scope === 'workload' && reviewed.portLevel.some((entry) => entry.mode === 'STRICT');
  if (!topStrict && !anyStrictPort) return [];
  const topology = topologyOf(state, policy);
  const context = meshContext(state, policy);
  const offenders: StrictOffender[] = [];
  const uncertain: Uncertain[] = [];
  for (const { workload, labels, applicable, namespace } of candidates(scope, reviewed.namespace, index, state, policy, topology)) {
    const verdict = membership(workload, state.namespace(namespace), context);
    if (verdict.inMesh) continue;
    const unknownKeys = dependsOnUnknown(index, namespace, labels);
    if (unknownKeys.length > 0) uncertain.push({ workload, keys: unknownKeys });
    if (!governs(reviewed, applicable, scope)) continue;
    if (topStrict) offenders.push({ workload, membership: verdict });
    else {
      const ports = strictPorts(reviewed, applicable);
      if (ports.length > 0) offenders.push({ workload, membership: verdict, ports });
    }
  }
  const findings: RuleFinding[] = [];
  if (offenders.length > 0) {
    const inherited = topStrict && reviewed.mode === 'UNSET' ? ` (inherited from ${ref(effectiveMode(index, reviewed).source as PeerAuthenticationFacts)})` : '';
    const what = topStrict ? 'STRICT' : `STRICT on port ${reviewed.portLevel.filter((e) => e.mode === 'STRICT').map((e) => e.port).join(', ')}`;
    const headline = `PeerAuthentication ${ref(reviewed)} makes ${describeScope(reviewed, index.rootNamespace)} ${what}${inherited}`;
    findings.push(denial(reviewed, headline, offenders, 'then apply this policy again.'));
  }
  if (uncertain.length > 0) findings.push(uncertainty(reviewed, uncertain));
  return findings;
}

/**
 * DELETE: judge the policy that takes over. Denied when a workload outside the mesh that had no STRICT before
 * the deletion gets it after (a PERMISSIVE override removed under a STRICT parent, an older policy giving way
 * to a newer STRICT one).
 */
export function strictOnDelete(
  deleted: PeerAuthenticationFacts,
  before: PolicyIndex,
  after: PolicyIndex,
  state: ClusterState,
  policy: Policy,
): RuleFinding[] {
  const scope = scopeOf(deleted, before.rootNamespace);
  if (scope === 'ignored') return [];
  const topology = topologyOf(state, policy);
  const context = meshContext(state, policy);
  const offenders: StrictOffender[] = [];
  for (const { workload, labels, applicable, namespace } of candidates(scope, deleted.namespace, after, state, policy, topology)) {
    if (!strictSomewhere(applicable)) continue;
    if (strictSomewhere(applicablePolicies(before, { namespace, labels: labels.labels }))) continue;
    const verdict = membership(workload, state.namespace(namespace), context);
    if (verdict.inMesh) continue;
    const top = workloadMode(applicable);
    const offender: StrictOffender = { workload, membership: verdict };
    if (top.mode === 'STRICT') {
      if (top.source) offender.from = top.source;
    } else if (applicable.workload) {
      offender.from = applicable.workload;
      offender.ports = strictPorts(applicable.workload, applicable);
    }
    offenders.push(offender);
  }
  if (offenders.length === 0) return [];
  const takers = [...new Set(offenders.map((o) => (o.from ? ref(o.from) : '')).filter((r) => r !== ''))];
  const headline = `Deleting PeerAuthentication ${ref(deleted)} hands STRICT from ${takers.join(', ')} to ${describeScope(deleted, before.rootNamespace)}`;
  return [denial(deleted, headline, offenders, 'then delete this policy again.')];
}

/** SPEC 2.5: workloads already outside the mesh that a policy's STRICT governs today (the audit's finding). */
export function existingStrictViolation(from: PeerAuthenticationFacts, offenders: StrictOffender[], rootNamespace: string): RuleFinding {
  const ports = [...new Set(offenders.flatMap((o) => o.ports ?? []))].sort((a, b) => a - b);
  const what = offenders.every((o) => o.ports) ? `STRICT on port ${ports.join(', ')}` : 'STRICT';
  const headline = `PeerAuthentication ${ref(from)} makes ${describeScope(from, rootNamespace)} ${what}`;
  return denial(from, headline, offenders, 'Until then they accept plaintext although the policy says STRICT.');
}

function denial(policy: PeerAuthenticationFacts, headline: string, found: StrictOffender[], last: string): RuleFinding {
  const offenders = [...found].sort((a, b) => compareSubjects(a.workload, b.workload));
  const count = offenders.length === 1 ? '1 workload' : `${offenders.length} workloads`;
  const lines = [
    `${headline}, but ${count} it governs ${offenders.length === 1 ? 'is' : 'are'} outside the mesh, where STRICT is not enforced and plaintext is still accepted:`,
  ];
  for (const { workload, membership: verdict, ports } of offenders.slice(0, LISTED_WORKLOADS)) {
    const where = ports ? ` (STRICT on port ${ports.join(', ')})` : '';
    lines.push(`- ${workload.kind} ${workload.namespace}/${workload.name}${where}: ${verdict.because}`);
  }
  if (offenders.length > LISTED_WORKLOADS) lines.push(`- … and ${offenders.length - LISTED_WORKLOADS} more`);

  const byNamespace = new Map<string, StrictOffender[]>();
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
  lines.push(last);

  const first = byNamespace.keys().next().value as string;
  const firstStep = namespaceFix(first, byNamespace.get(first) ?? [])[0];
  const warning = fitted([
    `PeerAuthentication ${ref(policy)} (STRICT) governs ${count} outside the mesh, which still accept plaintext.`,
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

function uncertainty(policy: PeerAuthenticationFacts, uncertain: Uncertain[]): RuleFinding {
  const sorted = [...uncertain].sort((a, b) => compareSubjects(a.workload, b.workload));
  const keys = [...new Set(sorted.flatMap((u) => u.keys))].sort();
  const names = sorted.slice(0, 3).map(({ workload }) => `${workload.kind} ${workload.namespace}/${workload.name}`);
  const more = sorted.length > 3 ? ` and ${sorted.length - 3} more` : '';
  const selectors = (policy.selector ? ` (selector ${formatSelector(policy.selector)})` : '');
  const message =
    `PeerAuthentication ${ref(policy)}${selectors}: which policy governs ${names.join(', ')}${more} depends on ${keys.join(', ')}, ` +
    `which istiod takes from the pod's node, not known yet; judged without it`;
  return {
    rule: 'strict-requires-mesh',
    severity: 'advisory',
    message,
    warning: fitted([message]),
    subjects: sorted.map(({ workload }) => ({ kind: workload.kind, namespace: workload.namespace, name: workload.name })),
  };
}
