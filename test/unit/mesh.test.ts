/** SPEC 1.1 / 1.2 corners, table-driven from test/tables/mesh.yaml. */
import t from 'tap';
import { mayBeOutsideMesh, meshContext, membership } from '../../src/engine/mesh.js';
import type { Judgement, NamespaceFacts, WorkloadFacts } from '../../src/engine/types.js';
import { decodeWorkload } from '../../src/engine/decode.js';
import { DEFAULT_CONFIG, parseConfig, policyFor, type Config } from '../../src/config/config.js';
import { buildState } from '../../src/state/build-state.js';
import { namespaceFix, workloadFix } from '../../src/engine/fixes.js';
import { podRequiresMesh } from '../../src/engine/rules/pod-requires-mesh.js';
import { readYaml } from '../support/helpers.js';
import { istioInstall, type InstallSpec } from '../support/istio-install.js';

interface Row {
  name: string;
  ns?: string;
  namespace?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  containers?: (string | { name: string; image?: string })[];
  initContainers?: { name: string; restartPolicy?: string; image?: string }[];
  /** Istio installs in the state (the chart's objects); absent: none, so the default install is assumed. */
  installed?: InstallSpec[];
  /** Other objects in the state (e.g. a hand-written MutatingWebhookConfiguration). */
  objects?: Record<string, unknown>[];
  /** Config fields (istioVersion, proxyImages). */
  config?: Record<string, unknown>;
  judgedBy: Judgement;
  inMesh: boolean;
  cause?: string;
  because?: string;
}

function pod(row: Row, ns: string): WorkloadFacts {
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: ns, labels: row.labels ?? {}, annotations: row.annotations ?? {} },
    spec: {
      hostNetwork: row.hostNetwork ?? false,
      containers: (row.containers ?? ['app']).map((c) => (typeof c === 'string' ? { name: c, image: 'example' } : c)),
      initContainers: row.initContainers ?? [],
    },
  };
  const decoded = decodeWorkload(manifest, { apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns }, row.judgedBy);
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}

for (const row of readYaml<Row[]>('test/tables/mesh.yaml')) {
  t.test(row.name, async (t) => {
    const ns = row.ns ?? 'apps';
    const namespace: NamespaceFacts | undefined = row.namespace ? { name: ns, labels: row.namespace } : undefined;
    const parsed = parseConfig({ ...row.config });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const objects = [...(row.installed ?? []).flatMap((spec) => istioInstall(spec)), ...(row.objects ?? [])];
    const { state } = buildState(objects.map((object, i) => ({ object, source: { file: row.name, line: i + 1 } })), 'default');
    const context = meshContext(state, policyFor(parsed.config ?? (structuredClone(DEFAULT_CONFIG) as Config)));
    const verdict = membership(pod(row, ns), namespace, context);
    t.equal(verdict.inMesh, row.inMesh, `inMesh (${verdict.because})`);
    t.equal(verdict.cause, row.cause, 'cause');
    if (row.because) t.match(verdict.because, row.because);
    t.ok(verdict.because.length > 0, 'explains itself');
    if (!verdict.inMesh && verdict.cause !== 'host-network') {
      const workload = pod(row, ns);
      const fix = workloadFix(workload, verdict);
      t.ok(fix.length > 0 && !fix.includes('undefined'), `a fix for ${verdict.cause}: ${fix}`);
      const steps = namespaceFix(ns, [{ workload, membership: verdict }]);
      t.ok(steps.length > 0 && steps.every((step) => !step.includes('undefined')), `namespace fix steps: ${steps.join('; ')}`);
      const finding = podRequiresMesh(workload, namespace, context);
      t.ok(finding?.message.includes(verdict.because), 'the finding names what decided');
      t.ok((finding?.warning.length ?? 0) < 256, 'its warning fits');
    }
    const workload = pod(row, ns);
    // The candidate index does not apply proxyImages (it is built without the config): see mayBeOutsideMesh.
    if (!mayBeOutsideMesh(workload) && row.config?.['proxyImages'] === undefined) {
      t.ok(verdict.inMesh || workload.hostNetwork || workload.finished, 'the candidate index never drops a pod that is outside the mesh');
    }
  });
}
