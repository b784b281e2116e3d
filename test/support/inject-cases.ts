/**
 * A seeded generator of namespaces and pods (bare, or as a Deployment's template) over the corners of Istio's
 * injection decision: label values and their case, empty revisions, revisions and tags, the label vs the
 * annotation, hostNetwork, ignored namespaces, ambient labels, native sidecars, copied status annotations and
 * hand-written istio-proxy containers. The same seed gives the same cases.
 */

export interface NamespaceCase {
  name: string;
  labels: Record<string, string>;
}

export interface PodCase {
  id: string;
  namespace: string;
  /** A Pod as a user would apply it (no status), or the pod a Deployment's template would create. */
  pod: Record<string, unknown>;
  /** Give it to the engine as a Deployment's template rather than as a bare Pod. */
  asTemplate: boolean;
}

export interface InjectCases {
  namespaces: NamespaceCase[];
  pods: PodCase[];
}

/** mulberry32: small, fast, and the same sequence on every platform. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ABSENT = Symbol('absent');
type Choice = string | typeof ABSENT;

/** Weighted by repetition: the common values often, every corner sometimes. */
const INJECT_VALUES: Choice[] = [...Array<Choice>(12).fill(ABSENT), 'true', 'true', 'false', 'True', 'False', 'TRUE', 'yes', 'no', 'y', 'on', 'off', '', 'enabled', 'garbage'];
const REVISIONS: Choice[] = [...Array<Choice>(10).fill(ABSENT), '', 'default', 'canary', 'canary', 'prod', 'prod', 'Canary', 'stable'];
const NS_INJECTION: Choice[] = [ABSENT, ABSENT, ABSENT, 'enabled', 'enabled', 'enabled', 'disabled', 'Enabled', 'true', ''];
const DATAPLANE: Choice[] = [...Array<Choice>(6).fill(ABSENT), 'ambient', 'none', 'Ambient'];
const APPS: Choice[] = [ABSENT, 'web', 'batch', 'cron', 'db'];
const TIERS: Choice[] = [ABSENT, ABSENT, 'web', 'backend'];
const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage', 'istio-system'];

export function generateCases(seed: number, count: number): InjectCases {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const chance = (p: number): boolean => next() < p;
  const set = (labels: Record<string, string>, key: string, value: Choice): void => {
    if (value !== ABSENT) labels[key] = value;
  };

  const names = [...SYSTEM_NAMESPACES, ...Array.from({ length: Math.max(20, Math.ceil(count / 10)) }, (_, i) => `ns-${i}`)];
  const namespaces: NamespaceCase[] = names.map((name) => {
    const labels: Record<string, string> = {};
    set(labels, 'istio-injection', pick(NS_INJECTION));
    set(labels, 'istio.io/rev', pick(REVISIONS));
    set(labels, 'istio.io/dataplane-mode', pick(DATAPLANE));
    if (chance(0.2)) labels['team'] = pick(['a', 'b']);
    return { name, labels };
  });

  const pods: PodCase[] = [];
  for (let i = 0; i < count; i++) {
    const namespace = chance(0.05) ? 'unknown-ns' : chance(0.08) ? (pick(SYSTEM_NAMESPACES) as string) : (pick(namespaces) as NamespaceCase).name;
    const labels: Record<string, string> = {};
    const annotations: Record<string, string> = {};
    set(labels, 'app', pick(APPS));
    set(labels, 'tier', pick(TIERS));
    set(labels, 'sidecar.istio.io/inject', pick(INJECT_VALUES));
    set(annotations, 'sidecar.istio.io/inject', pick(INJECT_VALUES));
    set(labels, 'istio.io/rev', pick(REVISIONS));
    set(labels, 'istio.io/dataplane-mode', pick(DATAPLANE));
    if (chance(0.1)) annotations['ambient.istio.io/redirection'] = 'enabled';
    if (chance(0.1)) annotations['sidecar.istio.io/status'] = '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"]}';
    // `resources: {}` as the API server serializes every container (a struct, never omitted) in the review it sends.
    const containers: Record<string, unknown>[] = [{ name: 'app', image: 'registry.example.com/app:1.0.0', resources: {} }];
    const initContainers: Record<string, unknown>[] = [];
    if (chance(0.08)) containers.push({ name: 'istio-proxy', image: 'nginx:1.27', resources: {} });
    if (chance(0.08)) {
      initContainers.push({ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.30.0', resources: {}, ...(chance(0.5) ? { restartPolicy: 'Always' } : {}) });
    }
    if (chance(0.1)) initContainers.push({ name: 'migrate', image: 'registry.example.com/migrate:1.0.0', resources: {} });
    const spec: Record<string, unknown> = { containers };
    if (initContainers.length > 0) spec['initContainers'] = initContainers;
    if (chance(0.08)) spec['hostNetwork'] = true;
    const metadata: Record<string, unknown> = { name: `pod-${i}`, namespace };
    if (Object.keys(labels).length > 0) metadata['labels'] = labels;
    if (Object.keys(annotations).length > 0) metadata['annotations'] = annotations;
    pods.push({ id: `pod-${i}`, namespace, pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec }, asTemplate: chance(0.4) });
  }
  return { namespaces, pods };
}

/** The Kubernetes objects a case set is: Namespaces, then Pods and Deployments (for check's state builder). */
export function caseObjects(cases: InjectCases): Record<string, unknown>[] {
  const objects: Record<string, unknown>[] = cases.namespaces.map((ns) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns.name, labels: ns.labels },
  }));
  for (const { pod, asTemplate } of cases.pods) {
    if (!asTemplate) {
      objects.push(pod);
      continue;
    }
    const metadata = pod['metadata'] as Record<string, unknown>;
    const template: Record<string, unknown> = { spec: pod['spec'] };
    const templateMeta: Record<string, unknown> = {};
    if (metadata['labels']) templateMeta['labels'] = metadata['labels'];
    if (metadata['annotations']) templateMeta['annotations'] = metadata['annotations'];
    template['metadata'] = templateMeta;
    objects.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: metadata['name'], namespace: metadata['namespace'] },
      spec: { selector: { matchLabels: { case: String(metadata['name']) } }, template },
    });
  }
  return objects;
}
