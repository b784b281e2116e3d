/**
 * The callers STRICT cuts off (SPEC 2.5), end to end with a real Prometheus scraping Istio-shaped counters:
 * `mtls-guard audit --prometheus-url` names them per STRICT policy, `serve --prometheus-url` names them in the
 * review's warnings once its background reading has happened, and without telemetry both say which workloads
 * outside the mesh could be calling.
 */
import t from 'tap';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import type { AuditReport } from '../../src/audit/report.js';
import { repoPath, runCli } from '../support/helpers.js';
import { startIstioExporter, startPrometheus } from '../support/prometheus.js';
import { admissionReview, postReview, startWebhook } from '../support/webhook-helpers.js';
import { scrape } from '../support/child-webhook.js';

t.setTimeout(120_000);

const cluster = repoPath('test/inputs/callers/cluster.yaml');
const strict = repoPath('test/inputs/callers/strict.yaml');
const pair = (source: string, destination: string) => {
  const [sns, sname] = source.split('/');
  const [dns, dname] = destination.split('/');
  return { source_workload: sname, source_workload_namespace: sns, destination_workload: dname, destination_workload_namespace: dns };
};
const exporter = await startIstioExporter([
  { metric: 'istio_requests_total', labels: { reporter: 'destination', connection_security_policy: 'none', ...pair('legacy/batch-report', 'shop/checkout') }, start: 1, step: 3 },
  { metric: 'istio_requests_total', labels: { reporter: 'destination', connection_security_policy: 'none', ...pair('unknown/unknown', 'shop/checkout') }, start: 1, step: 1 },
  { metric: 'istio_requests_total', labels: { reporter: 'destination', connection_security_policy: 'mutual_tls', ...pair('shop/frontend', 'shop/checkout') }, start: 1, step: 5 },
]);
const prometheus = await startPrometheus([exporter.target]);
t.teardown(async () => {
  await prometheus.stop();
  await exporter.close();
});

t.test('audit --prometheus-url: the plaintext callers of the workloads each STRICT policy governs', async (t) => {
  const run = await runCli(['audit', '-f', cluster, '-f', strict, '--prometheus-url', prometheus.url, '--callers-window', '1h', '--output', 'json']);
  t.equal(run.code, 0, run.stderr);
  const { callers } = JSON.parse(run.stdout) as AuditReport;
  t.equal(callers.basis, 'telemetry');
  t.equal(callers.window, '1h');
  t.equal(callers.byPolicy.length, 1);
  const [entry] = callers.byPolicy;
  t.equal(entry?.policy, 'shop/default');
  t.same(entry?.destinations, ['shop/checkout']);
  t.same(entry?.callers.map((c) => `${c.namespace}/${c.workload}`), ['legacy/batch-report'], 'the plaintext caller, not the mutual-TLS one');
  t.match(entry?.callers[0]?.because, /namespace legacy has no istio-injection/, 'and why it is outside the mesh, from the state');
  t.ok((entry?.unidentified?.requests ?? 0) > 0, 'plaintext from sources Istio could not name is counted');
  const text = await runCli(['audit', '-f', cluster, '-f', strict, '--prometheus-url', prometheus.url]);
  t.match(text.stdout, /shop\/default: legacy\/batch-report; \d+ requests and 0 connections from sources Istio could not name/);
});

t.test('audit without telemetry: the workloads outside the mesh that could be calling', async (t) => {
  const run = await runCli(['audit', '-f', cluster, '-f', strict, '--output', 'json']);
  const { callers } = JSON.parse(run.stdout) as AuditReport;
  t.equal(callers.basis, 'possible');
  t.same(callers.possible?.map((c) => `${c.namespace}/${c.workload}`), ['legacy/Deployment/batch-report']);
});

t.test('audit: a Prometheus that cannot be read is an input error, not a silent fallback', async (t) => {
  const run = await runCli(['audit', '-f', cluster, '--prometheus-url', 'http://127.0.0.1:9/', '--request-timeout', '2']);
  t.equal(run.code, 2);
  t.match(run.stderr, /^mtls-guard: cannot read the plaintext callers from Prometheus at http:\/\/127\.0\.0\.1:9\//);
  const bad = await runCli(['audit', '-f', cluster, '--callers-window', '5x']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--callers-window.*must be a duration/);
});

const policyObject = parse(readFileSync(strict, 'utf8')) as Record<string, unknown>;

t.test('serve --prometheus-url: a STRICT review warns about the callers Istio saw', async (t) => {
  const webhook = await startWebhook({ state: [cluster], prometheusUrl: prometheus.url, callersWindowSeconds: 3600 });
  t.teardown(webhook.close);
  for (let i = 0; i < 100 && !(await scrape(webhook.metricsPort, 'mtls_guard_telemetry_last_success_timestamp_seconds')).size; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const response = (await postReview(webhook, admissionReview(policyObject))).json().response;
  t.equal(response.allowed, true, 'every workload it governs is in the mesh: allowed');
  const warning = (response.warnings as string[]).find((w) => w.includes('cuts off plaintext callers'));
  t.match(warning, /PeerAuthentication shop\/default \(STRICT\) cuts off plaintext callers seen in the last 1h: legacy\/batch-report; from sources Istio could not name/);
  t.ok((warning?.length ?? 0) < 256);
  const failures = await scrape(webhook.metricsPort, 'mtls_guard_telemetry_consecutive_failures');
  t.equal([...failures.values()][0], 0);
});

t.test('serve without telemetry: the review names who could be calling', async (t) => {
  const webhook = await startWebhook({ state: [cluster] });
  t.teardown(webhook.close);
  const response = (await postReview(webhook, admissionReview(policyObject))).json().response;
  t.equal(response.allowed, true);
  t.match(response.warnings, [/1 workload outside the mesh could be calling namespace shop and would be cut off: Deployment legacy\/batch-report \(no telemetry to say which do\)/]);
});
