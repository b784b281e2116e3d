/** SPEC 2.4: config validation (test/tables/config.yaml), actions and exemptions. */
import t from 'tap';
import { actionFor, exemptNamespaces, parseConfig, type Config } from '../../src/config/config.js';
import { readYaml } from '../support/helpers.js';

interface Row {
  name: string;
  document: unknown;
  config?: Config;
  errors?: string[];
}

for (const row of readYaml<Row[]>('test/tables/config.yaml')) {
  t.test(row.name, async (t) => {
    const result = parseConfig(row.document);
    if (row.errors) {
      t.notOk(result.ok, 'rejected');
      if (!result.ok) t.same([...result.errors].sort(), [...row.errors].sort(), 'names each bad field');
    } else {
      t.ok(result.ok, 'accepted');
      if (result.ok) t.same(result.config, row.config);
    }
  });
}

t.test('enforcement lowers deny, and only deny', async (t) => {
  const cases: [Config['enforcement'], Config['rules']['strict-requires-mesh'], string][] = [
    ['enforce', 'deny', 'deny'],
    ['warn', 'deny', 'warn'],
    ['audit', 'deny', 'audit'],
    ['audit', 'warn', 'warn'],
    ['warn', 'off', 'off'],
    ['warn', 'audit', 'audit'],
  ];
  for (const [enforcement, action, expected] of cases) {
    const parsed = parseConfig({ enforcement, rules: { 'strict-requires-mesh': action } });
    if (!parsed.ok) throw new Error(parsed.errors.join());
    t.equal(actionFor(parsed.config, 'strict-requires-mesh'), expected, `${enforcement} + ${action}`);
  }
});

t.test('exempt namespaces always include the root namespace and our own', async (t) => {
  const parsed = parseConfig({ rootNamespace: 'istio-config', exemptNamespaces: ['monitoring'] });
  if (!parsed.ok) throw new Error(parsed.errors.join());
  t.same([...exemptNamespaces(parsed.config, 'mtls-guard')].sort(), ['istio-config', 'monitoring', 'mtls-guard']);
  t.same([...exemptNamespaces(parsed.config)].sort(), ['istio-config', 'monitoring']);
});
