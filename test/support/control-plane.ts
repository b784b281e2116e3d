/**
 * A real control plane for tests: etcd and kube-apiserver built from Go modules (tools/build-control-plane.sh),
 * on 127.0.0.1 with free ports and temporary directories, an admin token in system:masters, and kubectl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeStateSource, type ReflectorTuning } from '../../src/state/kube-source.js';
import { repoPath } from './helpers.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  server: string;
  kubeconfig: string;
  /** The admin bearer token, and the API server's CA file, for clients that talk HTTPS directly. */
  token: string;
  caFile: string;
  dir: string;
  version: string;
  kubectl: (args: string[], input?: string) => KubectlResult;
  /** kubectl that must succeed: its stdout, or an error with its stderr. */
  must: (args: string[], input?: string) => string;
  stopApiServer: () => Promise<void>;
  startApiServer: () => Promise<void>;
  /** Freeze (SIGSTOP) and thaw (SIGCONT) kube-apiserver: its sockets stay open but nothing is answered. */
  pauseApiServer: () => void;
  resumeApiServer: () => void;
  /** Stop etcd (SIGKILL by default: a crash), and start it again on the same ports and data directory. */
  stopEtcd: (signal?: NodeJS.Signals) => Promise<void>;
  startEtcd: () => Promise<void>;
  /** A second kube-apiserver on the same etcd (as in an HA control plane), with its own kubeconfig. */
  addApiServer: () => Promise<ExtraApiServer>;
  stop: () => Promise<void>;
}

export interface ExtraApiServer {
  server: string;
  kubeconfig: string;
  kubectl: (args: string[], input?: string) => KubectlResult;
  stop: () => Promise<void>;
}

export interface ControlPlaneOptions {
  /**
   * Also run kube-controller-manager (with per-controller service-account credentials, as kubeadm does): Deployments
   * get ReplicaSets and Pods, namespaces get their `default` ServiceAccount, deleted namespaces are emptied and go.
   * There is no scheduler or kubelet: pods stay Pending.
   */
  controllerManager?: boolean;
}

