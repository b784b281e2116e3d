/** SPEC 2.3 pod-requires-mesh: a Pod, or a controller's pod template, must end up in the mesh. */
import { fitted, type RuleFinding } from '../findings.js';
import { shortFix, workloadFix } from '../fixes.js';
import { membership, type MeshContext } from '../mesh.js';
import type { NamespaceFacts, WorkloadFacts } from '../types.js';

export function podRequiresMesh(
  workload: WorkloadFacts,
  namespace: NamespaceFacts | undefined,
  context?: MeshContext,
): RuleFinding | undefined {
  if (workload.finished) return undefined;
  const verdict = membership(workload, namespace, context);
  if (verdict.inMesh) return undefined;
  const what = `${workload.kind} ${workload.namespace}/${workload.name}`;
  const subjects = [{ kind: workload.kind, namespace: workload.namespace, name: workload.name }];
  if (verdict.cause === 'host-network') {
    const message = `${what} uses hostNetwork: Istio never injects or captures it, so it runs outside the mesh`;
    return { rule: 'pod-requires-mesh', severity: 'advisory', message, warning: fitted([message]), subjects };
  }
  const runs = workload.kind === 'Pod' ? 'would run' : 'would create pods that run';
  const problem = `${what} ${runs} outside the Istio mesh: ${verdict.because}.`;
  const fix = workloadFix(workload, verdict);
  return {
    rule: 'pod-requires-mesh',
    severity: 'violation',
    message: `${problem} Fix: ${fix}`,
    warning: fitted([problem, ` Fix: ${shortFix(fix)}`]),
    subjects,
  };
}
