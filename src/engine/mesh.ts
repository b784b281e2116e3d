/**
 * SPEC 1.1 and 1.2: is a workload in the mesh, and will the sidecar injector inject it?
 * Mirrors the selectors of istio-sidecar-injector's webhooks and the injector's own per-pod decision.
 */
import {
  DATAPLANE_MODE,
  INJECTION_LABEL,
  NEVER_INJECTED_NAMESPACES,
  REVISION_LABEL,
  SIDECAR_INJECT,
  SIDECAR_STATUS,
} from './istio-labels.js';
import type { NamespaceFacts, WorkloadFacts } from './types.js';

/** Why a workload is outside the mesh. Each cause has its own fix. */
export type OutOfMeshCause =
  | 'host-network'
  | 'system-namespace'
  | 'namespace-unlabelled'
  | 'namespace-injection-disabled'
  | 'pod-label-opt-out'
  | 'pod-annotation-opt-out'
  | 'pod-label-not-true'
  | 'status-without-proxy'
  | 'ambient-opt-out'
  | 'proxy-missing';

export interface InjectionIntent {
  inject: boolean;
  /** Human explanation: which label decided. */
  because: string;
  cause?: OutOfMeshCause;
}

export interface Membership {
  inMesh: boolean;
  because: string;
  cause?: OutOfMeshCause;
  /** The namespace-level injection label that applies, when there is one (for messages). */
  injection?: InjectionIntent;
}

type WorkloadLabels = Pick<WorkloadFacts, 'labels' | 'injectAnnotation' | 'hostNetwork' | 'namespace'>;

/**
 * The injector's own verdict once its webhook has been called (istio pkg/kube/inject injectRequired):
 * the label beats the annotation; "false" opts out; any other value falls back to the default policy, enabled.
 */
function injectorDecision(workload: WorkloadLabels, selectedBy: string): InjectionIntent {
  const label = workload.labels[SIDECAR_INJECT];
  const value = label ?? workload.injectAnnotation;
  if (value !== 'false') return { inject: true, because: selectedBy };
  if (label !== undefined) {
    return { inject: false, because: `pod label ${SIDECAR_INJECT}=${label} opts it out`, cause: 'pod-label-opt-out' };
  }
  return {
    inject: false,
    because: `pod annotation ${SIDECAR_INJECT}=false opts it out`,
    cause: 'pod-annotation-opt-out',
  };
}

/** SPEC 1.2: will istio-sidecar-injector inject this pod (or pods made from this template)? */
export function injectionIntent(workload: WorkloadLabels, namespace: NamespaceFacts | undefined): InjectionIntent {
  const ns = workload.namespace;
  if (workload.hostNetwork) {
    return { inject: false, because: 'hostNetwork pods are never injected', cause: 'host-network' };
  }
  if (NEVER_INJECTED_NAMESPACES.has(ns)) {
    return { inject: false, because: `namespace ${ns} is never injected`, cause: 'system-namespace' };
  }
  const nsLabels = namespace?.labels ?? {};
  const podInject = workload.labels[SIDECAR_INJECT];
  const nsInjection = nsLabels[INJECTION_LABEL];
  const nsRevision = nsLabels[REVISION_LABEL];
  if (nsInjection !== undefined && nsInjection !== 'enabled') {
    return {
      inject: false,
      because: `namespace ${ns} has ${INJECTION_LABEL}=${nsInjection}`,
      cause: 'namespace-injection-disabled',
    };
  }
  // Every injector webhook that could select the pod excludes the label sidecar.istio.io/inject=false.
  if (podInject === 'false') {
    return { inject: false, because: `pod label ${SIDECAR_INJECT}=false opts it out`, cause: 'pod-label-opt-out' };
  }
  if (nsInjection === 'enabled') return injectorDecision(workload, `namespace ${ns} has ${INJECTION_LABEL}=enabled`);
  if (nsRevision !== undefined) return injectorDecision(workload, `namespace ${ns} has ${REVISION_LABEL}=${nsRevision}`);
  const podRevision = workload.labels[REVISION_LABEL];
  if (podInject === 'true') return injectorDecision(workload, `pod label ${SIDECAR_INJECT}=true`);
  if (podRevision !== undefined) return injectorDecision(workload, `pod label ${REVISION_LABEL}=${podRevision}`);
  const unlabelled = `namespace ${namespace ? ns : `${ns} (not found)`} has no ${INJECTION_LABEL} or ${REVISION_LABEL} label`;
  if (podInject === undefined) {
    const annotationOnly =
      workload.injectAnnotation !== undefined ? ` (the annotation ${SIDECAR_INJECT} does not select a pod; the label does)` : '';
    return { inject: false, because: `${unlabelled}${annotationOnly}`, cause: 'namespace-unlabelled' };
  }
  return {
    inject: false,
    because: `${unlabelled} and the pod label ${SIDECAR_INJECT}=${podInject} selects only with the value "true"`,
    cause: 'pod-label-not-true',
  };
}

