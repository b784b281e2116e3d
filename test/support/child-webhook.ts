/**
 * Black-box helpers for reliability tests: the built `mtls-guard serve` in a child process (so that its
 * exit and its memory are observable), a raw TLS client that sends exactly the bytes it is given and reads
 * whatever HTTP answer comes back, and readers for the child's RSS and its Prometheus metrics.
 * Nothing here imports the server's code: only the CLI is run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePort } from './control-plane.js';
import { repoPath } from './helpers.js';

export interface ChildWebhook {
  child: ChildProcess;
  pid: number;
  port: number;
  metricsPort: number;
  ca: string;
  /** Exit code (or signal name) once the child has exited; undefined while it runs. */
  exit: () => number | string | undefined;
  /** Everything the child wrote to stdout and stderr so far (the tail, capped). */
  logs: () => string;
  /** SIGTERM, wait for the exit; returns the exit code. */
  stop: () => Promise<number | string | undefined>;
}

const LOG_CAP = 1 << 20;

/**
 * The test runner (tap) preloads its process-info and coverage hooks into every child it can see, through
 * NODE_OPTIONS, and re-adds them to any environment given to spawn; that more than doubles the child's memory.
 * The child's RSS must be the product's, as it runs in its container: `env -u` drops the hooks just before
 * node starts (env execs node, so the pid stays the same).
 */
const UNHOOKED = ['env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

/**
 * `mtls-guard certs` into a fresh directory, then `mtls-guard serve` with those files on free loopback ports,
 * resolved once /healthz answers. `args` adds the state source (`--state DIR` or `--kubeconfig FILE`).
 */
export async function startChildWebhook(args: string[], env: Record<string, string> = {}): Promise<ChildWebhook> {
  const cli = repoPath('dist/src/cli.js');
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-child-'));
  const certs = spawnSync(process.execPath, [cli, 'certs', '--out', dir, '--service', 'mtls-guard', '--namespace', 'mtls-guard'], { encoding: 'utf8' });
  if (certs.status !== 0) throw new Error(`mtls-guard certs failed: ${certs.stderr}`);
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(
    UNHOOKED[0]!,
    [...UNHOOKED.slice(1), process.execPath, cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort),
      '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), ...args],
    { cwd: repoPath('.'), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-LOG_CAP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitStatus: number | string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitStatus = code ?? signal ?? 'unknown';
      rmSync(dir, { recursive: true, force: true });
      resolve();
    }),
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitStatus !== undefined) throw new Error(`mtls-guard serve exited ${exitStatus}: ${output}`);
    const health = await rawRequest(port, ca, [Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')], { deadlineMs: 2000 });
    if (health.response?.status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`mtls-guard serve did not answer /healthz within 60 s: ${output}`);
    }
    await sleep(100);
  }
  const stop = async (): Promise<number | string | undefined> => {
    if (exitStatus === undefined) {
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(force);
    }
    return exitStatus;
  };
  return { child, pid: child.pid ?? 0, port, metricsPort, ca, exit: () => exitStatus, logs: () => output, stop };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process, in bytes (VmRSS in /proc/PID/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export const MiB = 1024 * 1024;

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResult {
  /** A complete HTTP response, when one arrived. */
  response?: RawResponse;
  /** How the exchange ended: a complete response, the server closed the connection without (a complete) one, a socket error, or our deadline. */
  outcome: 'response' | 'closed' | 'error' | 'deadline';
  /** Bytes received that do not form a complete HTTP response (set when outcome is not 'response'). */
  partial: string;
  error?: string;
  ms: number;
}

const SLICE = 256 * 1024;

/** A piece of what a raw client sends: bytes, or a pause. */
export type Part = Buffer | { pauseMs: number };

interface Parsed {
  response?: RawResponse;
  malformed?: string;
}

/** Parse one HTTP/1.1 response from the start of `data`; undefined while incomplete. */
export function parseResponse(data: Buffer): Parsed | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine = '', ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
  if (!status) return { malformed: `bad status line: ${JSON.stringify(statusLine.slice(0, 80))}` };
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(headEnd + 4);
  const done = (body: Buffer): Parsed => ({ response: { status: Number(status[1]), headers, body } });
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return { malformed: 'bad chunk size' };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return done(Buffer.concat(chunks));
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  return rest.length >= length ? done(rest.subarray(0, length)) : undefined;
}

/**
 * Open a TLS connection, send `parts` in order (pausing where asked), optionally half-close our side, and
 * read until one complete HTTP response arrives, the server closes, the socket fails, or `deadlineMs` passes.
 * Writes that fail because the server already answered and closed are not errors: the answer is what counts.
 */
export function rawRequest(port: number, ca: string, parts: Part[], options: { deadlineMs: number; end?: boolean }): Promise<RawResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const finish = (outcome: RawResult['outcome'], extra: Partial<RawResult> = {}): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const partial = outcome === 'response' ? '' : received.subarray(0, 200).toString('latin1');
      resolve({ outcome, partial, ms: Number(process.hrtime.bigint() - started) / 1e6, ...extra });
    };
    const timer = setTimeout(() => finish('deadline'), options.deadlineMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received);
      if (parsed?.response) finish('response', { response: parsed.response });
      else if (parsed?.malformed) finish('error', { error: `malformed response: ${parsed.malformed}` });
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'closed' : 'error', { error: error.message }));
    // Large parts go out in slices, each flushed before the next, and writing stops as soon as the server has
    // answered: a server may reject a body from its headers alone (413) and close without reading the rest.
    const stopped = (): boolean => settled || socket.destroyed || received.length > 0;
    socket.once('secureConnect', async () => {
      for (const part of parts) {
        if (Buffer.isBuffer(part)) {
          for (let at = 0; at < part.length && !stopped(); at += SLICE) {
            await new Promise<void>((flushed) => socket.write(part.subarray(at, at + SLICE), () => flushed()));
          }
        } else if (!stopped()) {
          await sleep(part.pauseMs);
        }
      }
      if (options.end && !stopped()) socket.end();
    });
  });
}

/** Fetch the child's Prometheus text and return one metric's samples, keyed by their label set. */
export function scrape(metricsPort: number, name: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const samples = new Map<string, number>();
        for (const line of text.split('\n')) {
          const match = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
          if (match && match[1] === name) samples.set(match[2] ?? '', Number(match[3]));
        }
        resolve(samples);
      });
    });
    req.on('timeout', () => req.destroy(new Error('metrics timed out')));
    req.on('error', reject);
  });
}
