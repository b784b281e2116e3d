/**
 * Seeded random cluster states for the PeerAuthentication differential test against istiod's own code, each with
 * one CREATE, UPDATE or DELETE of a PeerAuthentication. The states aim at the corners: scopes, precedence,
 * timestamps that tie (broken by name), UNSET chains, port-level modes, empty selectors, selectors in the root
 * namespace, selectors on the topology labels istiod adds (with nodes known, unknown and not yet assigned),
 * v1 and v1beta1, and input istiod refuses.
 *
 * Root-namespace policies come from a small menu drawn once per run, so that many states share the same
 * mesh-level policies and can be judged by the oracle in one call (see oracle.ts).
 */
import { Random } from '../fuzz/random.js';

export const ROOT = 'istio-system';

export interface GenNode {
  name: string;
  labels: Record<string, string>;
}

/** The cluster's Nodes, the same in every state; `node-x` is a node name no Node carries (not seen yet). */
export const NODES: readonly GenNode[] = [
  { name: 'node-a', labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' } },
  { name: 'node-b', labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z2', 'topology.istio.io/subzone': 's1' } },
  { name: 'node-c', labels: { 'failure-domain.beta.kubernetes.io/region': 'r2', 'failure-domain.beta.kubernetes.io/zone': 'z3' } },
];
const NODE_NAMES = ['node-a', 'node-b', 'node-c', 'node-x', ''];

export interface GenPolicy {
  apiVersion: string;
  namespace: string;
  name: string;
  creationTimestamp: string;
  spec: Record<string, unknown>;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
  /** Generated as input istiod may refuse: never the target of an UPDATE or DELETE. */
  odd?: boolean;
}

export interface GenWorkload {
  kind: 'Pod' | 'Deployment' | 'CronJob';
  namespace: string;
  name: string;
  labels: Record<string, string>;
  nodeName?: string;
  ports: number[];
  /** A Pod carrying the injected istio-proxy (templates are in the mesh when their namespace is injected). */
  sidecar: boolean;
}

export interface GenNamespace {
  name: string;
  injection: boolean;
  terminating: boolean;
}

export interface GenOperation {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  /** The object as stored after the change (CREATE, UPDATE). */
  object?: GenPolicy;
  /** The object as it was (UPDATE, DELETE). */
  oldObject?: GenPolicy;
}

export interface GenState {
  id: string;
  clusterID?: string;
  network?: string;
  namespaces: GenNamespace[];
  workloads: GenWorkload[];
  /** Policies in the cluster before the change (some may be input istiod refuses: never stored by it). */
  policies: GenPolicy[];
  op: GenOperation;
}

const TIMES = ['2024-01-01T00:00:00Z', '2024-01-01T00:00:01Z', '2024-01-01T00:00:02Z', '2024-01-01T00:00:03Z'];
const LATER = ['2024-01-01T00:00:03Z', '2024-01-01T00:00:04Z'];
const NAMES = ['a', 'b', 'default', 'p1', 'z'];
const APP = ['web', 'db', 'api'];
const PORTS = [80, 8080, 9090];
const POLICY_PORTS = ['80', '8080', '9090', '15000'];
const MODES = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'];

function mtls(random: Random): Record<string, unknown> {
  const roll = random.int(6);
  if (roll === 0) return {};
  if (roll === 1) return { mtls: {} };
  return { mtls: { mode: random.pick(MODES) } };
}

/** A selector's labels: workload labels and the topology labels istiod adds. */
function selectorLabels(random: Random): Record<string, string> {
  const out: Record<string, string> = {};
  const count = random.between(1, 2);
  for (let i = 0; i < count; i++) {
    switch (random.int(9)) {
      case 0:
      case 1:
      case 2:
        out['app'] = random.pick(APP);
        break;
      case 3:
        out['tier'] = random.pick(['front', 'back']);
        break;
      case 4:
        out['kubernetes.io/hostname'] = random.pick(['node-a', 'node-b', 'node-x']);
        break;
      case 5:
        out['topology.istio.io/cluster'] = random.pick(['Kubernetes', 'east']);
        break;
      case 6:
        out['topology.kubernetes.io/zone'] = random.pick(['z1', 'z2', 'z3', 'z9']);
        break;
      case 7:
        out[random.pick(['topology.kubernetes.io/region', 'topology.istio.io/subzone'])] = random.pick(['r1', 'r2', 's1']);
        break;
      default:
        out['topology.istio.io/network'] = random.pick(['net1', 'net2']);
    }
  }
  return out;
}

/** Specs istiod refuses (validation or the CRD's rules), or a field the API server drops. */
function oddSpec(random: Random): Record<string, unknown> {
  switch (random.int(7)) {
    case 0:
      return { mtls: { mode: 'STRICT' }, portLevelMtls: { '80': { mode: 'PERMISSIVE' } } };
    case 1:
      return { selector: { matchLabels: { app: 'web' } }, portLevelMtls: {} };
    case 2:
      return { selector: { matchLabels: { app: 'web' } }, portLevelMtls: { [random.pick(['08080', '0', '65536'])]: { mode: 'STRICT' } } };
    case 3:
      return { mtls: { mode: random.pick(['strict', 'Permissive', 'MUTUAL']) } };
    case 4:
      return { selector: { matchLabels: { app: 'we*' } }, mtls: { mode: 'STRICT' } };
    case 5:
      return { selector: {}, portLevelMtls: { '80': { mode: 'STRICT' } } };
    default:
      return { targetRef: { kind: 'Service', name: 'web' }, mtls: { mode: random.pick(MODES) } };
  }
}

function policySpec(random: Random, root: boolean): Record<string, unknown> {
  if (random.chance(0.05)) return { ...oddSpec(random), [ODD]: true };
  const spec = mtls(random);
  switch (random.int(root ? 5 : 6)) {
    case 0:
      spec['selector'] = {};
      break;
    case 1:
      spec['selector'] = { matchLabels: {} };
      break;
    case 2:
    case 3:
      break;
    default: {
      spec['selector'] = { matchLabels: selectorLabels(random) };
      if (random.chance(0.5)) {
        const ports: Record<string, unknown> = {};
        for (let i = random.between(1, 2); i > 0; i--) ports[random.pick(POLICY_PORTS)] = random.chance(0.15) ? {} : { mode: random.pick(MODES) };
        spec['portLevelMtls'] = ports;
      }
    }
  }
  return spec;
}

/** Marks a generated odd spec until it is turned into a policy (then `odd`). */
const ODD = '__odd';

function policy(fields: Omit<GenPolicy, 'odd'>): GenPolicy {
  if (!(ODD in fields.spec)) return fields;
  const { [ODD]: _odd, ...spec } = fields.spec;
  return { ...fields, spec, odd: true };
}

const apiVersion = (random: Random): string => random.pick(['security.istio.io/v1', 'security.istio.io/v1beta1']);

/** The root-namespace policies of a run: a few names, each with two specs to switch between. */
export interface RootMenu {
  items: { name: string; creationTimestamp: string; apiVersion: string; specs: [Record<string, unknown>, Record<string, unknown>] }[];
}

export function rootMenu(seed: number): RootMenu {
  const random = new Random(seed ^ 0x5eed);
  const names = ['default', 'mesh', random.pick(['a', 'z'])];
  return {
    items: names.map((name) => ({
      name,
      creationTimestamp: random.pick(TIMES.slice(0, 3)),
      apiVersion: apiVersion(random),
      specs: [policySpec(random, true), policySpec(random, true)],
    })),
  };
}

function rootPolicy(menu: RootMenu, item: number, variant: number): GenPolicy {
  const entry = menu.items[item] as RootMenu['items'][number];
  return policy({ apiVersion: entry.apiVersion, namespace: ROOT, name: entry.name, creationTimestamp: entry.creationTimestamp, spec: structuredClone(entry.specs[variant] as Record<string, unknown>) });
}

function workloadLabels(random: Random): Record<string, string> {
  const labels: Record<string, string> = { app: random.pick(APP) };
  if (random.chance(0.5)) labels['tier'] = random.pick(['front', 'back']);
  if (random.chance(0.1)) labels['kubernetes.io/hostname'] = random.pick(['node-a', 'node-b']);
  if (random.chance(0.1)) labels['topology.istio.io/network'] = random.pick(['net1', 'net2']);
  if (random.chance(0.08)) labels['istio-locality'] = random.pick(['r9.z9', 'r1/z2/s1', 'r2']);
  if (random.chance(0.05)) labels['topology.istio.io/cluster'] = 'east';
  return labels;
}

export function generate(seed: number, index: number, menu: RootMenu): GenState {
  const random = new Random((seed * 1_000_003 + index) >>> 0);
  const namespaces: GenNamespace[] = [{ name: ROOT, injection: false, terminating: false }];
  const others = ['ns-a', 'ns-b', ...(random.chance(0.3) ? ['kube-system'] : [])];
  for (const name of others) namespaces.push({ name, injection: name !== 'kube-system' && random.chance(0.4), terminating: false });

  const workloads: GenWorkload[] = [];
  const count = random.between(1, 5);
  for (let i = 0; i < count; i++) {
    const namespace = random.chance(0.1) ? ROOT : random.pick(others);
    const kind = random.chance(0.75) ? 'Pod' : random.pick(['Deployment', 'CronJob'] as const);
    const workload: GenWorkload = {
      kind,
      namespace,
      name: `w${i}`,
      labels: workloadLabels(random),
      ports: PORTS.filter(() => random.chance(0.4)),
      sidecar: kind === 'Pod' && random.chance(0.45),
    };
    if (kind === 'Pod') {
      const nodeName = random.pick(NODE_NAMES);
      if (nodeName) workload.nodeName = nodeName;
    }
    workloads.push(workload);
  }

  const rootIncluded: (number | undefined)[] = menu.items.map(() => (random.chance(0.35) ? random.int(2) : undefined));
  const policies: GenPolicy[] = [];
  rootIncluded.forEach((variant, item) => {
    if (variant !== undefined) policies.push(rootPolicy(menu, item, variant));
  });
  const taken = new Set<string>();
  for (let i = random.between(0, 4); i > 0; i--) {
    const namespace = random.pick(others);
    const name = random.pick(NAMES);
    if (taken.has(`${namespace}/${name}`)) continue;
    taken.add(`${namespace}/${name}`);
    policies.push(policy({ apiVersion: apiVersion(random), namespace, name, creationTimestamp: random.pick(TIMES), spec: policySpec(random, false) }));
  }

  const state: GenState = { id: `${seed}:${index}`, namespaces, workloads, policies, op: { operation: 'CREATE' } };
  // Two cluster profiles only, so that states share oracle calls: the defaults, or another cluster ID and a network.
  if (random.chance(0.2)) {
    state.clusterID = 'east';
    state.network = 'net1';
  }

  const inRoot = random.chance(0.3);
  const roll = random.int(100);
  const existing = policies.filter((p) => !p.odd && (inRoot ? p.namespace === ROOT : p.namespace !== ROOT));
  if (roll < 35 && existing.length > 0) {
    const old = random.pick(existing);
    let object: GenPolicy = structuredClone(old);
    if (inRoot) {
      const item = menu.items.findIndex((entry) => entry.name === old.name);
      object = rootPolicy(menu, item, rootIncluded[item] === 0 ? 1 : 0);
    } else if (random.chance(0.15)) {
      object.labels = { changed: 'yes' };
    } else {
      object = policy({ ...object, spec: policySpec(random, false) });
    }
    if (random.chance(0.15)) {
      old.deletionTimestamp = '2024-01-02T00:00:00Z';
      object.deletionTimestamp = old.deletionTimestamp;
    }
    state.op = { operation: 'UPDATE', object, oldObject: structuredClone(old) };
  } else if (roll < 60 && existing.length > 0) {
    const old = random.pick(existing);
    if (random.chance(0.15)) {
      const namespace = namespaces.find((n) => n.name === old.namespace);
      if (namespace) namespace.terminating = true;
    }
    state.op = { operation: 'DELETE', oldObject: structuredClone(old) };
  } else {
    let object: GenPolicy | undefined;
    if (inRoot) {
      const free = rootIncluded.map((v, item) => (v === undefined ? item : -1)).filter((item) => item >= 0);
      if (free.length > 0) object = rootPolicy(menu, random.pick(free), random.int(2));
    }
    if (!object) {
      const namespace = random.pick(others);
      let name = random.pick(NAMES);
      while (taken.has(`${namespace}/${name}`)) name = `${name}x`;
      // The API server stamps a new object before admission: as late as the newest, or a second later.
      object = policy({ apiVersion: apiVersion(random), namespace, name, creationTimestamp: random.pick(LATER), spec: policySpec(random, false) });
    }
    state.op = { operation: 'CREATE', object };
  }
  // STRICT changes are what strict-requires-mesh judges: make them common.
  const changed = state.op.object;
  if (changed && !changed.odd && changed.namespace !== ROOT && random.chance(0.4)) changed.spec = { ...changed.spec, mtls: { mode: 'STRICT' } };
  return state;
}

/** The policies stored after the change (input that istiod refuses is in neither list's effect, see engine.ts). */
export function policiesAfter(state: GenState): GenPolicy[] {
  const target = state.op.object ?? state.op.oldObject;
  const rest = state.policies.filter((p) => !(target && p.namespace === target.namespace && p.name === target.name));
  return state.op.object ? [...rest, state.op.object] : rest;
}

/** Is the workload in the mesh? Pods by what they carry, templates by their namespace's injection label. */
export function inMesh(state: GenState, workload: GenWorkload): boolean {
  if (workload.kind === 'Pod') return workload.sidecar;
  return state.namespaces.find((n) => n.name === workload.namespace)?.injection ?? false;
}

export function workloadId(workload: { kind: string; namespace: string; name: string }): string {
  return `${workload.kind} ${workload.namespace}/${workload.name}`;
}

function policyManifest(policy: GenPolicy): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: policy.name, namespace: policy.namespace, creationTimestamp: policy.creationTimestamp };
  if (policy.labels) metadata['labels'] = policy.labels;
  if (policy.deletionTimestamp) {
    metadata['deletionTimestamp'] = policy.deletionTimestamp;
    metadata['finalizers'] = ['example.com/hold'];
  }
  return { apiVersion: policy.apiVersion, kind: 'PeerAuthentication', metadata, spec: policy.spec };
}

