/**
 * Istio's injector objects as the istio-discovery chart renders them (templates/mutatingwebhook.yaml,
 * revision-tags-mwc.yaml, istiod-injector-configmap.yaml), for table tests that need no helm. The differential
 * test (test/integration/istio-inject-diff.test.ts) renders the real chart instead.
 */

export interface InstallSpec {
  /** "" or absent: the default revision. */
  revision?: string;
  /** Revision tags pointing at this revision (sidecarInjectorWebhook / revisionTags). */
  tags?: string[];
  enableNamespacesByDefault?: boolean;
  /** global.proxy.autoInject; "enabled" by default. */
  policy?: string;
  neverInjectSelector?: unknown[];
  alwaysInjectSelector?: unknown[];
  /** Leave the ConfigMap out (the state then has webhooks but no config). */
  noConfigMap?: boolean;
  namespace?: string;
}

type Selector = { matchExpressions: { key: string; operator: string; values?: string[] }[] };

const notFalse = { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] };
const SYSTEM = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'];

function hook(prefix: string, service: string, namespace: string, namespaceSelector: Selector, objectSelector: Selector): unknown {
  return {
    name: `${prefix}sidecar-injector.istio.io`,
    clientConfig: { service: { name: service, namespace, path: '/inject', port: 443 } },
    sideEffects: 'None',
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    failurePolicy: 'Fail',
    admissionReviewVersions: ['v1'],
    namespaceSelector,
    objectSelector,
  };
}

function revisionHooks(value: string, service: string, namespace: string): unknown[] {
  return [
    hook('rev.namespace.', service, namespace, { matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: [value] }, { key: 'istio-injection', operator: 'DoesNotExist' }] }, { matchExpressions: [notFalse] }),
    hook(
      'rev.object.',
      service,
      namespace,
      { matchExpressions: [{ key: 'istio.io/rev', operator: 'DoesNotExist' }, { key: 'istio-injection', operator: 'DoesNotExist' }] },
      { matchExpressions: [notFalse, { key: 'istio.io/rev', operator: 'In', values: [value] }] },
    ),
  ];
}

function defaultHooks(service: string, namespace: string, byDefault: boolean): unknown[] {
  const hooks = [
    hook('namespace.', service, namespace, { matchExpressions: [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }] }, { matchExpressions: [notFalse] }),
    hook(
      'object.',
      service,
      namespace,
      { matchExpressions: [{ key: 'istio-injection', operator: 'DoesNotExist' }, { key: 'istio.io/rev', operator: 'DoesNotExist' }] },
      { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }, { key: 'istio.io/rev', operator: 'DoesNotExist' }] },
    ),
  ];
  if (byDefault) {
    hooks.push(
      hook(
        'auto.',
        service,
        namespace,
        {
          matchExpressions: [
            { key: 'istio-injection', operator: 'DoesNotExist' },
            { key: 'istio.io/rev', operator: 'DoesNotExist' },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: SYSTEM },
          ],
        },
        { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'DoesNotExist' }, { key: 'istio.io/rev', operator: 'DoesNotExist' }] },
      ),
    );
  }
  return hooks;
}

function yamlList(values: unknown[] | undefined): string {
  return JSON.stringify(values ?? []);
}

/** The MutatingWebhookConfigurations and the ConfigMap one istio-discovery release renders. */
export function istioInstall(spec: InstallSpec = {}): Record<string, unknown>[] {
  const revision = spec.revision ?? '';
  const namespace = spec.namespace ?? 'istio-system';
  const service = revision ? `istiod-${revision}` : 'istiod';
  const suffix = revision ? `-${revision}` : '';
  const labels = { 'istio.io/rev': revision || 'default', app: 'sidecar-injector' };
  const objects: Record<string, unknown>[] = [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: `istio-sidecar-injector${suffix}`, labels },
      webhooks: [...revisionHooks(revision || 'default', service, namespace), ...(revision ? [] : defaultHooks(service, namespace, spec.enableNamespacesByDefault === true))],
    },
  ];
  for (const tag of spec.tags ?? []) {
    objects.push({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: `istio-revision-tag-${tag}`, labels: { ...labels, 'istio.io/tag': tag } },
      webhooks: [...revisionHooks(tag, service, namespace), ...(tag === 'default' ? defaultHooks(service, namespace, spec.enableNamespacesByDefault === true) : [])],
    });
  }
  if (!spec.noConfigMap) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `istio-sidecar-injector${suffix}`, namespace, labels: { 'istio.io/rev': revision || 'default' } },
      data: {
        config: [
          'defaultTemplates: [sidecar]',
          `policy: ${spec.policy ?? 'enabled'}`,
          `alwaysInjectSelector: ${yamlList(spec.alwaysInjectSelector)}`,
          `neverInjectSelector: ${yamlList(spec.neverInjectSelector)}`,
          'injectedAnnotations: {}',
          'templates:',
          '  sidecar: |',
          '    spec:',
          '      containers:',
          '      - name: istio-proxy',
          '        image: "{{ .ProxyImage }}"',
        ].join('\n'),
        values: '{}',
      },
    });
  }
  return objects;
}
