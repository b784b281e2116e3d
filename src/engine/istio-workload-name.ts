/**
 * The workload name Istio's telemetry gives a pod: the value of `source_workload` / `destination_workload` on
 * istio_requests_total and friends. The sidecar reports its node metadata WORKLOAD_NAME, which the injector sets
 * (ISTIO_META_WORKLOAD_NAME, injection-template.yaml) from the pod label `service.istio.io/workload-name`, else
 * from `GetDeployMetaFromPod` (istio pkg/kube/util.go) run on the pod at admission. ztunnel reports the same name
 * for ambient pods (`GetWorkloadMetaFromPod`: the same heuristics and the same label).
 */
import type { Labels, WorkloadFacts } from './types.js';

export const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const ROLLOUTS_POD_TEMPLATE_HASH = 'rollouts-pod-template-hash';
export const DEPLOYMENT_CONFIG = 'deploymentconfig';
/** A Job named `<cronjob>-<scheduled time in minutes>` is taken for its CronJob's (istio cronJobNameRegexp). */
const CRONJOB_JOB_NAME = /^(.+)-\d{8,10}$/;

export interface IstioWorkloadName {
  namespace: string;
  name: string;
}

export type WorkloadIdentity = Pick<WorkloadFacts, 'kind' | 'namespace' | 'name' | 'labels' | 'owner' | 'nameGenerated'>;

/**
 * The (namespace, workload name) Istio's telemetry reports for a Pod, or for the pods a controller's template will
 * make. Undefined when there is no name yet: a Pod at admission with only a generateName (decode gives it the
 * stand-in `<generateName>*`, never a valid name) and no controller.
 *
 * Such a pod, once named, is its own workload for ztunnel (which reads the stored pod); its sidecar reports no
 * workload name at all, as the injector saw the pod before the API server named it. The pod name is returned
 * then: it can match only ztunnel's reports, which is right for both.
 */
export function istioWorkloadName(workload: WorkloadIdentity): IstioWorkloadName | undefined {
  const name = workload.labels[WORKLOAD_NAME_LABEL] || nameFromController(workload);
  return name && !name.includes('*') ? { namespace: workload.namespace, name } : undefined;
}

function nameFromController(workload: WorkloadIdentity): string {
  if (workload.kind !== 'Pod') return templateWorkloadName(workload);
  // Istio looks at the owner only for a pod whose name is (to be) generated; a named pod is its own workload.
  if (!workload.nameGenerated || !workload.owner) return workload.name;
  return ownerWorkloadName(workload.owner, workload.labels);
}

/** A template's pods are owned by the controller itself, except for these two, whose pods Istio names after them. */
function templateWorkloadName(workload: WorkloadIdentity): string {
  switch (workload.kind) {
    // Pods of a Deployment are owned by its ReplicaSet `<name>-<pod-template-hash>` and carry that hash.
    case 'Deployment':
    // Pods of a CronJob are owned by its Job `<name>-<minutes since the epoch>` (8 digits until the year 2160).
    case 'CronJob':
      return workload.name;
    default:
      return ownerWorkloadName({ kind: workload.kind, name: workload.name }, workload.labels);
  }
}

function ownerWorkloadName(owner: { kind: string; name: string }, labels: Labels): string {
  const hash = labels[POD_TEMPLATE_HASH];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(hash)) return trimSuffix(owner.name, `-${hash}`);
  const rolloutsHash = labels[ROLLOUTS_POD_TEMPLATE_HASH];
  if (owner.kind === 'ReplicaSet' && rolloutsHash && owner.name.endsWith(rolloutsHash)) return trimSuffix(owner.name, `-${rolloutsHash}`);
  const deploymentConfig = labels[DEPLOYMENT_CONFIG];
  if (owner.kind === 'ReplicationController' && deploymentConfig) return deploymentConfig;
  if (owner.kind === 'Job') return CRONJOB_JOB_NAME.exec(owner.name)?.[1] ?? owner.name;
  return owner.name;
}

function trimSuffix(value: string, suffix: string): string {
  return value.endsWith(suffix) ? value.slice(0, -suffix.length) : value;
}
