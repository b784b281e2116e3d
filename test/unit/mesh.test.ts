/** SPEC 1.1 / 1.2 corners, table-driven from test/tables/mesh.yaml. */
import t from 'tap';
import { mayBeOutsideMesh, membership } from '../../src/engine/mesh.js';
import type { Judgement, NamespaceFacts, WorkloadFacts } from '../../src/engine/types.js';
import { decodeWorkload } from '../../src/engine/decode.js';
import { readYaml } from '../support/helpers.js';

interface Row {
  name: string;
  ns?: string;
  namespace?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  containers?: string[];
  initContainers?: { name: string; restartPolicy?: string }[];
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
      containers: (row.containers ?? ['app']).map((name) => ({ name, image: 'example' })),
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
    const verdict = membership(pod(row, ns), namespace);
    t.equal(verdict.inMesh, row.inMesh, `inMesh (${verdict.because})`);
    t.equal(verdict.cause, row.cause, 'cause');
    if (row.because) t.match(verdict.because, row.because);
    t.ok(verdict.because.length > 0, 'explains itself');
    const workload = pod(row, ns);
    if (!mayBeOutsideMesh(workload)) {
      t.ok(verdict.inMesh || workload.hostNetwork || workload.finished, 'the candidate index never drops a pod that is outside the mesh');
    }
  });
}