/** SPEC 1.1 ambient enrollment, by labels (and the CNI's capture annotation on running pods). */
export function ambientEnrolled(workload: WorkloadFacts, namespace: NamespaceFacts | undefined): boolean {
  if (workload.hostNetwork || workload.sidecarStatus || workload.namespace === 'kube-system') return false;
  if (workload.ambientRedirection) return true;
  const podMode = workload.labels[DATAPLANE_MODE];
  if (podMode === 'ambient') return true;
  return podMode !== 'none' && namespace?.labels[DATAPLANE_MODE] === 'ambient';
}

/**
 * False when the workload is certainly in the mesh, or never counted (hostNetwork, finished), whatever its
 * namespace's labels say; true when membership depends on the namespace. Lets the cluster state keep, per
 * namespace, only the workloads a STRICT policy could find outside the mesh.
 */
export function mayBeOutsideMesh(workload: WorkloadFacts): boolean {
  if (workload.hostNetwork || workload.finished || workload.proxy !== undefined) return false;
  if (workload.sidecarStatus || workload.namespace === 'kube-system') return true;
  return !(workload.ambientRedirection || workload.labels[DATAPLANE_MODE] === 'ambient');
}

/**
 * SPEC 1.1/1.2: is the workload in the mesh? `carries` judges what the pod spec holds now;
 * `intent` also counts a pod that the injector will inject.
 */
export function membership(workload: WorkloadFacts, namespace: NamespaceFacts | undefined): Membership {
  if (workload.hostNetwork) {
    return { inMesh: false, because: 'hostNetwork pods are never in the mesh', cause: 'host-network' };
  }
  if (workload.proxy === 'container') return { inMesh: true, because: 'it has an istio-proxy container' };
  if (workload.proxy === 'native-sidecar') return { inMesh: true, because: 'it has an istio-proxy native sidecar' };
  if (workload.proxy === 'init-container') return { inMesh: true, because: 'it has an istio-proxy init container' };
  if (workload.sidecarStatus) {
    return {
      inMesh: false,
      because: `it carries the ${SIDECAR_STATUS} annotation but no istio-proxy container (the annotation also keeps ambient from capturing it)`,
      cause: 'status-without-proxy',
    };
  }
  if (ambientEnrolled(workload, namespace)) return { inMesh: true, because: 'it is enrolled in ambient mode' };
  const injection = injectionIntent(workload, namespace);
  if (injection.inject) {
    if (workload.judgedBy === 'intent') return { inMesh: true, because: `it will be injected: ${injection.because}`, injection };
    return {
      inMesh: false,
      because: `it has no istio-proxy although ${injection.because}`,
      cause: 'proxy-missing',
      injection,
    };
  }
  if (namespace?.labels[DATAPLANE_MODE] === 'ambient' && injection.cause !== 'system-namespace') {
    return {
      inMesh: false,
      because: `pod label ${DATAPLANE_MODE}=none opts it out of ambient namespace ${workload.namespace}`,
      cause: 'ambient-opt-out',
      injection,
    };
  }
  const result: Membership = { inMesh: false, because: injection.because, injection };
  if (injection.cause) result.cause = injection.cause;
  return result;
}
