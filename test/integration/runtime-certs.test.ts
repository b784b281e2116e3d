/**
 * certs.mode=runtime against a real kube-apiserver: a fresh start makes a CA and writes it into the webhook
 * configuration, replicas starting together settle on one Secret, and rotations under load through the API
 * server's own webhook calls fail no handshake.
 */
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import t from 'tap';
import { runtimeCertificates, type RuntimeCertificateOptions, type RuntimeCertificates } from '../../src/certs/runtime.js';
import { TLS_OPTIONS } from '../../src/server/tls.js';
import { startControlPlane } from '../support/control-plane.js';

t.setTimeout(240_000);

const NAMESPACE = 'guard';

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(plane.kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const kubectl = (args: string[], input?: string) => {
  const result = plane.kubectl(args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};
kubectl(['create', 'namespace', NAMESPACE]);

/** A webhook configuration with one webhook per URL, for ConfigMap CREATEs in `namespace`, failing closed. */
function createWebhookConfiguration(name: string, urls: string[], namespace: string): void {
  const webhooks = urls.map((url, i) => ({
    name: `hook-${i}.mtls-guard.dev`,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    clientConfig: { url },
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], operations: ['CREATE'] }],
  }));
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name }, webhooks }));
}

const caBundles = (name: string): string[] =>
  (JSON.parse(kubectl(['get', 'validatingwebhookconfiguration', name, '-o', 'json'])) as { webhooks: { clientConfig: { caBundle?: string } }[] }).webhooks.map((hook) =>
    Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString('utf8'),
  );

async function secretData(name: string): Promise<Record<string, string>> {
  const secret = await core.readNamespacedSecret({ name, namespace: NAMESPACE });
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
}

/** A logger whose lines (parsed) land in `lines`. */
function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const start = (options: Partial<RuntimeCertificateOptions> & Pick<RuntimeCertificateOptions, 'secretName' | 'webhookConfigName'>): Promise<RuntimeCertificates> =>
  runtimeCertificates({ kubeConfig, namespace: NAMESPACE, service: 'guard-mtls-guard', propagationDelayMs: 0, ...options });

t.test('a fresh start makes a CA, stores the pair, and writes the CA into every webhook of its configuration', async (t) => {
  createWebhookConfiguration('fresh', ['https://127.0.0.1:1/a', 'https://127.0.0.1:1/b'], 'nowhere');
  const certs = await start({ secretName: 'fresh-tls', webhookConfigName: 'fresh' });
  t.teardown(() => certs.stop());
  const data = await secretData('fresh-tls');
  t.equal(data['tls.crt'], certs.pair.cert, 'the Secret holds the served certificate');
  t.equal(data['tls.key'], certs.pair.key, 'and its key');
  t.equal(data['ca.crt'], certs.caBundle, 'and the CA bundle');
  const leaf = new X509Certificate(certs.pair.cert);
  const [ca] = certs.caBundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  t.ok(ca && leaf.verify(new X509Certificate(ca).publicKey), 'the certificate is signed by the CA it made');
  for (const name of ['guard-mtls-guard.guard.svc', 'guard-mtls-guard.guard.svc.cluster.local']) t.match(leaf.subjectAltName, `DNS:${name}`);
  t.ok(Date.parse(leaf.validTo) - Date.now() > 300 * 86_400_000, 'a year-long certificate by default');
  t.same(caBundles('fresh'), [certs.caBundle, certs.caBundle], "both webhooks' caBundle is that CA");

  const again = await start({ secretName: 'fresh-tls', webhookConfigName: 'fresh' });
  again.stop();
  t.equal(again.pair.fingerprint, certs.pair.fingerprint, 'a restart loads the same pair instead of making a new one');

  kubectl(['patch', 'validatingwebhookconfiguration', 'fresh', '--type=json', '-p', '[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]']);
  const repaired = await start({ secretName: 'fresh-tls', webhookConfigName: 'fresh' });
  repaired.stop();
  t.same(caBundles('fresh'), [certs.caBundle, certs.caBundle], 'a caBundle removed (say by a reinstall) is written again');
});

t.test('a Secret that does not hold a usable pair is replaced; a missing webhook configuration is waited for', async (t) => {
  await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: 'garbage-tls' }, data: { 'tls.crt': Buffer.from('nope').toString('base64') } } });
  const certs = await start({ secretName: 'garbage-tls', webhookConfigName: 'not-yet', checkIntervalMs: 200, retryIntervalMs: 200 });
  t.teardown(() => certs.stop());
  t.equal((await secretData('garbage-tls'))['tls.crt'], certs.pair.cert, 'the unusable content was replaced');
  createWebhookConfiguration('not-yet', ['https://127.0.0.1:1/a'], 'nowhere');
  const deadline = Date.now() + 10_000;
  while (caBundles('not-yet')[0] !== certs.caBundle && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(caBundles('not-yet'), [certs.caBundle], 'the webhook configuration created later gets the caBundle at the next check');
});

