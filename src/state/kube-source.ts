/**
 * Cluster state from list-watch against the API server, cluster-wide: Pods, Namespaces, PeerAuthentications,
 * Nodes (name and topology labels) and the pod controllers' templates — all kept as slim facts.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  controllerKind,
  decodeNamespace,
  decodeNode,
  decodePeerAuthentication,
  decodeWorkload,
  identify,
  type Decoded,
  type Identity,
} from '../engine/decode.js';
import { decodeInjectorConfig, decodeInjectorWebhooks } from '../engine/decode-injector.js';
import { INJECTOR_CONFIGMAP } from '../engine/injector.js';
import { withTypeMeta } from '../engine/objects.js';
import { MemoryState } from './memory-state.js';
import { NamespaceArrivals } from './namespace-arrivals.js';
import { Reflector, type ObjectKey, type ReflectorOptions, type ReflectorStore } from './reflector.js';
import type { ResourceStatus, StateSource } from './source.js';

export type ReflectorTuning = Pick<
  ReflectorOptions,
  | 'pageSize'
  | 'watchTimeoutSeconds'
  | 'watchdogGraceMs'
  | 'relistIntervalMs'
  | 'backoffInitialMs'
  | 'backoffMaxMs'
  | 'requestTimeoutMs'
  | 'absentRecheckMs'
>;

function namespacedIdentity(object: unknown): Required<Identity> | undefined {
  const id = identify(object);
  if (!id.ok || !id.value.namespace) return undefined;
  return id.value as Required<Identity>;
}

/**
 * The pod controllers whose templates count as workloads (SPEC 2.1), with the owner that makes one redundant:
 * a Deployment's ReplicaSets and a CronJob's Jobs carry their owner's template, which is already counted.
 */
const CONTROLLERS: readonly { resource: string; apiVersion: string; kind: string; path: string; ownedBy?: string }[] = [
  { resource: 'deployments', apiVersion: 'apps/v1', kind: 'Deployment', path: '/apis/apps/v1/deployments' },
  { resource: 'statefulsets', apiVersion: 'apps/v1', kind: 'StatefulSet', path: '/apis/apps/v1/statefulsets' },
  { resource: 'daemonsets', apiVersion: 'apps/v1', kind: 'DaemonSet', path: '/apis/apps/v1/daemonsets' },
  { resource: 'replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet', path: '/apis/apps/v1/replicasets', ownedBy: 'Deployment' },
  { resource: 'replicationcontrollers', apiVersion: 'v1', kind: 'ReplicationController', path: '/api/v1/replicationcontrollers' },
  { resource: 'jobs', apiVersion: 'batch/v1', kind: 'Job', path: '/apis/batch/v1/jobs', ownedBy: 'CronJob' },
  { resource: 'cronjobs', apiVersion: 'batch/v1', kind: 'CronJob', path: '/apis/batch/v1/cronjobs' },
];

function keyOf(object: unknown): ObjectKey | undefined {
  const metadata = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string') return undefined;
  return { namespace: typeof metadata.namespace === 'string' ? metadata.namespace : '', name: metadata.name };
}

const describeKey = (key: ObjectKey | undefined): string | undefined => (key ? (key.namespace ? `${key.namespace}/${key.name}` : key.name) : undefined);

/** Reviews that may wait at once for a namespace not cached yet, in all and per peer; more are answered 503 at once. */
const MAX_NAMESPACE_WAITERS = 256;
const MAX_NAMESPACE_WAITERS_PER_PEER = 16;

export class KubeStateSource implements StateSource {
  readonly state = new MemoryState();
  readonly description: string;
  readonly live = true;
  readonly #reflectors: Record<string, Reflector>;
  readonly #arrivals = new NamespaceArrivals(MAX_NAMESPACE_WAITERS, MAX_NAMESPACE_WAITERS_PER_PEER);
  #staging: NodeJS.Timeout | undefined;

