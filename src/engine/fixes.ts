/** How to bring an out-of-mesh workload into the mesh: the exact commands, per cause. */
import { DATAPLANE_MODE, INJECTION_LABEL, REVISION_LABEL, SIDECAR_INJECT, SIDECAR_STATUS } from './istio-labels.js';
import type { Membership } from './mesh.js';
import type { WorkloadFacts } from './types.js';

/** `kubectl rollout restart` resource for a pod's owner, or for a controller itself. */
const RESTARTABLE: Readonly<Record<string, string>> = {
  ReplicaSet: 'deployment',
  Deployment: 'deployment',
  StatefulSet: 'statefulset',
  DaemonSet: 'daemonset',
};

export interface Offender {
  workload: WorkloadFacts;
  membership: Membership;
}

function workloadPath(workload: WorkloadFacts, what: 'labels' | 'annotations'): string {
  return workload.kind === 'Pod' ? `metadata.${what}` : `the pod template's metadata.${what}`;
}

/** The first few workload names, for a fix that names them. */
function names(offenders: readonly Offender[]): string {
  const listed = offenders.slice(0, 3).map((o) => o.workload.name).join(', ');
  return offenders.length > 3 ? `${listed}, …` : listed;
}

/** The fix for one namespace's offenders: label the namespace, remove opt-outs, restart what runs ("inject, then protect"). */
export function namespaceFix(namespace: string, offenders: readonly Offender[]): string[] {
  const causes = new Set(offenders.map((o) => o.membership.cause));
  const steps: string[] = [];
  if (causes.has('system-namespace')) {
    steps.push(`Istio never injects namespace ${namespace}: exempt it in mtls-guard's exemptNamespaces or give it its own PERMISSIVE PeerAuthentication`);
  }
  if (causes.has('namespace-injection-disabled')) {
    steps.push(`kubectl label namespace ${namespace} ${INJECTION_LABEL}=enabled --overwrite`);
  } else if (causes.has('namespace-unlabelled') || causes.has('pod-label-not-true')) {
    steps.push(`kubectl label namespace ${namespace} ${INJECTION_LABEL}=enabled`);
  }
  const optedOut = offenders.filter(
    (o) => o.membership.cause === 'pod-label-opt-out' || o.membership.cause === 'pod-annotation-opt-out',
  );
  if (optedOut.length > 0) {
    steps.push(`remove ${SIDECAR_INJECT}=false from ${names(optedOut)}`);
  }
  for (const offender of offenders) {
    const step = injectorStep(namespace, offender.membership);
    if (step && !steps.includes(step)) steps.push(step);
  }
  const ambientOptOut = offenders.filter((o) => o.membership.cause === 'ambient-opt-out');
  if (ambientOptOut.length > 0) {
    steps.push(`remove ${DATAPLANE_MODE}=none from ${names(ambientOptOut)}`);
  }
  const forged = offenders.filter((o) => o.membership.cause === 'status-without-proxy');
  if (forged.length > 0) {
    steps.push(`remove the ${SIDECAR_STATUS} annotation from ${names(forged)}`);
  }
  const restartable = new Set<string>();
  for (const { workload } of offenders) {
    const kind = RESTARTABLE[workload.kind === 'Pod' ? (workload.owner?.kind ?? '') : workload.kind];
    if (kind) restartable.add(kind);
  }
  for (const kind of [...restartable].sort()) steps.push(`kubectl rollout restart ${kind} -n ${namespace}`);
  const bare = offenders.filter((o) => o.workload.kind === 'Pod' && !RESTARTABLE[o.workload.owner?.kind ?? '']);
  if (bare.length > 0) {
    steps.push(`recreate pods ${names(bare)}`);
  }
  return steps;
}

/** A revision to point a namespace at: an installed one, preferring what is not a tag of nothing. */
function installedRevision(membership: Membership): string {
  return membership.injection?.installed?.[0] ?? 'default';
}

