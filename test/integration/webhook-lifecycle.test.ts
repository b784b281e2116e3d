/** The webhook's life: before the cache syncs, certificate rotation, SIGTERM, logs, and `mtls-guard certs`. */
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';
import t from 'tap';
import { generateCertificates, writeCertificates } from '../../src/certs/generate.js';
import { freePort } from '../support/control-plane.js';
import { repoPath, spawnCli } from '../support/helpers.js';
import { admissionReview, certificateDir, https, postReview, startWebhook } from '../support/webhook-helpers.js';

// Child processes, TLS handshakes by the thousand, and a 2 s certificate poll: more than tap's default 30 s per file.
t.setTimeout(180_000);

const legacyStrict = {
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default', namespace: 'legacy' },
  spec: { mtls: { mode: 'STRICT' } },
};
const secretPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'debug', namespace: 'legacy', annotations: { 'example.com/token': 'annotation-secret-value' } },
  spec: { containers: [{ name: 'shell', image: 'busybox:1.36', env: [{ name: 'DB_PASSWORD', value: 's3cr3t-value' }] }] },
};

/** A loopback port nothing listens on. */
const closedPort = freePort;

t.test('before the cluster state has synced, nothing is allowed by accident', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-kubeconfig-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: down, cluster: { server: "https://127.0.0.1:${await closedPort()}", insecure-skip-tls-verify: true } }]
users: [{ name: admin, user: { token: not-used } }]
contexts: [{ name: down, context: { cluster: down, user: admin } }]
current-context: down
`,
  );
  const webhook = await startWebhook({ kubeconfig });
  t.teardown(() => webhook.close());

  const ready = await https(webhook.port, webhook.ca, '/readyz');
  t.equal(ready.status, 503, '/readyz is 503');
  t.equal(ready.json().resources.pods.synced, false);
  t.equal((await https(webhook.port, webhook.ca, '/healthz')).status, 200, '/healthz stays 200: the process is alive');

  const policy = await postReview(webhook, admissionReview(legacyStrict));
  t.equal(policy.status, 200, 'a PeerAuthentication review is answered');
  t.equal(policy.json().response.allowed, false, '...and denied');
  t.equal(policy.json().response.status.code, 503, 'with a retryable code');
  t.match(policy.json().response.status.message, /still loading the cluster state.*retry/);

  const pod = await postReview(webhook, admissionReview(secretPod));
  t.equal(pod.status, 503, 'a Pod review gets an error, so the failurePolicy decides');
  t.match(pod.json().error, /still loading/);

  const configMap = await postReview(webhook, admissionReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'legacy' } }));
  t.equal(configMap.json().response.allowed, true, 'kinds that need no state are still allowed');

  const metrics = await scrape(webhook.metricsPort);
  t.match(metrics, /mtls_guard_decisions_total\{rule="none",action="retry",kind="PeerAuthentication",operation="CREATE"\} 1/, 'the retry denial is counted as a retry');
  t.notMatch(metrics, /rule="none",action="allow",kind="PeerAuthentication"/, '...not as an allow');
  t.match(metrics, /mtls_guard_rejected_requests_total\{code="503"\} 1/, 'the Pod review answered 503 is counted');
});

/** A Secret volume as the kubelet writes it: timestamped directories behind a ..data symlink that is swapped atomically. */
async function secretVolume(): Promise<{ dir: string; rotate: (cert: string, key: string) => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-secret-'));
  let version = 0;
  const rotate = (cert: string, key: string): void => {
    version += 1;
    const data = join(dir, `..2026_11_22_00_00_0${version}`);
    mkdirSync(data);
    writeFileSync(join(data, 'tls.crt'), cert);
    writeFileSync(join(data, 'tls.key'), key);
    symlinkSync(data, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  return { dir, rotate };
}

/** A mounted Secret holding `first`, with tls.crt and tls.key pointing through ..data as the kubelet lays them out. */
async function mountedSecret(first: { cert: string; key: string }) {
  const volume = await secretVolume();
  volume.rotate(first.cert, first.key);
  symlinkSync('..data/tls.crt', join(volume.dir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(volume.dir, 'tls.key'));
  return { certFile: join(volume.dir, 'tls.crt'), keyFile: join(volume.dir, 'tls.key'), rotate: volume.rotate };
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return condition();
}

t.test('a rotated certificate is picked up without a restart, with no failed handshake; a bad pair keeps the old one', async (t) => {
  const first = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const second = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const third = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const volume = await mountedSecret(first);
  const webhook = await startWebhook({ tlsCertFile: volume.certFile, tlsKeyFile: volume.keyFile });
  t.teardown(() => webhook.close());
  const trusted = [first.caCert, second.caCert, third.caCert];

  let requests = 0;
  const failures: string[] = [];
  const seen = new Set<string>();
  let keepGoing = true;
  const client = (async () => {
    while (keepGoing) {
      try {
        const res = await https(webhook.port, trusted, '/healthz');
        requests += 1;
        seen.add(res.fingerprint);
        if (res.status !== 200) failures.push(`HTTP ${res.status}`);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  })();
  await until(() => requests > 20, 5000);
  t.ok(seen.has(fingerprint(first.cert)), 'serves the first certificate');
  volume.rotate(second.cert, second.key);
  t.ok(await until(() => seen.has(fingerprint(second.cert)), 5000), 'serves the rotated certificate');

  volume.rotate(second.cert, third.key);
  const before = requests;
  await until(() => requests > before + 30, 5000);
  const latest = await https(webhook.port, trusted, '/healthz');
  t.equal(latest.fingerprint, fingerprint(second.cert), 'a mismatched pair is rejected: the previous certificate stays');

  keepGoing = false;
  await client;
  t.same(failures, [], `no failed request in ${requests} new connections`);
});

/** A new serving certificate for localhost from an existing CA, as cert-manager renews one: same CA, new key. */
async function renewServing(ca: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(Date.now() - 5 * 60 * 1000);
  const leaf = await generate([{ name: 'commonName', value: 'mtls-guard.mtls-guard.svc' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 90 * 86_400_000),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { cert: leaf.cert, key: leaf.private };
}

const meshPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'shop', annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0' }] },
};
/** Reviews with known verdicts against the bundled examples: two denials and one allowed pod. */
const reviewMix = [
  { object: secretPod, allowed: false },
  { object: legacyStrict, allowed: false },
  { object: meshPod, allowed: true },
];
let reviewCount = 0;
function nextReview(): { body: Buffer; uid: string; allowed: boolean } {
  const { object, allowed } = reviewMix[reviewCount++ % reviewMix.length] as (typeof reviewMix)[number];
  const review = admissionReview(object);
  return { body: Buffer.from(JSON.stringify(review)), uid: (review['request'] as { uid: string }).uid, allowed };
}

/** What a client saw for one POST /validate, told apart by how far it got. */
interface Exchange {
  /** answered: a whole response; truncated: a response began and did not end; refused: connection refused; no-response: failed before any response byte. */
  outcome: 'answered' | 'truncated' | 'refused' | 'no-response';
  status: number;
  text: string;
  fingerprint: string;
  /** This exchange opened a TLS connection and completed its handshake. */
  handshake: boolean;
  startedAt: number;
  error: string;
}

/**
 * POST one review. With `hold`, the headers and the first 100 bytes go out at once and the rest only once
 * `hold` resolves: the request is then in flight on the server for certain.
 */
function exchange(
  port: number,
  ca: string | string[],
  body: Buffer,
  options: { agent: Agent | false; hold?: Promise<unknown>; onWritten?: () => void; localAddress?: string },
): Promise<Exchange> {
  const result: Exchange = { outcome: 'no-response', status: 0, text: '', fingerprint: '', handshake: false, startedAt: performance.now(), error: '' };
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Exchange['outcome'], error = ''): void => {
      if (done) return;
      done = true;
      result.outcome = outcome;
      result.error = error;
      resolve(result);
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/validate',
        method: 'POST',
        ca,
        servername: 'localhost',
        agent: options.agent,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        result.status = res.statusCode ?? 0;
        result.fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256 ?? '';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          result.text = Buffer.concat(chunks).toString('utf8');
          finish('answered');
        });
        res.on('error', (error) => finish('truncated', error.message));
        res.on('close', () => finish('truncated', 'response closed before its end'));
      },
    );
    req.on('socket', (socket) => {
      // A kept-alive socket is already authorized: only a new connection handshakes.
      if (!(socket as TLSSocket).authorized) socket.once('secureConnect', () => (result.handshake = true));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason = `${error.code ?? ''} ${error.message}`.trim();
      finish(result.status !== 0 ? 'truncated' : error.code === 'ECONNREFUSED' ? 'refused' : 'no-response', reason);
    });
    if (options.hold) {
      req.write(body.subarray(0, 100), () => options.onWritten?.());
      void options.hold.then(() => req.end(body.subarray(100)));
    } else {
      req.end(body);
    }
  });
}

/** Why an exchange is not a whole 200 AdmissionReview answering `uid` with `allowed`; undefined when it is. */
function verdictProblem(x: Exchange, uid: string, allowed: boolean): string | undefined {
  if (x.outcome !== 'answered') return `${x.outcome}: ${x.error}`;
  if (x.status !== 200) return `HTTP ${x.status}: ${x.text.slice(0, 200)}`;
  let parsed: { kind?: string; response?: { uid?: string; allowed?: boolean } };
  try {
    parsed = JSON.parse(x.text);
  } catch {
    return `not JSON: ${x.text.slice(0, 100)}`;
  }
  if (parsed.kind !== 'AdmissionReview' || parsed.response?.uid !== uid) return `not the AdmissionReview for ${uid}: ${x.text.slice(0, 200)}`;
  if (parsed.response.allowed !== allowed) return `allowed ${parsed.response.allowed}, expected ${allowed}`;
  return undefined;
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

t.test('certificate rotation under load: renewed certificates from the same CA, zero failed handshakes or reviews', async (t) => {
  const ROTATIONS = 4;
  const NEW_CONNECTION_CLIENTS = 4;
  const NEW_CONNECTIONS_PER_SECOND = 100;
  const KEEP_ALIVE_CLIENTS = 2;
  const initial = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const ca = { cert: initial.caCert, key: initial.caKey };
  const leaves = [{ cert: initial.cert, key: initial.key }];
  for (let i = 0; i < ROTATIONS; i++) leaves.push(await renewServing(ca));
  const prints = leaves.map((leaf) => fingerprint(leaf.cert));
  const volume = await mountedSecret(leaves[0] as { cert: string; key: string });
  // The real CLI in its own process, polling the files every 2 s as in a pod. Clients trust only the CA.
  const server = await startChild([
    '--port', '0', '--metrics-port', '0', '--tls-cert-file', volume.certFile, '--tls-key-file', volume.keyFile, '--state', repoPath('examples'),
  ]);
  t.teardown(() => {
    server.child.kill('SIGKILL');
  });

  let loading = true;
  const failures: string[] = [];
  const fresh: Exchange[] = [];
  let keptAliveReviews = 0;
  let keptAliveHandshakes = 0;
  let answered = 0;
  const record = (x: Exchange, uid: string, allowed: boolean): void => {
    const problem = verdictProblem(x, uid, allowed);
    if (problem) failures.push(problem);
    else answered += 1;
  };
  const clients = [
    // Each from its own address, at most NEW_CONNECTIONS_PER_SECOND: under the server's per-peer rate of new
    // connections (128/s after a burst of 1,024), which would otherwise refuse a fast machine's loop.
    ...Array.from({ length: NEW_CONNECTION_CLIENTS }, async (_, i) => {
      const localAddress = `127.0.0.${10 + i}`;
      while (loading) {
        const review = nextReview();
        const paced = new Promise((r) => setTimeout(r, 1000 / NEW_CONNECTIONS_PER_SECOND));
        const x = await exchange(server.port, ca.cert, review.body, { agent: false, localAddress });
        await paced;
        fresh.push(x);
        record(x, review.uid, review.allowed);
        if (x.outcome === 'answered' && !x.handshake) failures.push('a new-connection request reported no handshake');
      }
    }),
    ...Array.from({ length: KEEP_ALIVE_CLIENTS }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (loading) {
        const review = nextReview();
        const x = await exchange(server.port, ca.cert, review.body, { agent });
        keptAliveReviews += 1;
        if (x.handshake) keptAliveHandshakes += 1;
        record(x, review.uid, review.allowed);
      }
      agent.destroy();
    }),
  ];

  const pickedUpAt: number[] = [0];
  const pickupMs: number[] = [];
  try {
    t.ok(await until(() => fresh.length >= 50, 20_000), 'load is running');
    await rotateAll();
  } finally {
    loading = false;
    await Promise.all(clients);
  }
  async function rotateAll(): Promise<void> {
    for (let i = 1; i <= ROTATIONS; i++) {
      const leaf = leaves[i] as { cert: string; key: string };
      const rotatedAt = performance.now();
      volume.rotate(leaf.cert, leaf.key);
      // Probe with new connections until one presents the renewed certificate (the poll is every 2 s).
      let seen = '';
      while (seen !== prints[i] && performance.now() - rotatedAt < 15_000) {
        try {
          seen = (await https(server.port, ca.cert, '/healthz')).fingerprint;
        } catch (error) {
          failures.push(`probe: ${(error as Error).message}`);
        }
        if (seen !== prints[i]) await new Promise((r) => setTimeout(r, 50));
      }
      t.equal(seen, prints[i], `rotation ${i}: a new connection presents the renewed certificate`);
      pickedUpAt.push(performance.now());
      pickupMs.push(Math.round(performance.now() - rotatedAt));
      const before = fresh.length;
      await until(() => fresh.length >= before + 40, 10_000);
    }
  }

  // Every new connection that began after a renewed certificate was seen presents that one (or a later one).
  const stale = fresh.filter((x) => {
    const current = pickedUpAt.findLastIndex((at) => at <= x.startedAt);
    return prints.indexOf(x.fingerprint) < current;
  });
  const handshakes = fresh.filter((x) => x.handshake).length + keptAliveHandshakes;
  t.same(failures.slice(0, 5), [], `no failed handshake or review (${failures.length} failures)`);
  t.equal(stale.length, 0, 'no new connection got an outdated certificate once the renewed one was served');
  for (let i = 1; i <= ROTATIONS; i++) t.ok(fresh.some((x) => x.fingerprint === prints[i]), `load clients saw certificate ${i}`);
  t.ok(keptAliveReviews > 0 && keptAliveHandshakes <= KEEP_ALIVE_CLIENTS * 2, 'kept-alive connections stayed open across the rotations');
  const reloads = server.output().split('\n').filter((line) => line.includes('"msg":"serving certificate reloaded"')).length;
  t.equal(reloads, ROTATIONS, 'one "serving certificate reloaded" log line per rotation');
  const metrics = await scrape(server.metricsPort);
  t.match(metrics, new RegExp(`mtls_guard_certificate_reloads_total\\{result="loaded"\\} ${ROTATIONS}\\b`), 'counted in mtls_guard_certificate_reloads_total');
  t.notMatch(metrics, /result="rejected"/, 'nothing rejected');
  t.comment(
    `rotation under load: ${ROTATIONS} rotations, ${handshakes} TLS handshakes, ${answered} reviews answered correctly ` +
      `(${fresh.length} on new connections, ${keptAliveReviews} on ${KEEP_ALIVE_CLIENTS} kept-alive connections), ` +
      `${failures.length} failures; renewed certificate served after ${pickupMs.join(', ')} ms`,
  );
});

/** Start the built CLI's `serve` in a child process and wait for its "listening" log line. */
async function startChild(args: string[]) {
  const child = spawn(process.execPath, [repoPath('dist/src/cli.js'), 'serve', ...args], { cwd: repoPath('.'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const [port, metricsPort] = await new Promise<[number, number]>((resolve, reject) => {
    let listening = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (listening) return;
      const line = stdout.split('\n').slice(0, -1).find((l) => l.includes('"msg":"mtls-guard webhook listening"'));
      if (line) {
        listening = true;
        const fields = JSON.parse(line) as { port: number; metricsPort: number };
        resolve([fields.port, fields.metricsPort]);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port, metricsPort, exited, output: () => stdout, errors: () => stderr };
}

t.test('SIGTERM: stops accepting, finishes the in-flight review, exits 0; logs one line per review and no object content', async (t) => {
  const { dir, certs } = await certificateDir();
  const server = await startChild([
    '--port', '0', '--metrics-port', '0', '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'),
  ]);
  t.teardown(() => {
    server.child.kill('SIGKILL');
  });

  const podReview = admissionReview(secretPod);
  const first = await postReview({ port: server.port, ca: certs.caCert }, podReview);
  t.equal(first.json().response.allowed, false, 'the pod is denied');

  // Send half a review, signal, then the rest: the review in flight must still be answered.
  const body = Buffer.from(JSON.stringify(admissionReview(legacyStrict)));
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', ca: certs.caCert, servername: 'localhost', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 100));
    setTimeout(() => {
      server.child.kill('SIGTERM');
      setTimeout(() => req.end(body.subarray(100)), 300);
    }, 200);
  });
  const inFlight = await answer;
  t.equal(inFlight.status, 200, 'the in-flight review is answered');
  t.equal(JSON.parse(inFlight.text).response.allowed, false, '...with its verdict');
  t.equal(await server.exited, 0, 'exit code 0');
  const refused = await https(server.port, certs.caCert, '/healthz').then(() => 'answered', (error: Error) => error.message);
  t.not(refused, 'answered', 'new connections are refused after SIGTERM');

  const lines = server.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const reviews = lines.filter((line) => line['msg'] === 'review');
  t.equal(reviews.length, 2, 'one log line per review');
  const podLine = reviews.find((line) => line['kind'] === 'Pod');
  t.match(podLine, {
    uid: (podReview['request'] as { uid: string }).uid,
    kind: 'Pod',
    namespace: 'legacy',
    name: 'debug',
    operation: 'CREATE',
    decision: 'deny',
    allowed: false,
    rules: ['pod-requires-mesh:deny'],
  });
  t.type(podLine?.['latencyMs'], 'number');
  t.notMatch(server.output(), /s3cr3t-value|annotation-secret-value|busybox/, 'no env values, annotations or specs in the logs');
  t.ok(lines.some((line) => line['msg'] === 'mtls-guard stopped'), 'says it stopped');
  t.equal(server.errors(), '', 'nothing on stderr');
});

t.test('SIGTERM during a burst: every review in flight is answered in full, then exit 0 and connections refused', async (t) => {
  const HELD = 200;
  const LANES = 20;
  const { dir, certs } = await certificateDir();
  const server = await startChild([
    '--port', '0', '--metrics-port', '0', '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--state', repoPath('examples'),
  ]);
  t.teardown(() => {
    server.child.kill('SIGKILL');
  });
  const ca = certs.caCert;

  // HELD reviews, each on its own connection, with headers and part of the body sent: in flight for certain.
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  let written = 0;
  const held = Array.from({ length: HELD }, () => {
    const review = nextReview();
    return exchange(server.port, ca, review.body, { agent: false, hold, onWritten: () => (written += 1) }).then((x) => ({ x, ...review }));
  });
  t.ok(await until(() => written === HELD, 30_000), `${HELD} reviews half sent`);

  // LANES kept-alive connections sending whole reviews back to back, until the server turns them away.
  let signalledAt = 0;
  let laneAnswered = 0;
  let inFlightAtSignal = 0;
  const inFlight = new Set<number>();
  const lanes = Array.from({ length: LANES }, async (_, lane) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const results: { x: Exchange; uid: string; allowed: boolean; afterSignal: boolean }[] = [];
    for (;;) {
      const review = nextReview();
      const afterSignal = signalledAt !== 0;
      inFlight.add(lane);
      const x = await exchange(server.port, ca, review.body, { agent });
      inFlight.delete(lane);
      results.push({ x, ...review, afterSignal });
      if (x.outcome !== 'answered' || x.status !== 200) break;
      laneAnswered += 1;
      if (signalledAt !== 0 && performance.now() - signalledAt > 20_000) break;
    }
    agent.destroy();
    return results;
  });
  t.ok(await until(() => laneAnswered >= 200, 20_000), 'the burst is under way');
  await new Promise((r) => setTimeout(r, 200));

  signalledAt = performance.now();
  inFlightAtSignal = inFlight.size;
  server.child.kill('SIGTERM');
  setTimeout(release, 300);
  const heldResults = await Promise.all(held);
  const laneResults = (await Promise.all(lanes)).flat();
  const code = await server.exited;
  const exitMs = Math.round(performance.now() - signalledAt);

  const heldProblems = heldResults.map(({ x, uid, allowed }) => verdictProblem(x, uid, allowed)).filter((p) => p !== undefined);
  t.same(heldProblems.slice(0, 5), [], `all ${HELD} reviews in flight at SIGTERM got a whole 200 AdmissionReview with their verdict`);
  const count = (outcome: Exchange['outcome'], status?: number) =>
    laneResults.filter(({ x }) => x.outcome === outcome && (status === undefined || x.status === status)).length;
  t.equal(count('truncated'), 0, 'no response cut off mid-way');
  const wrong = laneResults.filter(({ x, uid, allowed }) => x.outcome === 'answered' && x.status === 200 && verdictProblem(x, uid, allowed));
  t.equal(wrong.length, 0, 'every 200 on the kept-alive connections is the right AdmissionReview');
  const otherStatus = laneResults.filter(({ x }) => x.outcome === 'answered' && x.status !== 200 && x.status !== 503);
  t.same(otherStatus.map(({ x }) => `${x.status} ${x.text.slice(0, 100)}`), [], 'a request turned away after SIGTERM gets 503 or no answer at all, nothing else');
  t.equal(laneResults.filter(({ x, afterSignal }) => !afterSignal && x.outcome !== 'answered').length, 0, 'nothing failed before the signal');
  // Once shutdown begins every answer carries `Connection: close`, and idle connections get a grace period:
  // a review already written on a kept-alive connection is answered, never dropped.
  t.equal(count('no-response'), 0, 'no review already written on a kept-alive connection is dropped at close');
  t.equal(code, 0, 'exit code 0');
  const after = await exchange(server.port, ca, nextReview().body, { agent: false });
  t.equal(after.outcome, 'refused', `a new connection after exit is refused (${after.error})`);
  t.equal(server.errors(), '', 'nothing on stderr');
  t.comment(
    `SIGTERM burst: ${HELD} reviews in flight on ${HELD} connections, ${HELD - heldProblems.length} answered in full; ` +
      `${LANES} kept-alive connections (${inFlightAtSignal} with a request in flight at the signal): ` +
      `${count('answered', 200)} answered 200 (${laneResults.filter(({ x, afterSignal }) => afterSignal && x.status === 200).length} sent after the signal), ` +
      `turned away: ${count('answered', 503)} with 503, ${count('no-response')} closed before any response byte, ${count('refused')} refused; ` +
      `0 truncated; exit ${code} ${exitMs} ms after SIGTERM`,
  );
});

t.test('mtls-guard certs writes a CA and a SHA-256 serving certificate for the Service names', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'mtls-guard-certs-cli-'));
  const run = spawnCli(['certs', '--out', out, '--service', 'mtls-guard', '--namespace', 'platform']);
  t.equal(run.code, 0, run.stderr);
  const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
  const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.notOk(leaf.ca, 'tls.crt is not a CA');
  t.ok(leaf.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
  t.ok(leaf.checkIssued(ca), 'issuer matches');
  for (const name of ['mtls-guard', 'mtls-guard.platform', 'mtls-guard.platform.svc', 'mtls-guard.platform.svc.cluster.local', 'localhost']) {
    t.ok(leaf.subjectAltName?.split(', ').includes(`DNS:${name}`), `SAN DNS:${name}`);
  }
  t.match(leaf.subjectAltName, /IP Address:127\.0\.0\.1/);
  const text = spawnSync('openssl', ['x509', '-noout', '-text', '-in', join(out, 'tls.crt')], { encoding: 'utf8' });
  if (text.status === 0) t.match(text.stdout, /Signature Algorithm: ecdsa-with-SHA256/, 'signed with SHA-256');
  t.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600, 'tls.key is readable by its owner only');
  const bad = spawnCli(['certs', '--out', out, '--service', 'Bad_Name', '--namespace', 'platform']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--service "Bad_Name" is not a valid Service name/);
});

t.test('a shutdown delay keeps answering reviews while /readyz fails', async (t) => {
  const webhook = await startWebhook({ shutdownDelayMs: 1500 });
  const closing = webhook.close();
  const ready = await https(webhook.port, webhook.ca, '/readyz');
  t.equal(ready.status, 503);
  t.equal(ready.json().status, 'shutting down');
  const review = await postReview(webhook, admissionReview(secretPod));
  t.equal(review.json().response.allowed, false, 'reviews are still answered during the delay');
  t.equal(review.headers['connection'], 'close', '...each ending its connection, so the client reconnects to a pod that stays');
  await closing;
});

t.test('a kubeconfig found in the environment whose cluster does not answer falls back to the bundled examples, loudly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-env-kubeconfig-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{ name: gone, cluster: { server: "https://127.0.0.1:${await closedPort()}" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: gone, context: { cluster: gone, user: u } }]
current-context: gone
`);
  const { dir: certs } = await certificateDir();
  process.env['KUBECONFIG'] = kubeconfig;
  t.teardown(() => {
    delete process.env['KUBECONFIG'];
  });
  const server = await startChild(['--port', '0', '--metrics-port', '0', '--tls-cert-file', join(certs, 'tls.crt'), '--tls-key-file', join(certs, 'tls.key')]);
  t.teardown(() => server.child.kill('SIGKILL'));
  t.match(server.output(), /does not answer/);
  t.match(server.output(), /NO CLUSTER CONFIGURED/);
  t.match(server.output(), /static manifests/);
});

t.test('a port in use is one clear line and exit 2', async (t) => {
  const { dir } = await certificateDir();
  const first = await startChild(['--port', '0', '--metrics-port', '0', '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')]);
  t.teardown(() => first.child.kill('SIGKILL'));
  const run = spawnCli(['serve', '--port', String(first.port), '--metrics-port', '0', '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')]);
  t.equal(run.code, 2);
  t.match(run.stderr, `cannot listen for the webhook on 127.0.0.1:${first.port}: the address is in use`);
  t.notMatch(run.stderr, /\n\s+at /);
});

t.test('serve refuses a certificate that does not match its key, with one clear line', async (t) => {
  const { dir } = await certificateDir();
  const other = mkdtempSync(join(tmpdir(), 'mtls-guard-other-'));
  await writeCertificates(other, await generateCertificates({ service: 'x', namespace: 'y' }));
  const run = spawnCli(['serve', '--port', '0', '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(other, 'tls.key')]);
  t.equal(run.code, 2);
  t.match(run.stderr, /key does not match the certificate/);
  t.equal(run.stderr.trim().split('\n').length, 1, 'one line');
});
