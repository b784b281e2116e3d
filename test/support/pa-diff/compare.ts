/**
 * The engine's answers for a generated state, compared with istiod's (the oracle): per workload the top-level
 * mode, every port's mode and the governing policy at each scope, before and after the change, through the
 * webhook's incremental index (`withPolicy` over the state's index) and through a state built afresh (`check`'s
 * path); which policies are refused; and the strict-requires-mesh denial of the change with its subjects,
 * from `evaluate` (the webhook) and, for CREATE and UPDATE, from `check`, against the denial istiod's answers
 * imply (SPEC 2.1).
 */
import { stringify } from 'yaml';
import { check } from '../../../src/check/check.js';
import { DEFAULT_CONFIG, policyFor, type Config } from '../../../src/config/config.js';
import { decodePeerAuthentication } from '../../../src/engine/decode.js';
import { evaluate } from '../../../src/engine/evaluate.js';
import {
  applicablePolicies,
  portMode,
  withPolicy,
  workloadMode,
  type PolicyIndex,
} from '../../../src/engine/peer-authentication.js';
import { topologyOf } from '../../../src/engine/rules/strict-requires-mesh.js';
import { proxyLabels } from '../../../src/engine/topology.js';
import type { PeerAuthenticationFacts, Policy } from '../../../src/engine/types.js';
import { buildState } from '../../../src/state/build-state.js';
import type { MemoryState } from '../../../src/state/memory-state.js';
import {
  inMesh,
  manifests,
  policiesAfter,
  policyManifest,
  ROOT,
  workloadId,
  type GenPolicy,
  type GenState,
} from './generate.js';
import type { OracleView, OracleWorkload } from './oracle.js';

const ref = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

/** JSON with sorted keys: two specs that differ only in key order are the same spec. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object).sort().map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The spec as the API server keeps it: fields PeerAuthentication does not have are pruned. */
const pruned = (spec: Record<string, unknown> | undefined): Record<string, unknown> =>
  Object.fromEntries(Object.entries(spec ?? {}).filter(([key]) => ['selector', 'mtls', 'portLevelMtls'].includes(key)));
const sameSpec = (a?: GenPolicy, b?: GenPolicy): boolean => canonical(pruned(a?.spec)) === canonical(pruned(b?.spec));

export function enginePolicy(state: GenState): Policy {
  const config: Config = structuredClone(DEFAULT_CONFIG) as Config;
  config.exemptNamespaces = ['kube-system'];
  if (state.clusterID) config.clusterID = state.clusterID;
  if (state.network) config.network = state.network;
  return policyFor(config);
}

function decode(policy: GenPolicy): PeerAuthenticationFacts | undefined {
  const decoded = decodePeerAuthentication(policyManifest(policy), { apiVersion: policy.apiVersion, kind: 'PeerAuthentication', namespace: policy.namespace, name: policy.name });
  return decoded.ok ? decoded.value : undefined;
}

/** The cluster state as `check` and `serve --state` build it; refused policies never get stored. */
function stateOf(state: GenState, policies: readonly GenPolicy[]): MemoryState {
  const items = manifests(state, policies.filter((p) => decode(p) !== undefined)).map((object, i) => ({ object, source: { file: state.id, line: i + 1 } }));
  return buildState(items, 'default').state;
}

function compareModes(what: string, state: GenState, memory: MemoryState, index: PolicyIndex, oracle: OracleView, policy: Policy, out: string[]): void {
  const topology = topologyOf(memory, policy);
  for (const ns of state.namespaces) {
    for (const workload of memory.workloads(ns.name)) {
      const id = workloadId(workload);
      const istiod = oracle.workloads.get(id);
      if (!istiod) {
        out.push(`${what}: ${id}: no answer from the oracle`);
        continue;
      }
      const applicable = applicablePolicies(index, { namespace: workload.namespace, labels: proxyLabels(workload, topology).labels });
      const mode = workloadMode(applicable).mode;
      if (mode !== istiod.mode) out.push(`${what}: ${id}: mode ${mode}, istiod ${istiod.mode}`);
      for (const [port, want] of Object.entries(istiod.ports)) {
        const got = portMode(applicable, Number(port)).mode;
        if (got !== want) out.push(`${what}: ${id}: port ${port} ${got}, istiod ${want}`);
      }
      const mine = {
        mesh: applicable.mesh ? ref(applicable.mesh) : null,
        namespace: applicable.namespace ? ref(applicable.namespace) : null,
        workload: applicable.workload ? ref(applicable.workload) : null,
      };
      for (const scope of ['mesh', 'namespace', 'workload'] as const) {
        if (mine[scope] !== istiod.governing[scope]) out.push(`${what}: ${id}: ${scope} policy ${mine[scope]}, istiod ${istiod.governing[scope]}`);
      }
    }
  }
}

const strictSomewhere = (istiod: OracleWorkload): boolean =>
  istiod.mode === 'STRICT' || Object.values(istiod.ports).some((mode) => mode === 'STRICT');

function specMode(policies: readonly GenPolicy[], key: string | null): string {
  if (key === null) return 'UNSET';
  const policy = policies.find((p) => ref(p) === key);
  const mode = (policy?.spec['mtls'] as { mode?: string } | undefined)?.mode;
  return mode ?? 'UNSET';
}

