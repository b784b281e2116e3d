/** What each rule `check` reports is about, and how to fix what it finds: metadata for SARIF and --help. */
import type { CheckRuleId } from './check.js';

export interface RuleInfo {
  id: CheckRuleId;
  name: string;
  short: string;
  full: string;
  help: string;
  defaultAction: 'deny' | 'warn';
}

export const CHECK_RULES: readonly RuleInfo[] = [
  {
    id: 'strict-requires-mesh',
    name: 'StrictRequiresMesh',
    short: 'A STRICT PeerAuthentication must not govern workloads outside the Istio mesh.',
    full:
      'A PeerAuthentication is rejected when, after it, STRICT mutual TLS (top level or on a port) would govern a ' +
      'workload that is not in the mesh: such a workload cannot send or accept mutual TLS, so its traffic breaks.',
    help:
      'Inject, then protect: kubectl label namespace NS istio-injection=enabled, then kubectl rollout restart ' +
      'deployment -n NS, and apply the STRICT policy once every workload runs with a sidecar (or is enrolled in ambient).',
    defaultAction: 'deny',
  },
  {
    id: 'mtls-drift',
    name: 'MtlsDrift',
    short: 'A change that lets plaintext in, or a PeerAuthentication without effect.',
    full:
      'Warns when a PeerAuthentication sets PERMISSIVE or DISABLE (top level or on a port), weakens or removes an ' +
      'effective STRICT policy, or has no effect (shadowed by an older policy, a selector in the root namespace, a dropped targetRef).',
    help: 'Use mode STRICT where every workload is in the mesh; delete policies that have no effect or fix their scope.',
    defaultAction: 'warn',
  },
  {
    id: 'pod-requires-mesh',
    name: 'PodRequiresMesh',
    short: 'A Pod or pod template must end up in the Istio mesh.',
    full:
      'A Pod, or the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or ' +
      'CronJob, is rejected when its pods will not be in the mesh: not injected with a sidecar and not enrolled in ambient.',
    help:
      'Label the namespace for injection (kubectl label namespace NS istio-injection=enabled), or remove the ' +
      'sidecar.istio.io/inject=false opt-out; the finding names the label that is missing or that opts the pod out.',
    defaultAction: 'deny',
  },
  {
    id: 'namespace-unknown',
    name: 'NamespaceUnknown',
    short: 'An object is in a namespace the input does not define, so its namespace labels are unknown.',
    full:
      'Whether pods join the mesh depends on their namespace labels (istio-injection, istio.io/rev, ' +
      'istio.io/dataplane-mode). When neither the input nor the live cluster defines the namespace, mtls-guard check ' +
      'does not guess: it reports this finding instead of a verdict that would hold only for some labels.',
    help:
      'Run check with --kubeconfig (and --context) to read the namespaces from the cluster the manifests are for, or ' +
      'add the Namespace manifests, with their labels, to the input. Set the action with --namespace-unknown.',
    defaultAction: 'warn',
  },
];
