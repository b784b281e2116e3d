/**
 * check's list of input objects (one JUnit test case each, issue 21): judged objects, objects read only as
 * cluster state, and objects skipped with the reason. Which is which comes from what buildState read, not the kind.
 */
import t from 'tap';
import { check } from '../../src/check/check.js';
import { policyFor, DEFAULT_CONFIG } from '../../src/config/config.js';
import { parseManifests } from '../../src/manifests/load.js';

const policy = policyFor(structuredClone(DEFAULT_CONFIG) as typeof DEFAULT_CONFIG & { exemptNamespaces: string[] });

const input = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Node
metadata: { name: node-1 }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: app-settings, namespace: shop }
data: { colour: blue }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ port: 80 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: app, image: app }] }
`;

t.test('every input object is listed once, in input order, saying how it was read', async (t) => {
  const { checked, summary } = check(parseManifests(input, 'in.yaml'), policy, 'default');
  t.equal(checked.length, summary.objects);
  const described = checked.map((c) => `${c.object.kind} ${c.object.name}: ${c.stateOnly ? 'state' : (c.skipped ?? 'judged')}`);
  t.same(described, [
    'Namespace shop: state',
    'Node node-1: state',
    "ConfigMap app-settings: not Istio's sidecar injector configuration: mtls-guard does not read this ConfigMap",
    'Service web: kind Service is not checked by mtls-guard',
    'Deployment web: judged',
  ]);
  t.same(checked.map((c) => c.source), ['in.yaml:1', 'in.yaml:5', 'in.yaml:9', 'in.yaml:14', 'in.yaml:19']);
});
