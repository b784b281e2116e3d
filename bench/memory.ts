/**
 * Memory at 100,000 pods, 20,000 pod controllers (their templates), 200 Nodes, 2,000 namespaces and 1,000
 * PeerAuthentications, loaded through the real list-watch
 * code path. A replay server on 127.0.0.1 answers the reflector's list (paginated, 500 per page) and watch
 * requests from a recorded-style list generated on the fly (pods of about 5 KB, as the API server sends them).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployment, namespace, peerAuthentication, pod, type Obj } from './fixtures.js';

/**
 * The controllers of a large cluster, 20,000 in all: most ReplicaSets belong to a Deployment and most Jobs to a
 * CronJob (listed, not cached: their owner's template is).
 */
const CONTROLLER_MIX: readonly { resource: string; apiVersion: string; kind: string; share: number; ownedBy?: string }[] = [
  { resource: 'deployments', apiVersion: 'apps/v1', kind: 'Deployment', share: 0.5 },
  { resource: 'replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet', share: 0.2, ownedBy: 'Deployment' },
  { resource: 'statefulsets', apiVersion: 'apps/v1', kind: 'StatefulSet', share: 0.1 },
  { resource: 'daemonsets', apiVersion: 'apps/v1', kind: 'DaemonSet', share: 0.05 },
  { resource: 'jobs', apiVersion: 'batch/v1', kind: 'Job', share: 0.075, ownedBy: 'CronJob' },
  { resource: 'cronjobs', apiVersion: 'batch/v1', kind: 'CronJob', share: 0.05 },
  { resource: 'replicationcontrollers', apiVersion: 'v1', kind: 'ReplicationController', share: 0.025 },
];

function controller(kind: string, apiVersion: string, ns: string, name: string, ownedBy?: string): Obj {
  const object = deployment(ns, name);
  object['apiVersion'] = apiVersion;
  object['kind'] = kind;
  object['metadata'] = { name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: '1', creationTimestamp: '2026-11-01T10:00:00Z' };
  if (ownedBy) object['metadata'].ownerReferences = [{ apiVersion: 'apps/v1', kind: ownedBy, name: `${name}-owner`, uid: `uid-${name}-owner`, controller: true }];
  if (kind === 'CronJob') object['spec'] = { schedule: '0 * * * *', jobTemplate: { spec: { template: object['spec'].template } } };
  return object;
}

export interface MemoryResults {
  pods: number;
  controllers: number;
  nodes: number;
  namespaces: number;
  peerAuthentications: number;
  podBytesOnTheWire: number;
  rssMB: number;
  /** The most RSS the process held at once during the sync (VmHWM). */
  peakRssMB: number;
  heapUsedMB: number;
  heapGrowthMB: number;
  bytesPerPod: number;
  syncSeconds: number;
  baselineRssMB: number;
  /** The same load with the continuous audit following it (the posture of every workload). */
  withAudit: { rssMB: number; peakRssMB: number; heapUsedMB: number; syncSeconds: number };
}

