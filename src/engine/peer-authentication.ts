/**
 * SPEC 1.3: which PeerAuthentication applies to a workload, and with what mode.
 * Mirrors istiod (pilot/pkg/model/authentication.go, pilot/pkg/security/authn ComposePeerAuthentication):
 * workload beats namespace beats mesh, the oldest policy wins within a scope, UNSET inherits, nothing means PERMISSIVE.
 */
import type { Labels, MtlsMode, PeerAuthenticationFacts, WorkloadFacts } from './types.js';

export type PolicyScope = 'mesh' | 'namespace' | 'workload' | 'ignored';
export type SetMode = Exclude<MtlsMode, 'UNSET'>;

export function scopeOf(policy: PeerAuthenticationFacts, rootNamespace: string): PolicyScope {
  if (policy.namespace === rootNamespace) return policy.selector ? 'ignored' : 'mesh';
  return policy.selector ? 'workload' : 'namespace';
}

function creationMillis(policy: PeerAuthenticationFacts): number {
  return policy.createdAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(policy.createdAt);
}

/** Oldest first: creationTimestamp (a policy not created yet is the newest), then name, then namespace. */
export function olderFirst(a: PeerAuthenticationFacts, b: PeerAuthenticationFacts): number {
  const byTime = creationMillis(a) - creationMillis(b);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return 0;
}

export function selectorMatches(selector: Labels, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector)) {
    if (labels[key] !== value) return false;
  }
  return true;
}

export function samePolicy(a: PeerAuthenticationFacts, b: PeerAuthenticationFacts): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

/** Read-only lookup by namespace. */
export interface ByNamespace<T> {
  get(namespace: string): T | undefined;
}

/** The policies that take effect, grouped by scope; built once per state and kept until a policy changes. */
export interface PolicyIndex {
  rootNamespace: string;
  mesh?: PeerAuthenticationFacts;
  /** The mesh-wide policy as ztunnel picks it: only root-namespace policies with no `selector` field at all. */
  ambientMesh?: PeerAuthenticationFacts;
  namespaceWide: ByNamespace<PeerAuthenticationFacts>;
  /** Workload-scoped policies per namespace, oldest first. */
  workloadScoped: ByNamespace<readonly PeerAuthenticationFacts[]>;
  /** Every policy, by namespace: what `withPolicy` recomputes one namespace from. */
  all: ByNamespace<readonly PeerAuthenticationFacts[]>;
}

export function indexPolicies(policies: Iterable<PeerAuthenticationFacts>, rootNamespace: string): PolicyIndex {
  let mesh: PeerAuthenticationFacts | undefined;
  let ambientMesh: PeerAuthenticationFacts | undefined;
  const namespaceWide = new Map<string, PeerAuthenticationFacts>();
  const workloadScoped = new Map<string, PeerAuthenticationFacts[]>();
  const all = new Map<string, PeerAuthenticationFacts[]>();
  for (const policy of policies) {
    const inNamespace = all.get(policy.namespace);
    if (inNamespace) inNamespace.push(policy);
    else all.set(policy.namespace, [policy]);
    switch (scopeOf(policy, rootNamespace)) {
      case 'mesh':
        if (!mesh || olderFirst(policy, mesh) < 0) mesh = policy;
        if (!policy.selectorField && (!ambientMesh || olderFirst(policy, ambientMesh) < 0)) ambientMesh = policy;
        break;
      case 'namespace': {
        const current = namespaceWide.get(policy.namespace);
        if (!current || olderFirst(policy, current) < 0) namespaceWide.set(policy.namespace, policy);
        break;
      }
      case 'workload': {
        const list = workloadScoped.get(policy.namespace);
        if (list) list.push(policy);
        else workloadScoped.set(policy.namespace, [policy]);
        break;
      }
      case 'ignored':
        break;
    }
  }
  for (const list of workloadScoped.values()) list.sort(olderFirst);
  const index: PolicyIndex = { rootNamespace, namespaceWide, workloadScoped, all };
  if (mesh) index.mesh = mesh;
  if (ambientMesh) index.ambientMesh = ambientMesh;
  return index;
}

