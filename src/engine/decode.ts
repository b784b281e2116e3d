/**
 * Turns Kubernetes objects (untrusted, already parsed JSON) into the plain facts the rules use.
 * Every function is total: malformed input yields a DecodeError naming the field, never a throw.
 */
import { isPlainObject, type PlainObject } from './objects.js';
import { PROXY_CONTAINER, SIDECAR_INJECT, SIDECAR_STATUS } from './istio-labels.js';
import { NODE_TOPOLOGY_LABELS } from './topology.js';
import {
  MTLS_MODES,
  type Judgement,
  type Labels,
  type MtlsMode,
  type NamespaceFacts,
  type NodeFacts,
  type PeerAuthenticationFacts,
  type PortMtls,
  type ProxyPlacement,
  type WorkloadFacts,
} from './types.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export type CheckedKind = 'Namespace' | 'Pod' | 'PodTemplateOwner' | 'PeerAuthentication';

const POD_TEMPLATE_OWNERS: Readonly<Record<string, string>> = {
  Deployment: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  ReplicaSet: 'apps',
  ReplicationController: '',
  Job: 'batch',
  CronJob: 'batch',
};

export const PEER_AUTHENTICATION_VERSIONS: readonly string[] = ['security.istio.io/v1', 'security.istio.io/v1beta1'];

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Which of the kinds mtls-guard understands an object is, or undefined for every other kind. */
export function classify(apiVersion: string, kind: string): CheckedKind | undefined {
  const group = groupOf(apiVersion);
  if (group === '' && (kind === 'Namespace' || kind === 'Pod')) return kind;
  if (POD_TEMPLATE_OWNERS[kind] === group) return 'PodTemplateOwner';
  if (kind === 'PeerAuthentication' && PEER_AUTHENTICATION_VERSIONS.includes(apiVersion)) return 'PeerAuthentication';
  return undefined;
}

export type Obj = PlainObject;
export const isObject = isPlainObject;

export class FieldError extends Error {}

const QUOTED_LIMIT = 64;

/** A value as JSON for an error message: short, whatever the client sent (however long or deeply nested). */
export function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value.slice(0, QUOTED_LIMIT + 1)) : String(value);
  return text.length > QUOTED_LIMIT ? `${text.slice(0, QUOTED_LIMIT)}…` : text;
}

export function field(parent: Obj, key: string, path: string): Obj | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new FieldError(`${path}.${key} must be an object`);
  return value;
}

export function stringMap(parent: Obj | undefined, key: string, path: string): Labels {
  const value = parent?.[key];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new FieldError(`${path}.${key} must be a map of strings`);
  // Parsed JSON holds own data properties only, and the engine never mutates what it decodes: checked, not copied
  // (a copy of 100,000 labels cost the event loop a second).
  for (const k of Object.keys(value)) {
    if (typeof value[k] !== 'string') throw new FieldError(`${path}.${key}[${quote(k)}] must be a string`);
  }
  return value as Labels;
}

export function optionalString(parent: Obj | undefined, key: string, path: string): string | undefined {
  const value = parent?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new FieldError(`${path}.${key} must be a string`);
  return value;
}

export function list(parent: Obj | undefined, key: string, path: string): Obj[] {
  const value = parent?.[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new FieldError(`${path}.${key} must be a list of objects`);
  return value;
}

export function attempt<T>(build: () => T): Decoded<T> {
  try {
    return { ok: true, value: build() };
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, error: error.message };
    throw error;
  }
}

