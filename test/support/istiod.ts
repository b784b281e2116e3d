/**
 * Istio's own istiod (pilot-discovery, built from the istio.io/istio module by tools/build-istiod.sh) run out of
 * cluster against a test control plane, configured by the istio-discovery chart of the same module as the real
 * helm renders it:
 * - the release's ConfigMaps in the root namespace (`istio[-rev]` mesh config, `istio-sidecar-injector[-rev]`
 *   templates, `values[-rev]`) and its injector MutatingWebhookConfigurations (the revision's and its tags') are
 *   applied; the webhooks point at this istiod by URL and caBundle through the chart's own
 *   `istiodRemote.injectionURL` / `istiodRemote.injectionCABundle` values;
 * - istiod runs with the Deployment's arguments and literal environment from the same render (REVISION, the
 *   `env` values such as ENABLE_NATIVE_SIDECARS), then what running outside the pod needs: --kubeconfig, every
 *   listener on 127.0.0.1, a serving certificate for 127.0.0.1 through --tlsCertFile/--tlsKeyFile/--caCertFile,
 *   POD_NAMESPACE/POD_NAME, and a working directory without the pod's mounted files, so it reads its mesh config
 *   and injection templates from the ConfigMaps, as it does when they are not mounted.
 * Its webhook cert patcher runs as in a cluster; it writes the caBundle we registered (the --caCertFile), so it
 * changes nothing. Istio's config validation webhook is not registered (VALIDATION_WEBHOOK_CONFIG_NAME=""): what
 * is tested is injection.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { generateCertificates, writeCertificates } from '../../src/certs/generate.js';
import { freePort, helmBinary, type ControlPlane } from './control-plane.js';
import { repoPath } from './helpers.js';

type Doc = Record<string, any>;

const ROOT_NAMESPACE = 'istio-system';

function lastLine(script: string, args: string[] = []): string {
  const run = spawnSync('bash', [repoPath(script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${run.status})`);
  return run.stdout.trim().split('\n').pop() ?? '';
}

/** pilot-discovery: $MTLS_GUARD_ISTIOD, or built (or reused from the cache) by tools/build-istiod.sh. Never skipped. */
export function istiodBinary(): string {
  if (!process.env['MTLS_GUARD_ISTIOD']) process.env['MTLS_GUARD_ISTIOD'] = lastLine('tools/build-istiod.sh');
  const binary = process.env['MTLS_GUARD_ISTIOD'];
  if (!existsSync(binary)) throw new Error(`no pilot-discovery at ${binary}`);
  return binary;
}

/** The istio-discovery and base charts inside the same istio.io/istio module. */
let charts: { discovery: string; base: string } | undefined;
export function istioCharts(): { discovery: string; base: string } {
  charts ??= { discovery: lastLine('tools/build-istio-oracle.sh', ['--chart']), base: lastLine('tools/build-istiod.sh', ['--base-chart']) };
  return charts;
}

