/**
 * SPEC 1.1 and 1.2: is a workload in the mesh, and will Istio's sidecar injector inject it?
 * The injector is the installed one when the state holds its webhook configurations, else the default install
 * of the configured Istio version; its per-pod decision is injectRequired's (see injector.ts).
 */
import {
  defaultConfig,
  defaultInstall,
  injectorDecides,
  installedRevisions,
  matchingWebhooks,
  type InjectionState,
  type InjectorConfig,
  type InjectorWebhookConfiguration,
  type MatchedWebhook,
  type SkipCause,
} from './injector.js';
import {
  DATAPLANE_MODE,
  INJECTION_LABEL,
  NAMESPACE_NAME_LABEL,
  NEVER_INJECTED_NAMESPACES,
  REVISION_LABEL,
  SIDECAR_INJECT,
  SIDECAR_STATUS,
} from './istio-labels.js';
import { NEWEST_ISTIO_VERSION } from './istio-version.js';
import type { ClusterState, NamespaceFacts, Policy, WorkloadFacts } from './types.js';

/** Why a workload is outside the mesh. Each cause has its own fix. */
export type OutOfMeshCause =
  | 'host-network'
  | 'system-namespace'
  | 'namespace-unlabelled'
  | 'namespace-injection-disabled'
  | 'pod-label-not-true'
  | 'status-without-proxy'
  | 'proxy-without-status'
  | 'proxy-not-sidecar'
  | 'proxy-image'
  | 'ambient-opt-out'
  | 'proxy-missing'
  | 'revision-not-installed'
  | 'revision-empty'
  | 'injector-not-installed'
  | 'no-injector-selects'
  | SkipCause;

/** What membership needs beyond the workload and its namespace: the injector, the Istio version, proxy images. */
export interface MeshContext {
  /** Injector objects in the state; undefined or without webhook configurations means the default install. */
  injection?: InjectionState;
  istioVersion: string;
  proxyImages: readonly string[];
  rootNamespace: string;
}

export const DEFAULT_MESH_CONTEXT: MeshContext = { istioVersion: NEWEST_ISTIO_VERSION, proxyImages: [], rootNamespace: 'istio-system' };

export function meshContext(state: ClusterState, policy: Policy): MeshContext {
  const context: MeshContext = {
    istioVersion: policy.istioVersion ?? NEWEST_ISTIO_VERSION,
    proxyImages: policy.proxyImages ?? [],
    rootNamespace: policy.rootNamespace,
  };
  const injection = state.injection?.();
  if (injection) context.injection = injection;
  return context;
}

export interface InjectionIntent {
  inject: boolean;
  /** Human explanation: which label, annotation, revision or injector setting decided. */
  because: string;
  cause?: OutOfMeshCause;
  /** The revision whose injector was called (or that was asked for and is missing). */
  revision?: string;
  /** Revisions and tags the injector configurations serve (or the default install's), for fixes. */
  installed?: readonly string[];
  /** True when no injector configuration was in the state and the default install decided. */
  assumed?: boolean;
}

export interface Membership {
  inMesh: boolean;
  because: string;
  cause?: OutOfMeshCause;
  /** The injector's decision, when it was consulted (for messages and fixes). */
  injection?: InjectionIntent;
}

type WorkloadLabels = Pick<WorkloadFacts, 'labels' | 'injectAnnotation' | 'hostNetwork' | 'namespace'>;

interface Injector {
  configurations: readonly InjectorWebhookConfiguration[];
  configs: readonly InjectorConfig[];
  assumed: boolean;
}

function injectorOf(context: MeshContext): Injector {
  const installed = context.injection?.configurations ?? [];
  if (installed.length > 0) return { configurations: installed, configs: context.injection?.configs ?? [], assumed: false };
  return { configurations: [defaultInstall(context.rootNamespace)], configs: [], assumed: true };
}

function assumption(injector: Injector, context: MeshContext): string {
  return injector.assumed ? ` (no injector webhook configurations in the state: assuming Istio ${context.istioVersion}'s default install)` : '';
}

/** The ConfigMap the called istiod reads: istio-sidecar-injector[-<rev>] in its service's namespace. */
function configFor(matched: MatchedWebhook, injector: Injector, context: MeshContext): { config: InjectorConfig; assumed: boolean } {
  const namespace = matched.webhook.serviceNamespace ?? context.rootNamespace;
  const fallback = defaultConfig(namespace, matched.configuration.revision);
  const config = injector.configs.find((c) => c.namespace === namespace && c.name === fallback.name);
  return config ? { config, assumed: false } : { config: fallback, assumed: true };
}

