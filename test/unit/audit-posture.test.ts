/**
 * The continuous audit's posture, kept current one event at a time and settled in slices, must equal the
 * posture judged from scratch over the same final state; and the audit's violations must be the admission
 * rules' verdicts (a PeerAuthentication's STRICT denial, a workload's pod-requires-mesh) on the same state.
 */
import t from 'tap';
import { auditState } from '../../src/audit/audit.js';
import { buildReport } from '../../src/audit/build-report.js';
import { MeshPosture } from '../../src/audit/posture.js';
import { decodeNode, decodePeerAuthentication } from '../../src/engine/decode.js';
import { evaluate } from '../../src/engine/evaluate.js';
import type { NamespaceFacts, PeerAuthenticationFacts, WorkloadFacts } from '../../src/engine/types.js';
import { buildState } from '../../src/state/build-state.js';
import { MemoryState } from '../../src/state/memory-state.js';
import type { StoredWorkload } from '../../src/state/stored-workload.js';
import { Random } from '../support/fuzz/random.js';
import { enginePolicy } from '../support/pa-diff/compare.js';
import { generate, manifests, NODES, policiesAfter, rootMenu, type GenState } from '../support/pa-diff/generate.js';

const STATES = 1500;

function fullState(gen: GenState): { state: MemoryState; objects: Record<string, unknown>[] } {
  const policies = policiesAfter(gen).filter((p) => {
    const manifest = manifests({ ...gen, namespaces: [], workloads: [] }, [p]).at(-1) as Record<string, unknown>;
    return decodePeerAuthentication(manifest, { apiVersion: p.apiVersion, kind: 'PeerAuthentication', namespace: p.namespace, name: p.name }).ok;
  });
  const objects = manifests(gen, policies);
  const items = objects.map((object, i) => ({ object, source: { file: gen.id, line: i + 1 } }));
  return { state: buildState(items, 'default').state, objects };
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

interface Facts {
  namespaces: NamespaceFacts[];
  workloads: WorkloadFacts[];
  policies: PeerAuthenticationFacts[];
}

function factsOf(state: MemoryState): Facts {
  const namespaces: NamespaceFacts[] = [];
  const workloads: WorkloadFacts[] = [];
  for (const name of state.namespaceNames()) {
    const ns = state.namespace(name);
    if (ns) namespaces.push(ns);
    workloads.push(...state.workloads(name));
  }
  return { namespaces, workloads, policies: [...state.peerAuthentications()] };
}

function copyOf(facts: Facts): MemoryState {
  const copy = new MemoryState();
  for (const node of NODES) {
    const decoded = decodeNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: node.labels } });
    if (decoded.ok) copy.upsertNode(decoded.value);
  }
  for (const ns of facts.namespaces) copy.upsertNamespace(ns);
  for (const w of facts.workloads) copy.upsertWorkload(w);
  for (const p of facts.policies) copy.upsertPeerAuthentication(p);
  return copy;
}

