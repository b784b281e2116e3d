/**
 * The worker that parses large bodies cuts their label maps to the keys the engine reads at hand-off; a body
 * parsed while those keys grew (the injector came to select on a new label) is parsed again with the new keys.
 */
import t from 'tap';
import { LargeBodyParser } from '../../src/server/json-body.js';
import { CUT_KEYS_ENTRY } from '../../src/server/unread-maps.js';

const labels: Record<string, string> = { team: 'mesh' };
for (let i = 0; i < 1000; i++) labels[`noise-${i}`] = 'v';
const review = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'u-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    operation: 'CREATE',
    namespace: 'shop',
    userInfo: { username: 'test' },
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', labels }, spec: { containers: [{ name: 'web', image: 'web' }] } },
  },
};
const body = (): ArrayBuffer => {
  const bytes = Buffer.from(JSON.stringify(review));
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
};
const labelsOf = (value: unknown): string[] =>
  Object.keys((value as { request: { object: { metadata: { labels: Record<string, string> } } } }).request.object.metadata.labels);

t.test('labels are cut to the keys read at hand-off', async (t) => {
  const parser = new LargeBodyParser(() => new Set(['team']));
  t.teardown(() => parser.close());
  t.same(labelsOf(await parser.parse('127.0.0.1', body())), ['team', CUT_KEYS_ENTRY]);
});

t.test('keys that grew meanwhile: the body is parsed again, and keeps the new key', async (t) => {
  const before: ReadonlySet<string> = new Set(['app']);
  const after: ReadonlySet<string> = new Set(['app', 'team']);
  let asked = 0;
  const parser = new LargeBodyParser(() => (++asked === 1 ? before : after));
  t.teardown(() => parser.close());
  t.same(labelsOf(await parser.parse('127.0.0.1', body())), ['team', CUT_KEYS_ENTRY]);
  t.equal(asked, 4, 'asked at each hand-off and each answer: two parses');
});

t.test('keys that only shrank: no second parse', async (t) => {
  const keys = [new Set(['app', 'team']), new Set(['app'])];
  let asked = 0;
  const parser = new LargeBodyParser(() => keys[Math.min(asked++, 1)] as ReadonlySet<string>);
  t.teardown(() => parser.close());
  t.same(labelsOf(await parser.parse('127.0.0.1', body())), ['team', CUT_KEYS_ENTRY], 'what was kept is a superset of what is read now');
  t.equal(asked, 2);
});
