/**
 * The ValidatingWebhookConfiguration mtls-guard is registered with: the rules, selectors and policies the Helm
 * chart uses, pointed at a URL with a caBundle (the chart points at its Service).
 */
export interface WebhookTarget {
  name: string;
  url: string;
  caBundle: string;
  /** Namespaces whose objects are never sent to mtls-guard (exempt namespaces, and the one it runs in). */
  exempt: readonly string[];
  rootNamespace: string;
  podFailurePolicy?: 'Ignore' | 'Fail';
}

function namespaceSelector(excluded: readonly string[]): Record<string, unknown> {
  return { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set(excluded)].sort() }] };
}

export function webhookConfiguration(target: WebhookTarget): Record<string, unknown> {
  const clientConfig = { url: target.url, caBundle: Buffer.from(target.caBundle).toString('base64') };
  const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', timeoutSeconds: 5, matchPolicy: 'Equivalent', clientConfig };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: target.name, labels: { 'app.kubernetes.io/name': 'mtls-guard' } },
    webhooks: [
      {
        name: 'peerauthentications.mtls-guard.dev',
        ...common,
        failurePolicy: 'Fail',
        // The root namespace stays in: its policies are mesh-wide.
        namespaceSelector: namespaceSelector(target.exempt.filter((ns) => ns !== target.rootNamespace)),
        rules: [
          { apiGroups: ['security.istio.io'], apiVersions: ['v1', 'v1beta1'], resources: ['peerauthentications'], operations: ['CREATE', 'UPDATE', 'DELETE'], scope: 'Namespaced' },
        ],
      },
      {
        name: 'workloads.mtls-guard.dev',
        ...common,
        failurePolicy: target.podFailurePolicy ?? 'Ignore',
        namespaceSelector: namespaceSelector([...target.exempt, target.rootNamespace]),
        rules: [
          { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' },
          { apiGroups: [''], apiVersions: ['v1'], resources: ['replicationcontrollers'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
          { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
          { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
        ],
      },
      {
        name: 'namespaces.mtls-guard.dev',
        ...common,
        failurePolicy: 'Ignore',
        namespaceSelector: namespaceSelector([...target.exempt, target.rootNamespace]),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['namespaces'], operations: ['UPDATE'], scope: 'Cluster' }],
      },
    ],
  };
}
