/**
 * The audit report (SPEC 2.5): the mesh's posture as one document. `/audit` on the metrics port serves it,
 * `mtls-guard audit --output json` prints it, and the text and HTML renderings are drawn from it.
 */
import type { Action, ObjectRef, RuleId, SubjectRef } from '../engine/types.js';

export const AUDIT_API_VERSION = 'mtls-guard.io/v1alpha1';

export type ModeName = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface EffectiveMode {
  mode: ModeName;
  /** `namespace/name` of the PeerAuthentication that set it; absent for Istio's PERMISSIVE default. */
  policy?: string;
}

export interface Coverage {
  /** Running workloads (pods that have not finished, and pod templates of controllers). */
  total: number;
  inMesh: number;
  outOfMesh: number;
  /** Of outOfMesh: hostNetwork pods, which Istio never captures (allowed, never a violation). */
  hostNetwork: number;
}

export interface NamespacePosture {
  name: string;
  /** Exempt from mtls-guard's rules (config exemptNamespaces): shown, never a violation. */
  exempt: boolean;
  /** How new pods there join the mesh: `istio-injection=enabled`, `istio.io/rev=canary`, `ambient`, or `none`. */
  enrollment: string;
  /** The mode a workload without its own policy gets there (namespace-wide policy, else mesh-wide, else default). */
  mode: EffectiveMode;
  /** Workloads whose mode is decided by a workload-selector policy of their own. */
  ownPolicy: number;
  pods: Coverage;
  /** Pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs. */
  templates: Coverage;
  violations: Record<RuleId, number>;
}

/** One existing violation, in the shape `check --output json` uses for a finding. */
export interface AuditFinding {
  rule: RuleId;
  action: Exclude<Action, 'off'>;
  object: ObjectRef;
  message: string;
  /** The fix, as commands or edits, when the finding has one. */
  fix?: string;
  subjects: SubjectRef[];
}

/** A workload that sends (or could send) plaintext to workloads a STRICT policy governs. */
export interface Caller {
  namespace: string;
  /**
   * With telemetry, Istio's workload name as in source_workload (the Deployment, not the pod); for a possible
   * caller, `Kind/name` of the workload in mtls-guard's state.
   */
  workload: string;
  /** Plaintext requests and TCP connections seen over the window (telemetry only). */
  requests?: number;
  connections?: number;
  /** Why it is outside the mesh, when mtls-guard knows the workload. */
  because?: string;
}

export interface StrictCallers {
  /** The STRICT PeerAuthentication, `namespace/name`. */
  policy: string;
  /** The in-mesh workloads it governs, `namespace/workload` (with telemetry Istio's workload names, else the objects' names). */
  destinations: string[];
  callers: Caller[];
  /** Plaintext traffic whose source Istio could not name (telemetry says `unknown`). */
  unidentified?: { requests: number; connections: number };
}

export interface CallersSection {
  /**
   * `telemetry`: observed plaintext inbound traffic from Prometheus over `window`;
   * `possible`: no telemetry, so every workload outside the mesh that could call is listed.
   */
  basis: 'telemetry' | 'possible';
  window?: string;
  /** When the telemetry was read (RFC 3339), and the last error if the last refresh failed. */
  observedAt?: string;
  error?: string;
  byPolicy: StrictCallers[];
  /** basis `possible`: the workloads outside the mesh that could call any STRICT workload. */
  possible?: Caller[];
}

export interface AuditReport {
  apiVersion: typeof AUDIT_API_VERSION;
  kind: 'AuditReport';
  /** Where the state came from: `cluster <server> (list-watch)`, `cluster:<context>`, or the files read. */
  source: string;
  /** When the report was made (RFC 3339), set by whoever asked for it: the engine has no clock. */
  generatedAt?: string;
  istioVersion: string;
  rootNamespace: string;
  /** The mesh-wide mode (root namespace policy, or Istio's PERMISSIVE default). */
  mesh: EffectiveMode;
  summary: {
    namespaces: number;
    workloads: Coverage;
    violations: Record<RuleId, number>;
  };
  /** Sorted by name. */
  namespaces: NamespacePosture[];
  /** Sorted by rule, then namespace, then object. */
  findings: AuditFinding[];
  callers: CallersSection;
}
