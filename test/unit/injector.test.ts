/** Label selectors as apimachinery matches them, and the injector objects' decoding (from test/tables/selectors.yaml). */
import t from 'tap';
import { decodeInjectorConfig, decodeInjectorWebhooks } from '../../src/engine/decode-injector.js';
import { describeSelector, matchesSelector, selectorError, type LabelSelector } from '../../src/engine/label-selector.js';
import { readYaml } from '../support/helpers.js';

interface SelectorRow {
  name: string;
  selector?: LabelSelector;
  labels: Record<string, string>;
  matches: boolean;
  error?: string;
  describes?: string;
}

interface DecodeRow {
  name: string;
  object: unknown;
  /** The decoded facts, null when the object is not one of Istio's injector objects. */
  decoded?: unknown;
  error?: string;
}

const tables = readYaml<{ selectors: SelectorRow[]; webhooks: DecodeRow[]; configs: DecodeRow[] }>('test/tables/selectors.yaml');

for (const row of tables.selectors) {
  t.test(`selector: ${row.name}`, async (t) => {
    t.equal(matchesSelector(row.selector, row.labels), row.matches, 'matches');
    if (row.error !== undefined) t.match(selectorError(row.selector ?? {}), row.error, 'invalid');
    else if (row.selector) t.equal(selectorError(row.selector), undefined, 'valid');
    if (row.describes !== undefined) t.equal(describeSelector(row.selector), row.describes, 'described');
  });
}

for (const [group, decode] of [['webhooks', decodeInjectorWebhooks], ['configs', decodeInjectorConfig]] as const) {
  for (const row of tables[group]) {
    t.test(`${group}: ${row.name}`, async (t) => {
      const result = decode(row.object);
      if (row.error !== undefined) {
        t.notOk(result.ok, 'refused');
        if (!result.ok) t.match(result.error, row.error);
        return;
      }
      if (!result.ok) return t.fail(result.error);
      t.same(result.value ?? null, row.decoded ?? null);
    });
  }
}