t.test('a Secret it may not create is reported as such', async (t) => {
  kubectl(['create', 'serviceaccount', 'limited', '-n', NAMESPACE]);
  const token = kubectl(['create', 'token', 'limited', '-n', NAMESPACE]).trim();
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: [{ name: 'test', server: plane.server, caFile: plane.caFile }],
    users: [{ name: 'limited', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'limited' }],
    currentContext: 'test',
  });
  kubectl(['create', 'role', 'limited', '-n', NAMESPACE, '--verb=get,update', '--resource=secrets', '--resource-name=absent-tls', '--resource-name=limited-tls']);
  kubectl(['create', 'rolebinding', 'limited', '-n', NAMESPACE, '--role=limited', `--serviceaccount=${NAMESPACE}:limited`]);
  await t.rejects(
    runtimeCertificates({ kubeConfig: limited, namespace: NAMESPACE, service: 'guard-mtls-guard', secretName: 'absent-tls', webhookConfigName: 'fresh' }),
    { message: /the Secret guard\/absent-tls does not exist and this service account may not create it/ },
  );

  // The Secret exists (as the chart makes it) but the webhook configuration may not be read: it serves, and says why.
  await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: 'limited-tls' }, type: 'Opaque' } });
  const { logger, lines } = memoryLogger();
  const certs = await runtimeCertificates({ kubeConfig: limited, namespace: NAMESPACE, service: 'guard-mtls-guard', secretName: 'limited-tls', webhookConfigName: 'fresh', logger });
  certs.stop();
  t.equal((await secretData('limited-tls'))['tls.crt'], certs.pair.cert, 'get and update on its own Secret are enough to fill it');
  const refused = lines.find((line) => line['msg'] === 'cannot write the caBundle; retrying');
  t.match(refused?.['error'], /^HTTP 403: .*validatingwebhookconfigurations.* "fresh" is forbidden/, 'a refused webhook configuration is logged with the API server\'s reason');
});

for (const [race, prepare] of [
  ['no Secret yet: both create, one gets a conflict', async () => undefined],
  ["the chart's empty Secret: both update, one gets a conflict", async (name: string) => {
    await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name }, type: 'Opaque' } });
  }],
] as const) {
  t.test(`replicas starting together settle on one Secret (${race})`, async (t) => {
    const name = race.startsWith('no Secret') ? 'race-create' : 'race-update';
    createWebhookConfiguration(name, ['https://127.0.0.1:1/a'], 'nowhere');
    for (let round = 0; round < 3; round++) {
      const secretName = `${name}-${round}-tls`;
      await prepare(secretName);
      const replicas = await Promise.all([0, 1, 2].map(() => start({ secretName, webhookConfigName: name })));
      for (const replica of replicas) replica.stop();
      const data = await secretData(secretName);
      t.same(new Set(replicas.map((r) => r.pair.fingerprint)).size, 1, `round ${round}: three replicas serve one pair`);
      t.equal(replicas[0]?.pair.cert, data['tls.crt'], `round ${round}: the pair in the Secret`);
      t.same(caBundles(name), [data['ca.crt']], `round ${round}: the webhook trusts its CA`);
    }
  });
}

