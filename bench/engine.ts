/**
 * Engine decision time, in-process: a Pod review, a namespace-wide STRICT over 10,000 pods, and a mesh-wide
 * STRICT over 100,000 pods in 2,000 namespaces, on states held as `serve` holds them (the continuous audit
 * following them). Baseline, in the same run: the same STRICT decision by a full
 * scan of every pod (what the engine did before the per-namespace candidate index).
 */
import { pino } from 'pino';
import { AuditService } from '../src/server/audit-service.js';
import { buildState } from '../src/state/build-state.js';
import { DEFAULT_CONFIG, type Config } from '../src/config/config.js';
import { policyFor } from '../src/config/config.js';
import { evaluate } from '../src/engine/evaluate.js';
import { membership } from '../src/engine/mesh.js';
import { applicablePolicies, governs, indexPolicies } from '../src/engine/peer-authentication.js';
import type { ClusterState, PeerAuthenticationFacts } from '../src/engine/types.js';
import { cluster, peerAuthentication, pod, type Obj } from './fixtures.js';
import { timeMicros, type Percentiles } from './stats.js';

const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config);

function stateOf(objects: Iterable<Obj>): ClusterState {
  const items = [...objects].map((object, i) => ({ object, source: { file: 'bench', line: i } }));
  return buildState(items, 'default').state;
}

/** The state as `serve` holds it: with the continuous audit following it, whose tallies name the possible callers. */
function servedStateOf(objects: Iterable<Obj>): ClusterState {
  const items = [...objects].map((object, i) => ({ object, source: { file: 'bench', line: i } }));
  const { state } = buildState(items, 'default');
  new AuditService(state, policy, 'bench', pino({ level: 'silent' }), () => true).report();
  return state;
}

/** The baseline: the strict rule's question answered by looking at every pod of every namespace. */
function fullScan(state: ClusterState, strict: PeerAuthenticationFacts): number {
  const index = indexPolicies([...state.peerAuthentications(), strict], 'istio-system');
  let outside = 0;
  for (const ns of state.namespaceNames()) {
    if (policy.exempt.has(ns)) continue;
    const namespace = state.namespace(ns);
    for (const workload of state.workloads(ns)) {
      if (workload.hostNetwork || workload.finished) continue;
      if (!governs(strict, applicablePolicies(index, workload), strict.namespace === 'istio-system' ? 'mesh' : strict.selector ? 'workload' : 'namespace')) continue;
      if (!membership(workload, namespace).inMesh) outside += 1;
    }
  }
  return outside;
}

export interface EngineResults {
  podReview: Percentiles;
  namespaceStrict10k: { engine: Percentiles; fullScan: Percentiles; pods: number };
  meshStrict100k: { engine: Percentiles; fullScan: Percentiles; pods: number; namespaces: number; policies: number };
}

export function runEngine(quick: boolean): EngineResults {
  // Pod review against a 10k-pod state.
  const small = servedStateOf(cluster(200, 50, 100));
  const injectedPod = pod('team-1', 'checkout-1', true);
  const podReview = timeMicros(
    () => evaluate({ operation: 'CREATE', object: injectedPod, namespace: 'team-1', podJudgement: 'carries' }, small, policy),
    quick ? 2000 : 20000,
  );

  // Namespace-wide STRICT over one namespace of 10,000 injected pods (all must be checked; verdict: allowed).
  const bigNamespace = [...cluster(1, 0, 0)];
  bigNamespace.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'istio-injection': 'enabled' } } });
  for (let i = 0; i < 10_000; i++) bigNamespace.push(pod("payments", `api-${i}`, true));
  const nsState = servedStateOf(bigNamespace);
  const nsStrict = peerAuthentication('payments', 'default', 'STRICT');
  const nsStrictFacts = [...stateOf([nsStrict]).peerAuthentications()][0] as PeerAuthenticationFacts;
  const iterations = quick ? 50 : 300;
  const namespaceStrict10k = {
    pods: 10_000,
    engine: timeMicros(() => evaluate({ operation: 'CREATE', object: nsStrict, namespace: 'payments', podJudgement: 'carries' }, nsState, policy), iterations, 10),
    fullScan: timeMicros(() => fullScan(nsState, nsStrictFacts), iterations, 10),
  };

  // Mesh-wide STRICT over 100k pods in 2,000 namespaces with 1,000 policies.
  const [namespaces, perNamespace] = quick ? [400, 50] : [2000, 50];
  const meshState = servedStateOf(cluster(namespaces, perNamespace, 800));
  const meshStrict = peerAuthentication('istio-system', 'default', 'STRICT');
  const meshStrictFacts = [...stateOf([meshStrict]).peerAuthentications()][0] as PeerAuthenticationFacts;
  const verdict = evaluate({ operation: 'CREATE', object: meshStrict, namespace: 'istio-system', podJudgement: 'carries' }, meshState, policy);
  if (!verdict.ok || verdict.findings.some((f) => f.action === 'deny')) throw new Error('benchmark cluster should allow the mesh-wide STRICT');
  const meshIterations = quick ? 20 : 200;
  const meshStrict100k = {
    pods: namespaces * perNamespace,
    namespaces,
    policies: [...meshState.peerAuthentications()].length + 1,
    engine: timeMicros(() => evaluate({ operation: 'CREATE', object: meshStrict, namespace: 'istio-system', podJudgement: 'carries' }, meshState, policy), meshIterations, 5),
    fullScan: timeMicros(() => fullScan(meshState, meshStrictFacts), Math.max(5, meshIterations / 10), 2),
  };
  return { podReview, namespaceStrict10k, meshStrict100k };
}
