/**
 * A one-time, read-only snapshot of a live cluster for `mtls-guard check --kubeconfig`: every object of the kinds
 * the rules read, listed page by page, as plain JSON with a source label (`cluster:<context>`). The objects go
 * through the same state builder as the files; nothing here decodes them.
 */
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterError, usage, UserError } from '../errors.js';
import type { SourcedObject } from '../manifests/load.js';

interface LiveResource {
  /** The resource's plural name, for messages. */
  resource: string;
  apiVersion: string;
  kind: string;
  /** Collection paths tried in order; the first one served is listed (PeerAuthentication: v1, then v1beta1). */
  paths: string[];
  /** Extra query parameters (e.g. a field selector). */
  query?: Record<string, string>;
  /** Not served at all (e.g. no PeerAuthentication CRD) means there are none. */
  optional?: boolean;
}

/** What the rules read from a cluster (SPEC 2.1, 1.2, 1.3): the pods, their controllers, policies and the injector. */
function liveResources(rootNamespace: string): LiveResource[] {
  const core = (resource: string, kind: string): LiveResource => ({ resource, apiVersion: 'v1', kind, paths: [`/api/v1/${resource}`] });
  const group = (apiVersion: string, resource: string, kind: string): LiveResource => ({
    resource,
    apiVersion,
    kind,
    paths: [`/apis/${apiVersion}/${resource}`],
  });
  return [
    core('namespaces', 'Namespace'),
    core('nodes', 'Node'),
    core('pods', 'Pod'),
    core('replicationcontrollers', 'ReplicationController'),
    group('apps/v1', 'deployments', 'Deployment'),
    group('apps/v1', 'statefulsets', 'StatefulSet'),
    group('apps/v1', 'daemonsets', 'DaemonSet'),
    group('apps/v1', 'replicasets', 'ReplicaSet'),
    group('batch/v1', 'jobs', 'Job'),
    group('batch/v1', 'cronjobs', 'CronJob'),
    {
      resource: 'peerauthentications',
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      paths: ['/apis/security.istio.io/v1/peerauthentications', '/apis/security.istio.io/v1beta1/peerauthentications'],
      optional: true,
    },
    group('admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration'),
    {
      resource: 'configmaps',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      paths: [`/api/v1/namespaces/${rootNamespace}/configmaps`],
      // Only Istio's injector configuration: RBAC can limit the reader to this one name.
      query: { fieldSelector: 'metadata.name=istio-sidecar-injector' },
    },
  ];
}

export interface LiveSnapshot {
  /** `cluster:<context>`: the source label of every object. */
  source: string;
  objects: SourcedObject[];
  /** Facts worth telling the user, e.g. that the cluster has no PeerAuthentication CRD. */
  notes: string[];
}

interface LiveOptions {
  kubeconfig?: string;
  context?: string;
  rootNamespace: string;
  pageSize?: number;
  requestTimeoutMs?: number;
}

