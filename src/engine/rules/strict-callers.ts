/**
 * SPEC 2.5, in a review: the workloads outside the mesh that a STRICT policy cuts off. With Istio's telemetry,
 * the sources of the plaintext traffic its workloads received; without it, every workload outside the mesh
 * that could be calling them, said as such. An advisory of strict-requires-mesh: a warning, never a denial.
 */
import type { TrafficCount } from '../../telemetry/plaintext-callers.js';
import { compareSubjects, durationText, fitted, type RuleFinding } from '../findings.js';
import { istioWorkloadName } from '../istio-workload-name.js';
import { membership, meshContext } from '../mesh.js';
import { applicablePolicies, describeScope, effectiveMode, governs, scopeOf, strictSomewhere, type PolicyIndex } from '../peer-authentication.js';
import { proxyLabels } from '../topology.js';
import type { CallerEvidence, ClusterState, PeerAuthenticationFacts, Policy, SubjectRef, WorkloadFacts } from '../types.js';
import { topologyOf } from './strict-requires-mesh.js';

const LISTED = 3;
const ref = (p: PeerAuthenticationFacts): string => `${p.namespace}/${p.name}`;

/** The namespaces the policy can govern: its own, or for a mesh-wide one those without a namespace-wide mode of their own. */
function* namespacesOf(scope: ReturnType<typeof scopeOf>, policy: PeerAuthenticationFacts, index: PolicyIndex, state: ClusterState): Generator<string> {
  if (scope !== 'mesh') {
    yield policy.namespace;
    return;
  }
  for (const namespace of state.namespaceNames()) {
    const own = index.namespaceWide.get(namespace);
    if (!own || own.mode === 'UNSET') yield namespace;
  }
}

/** The in-mesh workloads of `namespace` that `reviewed`'s STRICT governs. */
function* governed(reviewed: PeerAuthenticationFacts, index: PolicyIndex, namespace: string, state: ClusterState, policy: Policy): Generator<WorkloadFacts> {
  const scope = scopeOf(reviewed, index.rootNamespace);
  const topology = topologyOf(state, policy);
  const context = meshContext(state, policy);
  const facts = state.namespace(namespace);
  for (const workload of state.workloads(namespace)) {
    if (workload.finished) continue;
    const applicable = applicablePolicies(index, { namespace, labels: proxyLabels(workload, topology).labels });
    if (!governs(reviewed, applicable, scope) || !strictSomewhere(applicable)) continue;
    if (membership(workload, facts, context).inMesh) yield workload;
  }
}

