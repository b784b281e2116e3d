/**
 * A workload as MemoryState keeps it: the same WorkloadFacts, in a smaller object. Its booleans, how it is judged
 * and where its proxy sits are packed in one number, and its apiVersion and kind are one shared object. A
 * workload decoded from an object carries its optional fields out of line (V8 adds them after construction):
 * 152 bytes a workload; this one is 96, which is 6 MB at 100,000 pods.
 */
import type { Judgement, Labels, ProxyPlacement, WorkloadFacts } from '../engine/types.js';

const SIDECAR_STATUS = 1;
const HOST_NETWORK = 2;
const FINISHED = 4;
const NAME_GENERATED = 8;
const PROXY_IN_STATUS = 16;
const CARRIES = 32;
const PROXY_SHIFT = 6;
const PROXIES: readonly (ProxyPlacement | undefined)[] = [undefined, 'container', 'native-sidecar', 'init-container'];

interface TypeMeta {
  readonly apiVersion: string;
  readonly kind: string;
}

/** One TypeMeta per apiVersion and kind: there are a handful. */
const typeMetas = new Map<string, Map<string, TypeMeta>>();

function typeMetaOf(apiVersion: string, kind: string): TypeMeta {
  let byKind = typeMetas.get(kind);
  if (!byKind) typeMetas.set(kind, (byKind = new Map()));
  let meta = byKind.get(apiVersion);
  if (!meta) byKind.set(apiVersion, (meta = { apiVersion, kind }));
  return meta;
}

function proxyCode(proxy: ProxyPlacement | undefined): number {
  switch (proxy) {
    case undefined:
      return 0;
    case 'container':
      return 1;
    case 'native-sidecar':
      return 2;
    case 'init-container':
      return 3;
  }
}

export class StoredWorkload implements WorkloadFacts {
  readonly namespace: string;
  readonly name: string;
  labels: Labels;
  owner: { kind: string; name: string } | undefined;
  readonly nodeName: string | undefined;
  readonly proxyImage: string | undefined;
  readonly injectAnnotation: string | undefined;
  readonly #type: TypeMeta;
  readonly #bits: number;

  constructor(facts: WorkloadFacts) {
    this.namespace = facts.namespace;
    this.name = facts.name;
    this.labels = facts.labels;
    this.owner = facts.owner;
    this.nodeName = facts.nodeName;
    this.proxyImage = facts.proxyImage;
    this.injectAnnotation = facts.injectAnnotation;
    this.#type = typeMetaOf(facts.apiVersion, facts.kind);
    this.#bits =
      (facts.sidecarStatus ? SIDECAR_STATUS : 0) |
      (facts.hostNetwork ? HOST_NETWORK : 0) |
      (facts.finished ? FINISHED : 0) |
      (facts.nameGenerated ? NAME_GENERATED : 0) |
      (facts.proxyInStatus ? PROXY_IN_STATUS : 0) |
      (facts.judgedBy === 'carries' ? CARRIES : 0) |
      (proxyCode(facts.proxy) << PROXY_SHIFT);
  }

  get apiVersion(): string {
    return this.#type.apiVersion;
  }

  get kind(): string {
    return this.#type.kind;
  }

  get sidecarStatus(): boolean {
    return (this.#bits & SIDECAR_STATUS) !== 0;
  }

  get hostNetwork(): boolean {
    return (this.#bits & HOST_NETWORK) !== 0;
  }

  get finished(): boolean {
    return (this.#bits & FINISHED) !== 0;
  }

  get nameGenerated(): boolean | undefined {
    return (this.#bits & NAME_GENERATED) !== 0 ? true : undefined;
  }

  get proxyInStatus(): boolean | undefined {
    return this.proxy === undefined ? undefined : (this.#bits & PROXY_IN_STATUS) !== 0;
  }

  get judgedBy(): Judgement {
    return (this.#bits & CARRIES) !== 0 ? 'carries' : 'intent';
  }

  get proxy(): ProxyPlacement | undefined {
    return PROXIES[(this.#bits >> PROXY_SHIFT) & 3];
  }

  /** The plain WorkloadFacts, with only the fields that are set, as decodeWorkload gives them. */
  toJSON(): WorkloadFacts {
    const facts: WorkloadFacts = {
      apiVersion: this.apiVersion,
      kind: this.kind,
      namespace: this.namespace,
      name: this.name,
      labels: this.labels,
      sidecarStatus: this.sidecarStatus,
      hostNetwork: this.hostNetwork,
      finished: this.finished,
      judgedBy: this.judgedBy,
    };
    if (this.injectAnnotation !== undefined) facts.injectAnnotation = this.injectAnnotation;
    if (this.proxy !== undefined) facts.proxy = this.proxy;
    if (this.proxyInStatus !== undefined) facts.proxyInStatus = this.proxyInStatus;
    if (this.proxyImage !== undefined) facts.proxyImage = this.proxyImage;
    if (this.owner !== undefined) facts.owner = this.owner;
    if (this.nameGenerated) facts.nameGenerated = true;
    if (this.nodeName !== undefined) facts.nodeName = this.nodeName;
    return facts;
  }
}