export interface Identity {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** apiVersion, kind, name and namespace of any object; generateName stands in for a missing name. */
export function identify(object: unknown): Decoded<Identity> {
  return attempt(() => {
    if (!isObject(object)) throw new FieldError('object must be a map');
    const apiVersion = object['apiVersion'];
    const kind = object['kind'];
    if (typeof apiVersion !== 'string' || apiVersion === '') throw new FieldError('apiVersion must be a non-empty string');
    if (typeof kind !== 'string' || kind === '') throw new FieldError('kind must be a non-empty string');
    const metadata = field(object, 'metadata', '') ?? {};
    const name = optionalString(metadata, 'name', 'metadata');
    const generateName = optionalString(metadata, 'generateName', 'metadata');
    const namespace = optionalString(metadata, 'namespace', 'metadata');
    const identity: Identity = { apiVersion, kind, name: name || (generateName ? `${generateName}*` : '') };
    if (identity.name === '') throw new FieldError('metadata.name must be set');
    if (namespace) identity.namespace = namespace;
    return identity;
  });
}

export function decodeNamespace(object: unknown): Decoded<NamespaceFacts> {
  return attempt(() => {
    const metadata = field(object as Obj, 'metadata', '') ?? {};
    const name = optionalString(metadata, 'name', 'metadata');
    if (!name) throw new FieldError('metadata.name must be set');
    const facts: NamespaceFacts = { name, labels: stringMap(metadata, 'labels', 'metadata') };
    if (isBeingDeleted(object)) facts.terminating = true;
    return facts;
  });
}

/** A Node as istiod sees it for topology: its name and labels (only the topology ones are kept). */
export function decodeNode(object: unknown): Decoded<NodeFacts> {
  return attempt(() => {
    const metadata = field(object as Obj, 'metadata', '') ?? {};
    const name = optionalString(metadata, 'name', 'metadata');
    if (!name) throw new FieldError('metadata.name must be set');
    const labels = stringMap(metadata, 'labels', 'metadata');
    const topology: Record<string, string> = {};
    for (const key of NODE_TOPOLOGY_LABELS) if (labels[key] !== undefined) topology[key] = labels[key];
    return { name, labels: topology };
  });
}

/** The kind of the object's controlling owner (ownerReferences with controller: true), if any. */
export function controllerKind(object: unknown): string | undefined {
  const metadata = isObject(object) ? object['metadata'] : undefined;
  const owners = isObject(metadata) ? metadata['ownerReferences'] : undefined;
  if (!Array.isArray(owners)) return undefined;
  const owner = owners.find((o): o is Obj => isObject(o) && o['controller'] === true);
  return owner && typeof owner['kind'] === 'string' ? owner['kind'] : undefined;
}

/** Path of the pod template inside each controller kind. */
function podTemplatePath(kind: string): string[] {
  return kind === 'CronJob' ? ['spec', 'jobTemplate', 'spec', 'template'] : ['spec', 'template'];
}

/** The pod template of a controller object, or undefined. */
export function podTemplateOf(object: unknown, kind: string): unknown {
  let node: unknown = object;
  for (const key of podTemplatePath(kind)) node = isObject(node) ? node[key] : undefined;
  return node;
}

/** True when the object is being deleted (only finalizers keep it): its updates change nothing that runs. */
export function isBeingDeleted(object: unknown): boolean {
  const metadata = isObject(object) ? object['metadata'] : undefined;
  return isObject(metadata) && metadata['deletionTimestamp'] !== undefined && metadata['deletionTimestamp'] !== null;
}

/** A map's entries sorted by key, for comparing two maps whatever their key order. */
function sortedEntries(value: unknown): [string, unknown][] {
  return isObject(value) ? Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
}

/**
 * A PeerAuthentication spec as the API server stores it: only the fields its CRD schema has (the rest is
 * pruned), as a string that does not depend on key order.
 */
function storedSpec(object: unknown): string {
  const spec = isObject(object) ? object['spec'] : undefined;
  if (!isObject(spec)) return 'null';
  const mode = (value: unknown): unknown => (isObject(value) ? (value['mode'] ?? null) : null);
  const matchLabels = isObject(spec['selector']) ? spec['selector']['matchLabels'] : undefined;
  const selector = isObject(spec['selector']) ? (isObject(matchLabels) ? sortedEntries(matchLabels) : 'no matchLabels') : null;
  const ports = isObject(spec['portLevelMtls']) ? sortedEntries(spec['portLevelMtls']).map(([port, value]) => [port, mode(value)]) : null;
  return JSON.stringify([mode(spec['mtls']), 'mtls' in spec, 'selector' in spec, selector, ports]);
}

/** True when an UPDATE between the two objects leaves the stored spec as it was: metadata (or status) alone changed. */
export function sameStoredSpec(a: unknown, b: unknown): boolean {
  return isObject(a) && isObject(b) && storedSpec(a) === storedSpec(b);
}

interface ProxyFound {
  placement: ProxyPlacement;
  image: unknown;
}

function findProxy(spec: Obj | undefined, path: string): ProxyFound | undefined {
  const container = list(spec, 'containers', path).find((c) => c['name'] === PROXY_CONTAINER);
  if (container) return { placement: 'container', image: container['image'] };
  const init = list(spec, 'initContainers', path).find((c) => c['name'] === PROXY_CONTAINER);
  if (!init) return undefined;
  return { placement: init['restartPolicy'] === 'Always' ? 'native-sidecar' : 'init-container', image: init['image'] };
}

/** Does the injector's status annotation name the proxy where it sits (containers, or initContainers for a native sidecar)? */
function statusNamesProxy(status: string | undefined, placement: ProxyPlacement): boolean {
  if (status === undefined) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(status);
  } catch {
    return false;
  }
  const names = isObject(parsed) ? parsed[placement === 'container' ? 'containers' : 'initContainers'] : undefined;
  return Array.isArray(names) && names.includes(PROXY_CONTAINER);
}