function workloadManifest(workload: GenWorkload): Record<string, unknown> {
  const containers: Record<string, unknown>[] = [
    { name: 'app', image: 'registry.example.com/app:1', ports: workload.ports.map((containerPort) => ({ containerPort })) },
  ];
  const metadata: Record<string, unknown> = { name: workload.name, namespace: workload.namespace, labels: workload.labels };
  if (workload.kind !== 'Pod') {
    const template = { metadata: { labels: workload.labels }, spec: { containers } };
    const spec = workload.kind === 'Deployment' ? { selector: { matchLabels: workload.labels }, template } : { schedule: '0 * * * *', jobTemplate: { spec: { template } } };
    return { apiVersion: workload.kind === 'Deployment' ? 'apps/v1' : 'batch/v1', kind: workload.kind, metadata, spec };
  }
  if (workload.sidecar) {
    containers.push({ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.28.0' });
    metadata['annotations'] = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' };
  }
  const spec: Record<string, unknown> = { containers };
  if (workload.nodeName) spec['nodeName'] = workload.nodeName;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status: { phase: 'Running' } };
}

/** The cluster as manifests: Nodes, Namespaces, workloads and the given policies. */
export function manifests(state: GenState, policies: readonly GenPolicy[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const node of NODES) out.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: node.labels } });
  for (const ns of state.namespaces) {
    const metadata: Record<string, unknown> = { name: ns.name };
    if (ns.injection) metadata['labels'] = { 'istio-injection': 'enabled' };
    if (ns.terminating) metadata['deletionTimestamp'] = '2024-01-02T00:00:00Z';
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata });
  }
  for (const workload of state.workloads) out.push(workloadManifest(workload));
  for (const policy of policies) out.push(policyManifest(policy));
  return out;
}

export { policyManifest };
