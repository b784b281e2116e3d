/**
 * SPEC 1.3: the labels istiod matches PeerAuthentication selectors against — the pod's own labels plus the
 * topology labels it adds to every proxy (pilot/pkg/serviceregistry/util/label/label.go AugmentLabels; the
 * locality from getPodLocality in pilot/pkg/serviceregistry/kube/controller; the network from Controller.Network).
 */
import type { Labels, NamespaceFacts, NodeFacts, WorkloadFacts } from './types.js';

export const CLUSTER_LABEL = 'topology.istio.io/cluster';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
export const NETWORK_LABEL = 'topology.istio.io/network';
export const LEGACY_REGION_LABEL = 'failure-domain.beta.kubernetes.io/region';
export const LEGACY_ZONE_LABEL = 'failure-domain.beta.kubernetes.io/zone';
/** Pod labels that set the locality themselves, the newer first (pkg/model GetLocalityLabel). */
export const LOCALITY_LABELS = ['topology.istio.io/locality', 'istio-locality'] as const;

export const DEFAULT_CLUSTER_ID = 'Kubernetes';

/** The Node labels istiod reads for a pod's locality: all mtls-guard keeps of a Node. */
export const NODE_TOPOLOGY_LABELS: readonly string[] = [REGION_LABEL, LEGACY_REGION_LABEL, ZONE_LABEL, LEGACY_ZONE_LABEL, SUBZONE_LABEL];

export interface Topology {
  clusterID: string;
  network?: string;
  rootNamespace: string;
  node?(name: string): NodeFacts | undefined;
  namespace(name: string): NamespaceFacts | undefined;
}

export interface ProxyLabels {
  labels: Labels;
  /** Keys whose value istiod will set but mtls-guard cannot know yet (no node, or a node it has not seen). */
  unknown: readonly string[];
}

/** region/zone/subzone from a locality string: "." separates when no "/" does (SanitizeLocalityLabel, SplitLocalityLabel). */
function splitLocality(locality: string): [string, string, string] {
  const parts = (locality.includes('/') ? locality : locality.replace(/\./g, '/')).split('/');
  return [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
}

function nodeLocality(node: NodeFacts): [string, string, string] {
  const l = node.labels;
  return [l[REGION_LABEL] || l[LEGACY_REGION_LABEL] || '', l[ZONE_LABEL] || l[LEGACY_ZONE_LABEL] || '', l[SUBZONE_LABEL] || ''];
}

export function proxyLabels(workload: Pick<WorkloadFacts, 'labels' | 'nodeName' | 'kind'>, topology: Topology): ProxyLabels {
  const out: Record<string, string> = { ...workload.labels };
  const unknown: string[] = [];
  const localityLabel = LOCALITY_LABELS.map((key) => workload.labels[key]).find((value) => value !== undefined && value !== '');
  let locality: [string, string, string] = ['', '', ''];
  if (localityLabel !== undefined) locality = splitLocality(localityLabel);
  else if (workload.nodeName) {
    const node = topology.node?.(workload.nodeName);
    if (node) locality = nodeLocality(node);
    else unknown.push(REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL);
  } else unknown.push(REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL);
  const [region, zone, subzone] = locality;
  if (region) out[REGION_LABEL] = region;
  if (zone) out[ZONE_LABEL] = zone;
  if (subzone) out[SUBZONE_LABEL] = subzone;
  if (topology.clusterID) out[CLUSTER_LABEL] = topology.clusterID;
  if (workload.nodeName) out[HOSTNAME_LABEL] = workload.nodeName;
  else unknown.push(HOSTNAME_LABEL);
  if (!out[NETWORK_LABEL]) {
    const network = topology.namespace(topology.rootNamespace)?.labels[NETWORK_LABEL] || topology.network;
    if (network) out[NETWORK_LABEL] = network;
  }
  return { labels: out, unknown };
}