function overlay<T>(base: ByNamespace<T>, namespace: string, value: T | undefined): ByNamespace<T> {
  return { get: (name) => (name === namespace ? value : base.get(name)) };
}

/**
 * The index with `policy`'s namespace/name taken out and `replacement` (if any) put in: what the state would be
 * after a review's change. Only that namespace is recomputed, so a review costs what its namespace holds,
 * not what the whole cluster holds.
 */
export function withPolicy(index: PolicyIndex, policy: Pick<PeerAuthenticationFacts, 'namespace' | 'name'>, replacement?: PeerAuthenticationFacts): PolicyIndex {
  const namespace = policy.namespace;
  const local = (index.all.get(namespace) ?? []).filter((p) => p.namespace !== namespace || p.name !== policy.name);
  if (replacement) local.push(replacement);
  const partial = indexPolicies(local, index.rootNamespace);
  const next: PolicyIndex = {
    rootNamespace: index.rootNamespace,
    namespaceWide: overlay(index.namespaceWide, namespace, partial.namespaceWide.get(namespace)),
    workloadScoped: overlay(index.workloadScoped, namespace, partial.workloadScoped.get(namespace)),
    all: overlay(index.all, namespace, local),
  };
  const mesh = namespace === index.rootNamespace ? partial.mesh : index.mesh;
  if (mesh) next.mesh = mesh;
  const ambientMesh = namespace === index.rootNamespace ? partial.ambientMesh : index.ambientMesh;
  if (ambientMesh) next.ambientMesh = ambientMesh;
  return next;
}

/** The winning policy at each scope for one workload. */
export interface ApplicablePolicies {
  mesh?: PeerAuthenticationFacts;
  namespace?: PeerAuthenticationFacts;
  workload?: PeerAuthenticationFacts;
}

/**
 * Who enforces a workload's mode: istiod's sidecar configuration, or ztunnel for ambient workloads
 * (pilot/pkg/serviceregistry/ambient: fetchPeerAuthentications, convertedSelectorPeerAuthentications).
 */
export type Dataplane = 'sidecar' | 'ambient';

/**
 * The winners at each scope for a workload. `labels` are the labels the dataplane matches: for sidecars the
 * pod's labels plus istiod's topology labels (topology.ts), for ambient the pod's own labels.
 */
export function applicablePolicies(
  index: PolicyIndex,
  workload: Pick<WorkloadFacts, 'namespace' | 'labels'>,
  dataplane: Dataplane = 'sidecar',
): ApplicablePolicies {
  const applicable: ApplicablePolicies = {};
  const mesh = dataplane === 'ambient' && workload.namespace !== index.rootNamespace ? index.ambientMesh : index.mesh;
  if (mesh) applicable.mesh = mesh;
  if (workload.namespace === index.rootNamespace) return applicable;
  const namespaceWide = index.namespaceWide.get(workload.namespace);
  if (namespaceWide) applicable.namespace = namespaceWide;
  const selected = index.workloadScoped
    .get(workload.namespace)
    ?.find((policy) => selectorMatches(policy.selector as Labels, workload.labels));
  if (selected) applicable.workload = selected;
  return applicable;
}

export interface ResolvedMode {
  mode: SetMode;
  /** The policy that set the mode; undefined when no policy did (the PERMISSIVE default). */
  source?: PeerAuthenticationFacts;
}

/** Compose modes from the least to the most specific scope; UNSET keeps what the parent set. */
export function composeMode(...chain: (PeerAuthenticationFacts | undefined)[]): ResolvedMode {
  let resolved: ResolvedMode = { mode: 'PERMISSIVE' };
  for (const policy of chain) {
    if (policy && policy.mode !== 'UNSET') resolved = { mode: policy.mode, source: policy };
  }
  return resolved;
}

export function workloadMode(applicable: ApplicablePolicies): ResolvedMode {
  return composeMode(applicable.mesh, applicable.namespace, applicable.workload);
}

