/**
 * The label and annotation keys the engine reads from an object under review. Labels are only ever read by key:
 * Istio's own keys, and the keys the injector's selectors name (its webhooks' namespace and object selectors, its
 * never/alwaysInjectSelector). PeerAuthentication selectors are matched against the state's workloads, never
 * against the object under review. A review's label maps cut down to these keys get the same verdict, which is
 * what lets a huge map be cut before it reaches the event loop (test/unit/unread-maps.test.ts proves it).
 */
import type { InjectionState } from './injector.js';
import { AMBIENT_REDIRECTION, DATAPLANE_MODE, INJECTION_LABEL, NAMESPACE_NAME_LABEL, REVISION_LABEL, SIDECAR_INJECT, SIDECAR_STATUS } from './istio-labels.js';
import { DEPLOYMENT_CONFIG, POD_TEMPLATE_HASH, ROLLOUTS_POD_TEMPLATE_HASH, WORKLOAD_NAME_LABEL } from './istio-workload-name.js';
import type { LabelSelector } from './label-selector.js';
import {
  CLUSTER_LABEL,
  HOSTNAME_LABEL,
  LEGACY_REGION_LABEL,
  LEGACY_ZONE_LABEL,
  LOCALITY_LABELS,
  NETWORK_LABEL,
  REGION_LABEL,
  SUBZONE_LABEL,
  ZONE_LABEL,
} from './topology.js';

/** Label keys the engine reads whatever the state holds. */
const ISTIO_LABEL_KEYS: readonly string[] = [
  INJECTION_LABEL, REVISION_LABEL, SIDECAR_INJECT, DATAPLANE_MODE, AMBIENT_REDIRECTION, NAMESPACE_NAME_LABEL,
  WORKLOAD_NAME_LABEL, POD_TEMPLATE_HASH, ROLLOUTS_POD_TEMPLATE_HASH, DEPLOYMENT_CONFIG,
  ...LOCALITY_LABELS, CLUSTER_LABEL, HOSTNAME_LABEL, NETWORK_LABEL, REGION_LABEL, LEGACY_REGION_LABEL, ZONE_LABEL, LEGACY_ZONE_LABEL, SUBZONE_LABEL,
];

/** Annotation keys the engine reads. */
export const ANNOTATION_KEYS: readonly string[] = [SIDECAR_INJECT, SIDECAR_STATUS];

function addSelectorKeys(keys: Set<string>, selector: LabelSelector | undefined): void {
  for (const key of Object.keys(selector?.matchLabels ?? {})) keys.add(key);
  for (const requirement of selector?.matchExpressions ?? []) keys.add(requirement.key);
}

/** Every label key the engine may read from a reviewed object, given the state's injector. */
export function labelKeysRead(injection: InjectionState): Set<string> {
  const keys = new Set(ISTIO_LABEL_KEYS);
  for (const configuration of injection.configurations) {
    for (const webhook of configuration.webhooks) {
      addSelectorKeys(keys, webhook.namespaceSelector);
      addSelectorKeys(keys, webhook.objectSelector);
    }
  }
  for (const config of injection.configs) {
    for (const selector of [...config.neverInjectSelector, ...config.alwaysInjectSelector]) addSelectorKeys(keys, selector);
  }
  return keys;
}
