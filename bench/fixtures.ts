/** Synthetic but realistic objects for benchmarks: pods of about 5 KB, controllers, PeerAuthentications. */
export type Obj = Record<string, any>;

/** A pod as the API server stores it after injection: labels, annotations, env, volumes, status. */
export function pod(namespace: string, name: string, injected: boolean, extraLabels: Record<string, string> = {}): Obj {
  const app = name.replace(/-\d+$/, '');
  const containers: Obj[] = [
    {
      name: app,
      image: `registry.example.com/team/${app}:1.${name.length}.0`,
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
      env: Array.from({ length: 24 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(40)}` })),
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
      readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 5 },
    },
  ];
  const annotations: Obj = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z' };
  if (injected) {
    containers.push({
      name: 'istio-proxy',
      image: 'docker.io/istio/proxyv2:1.24.0',
      args: ['proxy', 'sidecar', '--domain', `${namespace}.svc.cluster.local`, '--proxyLogLevel=warning', '--log_output_level=default:info'],
      env: Array.from({ length: 12 }, (_, i) => ({ name: `ISTIO_META_${i}`, value: `meta-${i}` })),
      ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
    });
    annotations['sidecar.istio.io/status'] = '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"]}';
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: `uid-${namespace}-${name}`,
      resourceVersion: '1',
      creationTimestamp: '2026-11-01T10:00:00Z',
      labels: { app, version: 'v1', 'pod-template-hash': '7d4f9c6b8', ...(injected ? { 'security.istio.io/tlsMode': 'istio' } : {}), ...extraLabels },
      annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d4f9c6b8`, uid: `rs-${namespace}-${app}`, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers,
      volumes: [{ name: 'config', configMap: { name: `${app}-config` } }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
      serviceAccountName: app,
      nodeName: `node-${name.length % 7}`,
      restartPolicy: 'Always',
    },
    status: { phase: 'Running', podIP: '10.0.0.1', hostIP: '192.0.2.1', startTime: '2026-11-01T10:00:05Z' },
  };
}

export function namespace(name: string, labels: Record<string, string>): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: `ns-${name}`, resourceVersion: '1', labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
}

export function peerAuthentication(namespace: string, name: string, mode: string, selector?: Record<string, string>): Obj {
  const spec: Obj = { mtls: { mode } };
  if (selector) spec['selector'] = { matchLabels: selector };
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace, uid: `pa-${namespace}-${name}`, resourceVersion: '1', creationTimestamp: '2026-10-01T10:00:00Z' },
    spec,
  };
}

export function deployment(namespace: string, name: string): Obj {
  const template = pod(namespace, `${name}-0`, false);
  delete template['status'];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: { metadata: { labels: template['metadata'].labels }, spec: template['spec'] } },
  };
}

export function admissionReview(object: Obj, operation = 'CREATE', uid = 'bench-0000'): Obj {
  const [group, version] = String(object['apiVersion']).includes('/') ? String(object['apiVersion']).split('/') : ['', object['apiVersion']];
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version, kind: object['kind'] },
      resource: { group, version, resource: `${String(object['kind']).toLowerCase()}s` },
      namespace: object['metadata'].namespace,
      name: object['metadata'].name,
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
    },
  };
}

/**
 * The benchmark cluster: `namespaces` namespaces of `podsPerNamespace` pods each. Every 10th namespace is not
 * labelled for injection and holds un-injected pods, and has its own PERMISSIVE policy (so a mesh-wide STRICT
 * is allowed and the whole state must be looked at); the rest are labelled and injected.
 */
export function* cluster(namespaces: number, podsPerNamespace: number, workloadPolicies: number): Generator<Obj> {
  yield namespace('istio-system', {});
  let policies = 0;
  for (let n = 0; n < namespaces; n++) {
    const ns = `team-${n}`;
    const legacy = n % 10 === 0;
    yield namespace(ns, legacy ? {} : { 'istio-injection': 'enabled' });
    if (legacy) yield peerAuthentication(ns, 'default', 'PERMISSIVE');
    for (let p = 0; p < podsPerNamespace; p++) yield pod(ns, `svc${p % 5}-${p}`, !legacy);
    if (policies < workloadPolicies && !legacy) {
      yield peerAuthentication(ns, 'svc0-strict', 'UNSET', { app: 'svc0' });
      policies += 1;
    }
  }
}