export async function runMemory(quick: boolean): Promise<MemoryResults> {
  const namespaces = quick ? 200 : 2000;
  const perNamespace = 50;
  const pods = namespaces * perNamespace;
  const policies = quick ? 100 : 1000;
  const controllers = quick ? 2000 : 20_000;
  const nodes = quick ? 20 : 200;
  const podAt = (i: number): Obj => {
    const n = Math.floor(i / perNamespace);
    return pod(`team-${n}`, `svc${i % 5}-${i % perNamespace}`, n % 10 !== 0);
  };
  const policyAt = (i: number): Obj => (i % 2 === 0 ? peerAuthentication(`team-${i}`, 'default', 'STRICT') : peerAuthentication(`team-${i}`, 'svc0', 'PERMISSIVE', { app: 'svc0' }));
  const list = (req: IncomingMessage, res: ServerResponse, total: number, at: (i: number) => Obj, kind: string) => {
    const url = new URL(req.url ?? '/', 'http://replay');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      req.on('close', () => res.end());
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? total);
    const from = Number(url.searchParams.get('continue') ?? 0);
    const items: Obj[] = [];
    for (let i = from; i < Math.min(total, from + limit); i++) {
      const item = at(i);
      if (kind === 'PodList' || kind === 'NamespaceList') {
        delete item['apiVersion'];
        delete item['kind'];
      }
      items.push(item);
    }
    const next = from + limit < total ? String(from + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind, metadata: { resourceVersion: '1000', ...(next ? { continue: next } : {}) }, items }));
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/api/v1/pods') return list(req, res, pods, podAt, 'PodList');
    if (path === '/api/v1/namespaces') return list(req, res, namespaces, (i) => namespace(`team-${i}`, i % 10 === 0 ? {} : { 'istio-injection': 'enabled' }), 'NamespaceList');
    if (path === '/apis/security.istio.io/v1/peerauthentications') return list(req, res, policies, policyAt, 'PeerAuthenticationList');
    if (path === '/api/v1/nodes') {
      const node = (i: number): Obj => ({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': `eu-${i % 3}`, 'node.kubernetes.io/instance-type': 'm5.xlarge' } },
        status: { capacity: { cpu: '4', memory: '16Gi' }, addresses: [{ type: 'InternalIP', address: `10.1.0.${i % 250}` }] },
      });
      return list(req, res, nodes, node, 'NodeList');
    }
    for (const c of CONTROLLER_MIX) {
      if (path === `/${c.apiVersion === 'v1' ? 'api/v1' : `apis/${c.apiVersion}`}/${c.resource}`) {
        const at = (i: number): Obj => controller(c.kind, c.apiVersion, `team-${i % namespaces}`, `${c.resource}-${i}`, c.ownedBy);
        return list(req, res, Math.round(controllers * c.share), at, `${c.kind}List`);
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-memory-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{ name: replay, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: replay, context: { cluster: replay, user: u } }]
current-context: replay
`);
  try {
    const runChild = (mode: 'audit' | 'plain'): Promise<string> => new Promise<string>((resolve, reject) => {
      // Async spawn: the replay server lives in this process and must keep answering.
      import('node:child_process').then(({ spawn }) => {
        const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(new URL('./memory-child.js', import.meta.url)), kubeconfig, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout.on('data', (c) => (out += c));
        proc.stderr.on('data', (c) => (err += c));
        proc.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`memory child failed: ${err}`))));
      }, reject);
    });
    const child = await runChild('plain');
    const audited = JSON.parse(await runChild('audit')) as { after: NodeJS.MemoryUsage; peakRss: number; syncMs: number };
    const { before, after, peakRss, syncMs, status } = JSON.parse(child) as {
      before: NodeJS.MemoryUsage;
      after: NodeJS.MemoryUsage;
      peakRss: number;
      syncMs: number;
      status: Record<string, { objects: number }>;
    };
    if (status['pods']?.objects !== pods) throw new Error(`expected ${pods} pods in the cache, got ${status['pods']?.objects}`);
    const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
    return {
      pods,
      controllers,
      nodes,
      namespaces,
      peerAuthentications: policies,
      podBytesOnTheWire: JSON.stringify(podAt(1)).length,
      rssMB: mb(after.rss),
      peakRssMB: mb(peakRss),
      heapUsedMB: mb(after.heapUsed),
      heapGrowthMB: mb(after.heapUsed - before.heapUsed),
      bytesPerPod: Math.round((after.heapUsed - before.heapUsed) / pods),
      syncSeconds: Math.round(syncMs / 100) / 10,
      baselineRssMB: mb(before.rss),
      withAudit: { rssMB: mb(audited.after.rss), peakRssMB: mb(audited.peakRss), heapUsedMB: mb(audited.after.heapUsed), syncSeconds: Math.round(audited.syncMs / 100) / 10 },
    };
  } finally {
    server.close();
    spawnSync('true');
  }
}
