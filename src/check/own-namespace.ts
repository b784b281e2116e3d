/**
 * The namespace mtls-guard runs in is exempt (SPEC 2.4), as its chart's webhook configuration skips it. `check`
 * learns it from mtls-guard's own ValidatingWebhookConfiguration in the input (e.g. `helm template` of the
 * chart): the namespace of the Service its webhooks (named `*.mtls-guard.dev`) call.
 */
import type { SourcedObject } from '../manifests/load.js';

const WEBHOOK_SUFFIX = '.mtls-guard.dev';

export function mtlsGuardNamespace(items: readonly SourcedObject[]): string | undefined {
  for (const { object } of items) {
    if (object['kind'] !== 'ValidatingWebhookConfiguration' || !String(object['apiVersion']).startsWith('admissionregistration.k8s.io/')) continue;
    const webhooks = object['webhooks'];
    if (!Array.isArray(webhooks)) continue;
    for (const webhook of webhooks as unknown[]) {
      const { name, clientConfig } = (webhook ?? {}) as { name?: unknown; clientConfig?: { service?: { namespace?: unknown } } };
      const namespace = clientConfig?.service?.namespace;
      if (typeof name === 'string' && name.endsWith(WEBHOOK_SUFFIX) && typeof namespace === 'string' && namespace !== '') return namespace;
    }
  }
  return undefined;
}
