/**
 * The parse worker's cut of large label and annotation maps (src/server/unread-maps.ts): what it keeps, and that
 * it never changes a verdict. Every review of test/tables/reviews.yaml is padded with labels and annotations
 * nobody reads, then judged whole and cut: the findings (or the error) must be the same.
 */
import t from 'tap';
import { DEFAULT_CONFIG, policyFor, type Config } from '../../src/config/config.js';
import { evaluate, type Review } from '../../src/engine/evaluate.js';
import type { Operation, Judgement } from '../../src/engine/types.js';
import { CUT_ABOVE_KEYS, CUT_KEYS_ENTRY, cutUnreadMaps } from '../../src/server/unread-maps.js';
import { buildState } from '../../src/state/build-state.js';
import { readYaml } from '../support/helpers.js';

type Obj = Record<string, unknown>;
const many = (count: number, value = 'v', prefix = 'noise-'): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, value]));

t.test('what the cut keeps', async (t) => {
  const keys = new Set(['app', 'istio.io/rev']);
  const small = { metadata: { labels: { ...many(CUT_ABOVE_KEYS - 1), app: 'web' } } };
  t.equal(cutUnreadMaps(small, keys), 0, `a map of ${CUT_ABOVE_KEYS} keys is left whole`);
  t.equal(Object.keys(small.metadata.labels).length, CUT_ABOVE_KEYS);

  const pod: Obj = {
    metadata: {
      labels: { app: 'web', ...many(1000), 'istio.io/rev': 'canary' },
      annotations: { ...many(100), 'sidecar.istio.io/status': '{}', 'sidecar.istio.io/inject': 'true' },
      managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:metadata': { 'f:labels': many(1000, '{}', 'f:noise-') } } }],
    },
  };
  t.equal(cutUnreadMaps(pod, keys), 2, 'labels and annotations are cut');
  const metadata = pod['metadata'] as Obj;
  t.same(Object.keys(metadata['labels'] as Obj), ['app', 'istio.io/rev', CUT_KEYS_ENTRY], 'the keys read, in their order, and the entry for the rest');
  t.match((metadata['labels'] as Obj)[CUT_KEYS_ENTRY], /^1002 keys, sha256 \S{44}$/);
  t.same(Object.keys(metadata['annotations'] as Obj), ['sidecar.istio.io/status', 'sidecar.istio.io/inject', CUT_KEYS_ENTRY]);
  t.notOk('managedFields' in metadata, 'managedFields is dropped');

  const template = { spec: { template: { metadata: { labels: many(100) } } }, oldObject: [{ metadata: { labels: many(100) } }] };
  t.equal(cutUnreadMaps(template, keys), 2, 'pod templates and objects in lists are cut too');

  const wrong = { metadata: { labels: { ...many(100), bad: 7 } } };
  t.equal(cutUnreadMaps(wrong, keys), 0, 'a map holding a non-string is left whole, for the decoder to name');

  const cutOf = (labels: Record<string, string>) => {
    const object = { metadata: { labels } };
    cutUnreadMaps(object, keys);
    return JSON.stringify(object);
  };
  t.equal(cutOf(many(100)), cutOf(many(100)), 'equal maps are equal after the cut');
  t.not(cutOf(many(100)), cutOf(many(100, 'w')), 'maps that differ only in keys nobody reads still differ');
  t.not(cutOf({ a: 'v', ...many(100) }), cutOf({ ...many(100), a: 'v' }), 'and so do maps that differ only in order');
});

interface Row {
  name: string;
  ownNamespace?: string;
  state: Obj[];
  review: { operation: Operation; object?: unknown; oldObject?: unknown; podJudgement?: Judgement; namespace?: string };
}

/** Every label and annotation map of `value`, and every metadata without one, padded with `noise` keys. */
function padded(value: unknown, noise: Record<string, string>): unknown {
  const copy = structuredClone(value);
  const stack: unknown[] = [copy];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    const metadata = (node as Obj)['metadata'];
    if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) {
      const m = metadata as Obj;
      for (const field of ['labels', 'annotations']) {
        const map = m[field];
        if (map === undefined || (typeof map === 'object' && map !== null && !Array.isArray(map))) m[field] = { ...(map as Obj | undefined), ...noise };
      }
    }
    stack.push(...Object.values(node as Obj));
  }
  return copy;
}

const rows = readYaml<Row[]>('test/tables/reviews.yaml');
t.test(`the cut never changes a verdict (${rows.length} reviews, padded)`, async (t) => {
  let cutMaps = 0;
  for (const row of rows) {
    const state = buildState(row.state.map((object, i) => ({ object, source: { file: row.name, line: i + 1 } })), 'default').state;
    const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config, row.ownNamespace);
    // The same noise on both sides, and different noise on each (an UPDATE that changes only unread labels).
    for (const [oldNoise, newNoise] of [[many(200), many(200)], [many(200, 'before'), many(200, 'after')]] as const) {
      const review: Review = {
        operation: row.review.operation,
        object: padded(row.review.object, newNoise),
        oldObject: padded(row.review.oldObject, oldNoise),
        namespace: row.review.namespace ?? 'default',
        podJudgement: row.review.podJudgement ?? 'intent',
      };
      const whole = evaluate(review, state, policy);
      const cut = structuredClone(review);
      cutMaps += cutUnreadMaps(cut.object, state.labelKeysRead()) + cutUnreadMaps(cut.oldObject, state.labelKeysRead());
      t.same(evaluate(cut, state, policy), whole, row.name);
    }
  }
  t.ok(cutMaps > rows.length, `maps were cut (${cutMaps})`);
});