/** The labels that got the injector called, said as a user would check them. */
function selectedBy(workload: WorkloadLabels, namespaceLabels: Record<string, string>, matched: MatchedWebhook): string {
  const ns = workload.namespace;
  const { revision, tag } = matched.configuration;
  const via = tag ? ` (tag ${tag} of revision ${revision})` : revision !== 'default' ? ` (revision ${revision})` : '';
  if (namespaceLabels[INJECTION_LABEL] === 'enabled') return `namespace ${ns} has ${INJECTION_LABEL}=enabled${via}`;
  if (namespaceLabels[REVISION_LABEL] !== undefined) return `namespace ${ns} has ${REVISION_LABEL}=${namespaceLabels[REVISION_LABEL]}${via}`;
  if (workload.labels[REVISION_LABEL] !== undefined) return `pod label ${REVISION_LABEL}=${workload.labels[REVISION_LABEL]}${via}`;
  if (workload.labels[SIDECAR_INJECT] === 'true') return `pod label ${SIDECAR_INJECT}=true${via}`;
  return `injector webhook ${matched.configuration.name}/${matched.webhook.name} selects it${via}`;
}

/** No injector webhook is called: name the label that explains it. */
function notCalled(
  workload: WorkloadLabels,
  namespace: NamespaceFacts | undefined,
  namespaceLabels: Record<string, string>,
  injector: Injector,
  context: MeshContext,
): InjectionIntent {
  const ns = workload.namespace;
  const installed = installedRevisions(injector.configurations);
  const result = (cause: OutOfMeshCause, because: string, revision?: string): InjectionIntent => {
    const intent: InjectionIntent = { inject: false, because, cause, installed };
    if (revision !== undefined) intent.revision = revision;
    if (injector.assumed) intent.assumed = true;
    return intent;
  };
  const served = (revision: string): string =>
    `revision ${revision}: no injector for it is installed (installed: ${installed.join(', ')})${assumption(injector, context)}`;
  const nsInjection = namespaceLabels[INJECTION_LABEL];
  const nsRevision = namespaceLabels[REVISION_LABEL];
  const podInject = workload.labels[SIDECAR_INJECT];
  const podRevision = workload.labels[REVISION_LABEL];
  if (nsInjection !== undefined && nsInjection !== 'enabled') {
    return result('namespace-injection-disabled', `namespace ${ns} has ${INJECTION_LABEL}=${nsInjection}`);
  }
  if (podInject === 'false') return result('pod-label-opt-out', `pod label ${SIDECAR_INJECT}=false opts it out`);
  if (nsInjection === 'enabled') {
    if (!installed.includes('default')) {
      return result('injector-not-installed', `namespace ${ns} has ${INJECTION_LABEL}=enabled, but no injector for the default revision is installed (installed: ${installed.join(', ')})`, 'default');
    }
    return result('no-injector-selects', `namespace ${ns} has ${INJECTION_LABEL}=enabled, but no installed injector webhook selects the pod`);
  }
  if (nsRevision !== undefined) {
    if (nsRevision === '') return result('revision-empty', `namespace ${ns} has an empty ${REVISION_LABEL} label, which selects no injector`);
    if (!installed.includes(nsRevision)) return result('revision-not-installed', `namespace ${ns} has ${REVISION_LABEL}=${nsRevision}, but ${served(nsRevision)}`, nsRevision);
    return result('no-injector-selects', `namespace ${ns} has ${REVISION_LABEL}=${nsRevision}, but no injector webhook of that revision selects the pod`, nsRevision);
  }
  if (podRevision !== undefined) {
    if (podRevision === '') return result('revision-empty', `pod label ${REVISION_LABEL} is empty, which selects no injector`);
    if (!installed.includes(podRevision)) return result('revision-not-installed', `pod label ${REVISION_LABEL}=${podRevision}, but ${served(podRevision)}`, podRevision);
    return result('no-injector-selects', `pod label ${REVISION_LABEL}=${podRevision}, but no injector webhook of that revision selects it`, podRevision);
  }
  const unlabelled = `namespace ${namespace ? ns : `${ns} (not found)`} has no ${INJECTION_LABEL} or ${REVISION_LABEL} label`;
  if (podInject === 'true') {
    if (!installed.includes('default')) {
      return result('injector-not-installed', `pod label ${SIDECAR_INJECT}=true, but no injector for the default revision is installed (installed: ${installed.join(', ')})`, 'default');
    }
    return result('no-injector-selects', `${unlabelled} and no installed injector webhook selects the pod label ${SIDECAR_INJECT}=true`);
  }
  if (podInject === undefined) {
    const annotationOnly =
      workload.injectAnnotation !== undefined ? ` (the annotation ${SIDECAR_INJECT} does not select a pod; the label does)` : '';
    return result('namespace-unlabelled', `${unlabelled}${annotationOnly}`);
  }
  return result(
    'pod-label-not-true',
    `${unlabelled} and the pod label ${SIDECAR_INJECT}=${podInject} selects only with the value "true"`,
  );
}

