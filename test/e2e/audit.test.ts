/**
 * SPEC 2.5 against a real kube-apiserver: what was wrong before mtls-guard was registered — a STRICT namespace
 * holding a pod outside the mesh, a PERMISSIVE policy — shows up in `serve`'s /audit and metrics and in
 * `mtls-guard audit --kubeconfig`, and fixing it clears it from all three.
 */
import { request } from 'node:http';
import t from 'tap';
import type { AuditReport } from '../../src/audit/report.js';
import { runCli } from '../support/helpers.js';
import { startE2E, until } from './harness.js';

t.setTimeout(240_000);

const e2e = await startE2E();
t.teardown(() => e2e.stop());
const { kubectl } = e2e;

function get(path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: e2e.metricsPort, path }, (response) => {
      let body = '';
      response.on('data', (c: Buffer) => (body += c.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, type: String(response.headers['content-type']) }));
    })
      .on('error', reject)
      .end();
  });
}

const audit = async (): Promise<AuditReport> => JSON.parse((await get('/audit')).body) as AuditReport;
const sample = async (name: string, labels: string): Promise<number | undefined> => {
  const line = (await get('/metrics')).body.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

const BEFORE = `
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default, namespace: legacy }
---
apiVersion: v1
kind: Pod
metadata: { name: billing-0, namespace: legacy, labels: { app: billing } }
spec: { containers: [{ name: billing, image: "registry.example.com/billing:1" }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: legacy }
spec: { mtls: { mode: STRICT } }
---
apiVersion: v1
kind: Namespace
metadata: { name: payments, labels: { istio-injection: enabled } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: relaxed, namespace: payments }
spec: { mtls: { mode: PERMISSIVE } }
`;

t.test('before the webhook is registered, the cluster takes what admission would refuse', async (t) => {
  const applied = kubectl(['apply', '-f', '-'], BEFORE);
  t.equal(applied.code, 0, applied.stderr);
  await e2e.register();
  const again = kubectl(['apply', '--dry-run=server', '-f', '-'], BEFORE.replace('billing-0', 'billing-1'));
  t.not(again.code, 0, 'the same pod is refused now the webhook is registered');
});

t.test('serve: /audit and the metrics show the existing violations', async (t) => {
  await until('/audit shows the STRICT namespace with its pod outside the mesh', async () => {
    const legacy = (await audit()).namespaces.find((n) => n.name === 'legacy');
    return legacy?.violations['strict-requires-mesh'] === 1;
  });
  const report = await audit();
  const legacy = report.namespaces.find((n) => n.name === 'legacy');
  t.match(legacy, { mode: { mode: 'STRICT', policy: 'legacy/default' }, enrollment: 'none', pods: { total: 1, inMesh: 0, outOfMesh: 1 } });
  t.same(legacy?.violations, { 'strict-requires-mesh': 1, 'pod-requires-mesh': 1, 'mtls-drift': 0 });
  const strict = report.findings.find((f) => f.rule === 'strict-requires-mesh');
  t.match(strict, { action: 'deny', object: { kind: 'PeerAuthentication', namespace: 'legacy', name: 'default' }, subjects: [{ kind: 'Pod', namespace: 'legacy', name: 'billing-0' }] });
  t.match(strict?.fix, /kubectl label namespace legacy istio-injection=enabled/, 'the fix is to inject, then protect');
  t.match(report.findings.find((f) => f.rule === 'mtls-drift'), { object: { namespace: 'payments', name: 'relaxed' }, message: /sets PERMISSIVE/ });
  t.equal(await sample('mtls_guard_violations', 'namespace="legacy",rule="strict-requires-mesh"'), 1);
  t.equal(await sample('mtls_guard_violations', 'namespace="legacy",rule="pod-requires-mesh"'), 1);
  t.equal(await sample('mtls_guard_violations', 'namespace="payments",rule="mtls-drift"'), 1);
  t.equal(await sample('mtls_guard_namespace_mode', 'namespace="legacy",mode="STRICT"'), 1);
  t.equal(await sample('mtls_guard_workloads', 'namespace="legacy",mesh="out"'), 1);
  const html = await get('/audit?format=html');
  t.equal(html.status, 200);
  t.match(html.type, /text\/html/);
  t.match(html.body, /legacy/);
});

t.test('mtls-guard audit --kubeconfig reports the same', async (t) => {
  const run = await runCli(['audit', '--kubeconfig', e2e.plane.kubeconfig, '--output', 'json']);
  t.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as AuditReport;
  const served = await audit();
  const strip = (r: AuditReport): unknown => ({ ...r, source: undefined, generatedAt: undefined, namespaces: r.namespaces.filter((n) => n.name === 'legacy' || n.name === 'payments') });
  t.same(strip(report), strip(served), 'the CLI and the webhook give the same report for the same state');
  const text = await runCli(['audit', '--kubeconfig', e2e.plane.kubeconfig]);
  t.match(text.stdout, /legacy\s+STRICT\s+legacy\/default\s+none\s+0\/1 0%\s+1/);
  t.match(text.stdout, /DENY strict-requires-mesh: PeerAuthentication legacy\/default/);
  const failing = await runCli(['audit', '--kubeconfig', e2e.plane.kubeconfig, '--fail-on', 'deny']);
  t.equal(failing.code, 1, '--fail-on deny exits 1 while the violation exists');
});

t.test('fixing it clears it: relax the policy first, then inject, then protect', async (t) => {
  // Pods cannot be injected here (no istiod); stand in for the restart with a pod that carries the sidecar.
  t.equal(kubectl(['label', 'namespace', 'legacy', 'istio-injection=enabled']).code, 0);
  t.equal(kubectl(['delete', 'pod', 'billing-0', '-n', 'legacy', '--wait=false']).code, 0);
  t.equal(kubectl(['delete', 'peerauthentication', 'relaxed', '-n', 'payments']).code, 0);
  await until('/audit shows no violation left', async () => {
    const report = await audit();
    return report.summary.violations['strict-requires-mesh'] === 0 && report.summary.violations['pod-requires-mesh'] === 0 && report.summary.violations['mtls-drift'] === 0;
  });
  t.equal(await sample('mtls_guard_violations', 'namespace="legacy",rule="strict-requires-mesh"'), 0);
  t.equal(await sample('mtls_guard_violations', 'namespace="payments",rule="mtls-drift"'), 0);
  const run = await runCli(['audit', '--kubeconfig', e2e.plane.kubeconfig, '--fail-on', 'warn', '--output', 'json']);
  const report = JSON.parse(run.stdout) as AuditReport;
  t.same(report.findings.filter((f) => f.object.namespace === 'legacy' || f.object.namespace === 'payments'), [], 'mtls-guard audit: nothing left');
});