  /** `rootNamespace`: where the injector's istio-sidecar-injector ConfigMap is read (SPEC 1.2). */
  constructor(kubeConfig: KubeConfig, logger: Logger, tuning: ReflectorTuning = {}, rootNamespace = 'istio-system') {
    const cluster = kubeConfig.getCurrentCluster();
    this.description = `cluster ${cluster?.server ?? '(none)'} (list-watch)`;
    const state = this.state;
    const arrivals = this.#arrivals;
    const skip = (resource: string, object: unknown, error: string): undefined => {
      logger.warn({ resource, object: describeKey(keyOf(object)), error }, 'skipping an object mtls-guard cannot read');
      return undefined;
    };
    /** A store for a namespaced resource: decode each object into facts, keyed namespace/name. */
    const namespaced = <T>(
      resource: string,
      typeMeta: { apiVersion: string; kind: string },
      decode: (object: unknown, identity: Required<Identity>) => Decoded<T>,
      put: (facts: T) => void,
      drop: (namespace: string, name: string) => void,
    ): ReflectorStore => ({
      keyOf,
      upsert(item) {
        const object = withTypeMeta(item, typeMeta.apiVersion, typeMeta.kind);
        const identity = namespacedIdentity(object);
        if (!identity) return skip(resource, object, 'no name or namespace');
        const decoded = decode(object, identity);
        if (!decoded.ok) return skip(resource, object, decoded.error);
        put(decoded.value);
        return { namespace: identity.namespace, name: identity.name };
      },
      remove(key) {
        drop(key.namespace, key.name);
      },
    });
    const pods = namespaced(
      'pods',
      { apiVersion: 'v1', kind: 'Pod' },
      (object, identity) => decodeWorkload(object, identity, 'carries'),
      (pod) => state.upsertWorkload(pod),
      (namespace, name) => state.deleteWorkload(namespace, 'Pod', name),
    );
    const namespaces: ReflectorStore = {
      keyOf,
      upsert(object) {
        const namespace = decodeNamespace(object);
        if (!namespace.ok) return skip('namespaces', object, namespace.error);
        state.upsertNamespace(namespace.value);
        arrivals.arrived(namespace.value.name);
        return { namespace: '', name: namespace.value.name };
      },
      remove(key) {
        state.deleteNamespace(key.name);
      },
    };
    const peerAuthentications = namespaced(
      'peerauthentications',
      { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' },
      decodePeerAuthentication,
      (policy) => state.upsertPeerAuthentication(policy),
      (namespace, name) => state.deletePeerAuthentication(namespace, name),
    );
    // Istio's injector: its webhook configurations (others are not kept) and the root namespace's ConfigMap.
    const injectorWebhooks: ReflectorStore = {
      keyOf,
      upsert(item) {
        const decoded = decodeInjectorWebhooks(withTypeMeta(item, 'admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'));
        if (!decoded.ok) return skip('mutatingwebhookconfigurations', item, decoded.error);
        if (!decoded.value) {
          const key = keyOf(item);
          if (key !== undefined) state.deleteInjectorWebhooks(key.name);
          return undefined;
        }
        state.upsertInjectorWebhooks(decoded.value);
        return { namespace: '', name: decoded.value.name };
      },
      remove(key) {
        state.deleteInjectorWebhooks(key.name);
      },
    };
    const injectorConfig: ReflectorStore = {
      keyOf,
      upsert(item) {
        const decoded = decodeInjectorConfig(withTypeMeta(item, 'v1', 'ConfigMap'));
        if (!decoded.ok) return skip('configmaps', item, decoded.error);
        if (!decoded.value) return undefined;
        state.upsertInjectorConfig(decoded.value);
        return { namespace: decoded.value.namespace, name: decoded.value.name };
      },
      remove(key) {
        state.deleteInjectorConfig(key.namespace, key.name);
      },
    };
    const nodes: ReflectorStore = {
      keyOf,
      upsert(object) {
        const node = decodeNode(object);
        if (!node.ok) return skip('nodes', object, node.error);
        state.upsertNode(node.value);
        return { namespace: '', name: node.value.name };
      },
      remove(key) {
        state.deleteNode(key.name);
      },
    };
    const controllerStore = (controller: (typeof CONTROLLERS)[number]): ReflectorStore => ({
      keyOf,
      upsert(item) {
        const object = withTypeMeta(item, controller.apiVersion, controller.kind);
        const identity = namespacedIdentity(object);
        if (!identity) return skip(controller.resource, object, 'no name or namespace');
        const key = { namespace: identity.namespace, name: identity.name };
        if (controller.ownedBy !== undefined && controllerKind(object) === controller.ownedBy) {
          // Tracked by key (so a later release by its owner is seen), never stored.
          state.deleteWorkload(identity.namespace, controller.kind, identity.name);
          return key;
        }
        const decoded = decodeWorkload(object, identity, 'intent');
        if (!decoded.ok) return skip(controller.resource, object, decoded.error);
        state.upsertWorkload(decoded.value);
        return key;
      },
      remove(key) {
        state.deleteWorkload(key.namespace, controller.kind, key.name);
      },
    });
    const common = { kubeConfig, logger, ...tuning };
    const controllers = Object.fromEntries(
      CONTROLLERS.map((c) => [c.resource, new Reflector({ ...common, resource: c.resource, paths: [c.path], store: controllerStore(c) })]),
    );
    this.#reflectors = {
      namespaces: new Reflector({ ...common, resource: 'namespaces', paths: ['/api/v1/namespaces'], store: namespaces }),
      pods: new Reflector({ ...common, resource: 'pods', paths: ['/api/v1/pods'], store: pods }),
      peerauthentications: new Reflector({
        ...common,
        resource: 'peerauthentications',
        paths: ['/apis/security.istio.io/v1/peerauthentications', '/apis/security.istio.io/v1beta1/peerauthentications'],
        store: peerAuthentications,
        absentIsEmpty: true,
      }),
      mutatingwebhookconfigurations: new Reflector({
        ...common,
        resource: 'mutatingwebhookconfigurations',
        paths: ['/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations'],
        store: injectorWebhooks,
        // Every API server serves both; a stand-in that does not (bench/memory.ts's replay) has no injector.
        absentIsEmpty: true,
      }),
      configmaps: new Reflector({
        ...common,
        resource: 'configmaps',
        paths: [`/api/v1/namespaces/${rootNamespace}/configmaps`],
        fieldSelector: `metadata.name=${INJECTOR_CONFIGMAP}`,
        store: injectorConfig,
        absentIsEmpty: true,
      }),
      nodes: new Reflector({ ...common, resource: 'nodes', paths: ['/api/v1/nodes'], store: nodes }),
      ...controllers,
    };
  }