/** SPEC 1.2: will Istio's sidecar injector inject this pod (or pods made from this template)? */
export function injectionIntent(
  workload: WorkloadLabels,
  namespace: NamespaceFacts | undefined,
  context: MeshContext = DEFAULT_MESH_CONTEXT,
): InjectionIntent {
  const ns = workload.namespace;
  if (workload.hostNetwork) {
    return { inject: false, because: 'hostNetwork pods are never injected', cause: 'host-network' };
  }
  if (NEVER_INJECTED_NAMESPACES.has(ns)) {
    return { inject: false, because: `namespace ${ns} is never injected`, cause: 'system-namespace' };
  }
  const injector = injectorOf(context);
  const namespaceLabels = { ...namespace?.labels, [NAMESPACE_NAME_LABEL]: ns };
  const matched = matchingWebhooks(injector.configurations, namespaceLabels, workload.labels);
  if (matched.length === 0) return notCalled(workload, namespace, namespaceLabels, injector, context);
  // Every matching webhook is called; the pod is injected when any of them injects.
  let skipped: InjectionIntent | undefined;
  for (const hook of matched) {
    const { config, assumed } = configFor(hook, injector, context);
    const verdict = injectorDecides(workload, config, context.istioVersion, assumed);
    const revision = hook.configuration.tag ?? hook.configuration.revision;
    if (verdict.inject) {
      const intent: InjectionIntent = { inject: true, because: selectedBy(workload, namespaceLabels, hook), revision };
      if (injector.assumed) intent.assumed = true;
      return intent;
    }
    skipped ??= { inject: false, because: verdict.because, cause: verdict.cause, revision, installed: installedRevisions(injector.configurations) };
  }
  return skipped as InjectionIntent;
}

/** SPEC 1.1 ambient enrollment, by labels only, as istio-cni's enablement selectors decide it. */
export function ambientEnrolled(workload: WorkloadFacts, namespace: NamespaceFacts | undefined): boolean {
  if (workload.hostNetwork || workload.sidecarStatus || workload.namespace === 'kube-system') return false;
  const podMode = workload.labels[DATAPLANE_MODE];
  if (podMode === 'ambient') return true;
  return podMode !== 'none' && namespace?.labels[DATAPLANE_MODE] === 'ambient';
}

/** A proxy the injector wrote: an istio-proxy container or native sidecar, named by the status annotation. */
function isInjectedSidecar(workload: WorkloadFacts): boolean {
  return (workload.proxy === 'container' || workload.proxy === 'native-sidecar') && workload.proxyInStatus === true;
}

function imagePattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Why what the pod carries is not a sidecar (SPEC 1.1), or undefined when it carries one or nothing. */
function carriedProblem(workload: WorkloadFacts, context: MeshContext): Membership | undefined {
  if (isInjectedSidecar(workload)) {
    if (context.proxyImages.length === 0) return undefined;
    const image = workload.proxyImage ?? '';
    if (context.proxyImages.some((p) => imagePattern(p).test(image))) return undefined;
    return {
      inMesh: false,
      because: `its istio-proxy runs image ${JSON.stringify(image)}, which matches none of mtls-guard's proxyImages`,
      cause: 'proxy-image',
    };
  }
  if (workload.proxy === 'init-container') {
    return {
      inMesh: false,
      because: 'its istio-proxy is an init container that runs to completion (no restartPolicy: Always), not a sidecar',
      cause: 'proxy-not-sidecar',
    };
  }
  if (workload.proxy !== undefined) {
    return {
      inMesh: false,
      because: `it has an istio-proxy the injector did not add (no ${SIDECAR_STATUS} annotation naming it)`,
      cause: 'proxy-without-status',
    };
  }
  if (workload.sidecarStatus) {
    return {
      inMesh: false,
      because: `it carries the ${SIDECAR_STATUS} annotation but no istio-proxy container (the annotation also keeps ambient from capturing it)`,
      cause: 'status-without-proxy',
    };
  }
  return undefined;
}

/**
 * False when the workload is certainly in the mesh, or never counted (hostNetwork, finished), whatever its
 * namespace's labels and the injector say; true when membership may depend on them. Lets the cluster state keep,
 * per namespace, only the workloads a STRICT policy could find outside the mesh. (proxyImages is not applied here.)
 */
export function mayBeOutsideMesh(workload: WorkloadFacts): boolean {
  if (workload.hostNetwork || workload.finished || isInjectedSidecar(workload)) return false;
  if (workload.sidecarStatus || workload.namespace === 'kube-system') return true;
  return workload.labels[DATAPLANE_MODE] !== 'ambient';
}

/**
 * SPEC 1.1/1.2: is the workload in the mesh? `carries` judges what the pod spec holds now;
 * `intent` counts a pod that the injector will inject (a copied status annotation does not stop it).
 */
export function membership(
  workload: WorkloadFacts,
  namespace: NamespaceFacts | undefined,
  context: MeshContext = DEFAULT_MESH_CONTEXT,
): Membership {
  if (workload.hostNetwork) {
    return { inMesh: false, because: 'hostNetwork pods are never in the mesh', cause: 'host-network' };
  }
  const problem = carriedProblem(workload, context);
  if (!problem && workload.proxy !== undefined) {
    return { inMesh: true, because: `it has an injected istio-proxy ${workload.proxy === 'container' ? 'container' : 'native sidecar'}` };
  }
  if (ambientEnrolled(workload, namespace)) return { inMesh: true, because: 'it is enrolled in ambient mode' };
  const injection = injectionIntent(workload, namespace, context);
  if (injection.inject && workload.judgedBy === 'intent') {
    return { inMesh: true, because: `it will be injected: ${injection.because}`, injection };
  }
  if (problem) return { ...problem, injection };
  if (injection.inject) {
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