function helmTemplate(release: string, chart: string, values: readonly string[]): Doc[] {
  const args = ['template', release, chart, '-n', ROOT_NAMESPACE];
  for (const value of values) {
    if (value.startsWith('json:')) args.push('--set-json', value.slice('json:'.length));
    else args.push('--set', value);
  }
  const render = spawnSync(helmBinary(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (render.status !== 0) throw new Error(`helm ${args.join(' ')}: ${render.stderr}`);
  return parseAllDocuments(render.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

/**
 * Istio's CRDs from the base chart (its CRDs only: its ValidatingWebhookConfiguration points at a Service), and the root
 * namespace, as a cluster that runs Istio has them. istiod itself starts and injects without them: its CRD informers
 * wait for CRDs to appear and do not hold up readiness.
 */
export function installIstioBase(plane: ControlPlane): void {
  const crds = helmTemplate('istio-base', istioCharts().base, []).filter((d) => d['kind'] === 'CustomResourceDefinition');
  if (crds.length === 0) throw new Error('the base chart rendered no CRDs');
  // Server-side: the CRDs are too large for kubectl's last-applied annotation; forced over the PeerAuthentication CRD the harness applied.
  plane.must(['apply', '--server-side', '--force-conflicts', '-f', '-'], crds.map((d) => stringify(d)).join('---\n'));
  plane.must(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((d) => `crd/${d['metadata'].name}`)]);
  if (plane.kubectl(['get', 'namespace', ROOT_NAMESPACE]).code !== 0) plane.must(['create', 'namespace', ROOT_NAMESPACE]);
}

export interface IstiodOptions {
  /** The chart's `revision`; '' (the default) is the default revision. */
  revision?: string;
  /** More `helm --set` values, e.g. `revisionTags={prod}`, `env.ENABLE_NATIVE_SIDECARS=true`; `json:key=JSON` is a --set-json. */
  values?: readonly string[];
}

export interface InjectionRequest {
  /** namespace/name as istiod logs it: a ReplicaSet's pods are `ns/<replicaset>-*****` (their name is not known yet). */
  pod: string;
  path: string;
}

export interface Istiod {
  /** "default" or the revision name, as istiod writes it into sidecar.istio.io/status. */
  revision: string;
  injectionUrl: string;
  /** The objects applied from the render, as kind/name. */
  applied: string[];
  /** Everything istiod logged so far (the tail, capped). */
  logs: () => string;
  /**
   * Every admission request its injection webhook has received so far ("Process sidecar injection request" in its log).
   * The log is read while this process waits (not during a synchronous kubectl call): poll it with `until`.
   */
  injectionRequests: () => InjectionRequest[];
  stop: () => Promise<void>;
}

const LOG_CAP = 4 << 20;
const INJECTION_REQUEST = /\tProcess sidecar injection request\t.*\bpath=(\S+) pod=(\S+)/;

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/ready', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Render the chart for one revision, apply its injector objects, and run its istiod until /ready answers. */
export async function startIstiod(plane: ControlPlane, options: IstiodOptions = {}): Promise<Istiod> {
  const binary = istiodBinary();
  const revision = options.revision ?? '';
  const name = revision ? `istiod-${revision}` : 'istiod';
  const dir = mkdtempSync(join(tmpdir(), `mtls-guard-${name}-`));
  const certs = await generateCertificates({ service: name, namespace: ROOT_NAMESPACE });
  await writeCertificates(join(dir, 'certs'), certs);
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const [httpPort, httpsPort, grpcPort, secureGrpcPort, monitoringPort, ctrlzPort] = ports as [number, number, number, number, number, number];
  const injectionUrl = `https://127.0.0.1:${httpsPort}/inject`;

  const rendered = helmTemplate(name, istioCharts().discovery, [
    ...(revision ? [`revision=${revision}`] : []),
    `istiodRemote.injectionURL=${injectionUrl}`,
    `istiodRemote.injectionCABundle=${Buffer.from(certs.caCert).toString('base64')}`,
    ...(options.values ?? []),
  ]);
  const injector = rendered.filter(
    (d) => d['kind'] === 'MutatingWebhookConfiguration' || (d['kind'] === 'ConfigMap' && d['metadata']?.namespace === ROOT_NAMESPACE),
  );
  if (!injector.some((d) => d['kind'] === 'MutatingWebhookConfiguration')) throw new Error(`the chart rendered no injector webhook for ${name}`);
  plane.must(['apply', '-f', '-'], injector.map((d) => stringify(d)).join('---\n'));

  const deployment = rendered.find((d) => d['kind'] === 'Deployment');
  const container = (deployment?.['spec'].template.spec.containers as Doc[] | undefined)?.find((c) => c['name'] === 'discovery');
  if (!deployment || !container) throw new Error(`the chart rendered no istiod Deployment for ${name}`);
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir };
  for (const variable of (container['env'] ?? []) as Doc[]) {
    // KUBECONFIG names the pod's mounted remote-cluster file; --kubeconfig replaces it.
    if (typeof variable['value'] === 'string' && variable['name'] !== 'KUBECONFIG') env[variable['name']] = variable['value'];
  }
  Object.assign(env, {
    POD_NAMESPACE: ROOT_NAMESPACE,
    POD_NAME: `${name}-out-of-cluster`,
    SERVICE_ACCOUNT: String(deployment['spec'].template.spec.serviceAccountName ?? name),
    VALIDATION_WEBHOOK_CONFIG_NAME: '',
  });
  const args = [
    ...((container['args'] ?? []) as string[]),
    `--kubeconfig=${plane.kubeconfig}`,
    `--httpAddr=127.0.0.1:${httpPort}`,
    `--httpsAddr=127.0.0.1:${httpsPort}`,
    `--grpcAddr=127.0.0.1:${grpcPort}`,
    `--secureGRPCAddr=127.0.0.1:${secureGrpcPort}`,
    `--monitoringAddr=127.0.0.1:${monitoringPort}`,
    '--ctrlz_address=127.0.0.1',
    `--ctrlz_port=${ctrlzPort}`,
    `--tlsCertFile=${join(dir, 'certs', 'tls.crt')}`,
    `--tlsKeyFile=${join(dir, 'certs', 'tls.key')}`,
    `--caCertFile=${join(dir, 'certs', 'ca.crt')}`,
    '--shutdownDuration=1s',
  ];
  const workdir = join(dir, 'run');
  mkdirSync(workdir);
  writeFileSync(join(dir, 'command.txt'), `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ${binary} ${args.join(' ')}\n`);

  const child: ChildProcess = spawn(binary, args, { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let partial = '';
  const requests: InjectionRequest[] = [];
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString();
    output = (output + text).slice(-LOG_CAP);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const match = INJECTION_REQUEST.exec(line);
      if (match) requests.push({ path: match[1] ?? '', pod: match[2] ?? '' });
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? signal ?? 'unknown';
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited === undefined) {
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.kill('SIGTERM');
      await exit;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 90_000;
  while (!(await ready(httpPort))) {
    if (exited !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} ${exited === undefined ? 'not ready after 90 s' : `exited ${exited}`}: ${output.slice(-3000)}`);
    }
    await sleep(200);
  }
  return {
    revision: revision || 'default',
    injectionUrl,
    applied: injector.map((d) => `${d['kind']}/${d['metadata'].name}`),
    logs: () => output,
    injectionRequests: () => [...requests],
    stop,
  };
}

/** What istiod's injection left on a Pod: a sidecar.istio.io/status istiod wrote (with the `revision` it writes) and the proxy it added. */
export interface InjectedPod {
  /** The revision named by an istiod-written status, or undefined when istiod did not inject the pod. */
  revision?: string;
  proxy?: 'container' | 'native-sidecar';
}

/** `template`: the pod template the pod was made from; a status it already carried (copied by hand) was not written by istiod. */
export function injectedBy(pod: Doc, template?: Doc): InjectedPod {
  const raw = pod['metadata']?.annotations?.['sidecar.istio.io/status'];
  if (typeof raw !== 'string' || raw === template?.['metadata']?.annotations?.['sidecar.istio.io/status']) return {};
  let status: Doc | undefined;
  try {
    status = JSON.parse(raw) as Doc;
  } catch {
    return {};
  }
  if (typeof status['revision'] !== 'string') return {};
  const spec = pod['spec'] ?? {};
  const named = (list: unknown): boolean => Array.isArray(list) && list.includes('istio-proxy');
  if (named(status['containers']) && ((spec.containers ?? []) as Doc[]).some((c) => c['name'] === 'istio-proxy')) {
    return { revision: status['revision'], proxy: 'container' };
  }
  const init = ((spec.initContainers ?? []) as Doc[]).find((c) => c['name'] === 'istio-proxy');
  if (named(status['initContainers']) && init?.['restartPolicy'] === 'Always') return { revision: status['revision'], proxy: 'native-sidecar' };
  return { revision: status['revision'] };
}
