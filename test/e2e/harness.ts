/**
 * End-to-end harness: a real control plane, the real `mtls-guard serve` (the built CLI, in a child process)
 * list-watching it, and the webhook registered by URL + caBundle. Everything is torn down by stop(), also
 * when a test fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, startControlPlane, type ControlPlane, type ControlPlaneOptions, type KubectlResult } from '../support/control-plane.js';
import { repoPath } from '../support/helpers.js';
import { https } from '../support/webhook-helpers.js';
import { webhookConfiguration } from './webhook-configuration.js';

export const EXEMPT = ['kube-system', 'kube-public', 'kube-node-lease', 'mtls-guard'];

export interface E2E {
  plane: ControlPlane;
  kubectl: (args: string[], input?: string) => KubectlResult;
  webhookPort: number;
  /** The plain-HTTP metrics port (/metrics, /audit). */
  metricsPort: number;
  ca: string;
  /** The webhook's log lines so far (pino JSON). */
  logs: () => string;
  ready: () => Promise<boolean>;
  /** The webhook's URL, as registered. */
  url: string;
  /** Register the webhook (by default with test/e2e/webhook-configuration.ts) and wait until it rejects a known-bad Deployment. */
  register: (configuration?: Record<string, unknown>) => Promise<void>;
  stopWebhook: () => Promise<void>;
  /** Start `mtls-guard serve` again after stopWebhook(), on the same port and certificate, and wait until it is ready. */
  startWebhook: () => Promise<void>;
  stop: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(what: string, condition: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}`);
}

/** A Deployment in a namespace nobody labelled: mtls-guard must reject it, so it proves the webhook is live. */
const PROBE = `apiVersion: v1
kind: Namespace
metadata: { name: mtls-guard-probe }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: probe, namespace: mtls-guard-probe }
spec:
  selector: { matchLabels: { app: probe } }
  template:
    metadata: { labels: { app: probe } }
    spec: { containers: [{ name: probe, image: "registry.example.com/probe:1" }] }
`;

export async function startE2E(options: ControlPlaneOptions = {}): Promise<E2E> {
  const plane = await startControlPlane(options);
  // Istio's CRDs are there before mtls-guard, as in a cluster that runs Istio.
  const crd = plane.kubectl(['apply', '-f', repoPath('test/e2e/peerauthentication-crd.yaml')]);
  const established = plane.kubectl(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
  if (crd.code !== 0 || established.code !== 0) {
    await plane.stop();
    throw new Error(`cannot install the PeerAuthentication CRD: ${crd.stderr}${established.stderr}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-e2e-'));
  let webhook: ChildProcess | undefined;
  const stopWebhook = async (): Promise<void> => {
    if (!webhook || webhook.exitCode !== null) return;
    const exited = new Promise((resolve) => webhook?.once('exit', resolve));
    webhook.kill('SIGTERM');
    await exited;
  };
  const stop = async (): Promise<void> => {
    await stopWebhook();
    await plane.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const cli = repoPath('dist/src/cli.js');
    const certs = spawnSync(process.execPath, [cli, 'certs', '--out', dir, '--service', 'mtls-guard', '--namespace', 'mtls-guard'], { encoding: 'utf8' });
    if (certs.status !== 0) throw new Error(`mtls-guard certs failed: ${certs.stderr}`);
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const webhookPort = await freePort();
    const metricsPort = await freePort();
    let logs = '';
    const ready = async (): Promise<boolean> => {
      if (webhook?.exitCode !== null) throw new Error(`mtls-guard exited: ${logs}`);
      return (await https(webhookPort, ca, '/readyz').catch(() => undefined))?.status === 200;
    };
    const startWebhook = async (): Promise<void> => {
      webhook = spawn(
        process.execPath,
        [cli, 'serve', '--kubeconfig', plane.kubeconfig, '--host', '127.0.0.1', '--port', String(webhookPort), '--metrics-port', String(metricsPort),
          '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAMESPACE: 'mtls-guard' } },
      );
      webhook.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
      webhook.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
      await until('mtls-guard is ready', ready, 60_000);
    };
    await startWebhook();

    const kubectl = plane.kubectl;
    const url = `https://127.0.0.1:${webhookPort}/validate`;
    const register = async (
      configuration: Record<string, unknown> = webhookConfiguration({ name: 'mtls-guard', url, caBundle: ca, exempt: EXEMPT, rootNamespace: 'istio-system' }),
    ): Promise<void> => {
      const applied = kubectl(['apply', '-f', '-'], stringify(configuration));
      if (applied.code !== 0) throw new Error(`registering the webhook failed: ${applied.stderr}`);
      if (kubectl(['apply', '-f', '-'], PROBE.split('---')[0]).code !== 0) throw new Error('cannot create the probe namespace');
      await until('the webhook rejects a known-bad Deployment', () => {
        const probe = kubectl(['apply', '--dry-run=server', '-f', '-'], PROBE);
        return probe.code !== 0 && probe.stderr.includes('workloads.mtls-guard.dev');
      });
    };
    return { plane, kubectl, webhookPort, metricsPort, ca, logs: () => logs, ready, url, register, stopWebhook, startWebhook, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
