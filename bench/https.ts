/**
 * HTTPS throughput and latency: mtls-guard (the real `serve`, on a 10,000-pod state) against a bare Node https
 * server and a bare Fastify server answering a constant AdmissionReview, and OPA, all loaded from a separate
 * process with the same payload mix. CPU per request is the median of alternating rounds (the machine is noisy).
 * MTLS_GUARD_BENCH_BASELINE_CLI=path/to/an/earlier/dist/src/cli.js adds an earlier build of mtls-guard.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/control-plane.js';
import { BODY_LIMIT } from '../src/server/json-body.js';
import { admissionReview, cluster, deployment, peerAuthentication, pod } from './fixtures.js';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

async function started(child: ChildProcess, marker: RegExp): Promise<void> {
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (marker.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** OPA answers once its policy is loaded: the first review that comes back as an AdmissionReview. */
async function waitForOpa(port: number, payloads: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const probe = spawnSync('curl', ['-sk', '-X', 'POST', '--data-binary', `@${payloads}`, `https://127.0.0.1:${port}/`], { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.length > 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('OPA did not start');
}

/**
 * With two or more cores and taskset, every server runs on core 1 and the load generator on core 0, so each
 * server has a core of its own, as a webhook pod would. Otherwise both share whatever the machine has.
 */
const PINNED = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** argv prefixed to run a command on `core` when pinning is possible. */
function onCore(core: number, command: string, args: string[]): [string, string[]] {
  return PINNED ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

export interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  errors: number;
  latencyMs: { p50: number; p99: number; p99_9: number; max: number };
  /** CPU time (user + system) the server process spent per request: steadier than requests/s on a shared machine. */
  serverCpuMicrosPerRequest?: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Load `port` and charge the server process `pid` for the CPU it used meanwhile. */
function loadServer(pid: number | undefined, port: number, payloads: string, seconds: number, connections: number, rate?: number, path = '/validate'): LoadResult {
  const before = pid === undefined ? 0 : cpuSeconds(pid);
  const result = load(port, payloads, seconds, connections, rate, path);
  if (pid !== undefined && result.requests > 0) {
    result.serverCpuMicrosPerRequest = Math.round(((cpuSeconds(pid) - before) * 1e6) / result.requests);
  }
  return result;
}

function load(port: number, payloads: string, seconds: number, connections: number, rate?: number, path = '/validate'): LoadResult {
  const args = [here('./load.js'), `https://127.0.0.1:${port}${path}`, payloads, String(seconds), String(connections), String(rate ?? 0), path];
  const run = spawnSync(...onCore(0, process.execPath, args), { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`load generator failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as LoadResult;
}

/** CPU per request of each server, median of alternating rounds. */
export interface CpuRounds {
  rounds: number;
  secondsPerRound: number;
  /** Median µs of server CPU per request, by server. */
  medianMicros: Record<string, number>;
  /** Every round's figure, by server. */
  samples: Record<string, number[]>;
}

/** Legitimate reviews' latency while another address holds 200 connections sending near-limit bodies that never finish. */
export interface StarvationResult {
  attackerConnections: number;
  quiet: LoadResult;
  underAttack: LoadResult;
  p99Ratio: number;
}

export interface HttpsResults {
  cpu: CpuRounds;
  starvation: StarvationResult;
  payloadMix: string;
  meanPayloadBytes: number;
  saturation: {
    mtlsGuard: LoadResult;
    bare: LoadResult;
    opa: LoadResult;
    ratio: number;
    ratioToOpa: number;
    /** Bare server's CPU per request over ours: the throughput ratio a server with a core of its own would see. */
    cpuRatio: number;
    connections: number;
    seconds: number;
  };
  fixedRate: { rate: number; mtlsGuard: LoadResult; bare: LoadResult; opa: LoadResult }[];
  opaVersion: string;
  /** Servers on core 1, load generator on core 0. */
  pinned: boolean;
}

/** OPA, built from its module by tools/build-opa.sh (cached), serving bench/opa/policy.rego with TLS. */
function opaBinary(): string {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const build = spawnSync('bash', [join(repo, 'tools/build-opa.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error('tools/build-opa.sh failed');
  return build.stdout.trim().split('\n').pop() ?? '';
}

export async function runHttps(quick: boolean): Promise<HttpsResults> {
  const opa = opaBinary();
  const opaVersion = spawnSync(opa, ['version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-bench-'));
  const certs = spawnSync(process.execPath, [cli, 'certs', '--out', dir, '--service', 'mtls-guard', '--namespace', 'bench']);
  if (certs.status !== 0) throw new Error('certs failed');
  const state = join(dir, 'state.json');
  writeFileSync(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...cluster(200, 50, 100)] }));

  // The mix a busy cluster sends: mostly pods (allowed and denied), some controllers, a few policies.
  const reviews = [
    ...Array.from({ length: 14 }, (_, i) => admissionReview(pod('team-1', `api-${i}`, true), 'CREATE', `uid-${i}`)),
    ...Array.from({ length: 3 }, (_, i) => admissionReview(pod('team-10', `legacy-${i}`, false), 'CREATE', `uid-l${i}`)),
    admissionReview(deployment('team-2', 'checkout')),
    admissionReview(deployment('team-20', 'reports')),
    admissionReview(peerAuthentication('team-3', 'default', 'STRICT')),
  ];
  const bodies = reviews.map((r) => JSON.stringify(r));
  const payloads = join(dir, 'payloads.json');
  writeFileSync(payloads, JSON.stringify(bodies));
  const meanPayloadBytes = Math.round(bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length);

  const guardPort = await freePort();
  const guard = spawn(...onCore(1, process.execPath, [cli, 'serve', '--state', state, '--port', String(guardPort), '--metrics-port', String(await freePort()),
    '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')]), { stdio: ['ignore', 'pipe', 'ignore'] });
  const namespaces: Record<string, Record<string, string>> = {};
  for (const object of cluster(200, 50, 100)) if (object['kind'] === 'Namespace') namespaces[object['metadata'].name] = object['metadata'].labels ?? {};
  writeFileSync(join(dir, 'data.json'), JSON.stringify({ namespaces }));
  const policyFile = fileURLToPath(new URL('../../bench/opa/policy.rego', import.meta.url));
  const opaPort = await freePort();
  const opaServer = spawn(...onCore(1, opa, ['run', '--server', '--addr', `127.0.0.1:${opaPort}`, '--tls-cert-file', join(dir, 'tls.crt'), '--tls-private-key-file', join(dir, 'tls.key'),
    '--set', 'default_decision=/mtlsguard/review', '--log-level', 'error', policyFile, join(dir, 'data.json')]), { stdio: ['ignore', 'pipe', 'pipe'] });
  const barePort = await freePort();
  const bare = spawn(...onCore(1, process.execPath, [here('./bare-server.js'), String(barePort), join(dir, 'tls.crt'), join(dir, 'tls.key')]), { stdio: ['ignore', 'pipe', 'ignore'] });
  const fastifyPort = await freePort();
  const fastify = spawn(...onCore(1, process.execPath, [here('./bare-fastify.js'), String(fastifyPort), join(dir, 'tls.crt'), join(dir, 'tls.key')]), { stdio: ['ignore', 'pipe', 'ignore'] });
  const earlierCli = process.env['MTLS_GUARD_BENCH_BASELINE_CLI'];
  const earlierPort = await freePort();
  const earlier = earlierCli
    ? spawn(...onCore(1, process.execPath, [earlierCli, 'serve', '--state', state, '--port', String(earlierPort), '--metrics-port', String(await freePort()),
        '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')]), { stdio: ['ignore', 'pipe', 'ignore'] })
    : undefined;
  try {
    await started(guard, /mtls-guard webhook listening/);
    await started(bare, /listening/);
    await started(fastify, /listening/);
    if (earlier) await started(earlier, /mtls-guard webhook listening/);
    await waitForOpa(opaPort, payloads);
    const seconds = quick ? 3 : 15;
    const connections = 20;
    load(guardPort, payloads, 1, connections); // warm-up: JIT and TLS sessions
    load(barePort, payloads, 1, connections);
    load(opaPort, payloads, 1, connections, 0, '/');
    const guardSat = loadServer(guard.pid, guardPort, payloads, seconds, connections);
    const bareSat = loadServer(bare.pid, barePort, payloads, seconds, connections);
    const opaSat = loadServer(opaServer.pid, opaPort, payloads, seconds, connections, 0, '/');

    // CPU per request, alternating which server goes first, median per server.
    const servers: Record<string, { pid: number | undefined; port: number; path?: string }> = {
      'mtls-guard': { pid: guard.pid, port: guardPort },
      'bare node:https': { pid: bare.pid, port: barePort },
      'bare Fastify': { pid: fastify.pid, port: fastifyPort },
      OPA: { pid: opaServer.pid, port: opaPort, path: '/' },
    };
    if (earlier) servers['mtls-guard, earlier build'] = { pid: earlier.pid, port: earlierPort };
    const names = Object.keys(servers);
    const rounds = quick ? 2 : 7;
    const secondsPerRound = quick ? 2 : 5;
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length] as string;
        const server = servers[name] as { pid: number | undefined; port: number; path?: string };
        const result = loadServer(server.pid, server.port, payloads, secondsPerRound, connections, 0, server.path ?? '/validate');
        if (result.serverCpuMicrosPerRequest !== undefined) samples[name]?.push(result.serverCpuMicrosPerRequest);
      }
    }
    const cpu: CpuRounds = { rounds, secondsPerRound, samples, medianMicros: Object.fromEntries(names.map((n) => [n, median(samples[n] ?? [])])) };

    // Legitimate reviews at a steady rate, without and then with another address starving the body budget.
    const attackSeconds = quick ? 4 : 15;
    const attackerConnections = 200;
    const quiet = load(guardPort, payloads, attackSeconds, 10, 200);
    const attacker = spawn(process.execPath, [here('./starve.js'), String(guardPort), String(attackerConnections), String(attackSeconds + 2), String(BODY_LIMIT)], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((r) => setTimeout(r, 1500));
    const underAttack = load(guardPort, payloads, attackSeconds, 10, 200);
    await stop(attacker);
    const starvation: StarvationResult = {
      attackerConnections,
      quiet,
      underAttack,
      p99Ratio: Math.round((underAttack.latencyMs.p99 / Math.max(quiet.latencyMs.p99, 0.001)) * 100) / 100,
    };
    const fixedRate = [];
    for (const rate of quick ? [1000] : [500, 1000, 2000]) {
      fixedRate.push({
        rate,
        mtlsGuard: load(guardPort, payloads, seconds, 20, rate),
        bare: load(barePort, payloads, seconds, 20, rate),
        opa: load(opaPort, payloads, seconds, 20, rate, '/'),
      });
    }
    return {
      cpu,
      starvation,
      payloadMix: '14 injected Pod CREATE (allowed), 3 un-injected Pod CREATE (denied), 2 Deployment CREATE, 1 PeerAuthentication STRICT; state of 10,000 pods',
      meanPayloadBytes,
      saturation: {
        mtlsGuard: guardSat,
        bare: bareSat,
        opa: opaSat,
        ratio: Math.round((guardSat.requestsPerSecond / bareSat.requestsPerSecond) * 1000) / 1000,
        ratioToOpa: Math.round((guardSat.requestsPerSecond / opaSat.requestsPerSecond) * 1000) / 1000,
        cpuRatio: Math.round(((bareSat.serverCpuMicrosPerRequest ?? 0) / (guardSat.serverCpuMicrosPerRequest ?? 1)) * 1000) / 1000,
        connections,
        seconds,
      },
      fixedRate,
      opaVersion,
      pinned: PINNED,
    };
  } finally {
    await stop(guard);
    await stop(bare);
    await stop(fastify);
    if (earlier) await stop(earlier);
    await stop(opaServer);
  }
}
