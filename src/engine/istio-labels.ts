/** Label and annotation keys Istio reads. */
export const INJECTION_LABEL = 'istio-injection';
export const REVISION_LABEL = 'istio.io/rev';
export const SIDECAR_INJECT = 'sidecar.istio.io/inject';
export const SIDECAR_STATUS = 'sidecar.istio.io/status';
export const DATAPLANE_MODE = 'istio.io/dataplane-mode';
export const AMBIENT_REDIRECTION = 'ambient.istio.io/redirection';
export const PROXY_CONTAINER = 'istio-proxy';

/** Namespaces the sidecar injector never touches (istio pkg/kube/inject IgnoredNamespaces). */
export const NEVER_INJECTED_NAMESPACES: ReadonlySet<string> = new Set([
  'kube-system',
  'kube-public',
  'kube-node-lease',
  'local-path-storage',
]);

/** The label the API server gives every namespace (NamespaceDefaultLabelName): webhook namespaceSelectors see it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
