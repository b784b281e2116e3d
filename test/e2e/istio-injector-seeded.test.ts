/**
 * Issue 17: mtls-guard's intent verdict on a pod template against what Istio's own injector really does with the
 * pod a controller makes from it. Seeded templates over the injection corners (test/support/inject-cases.ts: label
 * and annotation values and their case, empty and unknown revisions, tags, hostNetwork, opt-outs, ignored
 * namespaces, copied status annotations, hand-written istio-proxy containers) become Deployments on a real control
 * plane; kube-controller-manager makes their ReplicaSets and Pods; the real API server calls the istiod webhooks
 * whose selectors match; each istiod decides. mtls-guard decides from the live state as `serve` sees it (its
 * list-watch source: the Namespaces, the injector MutatingWebhookConfigurations and ConfigMaps, the Deployments).
 * 0 disagreements. ISTIOD_SEED and ISTIOD_CASES reproduce or widen a run.
 *
 * The install: the default revision with a neverInjectSelector, revision canary with an alwaysInjectSelector and the
 * tag prod, one istiod each (test/support/istiod.ts). mtls-guard is not registered here: a template it refuses must
 * still reach the injector to be compared.
 */
import t from 'tap';
import { pino } from 'pino';
import { DEFAULT_CONFIG, policyFor, type Config } from '../../src/config/config.js';
import { injectionIntent, meshContext, membership } from '../../src/engine/mesh.js';
import type { KubeStateSource } from '../../src/state/kube-source.js';
import { startControlPlane, startSource } from '../support/control-plane.js';
import { generateCases, type PodCase } from '../support/inject-cases.js';
import { injectedBy, installIstioBase, istiodBinary, startIstiod, type Istiod } from '../support/istiod.js';
import { until } from './harness.js';

t.setTimeout(900_000);

type Doc = Record<string, any>;

const seed = Number(process.env['ISTIOD_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const count = Number(process.env['ISTIOD_CASES'] ?? 200);
t.comment(`ISTIOD_SEED=${seed} ISTIOD_CASES=${count}`);

istiodBinary(); // a missing istiod fails the file here, before anything is started
const plane = await startControlPlane({ controllerManager: true });
const istiods: Istiod[] = [];
let source: KubeStateSource | undefined;
const stopAll = async (): Promise<void> => {
  await source?.stop();
  await Promise.all(istiods.map((istiod) => istiod.stop()));
  await plane.stop();
};
t.teardown(stopAll);
const never = JSON.stringify([{ matchExpressions: [{ key: 'app', operator: 'In', values: ['batch', 'cron'] }] }]);
const always = JSON.stringify([{ matchLabels: { tier: 'web' } }]);
/** The revision an istiod writes into the status, for each revision or tag a webhook serves. */
const servedBy: Record<string, string> = { default: 'default', canary: 'canary', prod: 'canary' };

const cases = generateCases(seed, count);
const json = (args: string[]): Doc => JSON.parse(plane.must([...args, '-o', 'json'])) as Doc;
// As JSON: kubectl reads YAML 1.1, where label values such as yes, no, on and off would be booleans.
const list = (items: Doc[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const keyOf = (object: Doc): string => `${object['metadata'].namespace}/${object['metadata'].name}`;

/** A Deployment whose template is the case's pod (plus the `case` label its selector needs; no injector selects on it). */
function deploymentOf(c: PodCase): Doc {
  const metadata = c.pod['metadata'] as Doc;
  const labels = { ...metadata['labels'], case: c.id };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: c.id, namespace: c.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { case: c.id } },
      template: { metadata: { labels, ...(metadata['annotations'] ? { annotations: metadata['annotations'] } : {}) }, spec: c.pod['spec'] },
    },
  };
}

interface Outcome {
  pod?: Doc;
  failure?: string;
}

/** The Pod each Deployment's ReplicaSet made, or the ReplicaSet's FailedCreate message, keyed namespace/deployment. */
function outcomes(): Map<string, Outcome> {
  const replicaSets = json(['get', 'replicasets', '-A'])['items'] as Doc[];
  const pods = json(['get', 'pods', '-A'])['items'] as Doc[];
  const byReplicaSet = new Map(pods.map((p) => [`${p['metadata'].namespace}/${p['metadata'].ownerReferences?.[0]?.name}`, p]));
  const result = new Map<string, Outcome>();
  for (const rs of replicaSets) {
    const owner = rs['metadata'].ownerReferences?.[0]?.name as string | undefined;
    if (!owner) continue;
    const key = `${rs['metadata'].namespace}/${owner}`;
    const pod = byReplicaSet.get(keyOf(rs));
    const failure = ((rs['status']?.conditions ?? []) as Doc[]).find((c) => c['type'] === 'ReplicaFailure')?.['message'] as string | undefined;
    if (pod) result.set(key, { pod });
    else if (failure) result.set(key, { failure });
  }
  return result;
}

const deploymentFacts = (state: KubeStateSource['state'], c: PodCase) =>
  [...state.workloads(c.namespace)].find((w) => w.kind === 'Deployment' && w.name === c.id);

/**
 * Istio's CRDs and both istiods; the cases' namespaces and Deployments; every ReplicaSet's Pod (or its refusal); then
 * mtls-guard's list-watch source, once it holds the Deployments and the injector.
 */
async function setUp() {
  installIstioBase(plane);
  istiods.push(await startIstiod(plane, { values: [`json:sidecarInjectorWebhook.neverInjectSelector=${never}`] }));
  istiods.push(
    await startIstiod(plane, { revision: 'canary', values: ['revisionTags={prod}', `json:sidecarInjectorWebhook.alwaysInjectSelector=${always}`] }),
  );
  // Every namespace of the cases, with their labels (the system ones exist already: labelled over).
  const namespaceObjects = cases.namespaces.map((ns) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } }));
  plane.must(['apply', '-f', '-'], list(namespaceObjects));
  // A Deployment needs its namespace; cases in a namespace that does not exist have no Deployment to compare.
  const namespaced = cases.pods.filter((c) => c.namespace !== 'unknown-ns');
  const applied = plane.kubectl(['apply', '-f', '-'], list(namespaced.map(deploymentOf)));
  const deployments = new Map((json(['get', 'deployments', '-A'])['items'] as Doc[]).map((d) => [keyOf(d), d]));
  const compared = namespaced.filter((c) => deployments.has(`${c.namespace}/${c.id}`));
  // The API server refuses some templates outright (an istio-proxy both in containers and initContainers).
  const refused = namespaced.filter((c) => !deployments.has(`${c.namespace}/${c.id}`));
  const refusals = applied.stderr.split('\n').filter((line) => line.includes(' is invalid: '));

  let outcome = outcomes();
  await until(`every ReplicaSet made its Pod or reported why not (${compared.length} Deployments)`, () => {
    outcome = outcomes();
    return compared.every((c) => outcome.has(`${c.namespace}/${c.id}`));
  }, 180_000);

  source = await startSource(plane.kubeconfig, pino({ level: 'silent' }), {});
  const state = source.state;
  await until('mtls-guard has listed the Deployments, the Pods and the injector', () => {
    const injection = state.injection?.();
    return source?.ready() === true && compared.every((c) => deploymentFacts(state, c) !== undefined) && (injection?.configurations.length ?? 0) === 3;
  }, 60_000);
  return { namespaced, deployments, compared, refused, refusals, outcome, state };
}

