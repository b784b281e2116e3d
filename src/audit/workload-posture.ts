/**
 * One workload's standing in the mesh, as the admission rules would judge it today (SPEC 2.5): in the mesh or
 * not, the mode that reaches it, and whether it is an existing violation of strict-requires-mesh or
 * pod-requires-mesh. Pure.
 */
import { ambientEnrolled, membership, type MeshContext, type Membership } from '../engine/mesh.js';
import {
  applicablePolicies,
  asEnforcedBy,
  portMode,
  workloadMode,
  type PolicyIndex,
  type SetMode,
} from '../engine/peer-authentication.js';
import { proxyLabels, type Topology } from '../engine/topology.js';
import type { NamespaceFacts, PeerAuthenticationFacts, WorkloadFacts } from '../engine/types.js';

export interface WorkloadPosture {
  inMesh: boolean;
  hostNetwork: boolean;
  /** The top-level mode that reaches it, as its dataplane enforces it. */
  mode: SetMode;
  modeSource?: PeerAuthenticationFacts;
  /** A workload-selector policy decides it. */
  ownPolicy: boolean;
  /** Why it is outside the mesh (absent when in it). */
  outside?: Membership;
  /** Outside the mesh where STRICT governs it: the policy whose STRICT reaches it, and the ports when only some do. */
  strict?: { from: PeerAuthenticationFacts; ports?: number[] };
}

export interface PostureContext {
  index: PolicyIndex;
  topology: Topology;
  mesh: MeshContext;
}

/** Undefined for finished pods: they serve no traffic and count nowhere. */
export function judgeWorkload(workload: WorkloadFacts, namespace: NamespaceFacts | undefined, context: PostureContext): WorkloadPosture | undefined {
  if (workload.finished) return undefined;
  const verdict = membership(workload, namespace, context.mesh);
  const ambient = verdict.inMesh && ambientEnrolled(workload, namespace);
  const labels = ambient ? workload.labels : proxyLabels(workload, context.topology).labels;
  const applicable = applicablePolicies(context.index, { namespace: workload.namespace, labels }, ambient ? 'ambient' : 'sidecar');
  const resolved = asEnforcedBy(workloadMode(applicable), ambient ? 'ambient' : 'sidecar');
  const posture: WorkloadPosture = {
    inMesh: verdict.inMesh,
    hostNetwork: workload.hostNetwork,
    mode: resolved.mode,
    ownPolicy: applicable.workload !== undefined,
  };
  if (resolved.source) posture.modeSource = resolved.source;
  if (verdict.inMesh) return posture;
  posture.outside = verdict;
  if (workload.hostNetwork) return posture;
  if (resolved.mode === 'STRICT' && resolved.source) {
    posture.strict = { from: resolved.source };
  } else if (applicable.workload) {
    const ports = applicable.workload.portLevel.filter((entry) => portMode(applicable, entry.port).mode === 'STRICT').map((entry) => entry.port);
    if (ports.length > 0) posture.strict = { from: applicable.workload, ports };
  }
  return posture;
}
