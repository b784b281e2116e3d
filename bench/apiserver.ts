/**
 * Pod-creation overhead through the real kube-apiserver: the same number of pods created at the same
 * concurrency, first without mtls-guard registered (the baseline), then with it.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { startE2E } from '../test/e2e/harness.js';
import { percentiles } from './stats.js';

export interface CreationStats {
  pods: number;
  concurrency: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
}

export interface ApiServerResults {
  version: string;
  withoutWebhook: CreationStats;
  withWebhook: CreationStats;
  differenceMs: { avg: number; p95: number; p99: number };
  /** One pod at a time: the latency the webhook call adds when nothing queues behind it. */
  sequential: { withoutWebhook: CreationStats; withWebhook: CreationStats; differenceMs: { avg: number; p95: number; p99: number } };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function difference(withWebhook: CreationStats, withoutWebhook: CreationStats): { avg: number; p95: number; p99: number } {
  return { avg: round2(withWebhook.avgMs - withoutWebhook.avgMs), p95: round2(withWebhook.p95Ms - withoutWebhook.p95Ms), p99: round2(withWebhook.p99Ms - withoutWebhook.p99Ms) };
}

function injectedPod(namespace: string, name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'load' }, annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } },
    spec: {
      automountServiceAccountToken: false,
      containers: [
        { name: 'app', image: 'registry.example.com/app:1', env: Array.from({ length: 20 }, (_, i) => ({ name: `K${i}`, value: 'v'.repeat(40) })) },
        { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' },
      ],
    },
  });
}

async function createPods(server: string, token: string, ca: string, namespace: string, prefix: string, count: number, concurrency: number): Promise<CreationStats> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca });
  const url = new URL(`/api/v1/namespaces/${namespace}/pods`, server);
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const body = injectedPod(namespace, `${prefix}-${i}`);
      const started = process.hrtime.bigint();
      const req = request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          if (res.statusCode !== 201) errors += 1;
          resolve();
        });
      });
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  const p = percentiles(latencies);
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    pods: count,
    concurrency,
    avgMs: round2(latencies.reduce((a, b) => a + b, 0) / latencies.length),
    p50Ms: round2(p.p50),
    p95Ms: round2(sorted[Math.floor(0.95 * sorted.length)] ?? 0),
    p99Ms: round2(p.p99),
    errors,
  };
}

export async function runApiServer(quick: boolean): Promise<ApiServerResults> {
  const e2e = await startE2E();
  try {
    const { server, token } = e2e.plane;
    const ca = readFileSync(e2e.plane.caFile, 'utf8');
    const namespace = 'load';
    const setup = e2e.kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${namespace}, labels: { istio-injection: enabled } }\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: default, namespace: ${namespace} }\n`);
    if (setup.code !== 0) throw new Error(setup.stderr);
    const count = quick ? 200 : 2000;
    const concurrency = 50;
    await createPods(server, token, ca, namespace, 'warmup', Math.min(200, count), concurrency);
    const sequentialCount = quick ? 50 : 500;
    const withoutWebhook = await createPods(server, token, ca, namespace, 'plain', count, concurrency);
    const sequentialWithout = await createPods(server, token, ca, namespace, 'plain-seq', sequentialCount, 1);
    await e2e.register();
    const withWebhook = await createPods(server, token, ca, namespace, 'guarded', count, concurrency);
    const sequentialWith = await createPods(server, token, ca, namespace, 'guarded-seq', sequentialCount, 1);
    return {
      version: e2e.plane.version,
      withoutWebhook,
      withWebhook,
      differenceMs: difference(withWebhook, withoutWebhook),
      sequential: { withoutWebhook: sequentialWithout, withWebhook: sequentialWith, differenceMs: difference(sequentialWith, sequentialWithout) },
    };
  } finally {
    await e2e.stop();
  }
}