/** Without telemetry: the workloads outside the mesh, by a walk over the namespaces mtls-guard checks. */
function outsideByWalk(state: ClusterState, policy: Policy, limit: number): { count: number; first: SubjectRef[] } {
  const context = meshContext(state, policy);
  const outside: SubjectRef[] = [];
  for (const namespace of state.namespaceNames()) {
    if (policy.exempt.has(namespace)) continue;
    const facts = state.namespace(namespace);
    for (const workload of state.meshCandidates(namespace)) {
      if (!membership(workload, facts, context).inMesh) outside.push({ kind: workload.kind, namespace, name: workload.name });
    }
  }
  return { count: outside.length, first: outside.sort(compareSubjects).slice(0, limit) };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** CREATE or UPDATE that leaves `reviewed` STRICT (top-level or on a port): who it cuts off. */
export function strictCallers(
  reviewed: PeerAuthenticationFacts,
  index: PolicyIndex,
  state: ClusterState,
  policy: Policy,
  evidence: CallerEvidence | undefined,
): RuleFinding[] {
  const scope = scopeOf(reviewed, index.rootNamespace);
  if (scope === 'ignored') return [];
  const strict = effectiveMode(index, reviewed).mode === 'STRICT' || (scope === 'workload' && reviewed.portLevel.some((entry) => entry.mode === 'STRICT'));
  if (!strict) return [];
  const observed = evidence?.observed;
  if (observed) {
    const wanted = new Map<string, Set<string>>();
    for (const entry of observed.destinations()) {
      const names = wanted.get(entry.destination.namespace) ?? new Set<string>();
      names.add(entry.destination.name);
      wanted.set(entry.destination.namespace, names);
    }
    const sources = new Map<string, TrafficCount & { name: string }>();
    const unidentified: TrafficCount = { requests: 0, connections: 0 };
    const destinations = new Set<string>();
    for (const namespace of namespacesOf(scope, reviewed, index, state)) {
      const names = wanted.get(namespace);
      if (!names) continue;
      for (const workload of governed(reviewed, index, namespace, state, policy)) {
        const name = istioWorkloadName(workload);
        if (!name || !names.has(name.name) || destinations.has(`${namespace}/${name.name}`)) continue;
        destinations.add(`${namespace}/${name.name}`);
        const callers = observed.callersOf(name);
        for (const caller of callers?.sources ?? []) {
          const key = `${caller.source.namespace}/${caller.source.name}`;
          const total = sources.get(key) ?? { name: key, requests: 0, connections: 0 };
          total.requests += caller.requests;
          total.connections += caller.connections;
          sources.set(key, total);
        }
        unidentified.requests += callers?.unidentified?.requests ?? 0;
        unidentified.connections += callers?.unidentified?.connections ?? 0;
      }
    }
    if (sources.size === 0 && unidentified.requests + unidentified.connections === 0) return [];
    const busiest = [...sources.values()].sort((a, b) => b.requests + b.connections - (a.requests + a.connections) || a.name.localeCompare(b.name));
    const traffic = (t: TrafficCount): string =>
      [t.requests > 0 ? plural(t.requests, 'request') : '', t.connections > 0 ? plural(t.connections, 'connection') : ''].filter(Boolean).join(', ');
    const unnamed = unidentified.requests + unidentified.connections > 0 ? `from sources Istio could not name: ${traffic(unidentified)}` : '';
    const message =
      `PeerAuthentication ${ref(reviewed)} (STRICT) refuses plaintext, and Istio saw plaintext reach ${describeScope(reviewed, index.rootNamespace)} ` +
      `in the last ${durationText(observed.windowSeconds)}: ` +
      [...busiest.map((s) => `${s.name} (${traffic(s)})`), unnamed].filter(Boolean).join('; ') +
      '. Those callers will be cut off: bring them into the mesh first.';
    const warning = fitted([
      `PeerAuthentication ${ref(reviewed)} (STRICT) cuts off plaintext callers seen in the last ${durationText(observed.windowSeconds)}:`,
      ...busiest.slice(0, LISTED).map((s, i) => `${i === 0 ? ' ' : ', '}${s.name}`),
      busiest.length > LISTED ? ` and ${busiest.length - LISTED} more` : '',
      unnamed ? `; ${unnamed}` : '',
    ]);
    return [{ rule: 'strict-requires-mesh', severity: 'advisory', message, warning, subjects: [] }];
  }
  // Without telemetry: does it govern any workload at all, and who outside the mesh could be calling?
  let governsAny = false;
  for (const namespace of namespacesOf(scope, reviewed, index, state)) {
    if (!governed(reviewed, index, namespace, state, policy).next().done) {
      governsAny = true;
      break;
    }
  }
  if (!governsAny) return [];
  const outside = evidence?.outside?.(LISTED) ?? outsideByWalk(state, policy, LISTED);
  if (outside.count === 0) return [];
  const names = outside.first.map((s) => `${s.kind} ${s.namespace}/${s.name}`);
  const more = outside.count > names.length ? ` and ${outside.count - names.length} more` : '';
  const scopeText = describeScope(reviewed, index.rootNamespace);
  const message =
    `PeerAuthentication ${ref(reviewed)} (STRICT) refuses plaintext to ${scopeText}; ` +
    `${plural(outside.count, 'workload')} outside the mesh could be calling it and would be cut off: ${names.join(', ')}${more}. ` +
    'Without telemetry (--prometheus-url) mtls-guard cannot tell which of them really do.';
  const warning = fitted([
    `PeerAuthentication ${ref(reviewed)} (STRICT): ${plural(outside.count, 'workload')} outside the mesh could be calling ${scopeText} and would be cut off:`,
    ...names.map((name, i) => `${i === 0 ? ' ' : ', '}${name}`),
    more,
    ' (no telemetry to say which do)',
  ]);
  return [{ rule: 'strict-requires-mesh', severity: 'advisory', message, warning, subjects: outside.first }];
}
