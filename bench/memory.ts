/**
 * Memory at 100,000 pods, 2,000 namespaces and 1,000 PeerAuthentications, loaded through the real list-watch
 * code path. A replay server on 127.0.0.1 answers the reflector's list (paginated, 500 per page) and watch
 * requests from a recorded-style list generated on the fly (pods of about 5 KB, as the API server sends them).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { namespace, peerAuthentication, pod, type Obj } from './fixtures.js';

export interface MemoryResults {
  pods: number;
  namespaces: number;
  peerAuthentications: number;
  podBytesOnTheWire: number;
  rssMB: number;
  heapUsedMB: number;
  heapGrowthMB: number;
  bytesPerPod: number;
  syncSeconds: number;
  baselineRssMB: number;
}

export async function runMemory(quick: boolean): Promise<MemoryResults> {
  const namespaces = quick ? 200 : 2000;
  const perNamespace = 50;
  const pods = namespaces * perNamespace;
  const policies = quick ? 100 : 1000;
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
    const child = await new Promise<string>((resolve, reject) => {
      // Async spawn: the replay server lives in this process and must keep answering.
      import('node:child_process').then(({ spawn }) => {
        const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(new URL('./memory-child.js', import.meta.url)), kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout.on('data', (c) => (out += c));
        proc.stderr.on('data', (c) => (err += c));
        proc.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`memory child failed: ${err}`))));
      }, reject);
    });
    const { before, after, syncMs, status } = JSON.parse(child) as {
      before: NodeJS.MemoryUsage;
      after: NodeJS.MemoryUsage;
      syncMs: number;
      status: Record<string, { objects: number }>;
    };
    if (status['pods']?.objects !== pods) throw new Error(`expected ${pods} pods in the cache, got ${status['pods']?.objects}`);
    const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
    return {
      pods,
      namespaces,
      peerAuthentications: policies,
      podBytesOnTheWire: JSON.stringify(podAt(1)).length,
      rssMB: mb(after.rss),
      heapUsedMB: mb(after.heapUsed),
      heapGrowthMB: mb(after.heapUsed - before.heapUsed),
      bytesPerPod: Math.round((after.heapUsed - before.heapUsed) / pods),
      syncSeconds: Math.round(syncMs / 100) / 10,
      baselineRssMB: mb(before.rss),
    };
  } finally {
    server.close();
    spawnSync('true');
  }
}