  async start(): Promise<void> {
    const controllers = new Set(CONTROLLERS.map((c) => c.resource));
    const later = Object.entries(this.#reflectors).filter(([name]) => controllers.has(name));
    for (const [name, reflector] of Object.entries(this.#reflectors)) if (!controllers.has(name)) reflector.start();
    // The controllers are listed once the pods are: listing everything at once holds every first page in memory together.
    const pods = this.#reflectors['pods'] as Reflector;
    this.#staging = setInterval(() => {
      if (!pods.synced) return;
      clearInterval(this.#staging);
      for (const [, reflector] of later) reflector.start();
    }, 50);
  }

  async stop(): Promise<void> {
    clearInterval(this.#staging);
    await Promise.all(Object.values(this.#reflectors).map((r) => r.stop()));
  }

  namespaceArrival(name: string, timeoutMs: number, peer?: string): Promise<boolean> {
    if (this.state.namespace(name)) return Promise.resolve(true);
    return this.#arrivals.wait(name, timeoutMs, peer);
  }

  ready(): boolean {
    return Object.values(this.#reflectors).every((r) => r.synced);
  }

  status(): Record<string, ResourceStatus> {
    return Object.fromEntries(Object.entries(this.#reflectors).map(([name, r]) => [name, { synced: r.synced, objects: r.size }]));
  }
}