/** The kubeconfig to read: --kubeconfig FILE, else KUBECONFIG or ~/.kube/config; --context picks the context. */
function loadKubeConfig(kubeconfig: string | undefined, context: string | undefined): KubeConfig {
  const config = new KubeConfig();
  try {
    if (kubeconfig) {
      if (!existsSync(kubeconfig)) throw usage(`--kubeconfig ${kubeconfig}: no such file`);
      config.loadFromFile(kubeconfig);
    } else {
      config.loadFromDefault();
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw usage(`cannot load the kubeconfig ${kubeconfig ?? process.env['KUBECONFIG'] ?? '~/.kube/config'}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (context !== undefined) {
    if (!config.getContextObject(context)) {
      const known = config.getContexts().map((c) => c.name);
      throw usage(`--context ${context}: no such context in the kubeconfig (it has: ${known.join(', ') || 'none'})`);
    }
    config.setCurrentContext(context);
  }
  if (!config.getCurrentCluster()) throw usage('the kubeconfig has no current context with a cluster: pass --context NAME');
  return config;
}

class HttpStatus extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Shortest useful words for a failed connection. */
function connectionReason(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    default:
      return error.message.split('\n')[0] ?? String(error);
  }
}

async function getJson(config: KubeConfig, server: string, path: string, query: Record<string, string>, timeoutMs: number): Promise<unknown> {
  const url = new URL(server.replace(/\/$/, '') + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await config.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(text);
        else reject(new HttpStatus(res.statusCode ?? 0, text));
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end();
  });
  return JSON.parse(body) as unknown;
}

/** The API server's own reason, from a Status body, when it sent one. */
function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return `: ${status.message}`;
  } catch {
    // not JSON: the status code says enough
  }
  return '';
}

interface ListBody {
  items?: unknown[];
  metadata?: { continue?: string };
}

/** Items of a list carry no apiVersion/kind; metadata.managedFields is bulky and nothing reads it. */
function slim(item: unknown, apiVersion: string, kind: string): Record<string, unknown> | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
  const object: Record<string, unknown> = { apiVersion, kind, ...(item as Record<string, unknown>) };
  const metadata = object['metadata'];
  if (typeof metadata === 'object' && metadata !== null && 'managedFields' in metadata) {
    const { managedFields: _managedFields, ...rest } = metadata as Record<string, unknown>;
    object['metadata'] = rest;
  }
  return object;
}

/** List every resource once (paged), read-only. Throws a UserError (exit 2) with one line when the cluster cannot be read. */
export async function readLiveSnapshot(options: LiveOptions): Promise<LiveSnapshot> {
  const config = loadKubeConfig(options.kubeconfig, options.context);
  const context = config.getCurrentContext();
  const server = config.getCurrentCluster()?.server ?? '';
  const source = `cluster:${context}`;
  const pageSize = options.pageSize ?? 500;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const notes: string[] = [];
  const where = `cluster ${context} (${server})`;

  const listOne = async (resource: LiveResource): Promise<SourcedObject[]> => {
    for (const path of resource.paths) {
      const objects: SourcedObject[] = [];
      let continueToken: string | undefined;
      try {
        do {
          const query: Record<string, string> = { ...resource.query, limit: String(pageSize) };
          if (continueToken) query['continue'] = continueToken;
          const list = (await getJson(config, server, path, query, timeoutMs)) as ListBody;
          // A served path's list names its own version (PeerAuthentication v1beta1 when v1 is not served).
          const apiVersion = path.startsWith('/api/v1/') ? 'v1' : path.split('/').slice(2, 4).join('/');
          for (const item of list.items ?? []) {
            const object = slim(item, apiVersion, resource.kind);
            if (object) objects.push({ object, source: { file: source, line: 0 } });
          }
          continueToken = list.metadata?.continue || undefined;
        } while (continueToken);
        return objects;
      } catch (error) {
        if (error instanceof HttpStatus) {
          if (error.status === 404) continue;
          if (error.status === 401) {
            throw clusterError('MTLS_GUARD_CLUSTER_DENIED', `${where} rejected the kubeconfig's credentials (401 Unauthorized): log in again or fix the user in the kubeconfig`);
          }
          if (error.status === 403) {
            throw clusterError(
              'MTLS_GUARD_CLUSTER_DENIED',
              `${where}: the kubeconfig's user may not list ${resource.resource} (403 Forbidden)${statusMessage(error.body)}; check needs read-only list access (see docs/ci.md)`,
            );
          }
          throw clusterError('MTLS_GUARD_CLUSTER_ERROR', `${where}: listing ${resource.resource} failed with HTTP ${error.status}${statusMessage(error.body)}`);
        }
        if (error instanceof SyntaxError) throw clusterError('MTLS_GUARD_CLUSTER_ERROR', `${where}: listing ${resource.resource} returned invalid JSON`);
        throw clusterError('MTLS_GUARD_CLUSTER_UNREACHABLE', `cannot reach ${where}: ${connectionReason(error as Error)}`);
      }
    }
    if (!resource.optional) {
      throw clusterError('MTLS_GUARD_CLUSTER_ERROR', `${where} does not serve ${resource.resource} (${resource.paths.join(', ')}: 404)`);
    }
    notes.push(`${where} has no ${resource.kind} CRD: it has none`);
    return [];
  };

  // Reachability first, so that an unreachable cluster is one line rather than one failure per resource.
  const [first, ...rest] = liveResources(options.rootNamespace);
  const objects = first ? await listOne(first) : [];
  for (const batch of await Promise.all(rest.map(listOne))) objects.push(...batch);
  return { source, objects, notes };
}