/** The mode a policy inherits from the scopes above it (what UNSET means for it). */
export function parentMode(index: PolicyIndex, policy: PeerAuthenticationFacts): ResolvedMode {
  const scope = scopeOf(policy, index.rootNamespace);
  if (scope === 'mesh' || scope === 'ignored') return { mode: 'PERMISSIVE' };
  if (scope === 'namespace') return composeMode(index.mesh);
  return composeMode(index.mesh, index.namespaceWide.get(policy.namespace));
}

/** A policy's own top-level mode, with UNSET resolved through its parents. */
export function effectiveMode(index: PolicyIndex, policy: PeerAuthenticationFacts): ResolvedMode {
  if (policy.mode !== 'UNSET') return { mode: policy.mode, source: policy };
  return parentMode(index, policy);
}

/**
 * SPEC 2.1: a policy governs a workload when it wins at its own scope for that workload
 * and every more specific winner leaves the mode UNSET (inherits from it).
 */
export function governs(policy: PeerAuthenticationFacts, applicable: ApplicablePolicies, scope: PolicyScope): boolean {
  const unsetOrAbsent = (p: PeerAuthenticationFacts | undefined): boolean => !p || p.mode === 'UNSET';
  switch (scope) {
    case 'workload':
      return applicable.workload !== undefined && samePolicy(applicable.workload, policy);
    case 'namespace':
      return applicable.namespace !== undefined && samePolicy(applicable.namespace, policy) && unsetOrAbsent(applicable.workload);
    case 'mesh':
      return (
        applicable.mesh !== undefined &&
        samePolicy(applicable.mesh, policy) &&
        unsetOrAbsent(applicable.namespace) &&
        unsetOrAbsent(applicable.workload)
      );
    case 'ignored':
      return false;
  }
}

/** The policy that takes effect in the policy's own scope instead of it, if it is shadowed by an older one. */
export function shadowingPolicy(index: PolicyIndex, policy: PeerAuthenticationFacts): PeerAuthenticationFacts | undefined {
  const scope = scopeOf(policy, index.rootNamespace);
  const winner = scope === 'mesh' ? index.mesh : scope === 'namespace' ? index.namespaceWide.get(policy.namespace) : undefined;
  return winner && !samePolicy(winner, policy) ? winner : undefined;
}

/** The mode on one container port: a port-level setting of the winning workload policy, UNSET inheriting the workload's mode. */
export function portMode(applicable: ApplicablePolicies, port: number): ResolvedMode {
  const workload = workloadMode(applicable);
  const entry = applicable.workload?.portLevel.find((p) => p.port === port);
  if (!entry || entry.mode === 'UNSET') return workload;
  return { mode: entry.mode, source: applicable.workload as PeerAuthenticationFacts };
}

/** ztunnel enforces only STRICT or not: DISABLE acts as PERMISSIVE (convertedSelectorPeerAuthentications). */
export function asEnforcedBy(resolved: ResolvedMode, dataplane: Dataplane): ResolvedMode {
  return dataplane === 'ambient' && resolved.mode === 'DISABLE' ? { ...resolved, mode: 'PERMISSIVE' } : resolved;
}

/** STRICT decides the workload somewhere: its top-level mode, or a port of its winning workload policy. */
export function strictSomewhere(applicable: ApplicablePolicies): boolean {
  if (workloadMode(applicable).mode === 'STRICT') return true;
  return applicable.workload?.portLevel.some((entry) => portMode(applicable, entry.port).mode === 'STRICT') ?? false;
}

export function describeScope(policy: PeerAuthenticationFacts, rootNamespace: string): string {
  switch (scopeOf(policy, rootNamespace)) {
    case 'mesh':
      return 'the whole mesh';
    case 'namespace':
      return `namespace ${policy.namespace}`;
    case 'workload':
      return `workloads ${formatSelector(policy.selector as Labels)} in ${policy.namespace}`;
    case 'ignored':
      return `nothing (selector policies in root namespace ${rootNamespace} are ignored by Istio)`;
  }
}

export function formatSelector(selector: Labels): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function describeSource(resolved: ResolvedMode): string {
  return resolved.source ? `${resolved.mode} from ${resolved.source.namespace}/${resolved.source.name}` : `${resolved.mode} by default (no policy)`;
}
