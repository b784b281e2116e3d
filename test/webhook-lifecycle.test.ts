/** The webhook's life: before the cache syncs, certificate rotation, SIGTERM, logs, and `mtls-guard certs`. */
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateCertificates, writeCertificates } from '../src/certs/generate.js';
import { freePort } from './control-plane.js';
import { repoPath, spawnCli } from './helpers.js';
import { admissionReview, certificateDir, https, postReview, startWebhook } from './webhook-helpers.js';

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

t.test('a rotated certificate is picked up without a restart, with no failed handshake; a bad pair keeps the old one', async (t) => {
  const first = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const second = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const third = await generateCertificates({ service: 'mtls-guard', namespace: 'mtls-guard' });
  const volume = await secretVolume();
  volume.rotate(first.cert, first.key);
  symlinkSync('..data/tls.crt', join(volume.dir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(volume.dir, 'tls.key'));
  const webhook = await startWebhook({ tlsCertFile: join(volume.dir, 'tls.crt'), tlsKeyFile: join(volume.dir, 'tls.key') });
  t.teardown(() => webhook.close());
  const trusted = [first.caCert, second.caCert, third.caCert];
  const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

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
  const until = async (condition: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return condition();
  };

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

/** Start the built CLI's `serve` in a child process and wait for its "listening" log line. */
async function startChild(args: string[]) {
  const child = spawn(process.execPath, [repoPath('dist/src/cli.js'), 'serve', ...args], { cwd: repoPath('.'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /"port":(\d+).*"msg":"mtls-guard webhook listening"/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port, exited, output: () => stdout, errors: () => stderr };
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
