/**
 * Webhook and `check` give the same verdict for the same state: for every scenario, the webhook serves the
 * scenario's manifests as its cluster state, and each object's AdmissionReview gets exactly the response
 * that `check`'s findings for that object imply.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { check, isEngineFinding } from '../../src/check/check.js';
import { DEFAULT_CONFIG, parseConfig, type Config } from '../../src/config/config.js';
import { classify, hasStatus } from '../../src/engine/decode.js';
import { policyFor } from '../../src/config/config.js';
import { loadManifests } from '../../src/manifests/load.js';
import { respond } from '../../src/server/admission-review.js';
import { readYaml, repoPath } from '../support/helpers.js';
import { startControlPlane } from '../support/control-plane.js';
import { admissionReview, https, postReview, startWebhook } from '../support/webhook-helpers.js';

const root = repoPath('test/scenarios');
const scratch = mkdtempSync(join(tmpdir(), 'mtls-guard-equivalence-'));

for (const name of readdirSync(root).sort()) {
  t.test(name, async (t) => {
    const dir = join(root, name);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml').map((f) => join(dir, f));
    const { config: configDocument } = readYaml<{ config?: unknown }>(`test/scenarios/${name}/expected.yaml`);
    const parsed = parseConfig(configDocument);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    let configFile: string | undefined;
    if (configDocument !== undefined) {
      configFile = join(scratch, `${name}.yaml`);
      writeFileSync(configFile, stringify(configDocument));
    }
    const webhook = await startWebhook({ state: files, ...(configFile ? { config: configFile } : {}) });
    t.teardown(() => webhook.close());

    const objects = await loadManifests(files, async () => '');
    const result = check(objects, policyFor(parsed.config), 'default');
    let compared = 0;
    for (const { object } of objects) {
      const kind = classify(String(object['apiVersion']), String(object['kind']));
      if (!kind || kind === 'Namespace') continue;
      // The webhook sees a Pod after the injector ran; `check` judges a Pod without status by intent.
      if (kind === 'Pod' && !hasStatus(object)) continue;
      const metadata = object['metadata'] as { name: string; namespace?: string };
      const mine = result.findings
        .filter((f) => f.object.kind === object['kind'] && f.object.name === metadata.name && f.object.namespace === (metadata.namespace ?? 'default'))
        .filter(isEngineFinding)
        .map(({ source: _source, ...finding }) => finding);
      const review = admissionReview(object);
      const uid = (review['request'] as { uid: string }).uid;
      const res = await postReview(webhook, review);
      t.same(res.json(), respond(uid, mine), `${object['kind']} ${metadata.namespace}/${metadata.name}`);
      compared += 1;
    }
    t.ok(compared > 0, `${compared} objects compared`);
  });
}

/**
 * The same agreement over a live cluster state: the scenarios with controllers and topology are applied to a
 * real kube-apiserver, the webhook list-watches it, and `check` reads the objects exactly as the server stores
 * them (creationTimestamps included). A Deployment's ReplicaSet and a CronJob's Job are counted once, as their owner.
 */
t.test('live state: the webhook list-watching a real API server agrees with check, controllers included', async (t) => {
  const plane = await startControlPlane();
  t.teardown(() => plane.stop());
  const must = plane.must;
  must(['apply', '-f', repoPath('test/e2e/peerauthentication-crd.yaml')]);
  must(['wait', '--for=condition=Established', 'crd/peerauthentications.security.istio.io', '--timeout=60s']);
  const scenarios = ['10-controllers-in-unlabelled-namespace', '21-strict-over-cronjob-and-scaled-down-deployment', '22-topology-selectors'];
  // No controller-manager runs here to create the namespace's default ServiceAccount that pods need.
  must(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: { name: edge }\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: default, namespace: edge }\n');
  for (const name of scenarios) {
    const manifests = readdirSync(join(root, name)).filter((f) => f.endsWith('.yaml') && f !== 'expected.yaml');
    for (const file of manifests) must(['apply', '-f', join(root, name, file)]);
  }
  const owner = (kind: string, name: string, ns: string): string => {
    const uid = must(['get', kind, name, '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
    return `ownerReferences: [{ apiVersion: ${kind === 'cronjob' ? 'batch/v1' : 'apps/v1'}, kind: ${kind === 'cronjob' ? 'CronJob' : 'Deployment'}, name: ${name}, uid: "${uid}", controller: true }]`;
  };
  must(
    ['apply', '-f', '-'],
    `apiVersion: apps/v1
kind: ReplicaSet
metadata: { name: idle-5d8f, namespace: batch, ${owner('deployment', 'idle', 'batch')} }
spec:
  replicas: 0
  selector: { matchLabels: { app: idle } }
  template:
    metadata: { labels: { app: idle } }
    spec: { containers: [{ name: idle, image: "registry.example.com/idle:1" }] }
---
apiVersion: batch/v1
kind: Job
metadata: { name: nightly-2901, namespace: batch, ${owner('cronjob', 'nightly', 'batch')} }
spec:
  suspend: true
  template:
    metadata: { labels: { app: nightly } }
    spec: { restartPolicy: OnFailure, containers: [{ name: job, image: "registry.example.com/nightly:1" }] }
`,
  );
  const kinds = 'namespaces,nodes,pods,deployments,statefulsets,daemonsets,replicasets,replicationcontrollers,jobs,cronjobs,peerauthentications';
  const exported = JSON.parse(must(['get', kinds, '-A', '-o', 'json'])) as { items: Record<string, unknown>[] };
  const file = join(scratch, 'live.json');
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: exported.items }));
  const objects = await loadManifests([file], async () => '');
  const result = check(objects, policyFor(structuredClone(DEFAULT_CONFIG) as Config), 'default');

  const webhook = await startWebhook({ kubeconfig: plane.kubeconfig });
  t.teardown(() => webhook.close());
  const deadline = Date.now() + 30_000;
  while ((await https(webhook.port, webhook.ca, '/readyz')).status !== 200) {
    if (Date.now() > deadline) throw new Error('the webhook never became ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  let compared = 0;
  let denials = 0;
  for (const { object } of objects) {
    const kind = classify(String(object['apiVersion']), String(object['kind']));
    if (!kind || kind === 'Namespace') continue;
    const metadata = object['metadata'] as { name: string; namespace?: string };
    if (!['reporting', 'reporting-meshed', 'batch', 'edge'].includes(metadata.namespace ?? '')) continue;
    const mine = result.findings
      .filter(isEngineFinding)
      .filter((f) => f.object.kind === object['kind'] && f.object.name === metadata.name && f.object.namespace === metadata.namespace)
      .map(({ source: _source, ...finding }) => finding);
    denials += mine.filter((f) => f.rule === 'strict-requires-mesh' && f.action === 'deny').length;
    const review = admissionReview(object);
    const uid = (review['request'] as { uid: string }).uid;
    const res = await postReview(webhook, review);
    t.same(res.json(), respond(uid, mine), `${object['kind']} ${metadata.namespace}/${metadata.name}`);
    compared += 1;
  }
  t.ok(compared >= 15, `${compared} objects compared`);
  const batch = result.findings.find((f) => f.rule === 'strict-requires-mesh' && f.object.namespace === 'batch');
  t.same(
    batch?.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`),
    ['CronJob batch/nightly', 'Deployment batch/idle'],
    'the CronJob and the Deployment scaled to 0 count once each, not their Job and ReplicaSet',
  );
  // edge's policies were created in one second here: the tie goes to the name, edge/cluster (PERMISSIVE), so only batch is denied.
  t.ok(denials >= 1, `${denials} strict-requires-mesh denials agree`);
});
