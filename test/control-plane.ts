/**
 * A real control plane for tests: etcd and kube-apiserver built from Go modules (tools/build-control-plane.sh),
 * on 127.0.0.1 with free ports and temporary directories, an admin token in system:masters, and kubectl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  stopApiServer: () => Promise<void>;
  startApiServer: () => Promise<void>;
  stop: () => Promise<void>;
}

/** The directory holding kube-apiserver and etcd, built (or reused from the cache) by tools/build-control-plane.sh. */
export function controlPlaneBinaries(): string {
  if (process.env['MTLS_GUARD_K8S_BIN']) return process.env['MTLS_GUARD_K8S_BIN'];
  const build = spawnSync('bash', [repoPath('tools/build-control-plane.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error('tools/build-control-plane.sh failed');
  const dir = build.stdout.trim().split('\n').pop() ?? '';
  if (!existsSync(join(dir, 'kube-apiserver'))) throw new Error(`no kube-apiserver in ${dir}`);
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
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, ca, timeout: 2000 }, (res) => {
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
  });
}

export async function startControlPlane(): Promise<ControlPlane> {
  const bin = controlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-control-plane-'));
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${token},mtls-guard-admin,mtls-guard-admin,"system:masters"\n`);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));

  const etcd = spawn(
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

  let apiServer: ChildProcess | undefined;
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(dir, 'certs', 'apiserver.crt');
  const startApiServer = async (): Promise<void> => {
    apiServer = spawn(
      join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'certs')}`,
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
    let log = '';
    apiServer.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (apiServer.exitCode !== null) throw new Error(`kube-apiserver exited ${apiServer.exitCode}: ${log}`);
      if (existsSync(caFile)) {
        const ready = await getJson(`${server}/readyz`, token, readFileSync(caFile, 'utf8')).catch(() => undefined);
        if (ready?.body === 'ok') return;
      }
      await sleep(200);
    }
    throw new Error(`kube-apiserver not ready after 120 s: ${log}`);
  };

  const kubeconfig = join(dir, 'kubeconfig');
  const stop = async (): Promise<void> => {
    await stopProcess(apiServer);
    await stopProcess(etcd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await startApiServer();
  } catch (error) {
    await stop();
    throw error;
  }
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${server}", certificate-authority: "${caFile}" } }]
users: [{ name: admin, user: { token: "${token}" } }]
contexts: [{ name: test, context: { cluster: test, user: admin } }]
current-context: test
`,
  );
  const kubectl = (args: string[], input?: string): KubectlResult => {
    const run = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { input: input ?? '', encoding: 'utf8' });
    return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
  };
  const version = (JSON.parse(kubectl(['version', '-o', 'json']).stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion ?? '';
  return { server, kubeconfig, token, caFile, dir, version, kubectl, stopApiServer: () => stopProcess(apiServer), startApiServer, stop };
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
