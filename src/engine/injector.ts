/**
 * Istio's sidecar injector as installed: its MutatingWebhookConfigurations (which pods it is called for) and its
 * istio-sidecar-injector ConfigMaps (what it then decides). Without them, the default install of the configured
 * Istio version (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, revision "").
 */
import { INJECTION_LABEL, REVISION_LABEL, SIDECAR_INJECT } from './istio-labels.js';
import { injectValueReading } from './istio-version.js';
import { describeSelector, isEmptySelector, matchesSelector, selectorError, type LabelSelector } from './label-selector.js';
import type { Labels } from './types.js';

/** One webhook of an injector MutatingWebhookConfiguration that is called for Pod CREATE. */
export interface InjectorWebhook {
  name: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  /** clientConfig.service.namespace: where that istiod (and its ConfigMap) runs. */
  serviceNamespace?: string;
}

/** An injector MutatingWebhookConfiguration, slimmed to what decides whether it is called. */
export interface InjectorWebhookConfiguration {
  name: string;
  /** Its istio.io/rev label ("default" when absent or empty), the revision whose istiod answers. */
  revision: string;
  /** Its istio.io/tag label: a revision tag pointing at `revision`. */
  tag?: string;
  webhooks: readonly InjectorWebhook[];
}

/** The parts of an istio-sidecar-injector ConfigMap's `config` that injectRequired reads. */
export interface InjectorConfig {
  namespace: string;
  name: string;
  /** "enabled", "disabled", or anything else (Istio then injects nothing). */
  policy: string;
  neverInjectSelector: readonly LabelSelector[];
  alwaysInjectSelector: readonly LabelSelector[];
}

/** The injector objects a cluster state holds. */
export interface InjectionState {
  /** Ordered by configuration name, as the API server calls them. */
  configurations: readonly InjectorWebhookConfiguration[];
  configs: readonly InjectorConfig[];
}

export const INJECTOR_CONFIGMAP = 'istio-sidecar-injector';

/** The ConfigMap istiod of `revision` reads: istio-sidecar-injector, or istio-sidecar-injector-<rev>. */
export function configMapName(revision: string): string {
  return revision === 'default' ? INJECTOR_CONFIGMAP : `${INJECTOR_CONFIGMAP}-${revision}`;
}

/** The revision a ConfigMap name belongs to, or undefined for other ConfigMaps. */
export function revisionOfConfigMap(name: string): string | undefined {
  if (name === INJECTOR_CONFIGMAP) return 'default';
  return name.startsWith(`${INJECTOR_CONFIGMAP}-`) ? name.slice(INJECTOR_CONFIGMAP.length + 1) : undefined;
}

const notFalse = { key: SIDECAR_INJECT, operator: 'NotIn', values: ['false'] };

/** The webhooks of a default install (revision "", enableNamespacesByDefault false), identical from 1.24 to 1.30. */
export function defaultInstall(rootNamespace: string): InjectorWebhookConfiguration {
  const webhook = (name: string, namespaceSelector: LabelSelector, objectSelector: LabelSelector): InjectorWebhook => ({
    name,
    namespaceSelector,
    objectSelector,
    serviceNamespace: rootNamespace,
  });
  return {
    name: INJECTOR_CONFIGMAP,
    revision: 'default',
    webhooks: [
      webhook(
        'rev.namespace.sidecar-injector.istio.io',
        { matchExpressions: [{ key: REVISION_LABEL, operator: 'In', values: ['default'] }, { key: INJECTION_LABEL, operator: 'DoesNotExist' }] },
        { matchExpressions: [notFalse] },
      ),
      webhook(
        'rev.object.sidecar-injector.istio.io',
        { matchExpressions: [{ key: REVISION_LABEL, operator: 'DoesNotExist' }, { key: INJECTION_LABEL, operator: 'DoesNotExist' }] },
        { matchExpressions: [notFalse, { key: REVISION_LABEL, operator: 'In', values: ['default'] }] },
      ),
      webhook(
        'namespace.sidecar-injector.istio.io',
        { matchExpressions: [{ key: INJECTION_LABEL, operator: 'In', values: ['enabled'] }] },
        { matchExpressions: [notFalse] },
      ),
      webhook(
        'object.sidecar-injector.istio.io',
        { matchExpressions: [{ key: INJECTION_LABEL, operator: 'DoesNotExist' }, { key: REVISION_LABEL, operator: 'DoesNotExist' }] },
        { matchExpressions: [{ key: SIDECAR_INJECT, operator: 'In', values: ['true'] }, { key: REVISION_LABEL, operator: 'DoesNotExist' }] },
      ),
    ],
  };
}

