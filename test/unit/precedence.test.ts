/** SPEC 1.3 corners, table-driven from test/tables/precedence.yaml. */
import t from 'tap';
import { decodePeerAuthentication } from '../../src/engine/decode.js';
import {
  applicablePolicies,
  asEnforcedBy,
  governs,
  indexPolicies,
  portMode,
  scopeOf,
  workloadMode,
} from '../../src/engine/peer-authentication.js';
import type { PeerAuthenticationFacts } from '../../src/engine/types.js';
import { readYaml } from '../support/helpers.js';

interface PolicyRow {
  ns: string;
  name: string;
  created?: string;
  selector?: Record<string, string>;
  mode?: string;
  ports?: Record<string, string>;
  /** Write `selector: {}` (a selector field with no labels). */
  emptySelector?: boolean;
}

interface Row {
  name: string;
  policies: PolicyRow[];
  pod: { ns: string; labels: Record<string, string> };
  /** Who enforces the pod's mode: istiod's sidecar config (default) or ztunnel (ambient). */
  dataplane?: 'sidecar' | 'ambient';
  mode: string;
  source: string | null;
  ports?: Record<string, string>;
  governs: string[];
}

/** The PeerAuthentication manifest a user would write for a compact row. */
function manifest(row: PolicyRow): unknown {
  const spec: Record<string, unknown> = {};
  if (row.selector) spec['selector'] = { matchLabels: row.selector };
  if (row.emptySelector) spec['selector'] = {};
  if (row.mode) spec['mtls'] = { mode: row.mode };
  if (row.ports) spec['portLevelMtls'] = Object.fromEntries(Object.entries(row.ports).map(([p, mode]) => [p, { mode }]));
  const metadata: Record<string, unknown> = { name: row.name, namespace: row.ns };
  if (row.created) metadata['creationTimestamp'] = row.created;
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata, spec };
}

function decode(row: PolicyRow): PeerAuthenticationFacts {
  const decoded = decodePeerAuthentication(manifest(row), {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    name: row.name,
    namespace: row.ns,
  });
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}

for (const row of readYaml<Row[]>('test/tables/precedence.yaml')) {
  t.test(row.name, async (t) => {
    const policies = row.policies.map(decode);
    // Istio's answer must not depend on the order policies arrive in.
    for (const ordered of [policies, [...policies].reverse()]) {
      const index = indexPolicies(ordered, 'istio-system');
      const dataplane = row.dataplane ?? 'sidecar';
      const applicable = applicablePolicies(index, { namespace: row.pod.ns, labels: row.pod.labels }, dataplane);
      const resolved = asEnforcedBy(workloadMode(applicable), dataplane);
      t.equal(resolved.mode, row.mode, 'mode');
      t.equal(resolved.source ? `${resolved.source.namespace}/${resolved.source.name}` : null, row.source, 'source');
      for (const [port, mode] of Object.entries(row.ports ?? {})) {
        t.equal(asEnforcedBy(portMode(applicable, Number(port)), dataplane).mode, mode, `port ${port}`);
      }
      const governing = ordered
        .filter((p) => governs(p, applicable, scopeOf(p, 'istio-system')))
        .map((p) => `${p.namespace}/${p.name}`)
        .sort();
      t.same(governing, [...row.governs].sort(), 'governs');
    }
  });
}