/** Proxy images repeat across pods: keep one copy of each (bounded, so odd input cannot grow it without end). */
const internedImages = new Map<string, string>();
const INTERNED_IMAGES_LIMIT = 1024;

function intern(image: string): string {
  const known = internedImages.get(image);
  if (known !== undefined) return known;
  if (internedImages.size < INTERNED_IMAGES_LIMIT) internedImages.set(image, image);
  return image;
}

/**
 * A Pod, or a controller's pod template, as WorkloadFacts.
 * `identity` supplies the (defaulted) namespace and name; `judgedBy` is the caller's choice (SPEC 1.2).
 */
export function decodeWorkload(object: unknown, identity: Required<Identity>, judgedBy: Judgement): Decoded<WorkloadFacts> {
  return attempt(() => {
    const root = object as Obj;
    let pod: Obj = root;
    let path = '';
    if (identity.kind !== 'Pod') {
      for (const key of podTemplatePath(identity.kind)) {
        const next = field(pod, key, path);
        path = `${path}${path ? '.' : ''}${key}`;
        if (!next) throw new FieldError(`${path} must be set`);
        pod = next;
      }
    }
    const metaPath = path ? `${path}.metadata` : 'metadata';
    const specPath = path ? `${path}.spec` : 'spec';
    const metadata = field(pod, 'metadata', path || '') ?? {};
    const spec = field(pod, 'spec', path || '');
    const annotations = stringMap(metadata, 'annotations', metaPath);
    const status = identity.kind === 'Pod' ? field(root, 'status', '') : undefined;
    const phase = optionalString(status, 'phase', 'status');
    const hostNetwork = spec?.['hostNetwork'];
    if (hostNetwork !== undefined && hostNetwork !== null && typeof hostNetwork !== 'boolean') {
      throw new FieldError(`${specPath}.hostNetwork must be a boolean`);
    }
    const facts: WorkloadFacts = {
      apiVersion: identity.apiVersion,
      kind: identity.kind,
      namespace: identity.namespace,
      name: identity.name,
      labels: stringMap(metadata, 'labels', metaPath),
      sidecarStatus: SIDECAR_STATUS in annotations,
      hostNetwork: hostNetwork === true,
      finished: phase === 'Succeeded' || phase === 'Failed',
      judgedBy,
    };
    const injectAnnotation = annotations[SIDECAR_INJECT];
    if (injectAnnotation !== undefined) facts.injectAnnotation = injectAnnotation;
    const proxy = findProxy(spec, specPath);
    if (proxy) {
      facts.proxy = proxy.placement;
      facts.proxyInStatus = statusNamesProxy(annotations[SIDECAR_STATUS], proxy.placement);
      if (typeof proxy.image === 'string') facts.proxyImage = intern(proxy.image);
    }
    if (identity.kind === 'Pod') {
      const rootMetadata = field(root, 'metadata', '') ?? {};
      const owner = list(rootMetadata, 'ownerReferences', 'metadata').find((o) => o['controller'] === true);
      if (owner && typeof owner['kind'] === 'string' && typeof owner['name'] === 'string') {
        facts.owner = { kind: owner['kind'], name: owner['name'] };
      }
      const generateName = rootMetadata['generateName'];
      if (typeof generateName === 'string' && generateName !== '') facts.nameGenerated = true;
      const nodeName = optionalString(spec, 'nodeName', 'spec');
      if (nodeName) facts.nodeName = nodeName;
    }
    return facts;
  });
}

/** True when a Pod object carries a status, i.e. it has been through the API server (SPEC 1.2, offline check). */
export function hasStatus(object: unknown): boolean {
  return isObject(object) && isObject(object['status']) && Object.keys(object['status']).length > 0;
}