/** The chart's default ConfigMap: policy enabled (global.proxy.autoInject), no selectors. */
export function defaultConfig(namespace: string, revision: string): InjectorConfig {
  return { namespace, name: configMapName(revision), policy: 'enabled', neverInjectSelector: [], alwaysInjectSelector: [] };
}

export interface MatchedWebhook {
  configuration: InjectorWebhookConfiguration;
  webhook: InjectorWebhook;
}

/** Every injector webhook the API server calls for a pod with these labels in a namespace with those labels. */
export function matchingWebhooks(
  configurations: readonly InjectorWebhookConfiguration[],
  namespaceLabels: Labels,
  podLabels: Labels,
): MatchedWebhook[] {
  const matched: MatchedWebhook[] = [];
  for (const configuration of configurations) {
    for (const webhook of configuration.webhooks) {
      if (matchesSelector(webhook.namespaceSelector, namespaceLabels) && matchesSelector(webhook.objectSelector, podLabels)) {
        matched.push({ configuration, webhook });
      }
    }
  }
  return matched;
}

/** Revisions and tags the configurations serve, for messages and fixes. */
export function installedRevisions(configurations: readonly InjectorWebhookConfiguration[]): string[] {
  const names = new Set<string>();
  for (const c of configurations) {
    names.add(c.revision);
    if (c.tag) names.add(c.tag);
  }
  return [...names].sort();
}

/** Why an injector that was called decided not to inject. */
export type SkipCause = 'pod-label-opt-out' | 'pod-annotation-opt-out' | 'never-inject-selector' | 'injector-policy-disabled';

export type InjectorVerdict = { inject: true; because?: string } | { inject: false; cause: SkipCause; because: string };

export interface PodMetadata {
  labels: Labels;
  injectAnnotation?: string;
}

function where(config: InjectorConfig, assumed: boolean): string {
  return assumed ? `the default injector config (no ConfigMap ${config.namespace}/${config.name} in the state)` : `ConfigMap ${config.namespace}/${config.name}`;
}

/**
 * injectRequired (pkg/kube/inject/inject.go) after the hostNetwork and ignored-namespace checks: the label
 * sidecar.istio.io/inject beats the annotation; its value is read as `istioVersion` reads it; then
 * neverInjectSelector, alwaysInjectSelector, and the policy for pods that said nothing.
 */
export function injectorDecides(pod: PodMetadata, config: InjectorConfig, istioVersion: string, assumedConfig: boolean): InjectorVerdict {
  const label = pod.labels[SIDECAR_INJECT];
  const fromLabel = label !== undefined;
  const value = label ?? pod.injectAnnotation ?? '';
  const what = fromLabel ? `pod label ${SIDECAR_INJECT}=${value}` : `pod annotation ${SIDECAR_INJECT}=${value}`;
  let explicit: boolean | undefined;
  if (injectValueReading(istioVersion) === 'yaml-bool') {
    if (['y', 'yes', 'true', 'on'].includes(value.toLowerCase())) explicit = true;
    else if (value !== '') explicit = false;
  } else if (value === 'true') explicit = true;
  else if (value === 'false') explicit = false;

  if (explicit === false) {
    const reading = value === 'false' ? '' : ` (Istio ${istioVersion} reads any value but y, yes, true or on as false)`;
    return { inject: false, cause: fromLabel ? 'pod-label-opt-out' : 'pod-annotation-opt-out', because: `${what} opts it out${reading}` };
  }
  if (explicit === undefined) {
    for (const selector of config.neverInjectSelector) {
      if (selectorError(selector) === undefined && !isEmptySelector(selector) && matchesSelector(selector, pod.labels)) {
        return {
          inject: false,
          cause: 'never-inject-selector',
          because: `the injector's neverInjectSelector ${describeSelector(selector)} in ${where(config, assumedConfig)} matches its labels`,
        };
      }
    }
    for (const selector of config.alwaysInjectSelector) {
      if (selectorError(selector) === undefined && !isEmptySelector(selector) && matchesSelector(selector, pod.labels)) {
        explicit = true;
        break;
      }
    }
  }
  if (config.policy === 'enabled') return { inject: true };
  if (config.policy === 'disabled') {
    if (explicit === true) return { inject: true };
    return {
      inject: false,
      cause: 'injector-policy-disabled',
      because: `the injector's policy is disabled in ${where(config, assumedConfig)} and nothing on the pod asks for injection`,
    };
  }
  return {
    inject: false,
    cause: 'injector-policy-disabled',
    because: `the injector's policy in ${where(config, assumedConfig)} is ${JSON.stringify(config.policy)}, neither enabled nor disabled, so Istio injects nothing`,
  };
}