t.test('the posture kept by events and settled in slices equals the posture judged from scratch', async (t) => {
  const menu = rootMenu(7);
  let compared = 0;
  let mismatches = 0;
  for (let i = 0; i < STATES; i++) {
    const gen = generate(7, i, menu);
    const policy = enginePolicy(gen);
    const random = new Random(1000 + i);
    const target = factsOf(fullState(gen).state);
    const live = new MemoryState();
    const posture = new MeshPosture(live, policy);
    live.changes = posture;
    const maybeSettle = (): void => {
      if (!random.chance(0.3)) return;
      let slices = random.int(3);
      posture.settle(() => slices-- <= 0, random.between(1, 3));
    };
    for (const node of NODES) {
      const decoded = decodeNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: node.labels } });
      if (decoded.ok) live.upsertNode(decoded.value);
    }
    const steps: (() => void)[] = [
      ...target.namespaces.map((ns) => () => live.upsertNamespace(ns)),
      ...target.workloads.map((w) => () => live.upsertWorkload(w)),
      ...target.policies.map((p) => () => live.upsertPeerAuthentication(p)),
    ];
    for (const step of shuffled(steps, random)) {
      step();
      maybeSettle();
    }
    // Then churn: relabel namespaces, drop and re-add workloads and policies, move a node's zone.
    for (let k = 0; k < 6; k++) {
      const roll = random.int(4);
      if (roll === 0 && target.namespaces.length > 0) {
        const ns = random.pick(target.namespaces);
        const labels: Record<string, string> = ns.labels['istio-injection'] ? {} : { 'istio-injection': 'enabled' };
        live.upsertNamespace({ ...ns, labels });
      } else if (roll === 1 && target.workloads.length > 0) {
        const w = random.pick(target.workloads);
        live.deleteWorkload(w.namespace, w.kind, w.name);
        if (random.chance(0.5)) live.upsertWorkload({ ...(w as StoredWorkload).toJSON(), labels: { ...w.labels, app: random.pick(['web', 'db', 'api']) } });
      } else if (roll === 2 && target.policies.length > 0) {
        const p = random.pick(target.policies);
        live.deletePeerAuthentication(p.namespace, p.name);
        if (random.chance(0.5)) live.upsertPeerAuthentication({ ...p, mode: random.pick(['STRICT', 'PERMISSIVE', 'UNSET'] as const) });
      } else {
        const decoded = decodeNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': random.pick(['z1', 'z2']) } } });
        if (decoded.ok) live.upsertNode(decoded.value);
      }
      maybeSettle();
    }
    posture.settle();
    const kept = buildReport({ state: live, policy, posture, source: gen.id });
    const fresh = copyOf(factsOf(live));
    const nodeA = live.node('node-a');
    if (nodeA) fresh.upsertNode(nodeA);
    const judged = auditState(fresh, policy, gen.id);
    compared++;
    if (JSON.stringify(kept) !== JSON.stringify(judged)) {
      mismatches++;
      if (mismatches <= 3) t.same(kept, judged, `state ${gen.id}: incremental posture differs from a full judgement`);
    }
  }
  t.equal(mismatches, 0, `${compared} states compared, incremental vs from scratch`);
});

t.test("the audit's violations are the admission rules' verdicts on the same state", async (t) => {
  const menu = rootMenu(11);
  let policiesCompared = 0;
  let workloadsCompared = 0;
  const problems: string[] = [];
  for (let i = 0; i < STATES; i++) {
    const gen = generate(11, i, menu);
    const policy = enginePolicy(gen);
    const { state, objects } = fullState(gen);
    const report = auditState(state, policy, gen.id);
    const subjects = (findings: readonly { subjects: { kind: string; namespace: string; name: string }[] }[]): string[] =>
      [...new Set(findings.flatMap((f) => f.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`)))].sort();
    const admittedStrict: { subjects: { kind: string; namespace: string; name: string }[] }[] = [];
    for (const object of objects) {
      const kind = object['kind'] as string;
      if (kind === 'Node' || kind === 'Namespace') continue;
      const metadata = object['metadata'] as { namespace: string; name: string };
      const review = evaluate({ operation: 'CREATE', object, namespace: metadata.namespace, podJudgement: 'carries' }, state, policy);
      if (!review.ok) continue;
      if (kind === 'PeerAuthentication') {
        policiesCompared++;
        admittedStrict.push(...review.findings.filter((f) => f.rule === 'strict-requires-mesh' && f.action === 'deny'));
        continue;
      }
      workloadsCompared++;
      const admitted = subjects(review.findings.filter((f) => f.rule === 'pod-requires-mesh' && f.action === 'deny'));
      const audited = subjects(
        report.findings.filter((f) => f.rule === 'pod-requires-mesh' && f.object.kind === kind && f.object.namespace === metadata.namespace && f.object.name === metadata.name),
      );
      if (JSON.stringify(admitted) !== JSON.stringify(audited)) {
        problems.push(`${gen.id}: ${kind} ${metadata.namespace}/${metadata.name}: admission ${JSON.stringify(admitted)}, audit ${JSON.stringify(audited)}`);
      }
    }
    // A workload under STRICT outside the mesh is denied by the CREATE of each policy that governs it (an UNSET
    // namespace policy and the mesh policy it inherits from both do); the audit names the one that set STRICT.
    const admitted = subjects(admittedStrict);
    const audited = subjects(report.findings.filter((f) => f.rule === 'strict-requires-mesh'));
    if (JSON.stringify(admitted) !== JSON.stringify(audited)) {
      problems.push(`${gen.id}: STRICT outside the mesh: admission ${JSON.stringify(admitted)}, audit ${JSON.stringify(audited)}`);
    }
  }
  t.same(problems.slice(0, 5), [], `${policiesCompared} policies and ${workloadsCompared} workloads: audit and admission agree`);
  t.ok(policiesCompared > 500 && workloadsCompared > 500, 'enough of both were compared');
});