function mtlsMode(value: Obj | undefined, path: string): MtlsMode {
  const mode = value?.['mode'];
  if (mode === undefined || mode === null) return 'UNSET';
  if (typeof mode !== 'string' || !(MTLS_MODES as readonly string[]).includes(mode)) {
    throw new FieldError(`${path}.mode must be one of ${MTLS_MODES.join(', ')} (got ${quote(mode)})`);
  }
  return mode as MtlsMode;
}

/** The fields of a PeerAuthentication spec (istio/api security/v1 and v1beta1). */
const PEER_AUTHENTICATION_FIELDS: ReadonlySet<string> = new Set(['selector', 'mtls', 'portLevelMtls']);

/** A portLevelMtls key as istiod and the CRD's rule read it: a plain decimal port from 1 to 65535. */
const PORT_KEY = /^[1-9][0-9]{0,4}$/;

const DROPPED_LISTED = 5;

/**
 * SPEC 1.3: refuses what istiod's validation (pkg/config/validation ValidatePeerAuthentication) and the CRD's
 * rules refuse, so a verdict is never given for a policy istiod would not take.
 */
export function decodePeerAuthentication(object: unknown, identity: Required<Identity>): Decoded<PeerAuthenticationFacts> {
  return attempt(() => {
    const root = object as Obj;
    const metadata = field(root, 'metadata', '') ?? {};
    const createdAt = optionalString(metadata, 'creationTimestamp', 'metadata');
    if (createdAt !== undefined && Number.isNaN(Date.parse(createdAt))) {
      throw new FieldError(`metadata.creationTimestamp is not a timestamp (got ${quote(createdAt)})`);
    }
    const spec = field(root, 'spec', '');
    const selectorObject = spec ? field(spec, 'selector', 'spec') : undefined;
    const selector = stringMap(selectorObject, 'matchLabels', 'spec.selector');
    for (const [key, value] of Object.entries(selector)) {
      if (key === '') throw new FieldError('spec.selector.matchLabels: a key must not be empty');
      if (key.includes('*') || value.includes('*')) {
        throw new FieldError(`spec.selector.matchLabels[${quote(key)}]: wildcards are not allowed in a selector`);
      }
    }
    const portLevel: PortMtls[] = [];
    const ports = spec ? field(spec, 'portLevelMtls', 'spec') : undefined;
    if (ports !== undefined) {
      if (Object.keys(ports).length === 0) throw new FieldError('spec.portLevelMtls, if set, must have at least one port');
      if (Object.keys(selector).length === 0) {
        throw new FieldError('spec.portLevelMtls requires spec.selector.matchLabels: a mesh-wide or namespace-wide policy cannot set port modes');
      }
    }
    for (const [key, value] of Object.entries(ports ?? {})) {
      const port = Number(key);
      if (!PORT_KEY.test(key) || port > 65535) {
        throw new FieldError(`spec.portLevelMtls key ${quote(key)} must be a port number from 1 to 65535, written without leading zeros`);
      }
      if (!isObject(value)) throw new FieldError(`spec.portLevelMtls.${key} must be an object`);
      portLevel.push({ port, mode: mtlsMode(value, `spec.portLevelMtls.${key}`) });
    }
    portLevel.sort((a, b) => a.port - b.port);
    const facts: PeerAuthenticationFacts = {
      apiVersion: identity.apiVersion,
      namespace: identity.namespace,
      name: identity.name,
      mode: mtlsMode(spec ? field(spec, 'mtls', 'spec') : undefined, 'spec.mtls'),
      portLevel,
    };
    if (createdAt !== undefined) facts.createdAt = createdAt;
    if (Object.keys(selector).length > 0) facts.selector = selector;
    if (selectorObject !== undefined) facts.selectorField = true;
    const dropped: string[] = [];
    for (const key in spec ?? {}) {
      if (PEER_AUTHENTICATION_FIELDS.has(key) || spec?.[key] === null) continue;
      // A client may send any number of them: name a few.
      if (dropped.length === DROPPED_LISTED) break;
      dropped.push(`spec.${key.slice(0, QUOTED_LIMIT)}`);
    }
    if (dropped.length > 0) facts.droppedFields = dropped.sort();
    return facts;
  });
}