/** The directory holding kube-apiserver, kube-controller-manager and etcd, built (or reused from the cache) by tools/build-control-plane.sh. */
export function controlPlaneBinaries(): string {
  if (process.env['MTLS_GUARD_K8S_BIN']) return process.env['MTLS_GUARD_K8S_BIN'];
  const build = spawnSync('bash', [repoPath('tools/build-control-plane.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error('tools/build-control-plane.sh failed');
  const dir = build.stdout.trim().split('\n').pop() ?? '';
  for (const binary of ['kube-apiserver', 'kube-controller-manager', 'etcd']) if (!existsSync(join(dir, binary))) throw new Error(`no ${binary} in ${dir}`);
  process.env['MTLS_GUARD_K8S_BIN'] = dir;
  return dir;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function getJson(url: string, token: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('http:') ? httpRequest : request;
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = send(url, { headers, ...(ca ? { ca } : {}), timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
    // A paused (SIGSTOP) process only acts on the signal once it runs again.
    child.kill('SIGCONT');
  });
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = controlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-control-plane-'));
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${token},mtls-guard-admin,mtls-guard-admin,"system:masters"\n`);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));

  let etcd: ChildProcess | undefined;
  const startEtcd = async (): Promise<void> => {
    etcd = spawn(
      join(bin, 'etcd'),
      [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (etcd.exitCode !== null) throw new Error(`etcd exited ${etcd.exitCode}`);
      const health = await getJson(`http://127.0.0.1:${etcdClient}/health`, '', '').catch(() => undefined);
      if (health?.status === 200 && health.body.includes('"health":"true"')) return;
      await sleep(100);
    }
    throw new Error('etcd not healthy after 60 s');
  };
  const stopEtcd = (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => stopProcess(etcd, signal);

  /** Spawn a kube-apiserver on `port` (serving certificate in `certDir`), kept in `set`, and wait until it is ready. */
  const launchApiServer = async (port: number, certDir: string, set: (child: ChildProcess) => void): Promise<void> => {
    const child = spawn(
      join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(dir, 'sa.key')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        // A loopback advertise address is fine here; without this the endpoint reconciler complains every 10 s.
        '--endpoint-reconciler-type=none',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    set(child);
    let log = '';
    child.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const ca = join(certDir, 'apiserver.crt');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`kube-apiserver exited ${child.exitCode}: ${log}`);
      if (existsSync(ca)) {
        const ready = await getJson(`https://127.0.0.1:${port}/readyz`, token, readFileSync(ca, 'utf8')).catch(() => undefined);
        if (ready?.body === 'ok') return;
      }
      await sleep(200);
    }
    throw new Error(`kube-apiserver not ready after 120 s: ${log}`);
  };
  const writeKubeconfig = (file: string, server: string, ca: string): void =>
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${server}", certificate-authority: "${ca}" } }]
users: [{ name: admin, user: { token: "${token}" } }]
contexts: [{ name: test, context: { cluster: test, user: admin } }]
current-context: test
`,
    );
  const kubectlWith = (file: string) => (args: string[], input?: string): KubectlResult => {
    // Bounded, so that a test against a stopped or paused API server fails instead of hanging.
    const run = spawnSync('kubectl', ['--kubeconfig', file, ...args], { input: input ?? '', encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
    return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
  };

  let apiServer: ChildProcess | undefined;
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(dir, 'certs', 'apiserver.crt');
  const startApiServer = (): Promise<void> => launchApiServer(apiPort, join(dir, 'certs'), (child) => (apiServer = child));
  const extras: ChildProcess[] = [];
  const addApiServer = async (): Promise<ExtraApiServer> => {
    const port = await freePort();
    let child: ChildProcess | undefined;
    await launchApiServer(port, join(dir, `certs-${port}`), (c) => extras.push((child = c)));
    const extraConfig = join(dir, `kubeconfig-${port}`);
    writeKubeconfig(extraConfig, `https://127.0.0.1:${port}`, join(dir, `certs-${port}`, 'apiserver.crt'));
    return { server: `https://127.0.0.1:${port}`, kubeconfig: extraConfig, kubectl: kubectlWith(extraConfig), stop: () => stopProcess(child) };
  };

  const kubeconfig = join(dir, 'kubeconfig');
  let controllerManager: ChildProcess | undefined;
  const startControllerManager = async (): Promise<void> => {
    const port = await freePort();
    const child = spawn(
      join(bin, 'kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        `--root-ca-file=${caFile}`,
        '--service-cluster-ip-range=10.0.0.0/24',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    controllerManager = child;
    let log = '';
    child.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`kube-controller-manager exited ${child.exitCode}: ${log}`);
      const servingCert = join(dir, 'kcm-certs', 'kube-controller-manager.crt');
      const healthy = existsSync(servingCert) ? await getJson(`https://127.0.0.1:${port}/healthz`, token, readFileSync(servingCert, 'utf8')).catch(() => undefined) : undefined;
      if (healthy?.body === 'ok') return;
      await sleep(200);
    }
    throw new Error(`kube-controller-manager not healthy after 60 s: ${log}`);
  };
  const stop = async (): Promise<void> => {
    await stopProcess(controllerManager);
    await Promise.all(extras.map((child) => stopProcess(child)));
    await stopProcess(apiServer);
    await stopProcess(etcd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await startEtcd();
    await startApiServer();
  } catch (error) {
    await stop();
    throw error;
  }
  writeKubeconfig(kubeconfig, server, caFile);
  if (options.controllerManager) {
    try {
      await startControllerManager();
    } catch (error) {
      await stop();
      throw error;
    }
  }
  const kubectl = kubectlWith(kubeconfig);
  const version = (JSON.parse(kubectl(['version', '-o', 'json']).stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion ?? '';
  const signalApiServer = (signal: NodeJS.Signals) => (): void => {
    if (!apiServer || apiServer.exitCode !== null || apiServer.signalCode !== null) throw new Error('kube-apiserver is not running');
    apiServer.kill(signal);
  };
  return {
    server,
    kubeconfig,
    token,
    caFile,
    dir,
    version,
    kubectl,
    must: (args, input) => {
      const run = kubectl(args, input);
      if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${run.stderr}`);
      return run.stdout;
    },
    stopApiServer: () => stopProcess(apiServer),
    startApiServer,
    pauseApiServer: signalApiServer('SIGSTOP'),
    resumeApiServer: signalApiServer('SIGCONT'),
    stopEtcd,
    startEtcd,
    addApiServer,
    stop,
  };
}

/** The real helm, built (or reused from the cache) by tools/build-helm.sh. */
export function helmBinary(): string {
  if (process.env['MTLS_GUARD_HELM']) return process.env['MTLS_GUARD_HELM'];
  const build = spawnSync('bash', [repoPath('tools/build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error('tools/build-helm.sh failed');
  const helm = build.stdout.trim().split('\n').pop() ?? '';
  process.env['MTLS_GUARD_HELM'] = helm;
  return helm;
}

/** mtls-guard's list-watch source in this process, against a kubeconfig file, started (stopping it is the caller's). */
export async function startSource(kubeconfig: string, logger: Logger, tuning: ReflectorTuning): Promise<KubeStateSource> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const source = new KubeStateSource(kubeConfig, logger, tuning);
  await source.start();
  return source;
}