t.test('rotations while the API server calls two replicas: every review answered, 0 failed handshakes', async (t) => {
  const namespace = 'rotation';
  kubectl(['create', 'namespace', namespace]);
  kubectl(['create', 'serviceaccount', 'default', '-n', namespace]);
  const validityMs = 8000;
  const renewBeforeMs = 4000;
  const options = { secretName: 'rotation-tls', webhookConfigName: 'rotation', validityMs, renewBeforeMs, checkIntervalMs: 300, retryIntervalMs: 300, propagationDelayMs: 1000 };

  interface Replica {
    server: Server;
    handshakeFailures: string[];
    answeredWith: Map<string, number>;
    rotations: string[];
    certs?: RuntimeCertificates;
  }
  const replicas: Replica[] = [0, 1].map(() => ({ server: undefined as unknown as Server, handshakeFailures: [], answeredWith: new Map(), rotations: [] }));
  // Each replica's server starts with its own pair, then serves what the runtime certificates hand it.
  const first = await Promise.all(replicas.map(() => start({ ...options, webhookConfigName: 'rotation-bootstrap' })));
  for (const [i, replica] of replicas.entries()) {
    const pair = first[i]!.pair;
    first[i]!.stop();
    replica.server = createServer({ cert: pair.cert, key: pair.key, ...TLS_OPTIONS }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const own = (req.socket as TLSSocket).getCertificate();
        const fingerprint = own && 'fingerprint256' in own ? own.fingerprint256 : 'none';
        replica.answeredWith.set(fingerprint, (replica.answeredWith.get(fingerprint) ?? 0) + 1);
        const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
        // A new connection, so a new handshake, for every review.
        res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }));
      });
    });
    replica.server.on('tlsClientError', (error: Error) => replica.handshakeFailures.push(error.message));
    await new Promise<void>((resolve) => replica.server.listen(0, '127.0.0.1', resolve));
  }
  t.teardown(() => {
    for (const replica of replicas) {
      replica.certs?.stop();
      replica.server.close();
    }
  });
  const urls = replicas.map((r) => `https://127.0.0.1:${(r.server.address() as AddressInfo).port}/validate`);
  createWebhookConfiguration('rotation', urls, namespace);

  const started = Date.now();
  for (const replica of replicas) {
    replica.certs = await start(options);
    replica.server.setSecureContext({ cert: replica.certs.pair.cert, key: replica.certs.pair.key, ...TLS_OPTIONS });
    replica.certs.onRotate((pair) => {
      replica.rotations.push(pair.fingerprint);
      replica.server.setSecureContext({ cert: pair.cert, key: pair.key, ...TLS_OPTIONS });
    });
  }

  let reviews = 0;
  const failures: string[] = [];
  const runForMs = 22_000;
  while (Date.now() - started < runForMs) {
    try {
      await core.createNamespacedConfigMap({ namespace, dryRun: 'All', body: { metadata: { name: `cm-${reviews}` }, data: { n: String(reviews) } } });
    } catch (error) {
      failures.push(error instanceof ApiException ? String(error.body).slice(0, 300) : (error as Error).message);
    }
    reviews++;
  }
  const elapsed = Date.now() - started;
  t.same(failures, [], `${reviews} dry-run creates, each reviewed by both replicas, none failed`);
  for (const [i, replica] of replicas.entries()) {
    t.same(replica.handshakeFailures, [], `replica ${i}: 0 failed handshakes`);
    t.ok(replica.rotations.length >= 3, `replica ${i}: rotated ${replica.rotations.length} times in ${elapsed} ms`);
    const used = [...replica.answeredWith.entries()].filter(([, count]) => count > 0).length;
    t.ok(used >= 3, `replica ${i}: the API server completed handshakes with ${used} different certificates`);
  }
  const distinct = new Set(replicas.flatMap((r) => r.rotations));
  const mostRotations = Math.ceil(elapsed / (validityMs - renewBeforeMs)) + 1;
  t.ok(distinct.size <= mostRotations, `no flapping: ${distinct.size} pairs in ${elapsed} ms, at most ${mostRotations} possible`);
  const [a, b] = replicas.map((r) => r.rotations);
  const shared = a!.filter((fingerprint) => b!.includes(fingerprint)).length;
  t.ok(shared >= Math.min(a!.length, b!.length) - 1, `both replicas moved to the same pairs (${shared} shared of ${a!.length} and ${b!.length})`);
});

t.test('a check that fails (the API server stops answering) is logged and retried until it succeeds', async (t) => {
  createWebhookConfiguration('flaky', ['https://127.0.0.1:1/a'], 'nowhere');
  const { logger, lines } = memoryLogger();
  const certs = await start({ secretName: 'flaky-tls', webhookConfigName: 'flaky', checkIntervalMs: 200, retryIntervalMs: 200, requestTimeoutMs: 500, logger });
  t.teardown(() => certs.stop());
  plane.pauseApiServer();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  plane.resumeApiServer();
  const failed = lines.filter((line) => line['msg'] === 'runtime certificates: check failed; retrying');
  t.ok(failed.length >= 1, `the frozen API server was noticed (${failed.length} failed checks)`);
  t.match(failed[0]?.['error'], 'no answer from the API server in 500 ms');
  kubectl(['patch', 'validatingwebhookconfiguration', 'flaky', '--type=json', '-p', '[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]']);
  const deadline = Date.now() + 15_000;
  while (caBundles('flaky')[0] !== certs.caBundle && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(caBundles('flaky'), [certs.caBundle], 'checks resumed once it answered again');
});
