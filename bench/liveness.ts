/**
 * /healthz while two clients (127.0.0.1 and 127.0.0.2) send 7 MiB reviews of 490,000 label keys each, on a
 * machine kept busy by two CPU burners: the real `serve`, probed as the kubelet does (a new TLS connection for
 * every probe, from 127.0.0.3, a 1 s timeout). The baseline is the same probing with the burners and without
 * the big reviews, in alternating rounds. MTLS_GUARD_BENCH_BASELINE_CLI=path/to/an/earlier/dist/src/cli.js adds
 * an earlier build, loaded in the same rounds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/control-plane.js';
import { cluster } from './fixtures.js';
import { percentiles, type Percentiles } from './stats.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const cli = here('../src/cli.js');
const PROBE_TIMEOUT_MS = 1000;
const PROBE_EVERY_MS = 400;
const LABELS = 490_000;

interface ProbeRound {
  probes: number;
  overTimeout: number;
  latencyMs: Percentiles;
}

interface Loaded {
  probes: ProbeRound;
  reviews: { answered: Record<string, number>; latencyMs: Percentiles };
}

export interface LivenessResult {
  labels: number;
  reviewBytes: number;
  rounds: number;
  secondsPerRound: number;
  quiet: ProbeRound;
  loaded: Loaded;
  earlierBuild?: Loaded;
}

/** One kubelet-style probe: a new connection, GET /healthz; its latency in ms, or Infinity past the timeout. */
function probe(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', localAddress: '127.0.0.3', agent: false, rejectUnauthorized: false, servername: 'localhost', timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - started : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
    req.end();
  });
}

async function probeFor(port: number, seconds: number): Promise<number[]> {
  const until = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  while (performance.now() < until) {
    const next = new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    latencies.push(await probe(port));
    await next;
  }
  return latencies;
}

function summarize(latencies: number[]): ProbeRound {
  const finite = latencies.map((l) => (Number.isFinite(l) ? l : PROBE_TIMEOUT_MS));
  return {
    probes: latencies.length,
    overTimeout: latencies.filter((l) => l >= PROBE_TIMEOUT_MS).length,
    latencyMs: percentiles(finite),
  };
}

function output(child: ChildProcess): Promise<string> {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  return new Promise((resolve) => child.once('exit', () => resolve(text)));
}

async function startServer(cliPath: string, state: string, dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [cliPath, 'serve', '--state', state, '--port', String(port), '--metrics-port', String(await freePort()),
    '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  while (!Number.isFinite(await probe(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve (${cliPath}) did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, child };
}

interface LoadedSamples {
  probes: number[];
  answered: Record<string, number>;
  latencies: number[];
  bytes: number;
}

/** Probe `port` while the two big-review clients load it. */
async function loadedRound(port: number, seconds: number, into: LoadedSamples): Promise<void> {
  const clients = ['127.0.0.1', '127.0.0.2'].map((address) =>
    spawn(process.execPath, [here('./big-reviews.js'), String(port), address, String(LABELS), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const reports = clients.map(output);
  // The clients build their bodies first: probing starts once the machine is as busy as it will be.
  await new Promise((r) => setTimeout(r, 1500));
  into.probes.push(...(await probeFor(port, seconds - 2)));
  for (const text of await Promise.all(reports)) {
    const report = JSON.parse(text) as { bytes: number; statuses: Record<string, number>; latenciesMs: number[] };
    into.bytes = report.bytes;
    for (const [status, count] of Object.entries(report.statuses)) into.answered[status] = (into.answered[status] ?? 0) + count;
    into.latencies.push(...report.latenciesMs);
  }
}

const loadedResult = (samples: LoadedSamples): Loaded => ({
  probes: summarize(samples.probes),
  reviews: { answered: samples.answered, latencyMs: percentiles(samples.latencies) },
});

export async function runLiveness(quick: boolean): Promise<LivenessResult> {
  const rounds = quick ? 1 : 2;
  const secondsPerRound = quick ? 12 : 25;
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-liveness-'));
  const certs = spawnSync(process.execPath, [cli, 'certs', '--out', dir, '--service', 'mtls-guard', '--namespace', 'bench']);
  if (certs.status !== 0) throw new Error('certs failed');
  const state = join(dir, 'state.json');
  writeFileSync(state, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...cluster(200, 50, 100)] }));
  const earlierCli = process.env['MTLS_GUARD_BENCH_BASELINE_CLI'];
  const servers: ChildProcess[] = [];
  const burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    const current = await startServer(cli, state, dir);
    servers.push(current.child);
    const earlier = earlierCli ? await startServer(earlierCli, state, dir) : undefined;
    if (earlier) servers.push(earlier.child);
    const quiet: number[] = [];
    const loaded: LoadedSamples = { probes: [], answered: {}, latencies: [], bytes: 0 };
    const loadedEarlier: LoadedSamples = { probes: [], answered: {}, latencies: [], bytes: 0 };
    for (let round = 0; round < rounds; round++) {
      quiet.push(...(await probeFor(current.port, secondsPerRound)));
      // Which build goes first alternates between rounds.
      const order = earlier && round % 2 === 1 ? [[earlier, loadedEarlier], [current, loaded]] as const : [[current, loaded], ...(earlier ? [[earlier, loadedEarlier] as const] : [])] as const;
      for (const [server, samples] of order) await loadedRound(server.port, secondsPerRound, samples);
    }
    return {
      labels: LABELS,
      reviewBytes: loaded.bytes,
      rounds,
      secondsPerRound,
      quiet: summarize(quiet),
      loaded: loadedResult(loaded),
      ...(earlier ? { earlierBuild: loadedResult(loadedEarlier) } : {}),
    };
  } finally {
    for (const burner of burners) burner.kill('SIGKILL');
    for (const server of servers) server.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await runLiveness(process.argv.includes('--quick')), null, 2)}\n`);
}
