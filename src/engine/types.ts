/** Plain data the policy engine works on. Adapters build these from Kubernetes objects. */
import type { InjectionState } from './injector.js';
import type { PolicyIndex } from './peer-authentication.js';
import type { PlaintextCallers, TelemetryWorkload } from '../telemetry/plaintext-callers.js';

export const RULE_IDS = ['strict-requires-mesh', 'mtls-drift', 'pod-requires-mesh'] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const ACTIONS = ['deny', 'warn', 'audit', 'off'] as const;
export type Action = (typeof ACTIONS)[number];

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What the engine is told by its caller (built from the config): each rule's action and where nothing is judged. */
export interface Policy {
  rootNamespace: string;
  /** Each rule's action, with the enforcement override already applied. */
  actions: Readonly<Record<RuleId, Action>>;
  exempt: ReadonlySet<string>;
  /** Whose injection semantics to follow (config istioVersion); the newest supported when absent. */
  istioVersion?: string;
  /** Image patterns (`*` matches anything) an istio-proxy must match to count as a sidecar (config proxyImages). */
  proxyImages?: readonly string[];
  /** The cluster's ID, istiod's `topology.istio.io/cluster` label (config `clusterID`, default `Kubernetes`). */
  clusterID?: string;
  /** The mesh network of this cluster, istiod's default `topology.istio.io/network` label (config `network`). */
  network?: string;
}

export type Labels = Readonly<Record<string, string>>;

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';
export const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'];

/** How a workload's mesh membership is judged (SPEC 1.2). */
export type Judgement = 'carries' | 'intent';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface SubjectRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface NamespaceFacts {
  name: string;
  labels: Labels;
  /** metadata.deletionTimestamp is set: the namespace is being deleted. */
  terminating?: boolean;
}

/** A Node reduced to what istiod reads from it: its name and topology labels. */
export interface NodeFacts {
  name: string;
  labels: Labels;
}

/** Where the istio-proxy container sits in a pod spec. */
export type ProxyPlacement = 'container' | 'native-sidecar' | 'init-container';

/** A Pod, or the pod template of a controller, reduced to what the rules need. */
export interface WorkloadFacts {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Labels of the pod (or of the pod template). */
  labels: Labels;
  /** Value of the sidecar.istio.io/inject annotation, when present. */
  injectAnnotation?: string;
  /** The injector's sidecar.istio.io/status annotation is present. */
  sidecarStatus: boolean;
  proxy?: ProxyPlacement;
  hostNetwork: boolean;
  /** status.phase is Succeeded or Failed. */
  finished: boolean;
  judgedBy: Judgement;
  /** Controller that owns a Pod (from ownerReferences), used to suggest the restart command. */
  owner?: { kind: string; name: string };
  /** A Pod's metadata.generateName is set: its name was generated (Istio only then looks at its owner for a workload name). */
  nameGenerated?: boolean;
  /** The sidecar.istio.io/status annotation names the istio-proxy found at `proxy` (the injector wrote both). */
  proxyInStatus?: boolean;
  /** The istio-proxy container's image, when there is one. */
  proxyImage?: string;
  /** spec.nodeName of a Pod (absent for templates and unscheduled pods). */
  nodeName?: string;
}

export interface PortMtls {
  port: number;
  mode: MtlsMode;
}

export interface PeerAuthenticationFacts {
  apiVersion: string;
  namespace: string;
  name: string;
  /** RFC 3339 creationTimestamp; absent means "not created yet", i.e. newer than any existing policy. */
  createdAt?: string;
  /** Non-empty selector.matchLabels, or undefined for a policy without (or with an empty) selector. */
  selector?: Labels;
  mode: MtlsMode;
  portLevel: readonly PortMtls[];
  /** spec.selector is present (even empty): ztunnel takes a root-namespace policy as mesh-wide only without it. */
  selectorField?: boolean;
  /** Fields PeerAuthentication does not have (e.g. spec.targetRef): the API server drops them. */
  droppedFields?: readonly string[];
}

/** What the cluster state knows about who reaches whom in plaintext (SPEC 2.5: the callers STRICT cuts off). */
export interface CallerEvidence {
  /** Istio telemetry's plaintext inbound traffic over `windowSeconds`. */
  observed?: { windowSeconds: number; callersOf(destination: TelemetryWorkload): PlaintextCallers | undefined; destinations(): Iterable<PlaintextCallers> };
  /** Workloads outside the mesh in the namespaces mtls-guard checks: how many, and the first `limit`. */
  outside?(limit: number): { count: number; first: SubjectRef[] };
}

/** Read access to the cluster state the rules need. Implementations keep their own indexes. */
export interface ClusterState {
  namespace(name: string): NamespaceFacts | undefined;
  namespaceNames(): Iterable<string>;
  workloads(namespace: string): Iterable<WorkloadFacts>;
  /** The namespace's workloads for which mayBeOutsideMesh() is true: what a STRICT policy has to look at. */
  meshCandidates(namespace: string): Iterable<WorkloadFacts>;
  peerAuthentications(): Iterable<PeerAuthenticationFacts>;
  /** indexPolicies(peerAuthentications(), rootNamespace), kept by the state between policy changes. */
  policyIndex(rootNamespace: string): PolicyIndex;
  /** Istio's injector webhook configurations and ConfigMaps in the state (SPEC 1.2), when the state keeps them. */
  injection?(): InjectionState;
  /** The Node of that name, when the state holds it (slim: name and topology labels). */
  node?(name: string): NodeFacts | undefined;
  /** Telemetry and the audit's tallies, when the state's owner keeps them. */
  callers?(): CallerEvidence | undefined;
}
