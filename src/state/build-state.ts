/**
 * The cluster state a set of manifests describes (`check`, `serve --state`): every object decoded into a
 * MemoryState, the checked ones kept with their identity. Duplicates and bad objects name their file and line.
 */
import {
  classify,
  controllerKind,
  decodeNamespace,
  decodeNode,
  decodePeerAuthentication,
  decodeWorkload,
  hasStatus,
  identify,
  type Identity,
} from '../engine/decode.js';
import { decodeInjectorConfig, decodeInjectorWebhooks, isConfigMap, isMutatingWebhookConfiguration } from '../engine/decode-injector.js';
import type { Judgement } from '../engine/types.js';
import { badObject, duplicate } from '../errors.js';
import { where, type SourcedObject } from '../manifests/load.js';
import { MemoryState } from './memory-state.js';

const REDUNDANT_OWNER: Readonly<Record<string, string>> = { ReplicaSet: 'Deployment', Job: 'CronJob' };

function isRedundant(kind: string, object: unknown): boolean {
  const owner = REDUNDANT_OWNER[kind];
  return owner !== undefined && controllerKind(object) === owner;
}

export interface Entry {
  item: SourcedObject;
  identity: Required<Identity>;
  /** How a Pod is judged: by what it carries when it has a status (exported from a cluster), else by intent. */
  judged: Judgement;
}

export interface LoadedState {
  state: MemoryState;
  /** The objects mtls-guard checks (Pods, pod-template owners, PeerAuthentications), with their identity. */
  entries: Entry[];
  /** The objects read only as cluster state: Namespaces, Nodes, Istio's injector configuration. */
  stateOnly: Set<SourcedObject>;
}

/** The cluster state the objects describe. Throws UserError naming the file and line of a bad or duplicate object. */
export function buildState(items: readonly SourcedObject[], defaultNamespace: string): LoadedState {
  const state = new MemoryState();
  const entries: Entry[] = [];
  const stateOnly = new Set<SourcedObject>();
  const seen = new Map<string, SourcedObject>();

  for (const item of items) {
    const { apiVersion, kind: objectKind } = item.object;
    if (typeof apiVersion !== 'string' || typeof objectKind !== 'string' || apiVersion === '' || objectKind === '') {
      throw badObject(where(item.source), 'not a Kubernetes object: apiVersion and kind must be non-empty strings');
    }
    if (isMutatingWebhookConfiguration(apiVersion, objectKind) || isConfigMap(apiVersion, objectKind)) {
      if (addInjectorObject(state, item, defaultNamespace, seen)) stateOnly.add(item);
      continue;
    }
    if (apiVersion === 'v1' && objectKind === 'Node') {
      const node = decodeNode(item.object);
      if (!node.ok) throw badObject(where(item.source), `Node: ${node.error}`);
      state.upsertNode(node.value);
      stateOnly.add(item);
      continue;
    }
    const kind = classify(apiVersion, objectKind);
    if (!kind) continue;
    const id = identify(item.object);
    if (!id.ok) throw badObject(where(item.source), id.error);
    const namespace = kind === 'Namespace' ? '' : (id.value.namespace ?? defaultNamespace);
    const identity: Required<Identity> = { ...id.value, namespace };
    const key = `${kind === 'PeerAuthentication' ? 'PeerAuthentication' : identity.kind}/${namespace}/${identity.name}`;
    const first = seen.get(key);
    if (first) {
      const what = `${identity.kind} ${namespace ? `${namespace}/` : ''}${identity.name}`;
      throw duplicate(what, where(first.source), where(item.source));
    }
    seen.set(key, item);

    const fail = (error: string): never => {
      throw badObject(where(item.source), `${identity.kind} ${namespace ? `${namespace}/` : ''}${identity.name}: ${error}`);
    };
    if (kind === 'Namespace') {
      const decoded = decodeNamespace(item.object);
      if (!decoded.ok) fail(decoded.error);
      else state.upsertNamespace(decoded.value);
      stateOnly.add(item);
      continue;
    }
    const judged: Judgement = identity.kind === 'Pod' && hasStatus(item.object) ? 'carries' : 'intent';
    if (kind === 'PeerAuthentication') {
      const decoded = decodePeerAuthentication(item.object, identity);
      if (!decoded.ok) fail(decoded.error);
      else state.upsertPeerAuthentication(decoded.value);
    } else {
      const decoded = decodeWorkload(item.object, identity, judged);
      if (!decoded.ok) fail(decoded.error);
      // A Deployment's ReplicaSet and a CronJob's Job carry their owner's template: counted once, as the live state does.
      else if (!isRedundant(identity.kind, item.object)) state.upsertWorkload(decoded.value);
    }
    entries.push({ item, identity, judged });
  }
  return { state, entries, stateOnly };
}

/** Istio's injector webhook configurations and istio-sidecar-injector ConfigMaps (SPEC 1.2); false for other ones, which are ignored. */
function addInjectorObject(state: MemoryState, item: SourcedObject, defaultNamespace: string, seen: Map<string, SourcedObject>): boolean {
  const id = identify(item.object);
  if (!id.ok) throw badObject(where(item.source), id.error);
  const webhooks = id.value.kind === 'MutatingWebhookConfiguration';
  const namespace = webhooks ? '' : (id.value.namespace ?? defaultNamespace);
  const what = `${id.value.kind} ${namespace ? `${namespace}/` : ''}${id.value.name}`;
  const decoded = webhooks
    ? decodeInjectorWebhooks(item.object)
    : decodeInjectorConfig({ ...item.object, metadata: { ...(item.object['metadata'] as object), namespace } });
  if (!decoded.ok) throw badObject(where(item.source), `${what}: ${decoded.error}`);
  if (!decoded.value) return false;
  const key = `${id.value.kind}/${namespace}/${id.value.name}`;
  const first = seen.get(key);
  if (first) throw duplicate(what, where(first.source), where(item.source));
  seen.set(key, item);
  if ('webhooks' in decoded.value) state.upsertInjectorWebhooks(decoded.value);
  else state.upsertInjectorConfig(decoded.value);
  return true;
}
