// helm test for mtls-guard: node's standard library only, so it runs in mtls-guard's own image (no shell, no kubectl).
// Sends a Deployment that opts out of the mesh with dryRun=All and passes only when mtls-guard denies it (EXPECT=deny)
// or warns about it (EXPECT=warn).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const account = process.env.SERVICE_ACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';
const host = process.env.KUBERNETES_SERVICE_HOST;
const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
const namespace = process.env.TEST_NAMESPACE ?? 'default';
const expect = process.env.EXPECT ?? 'deny';
const labels = { app: 'mtls-guard-helm-test', 'sidecar.istio.io/inject': 'false', 'istio.io/dataplane-mode': 'none' };
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'mtls-guard-helm-test', namespace },
  spec: {
    selector: { matchLabels: { app: labels.app } },
    template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
  },
};

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

if (!host) fail('KUBERNETES_SERVICE_HOST is not set: not running in a cluster');
const body = JSON.stringify(deployment);
const req = request(
  {
    host,
    port,
    method: 'POST',
    path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments?dryRun=All`,
    ca: readFileSync(`${account}/ca.crt`),
    headers: { authorization: `Bearer ${readFileSync(`${account}/token`, 'utf8').trim()}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    timeout: 30_000,
  },
  (res) => {
    let text = '';
    res.on('data', (chunk) => (text += chunk));
    res.on('end', () => {
      const warnings = [res.headers.warning ?? []].flat().join('\n');
      let message = text;
      try {
        message = JSON.parse(text).message ?? text;
      } catch {}
      if (expect === 'deny') {
        if (res.statusCode === 403 && /admission webhook "workloads\.mtls-guard\.dev" denied the request/.test(message) && message.includes('pod-requires-mesh')) {
          console.log(`PASS: mtls-guard denied the dry-run Deployment in ${namespace}: ${message}`);
          process.exit(0);
        }
        fail(`expected mtls-guard to deny the dry-run Deployment in ${namespace}, got HTTP ${res.statusCode}: ${message}`);
      }
      if (res.statusCode === 201 && warnings.includes('pod-requires-mesh')) {
        console.log(`PASS: mtls-guard warned about the dry-run Deployment in ${namespace}: ${warnings}`);
        process.exit(0);
      }
      fail(`expected a pod-requires-mesh warning for the dry-run Deployment in ${namespace}, got HTTP ${res.statusCode}: ${message} ${warnings}`);
    });
  },
);
req.on('timeout', () => req.destroy(new Error('no answer from the API server in 30 s')));
req.on('error', (error) => fail(error.message));
req.end(body);