/** Steps for causes the installed injector decides (revisions, its policy and selectors), shared by both fixes. */
function injectorStep(namespace: string, membership: Membership): string | undefined {
  const installed = membership.injection?.installed ?? [];
  switch (membership.cause) {
    case 'revision-not-installed':
      return `install Istio revision ${membership.injection?.revision ?? ''} or point the namespace at an installed one: kubectl label namespace ${namespace} ${REVISION_LABEL}=${installedRevision(membership)} --overwrite`;
    case 'revision-empty':
      return `kubectl label namespace ${namespace} ${REVISION_LABEL}=${installedRevision(membership)} --overwrite (an empty ${REVISION_LABEL} selects no injector)`;
    case 'injector-not-installed':
      return installed.length > 0
        ? `kubectl label namespace ${namespace} ${INJECTION_LABEL}- ${REVISION_LABEL}=${installed[0]} --overwrite (the default revision is not installed)`
        : 'install Istio (no injector is installed)';
    case 'no-injector-selects':
      return 'check the injector webhooks\' selectors: kubectl get mutatingwebhookconfigurations -l app=sidecar-injector -o yaml';
    case 'never-inject-selector':
      return `change the labels the injector's neverInjectSelector matches, or set the label ${SIDECAR_INJECT}: "true"`;
    case 'injector-policy-disabled':
      return `set the label ${SIDECAR_INJECT}: "true" (the injector's policy does not inject by default)`;
    case 'proxy-without-status':
    case 'proxy-not-sidecar':
      return 'remove the hand-written istio-proxy container and let the injector add the sidecar';
    case 'proxy-image':
      return "run Istio's proxy image, or add its image to mtls-guard's proxyImages";
    default:
      return undefined;
  }
}

/** The first step of a fix, without its parenthesised alternatives: for warnings, which must stay short. */
export function shortFix(fix: string): string {
  return fix.split(/ \(|; /)[0] ?? fix;
}

/** The fix for a single workload under pod-requires-mesh. */
export function workloadFix(workload: WorkloadFacts, membership: Membership): string {
  const ns = workload.namespace;
  switch (membership.cause) {
    case 'namespace-unlabelled':
      return `kubectl label namespace ${ns} ${INJECTION_LABEL}=enabled (or add the label ${SIDECAR_INJECT}: "true" to ${workloadPath(workload, 'labels')})`;
    case 'namespace-injection-disabled':
      return `kubectl label namespace ${ns} ${INJECTION_LABEL}=enabled --overwrite (pod labels cannot override it)`;
    case 'pod-label-opt-out':
      return `remove the label ${SIDECAR_INJECT}=false from ${workloadPath(workload, 'labels')}`;
    case 'pod-annotation-opt-out':
      return `remove the annotation ${SIDECAR_INJECT}: "false" from ${workloadPath(workload, 'annotations')}`;
    case 'pod-label-not-true':
      return `set the label ${SIDECAR_INJECT}: "true" or run kubectl label namespace ${ns} ${INJECTION_LABEL}=enabled`;
    case 'ambient-opt-out':
      return `remove the label ${DATAPLANE_MODE}=none from ${workloadPath(workload, 'labels')}`;
    case 'status-without-proxy':
      return `remove the ${SIDECAR_STATUS} annotation from ${workloadPath(workload, 'annotations')}; only the injector sets it`;
    case 'proxy-missing':
      return workload.judgedBy === 'carries' && workload.kind === 'Pod' && !workload.sidecarStatus && workload.owner
        ? `restart it so the injector adds the sidecar (kubectl rollout restart ${RESTARTABLE[workload.owner.kind] ?? 'deployment'} -n ${ns}); if it is new, check that istiod's sidecar injector is running and selects this namespace (kubectl get mutatingwebhookconfigurations)`
        : `check that istiod's sidecar injector is running and selects this namespace (kubectl get mutatingwebhookconfigurations), then create the pod again`;
    case 'system-namespace':
      return `Istio never injects namespace ${ns}: add it to mtls-guard's exemptNamespaces`;
    case 'revision-empty':
      return membership.because.startsWith('pod label')
        ? `set the label ${REVISION_LABEL} in ${workloadPath(workload, 'labels')} to an installed revision (${installedRevision(membership)}) or remove it`
        : (injectorStep(ns, membership) as string);
    case 'revision-not-installed':
    case 'injector-not-installed':
    case 'no-injector-selects':
    case 'never-inject-selector':
    case 'injector-policy-disabled':
    case 'proxy-without-status':
    case 'proxy-not-sidecar':
    case 'proxy-image':
      return injectorStep(ns, membership) as string;
    case 'host-network':
    case undefined:
      return 'no fix: hostNetwork pods cannot join the mesh';
  }
}