/** The denial istiod's answers imply for the change: the out-of-mesh workloads that STRICT reaches through it. */
export function expectedDenial(state: GenState, before: OracleView, after: OracleView): string[] | 'refused' {
  const { operation, object, oldObject } = state.op;
  const target = (object ?? oldObject) as GenPolicy;
  if (object && after.rejected.has(ref(object))) return 'refused';
  const namespace = state.namespaces.find((n) => n.name === target.namespace);
  if (operation === 'DELETE' && namespace?.terminating) return [];
  if (operation === 'UPDATE' && sameSpec(object, oldObject)) return [];
  if (target.namespace === 'kube-system') return [];
  const meshWide = target.namespace === ROOT;
  const subjects: string[] = [];
  const afterPolicies = policiesAfter(state);
  for (const workload of state.workloads) {
    if (workload.namespace === 'kube-system' || workload.namespace === ROOT || inMesh(state, workload)) continue;
    if (!meshWide && workload.namespace !== target.namespace) continue;
    const id = workloadId(workload);
    const now = after.workloads.get(id);
    const then = before.workloads.get(id);
    if (!now || !then) continue;
    if (operation === 'DELETE') {
      if (strictSomewhere(now) && !strictSomewhere(then)) subjects.push(id);
      continue;
    }
    const key = ref(target);
    const g = now.governing;
    let governs = false;
    if (g.workload === key) {
      const ports = Object.entries((target.spec['portLevelMtls'] ?? {}) as Record<string, { mode?: string }>);
      governs = now.mode === 'STRICT' || ports.some(([port, m]) => m.mode === 'STRICT' && now.ports[port] === 'STRICT');
    } else if (g.namespace === key) {
      governs = now.mode === 'STRICT' && specMode(afterPolicies, g.workload) === 'UNSET';
    } else if (g.mesh === key) {
      governs = now.mode === 'STRICT' && specMode(afterPolicies, g.workload) === 'UNSET' && specMode(afterPolicies, g.namespace) === 'UNSET';
    }
    if (governs) subjects.push(id);
  }
  return subjects.sort();
}

function denialOf(findings: readonly { rule: string; action: string; subjects: { kind: string; namespace: string; name: string }[] }[]): string[] {
  return findings
    .filter((f) => f.rule === 'strict-requires-mesh' && f.action === 'deny')
    .flatMap((f) => f.subjects.map(workloadId))
    .sort();
}

/** Every disagreement between the engine and istiod for one state (empty when they agree). */
export function disagreements(state: GenState, before: OracleView, after: OracleView): string[] {
  const out: string[] = [];
  const policy = enginePolicy(state);
  const all = [...state.policies, ...(state.op.object ? [state.op.object] : [])];
  for (const p of all) {
    const refused = decode(p) === undefined;
    const istiod = (p === state.op.object ? after : before).rejected.has(ref(p));
    if (refused !== istiod) out.push(`policy ${ref(p)}: ${refused ? 'refused' : 'accepted'} by mtls-guard, ${istiod ? 'refused' : 'accepted'} by istiod`);
  }

  const beforeState = stateOf(state, state.policies);
  const beforeIndex = beforeState.policyIndex(policy.rootNamespace);
  compareModes('before', state, beforeState, beforeIndex, before, policy, out);
  const target = (state.op.object ?? state.op.oldObject) as GenPolicy;
  const next = state.op.object ? decode(state.op.object) : undefined;
  // A change to input istiod refuses never happens: the state stays as it was.
  const refused = state.op.object !== undefined && after.rejected.has(ref(state.op.object));
  const afterView = refused ? before : after;
  const incremental = state.op.object && !next ? beforeIndex : withPolicy(beforeIndex, target, next);
  compareModes('after (webhook index)', state, beforeState, incremental, afterView, policy, out);
  const afterState = stateOf(state, refused ? state.policies : policiesAfter(state));
  compareModes('after (check state)', state, afterState, afterState.policyIndex(policy.rootNamespace), afterView, policy, out);

  const expected = expectedDenial(state, before, after);
  const review = {
    operation: state.op.operation,
    object: state.op.object ? policyManifest(state.op.object) : undefined,
    oldObject: state.op.oldObject ? policyManifest(state.op.oldObject) : undefined,
    namespace: target.namespace,
    podJudgement: 'carries' as const,
  };
  const webhook = evaluate(review, beforeState, policy);
  const got = webhook.ok ? denialOf(webhook.findings) : 'refused';
  if (JSON.stringify(got) !== JSON.stringify(expected)) out.push(`denial (webhook): ${JSON.stringify(got)}, istiod implies ${JSON.stringify(expected)}`);
  const metadataOnly = state.op.operation === 'UPDATE' && sameSpec(state.op.object, state.op.oldObject);
  if (state.op.operation !== 'DELETE' && expected !== 'refused' && !metadataOnly) {
    const items = manifests(state, policiesAfter(state).filter((p) => decode(p) !== undefined)).map((object, i) => ({ object, source: { file: state.id, line: i + 1 } }));
    const found = check(items, policy, 'default').findings.filter((f) => f.object.kind === 'PeerAuthentication' && f.object.namespace === target.namespace && f.object.name === target.name);
    const viaCheck = denialOf(found);
    if (JSON.stringify(viaCheck) !== JSON.stringify(expected)) out.push(`denial (check): ${JSON.stringify(viaCheck)}, istiod implies ${JSON.stringify(expected)}`);
  }
  return out;
}

/** A state as the manifests a user would apply, then the change. */
export function describe(state: GenState): string {
  const docs = manifests(state, state.policies).map((m) => stringify(m).trimEnd());
  const change = stringify({ operation: state.op.operation, object: state.op.object ? policyManifest(state.op.object) : undefined, oldObject: state.op.oldObject ? policyManifest(state.op.oldObject) : undefined }).trimEnd();
  const config = stringify({ clusterID: state.clusterID ?? 'Kubernetes', network: state.network ?? null, exemptNamespaces: ['kube-system'] }).trimEnd();
  return `# state ${state.id}; config:\n${config}\n---\n${docs.join('\n---\n')}\n# the change:\n${change}\n`;
}