// A rejected top-level await does not run tap's teardowns: a setup that fails stops what it started itself.
const { namespaced, deployments, compared, refused, refusals, outcome, state } = await setUp().catch(async (error: unknown) => {
  await stopAll();
  throw error;
});
const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config);
const context = meshContext(state, policy);

interface Disagreement {
  id: string;
  namespace: string;
  namespaceLabels: Record<string, string> | undefined;
  template: unknown;
  mtlsGuard: { inject: boolean; because: string; revision?: string };
  istiod: { injected: boolean; revision?: string; failure?: string };
}

const found: Disagreement[] = [];
const notInMesh: string[] = [];
let injected = 0;
for (const c of compared) {
  const key = `${c.namespace}/${c.id}`;
  const facts = deploymentFacts(state, c);
  if (!facts) throw new Error(`${key}: not in mtls-guard's state`);
  const intent = injectionIntent(facts, state.namespace(c.namespace), context);
  const { pod, failure } = outcome.get(key) ?? {};
  const real = pod ? injectedBy(pod, deployments.get(key)?.['spec'].template) : {};
  const istiodInjected = real.revision !== undefined;
  if (istiodInjected) injected++;
  const expectedRevision = intent.inject ? servedBy[intent.revision ?? ''] : undefined;
  if (failure !== undefined || intent.inject !== istiodInjected || (istiodInjected && real.revision !== expectedRevision)) {
    const mtlsGuard: Disagreement['mtlsGuard'] = { inject: intent.inject, because: intent.because };
    if (intent.revision !== undefined) mtlsGuard.revision = intent.revision;
    const istiod: Disagreement['istiod'] = { injected: istiodInjected };
    if (real.revision !== undefined) istiod.revision = real.revision;
    if (failure !== undefined) istiod.failure = failure;
    found.push({
      id: c.id,
      namespace: c.namespace,
      namespaceLabels: cases.namespaces.find((n) => n.name === c.namespace)?.labels,
      template: deployments.get(key)?.['spec'].template.metadata,
      mtlsGuard,
      istiod,
    });
  }
  // What istiod wrote must read as a sidecar to mtls-guard (SPEC 1.1), classic or native.
  if (istiodInjected && pod) {
    const podFacts = [...state.workloads(c.namespace)].find((w) => w.kind === 'Pod' && w.name === pod['metadata'].name);
    const judged = podFacts ? membership(podFacts, state.namespace(c.namespace), context) : undefined;
    if (!judged?.inMesh) notInMesh.push(`${c.namespace}/${pod['metadata'].name}`);
  }
}

t.test('every template: mtls-guard intent == istiod injected the pod its ReplicaSet made', async (t) => {
  t.ok(compared.length >= count * 0.7, `${compared.length} of ${count} cases compared`);
  t.ok(injected > 0 && injected < compared.length, `${injected} injected by istiod, ${compared.length - injected} not: both sides are exercised`);
  t.equal(found.length, 0, `${found.length} of ${compared.length} disagree (ISTIOD_SEED=${seed})`, { first: found.slice(0, 5) });
});

t.test('every pod istiod injected is in the mesh by what it carries', async (t) => {
  t.same(notInMesh, [], `${injected} injected pods judged by mtls-guard`);
});

t.test('the only templates left out are those the API server refuses', async (t) => {
  t.equal(refusals.length, refused.length, 'one refusal per missing Deployment');
  t.ok(
    refusals.every((line) => /Duplicate value: "istio-proxy"/.test(line)),
    'each names an istio-proxy both in containers and initContainers',
    { refusals: refusals.slice(0, 5) },
  );
});

t.teardown(() => {
  const calls = istiods.map((istiod) => `${istiod.revision} ${istiod.injectionRequests().length}`).join(', ');
  console.log(
    `# istiod seeded comparison: ${compared.length} templates (ISTIOD_SEED=${seed}), ${injected} injected by istiod, ` +
      `${found.length} disagreements; left out: ${cases.pods.length - namespaced.length} in a namespace that does not exist, ` +
      `${refused.length} refused by the API server; injection webhook calls: ${calls}`,
  );
});
