/**
 * MemoryState holds one copy of equal label sets and owners (issue 21's memory cut), counted: a set nobody holds
 * any more is forgotten, so churn (a rollout gives every pod a new pod-template-hash) does not grow the table.
 */
import t from 'tap';
import type { WorkloadFacts } from '../../src/engine/types.js';
import { hashLabels, sameLabels } from '../../src/state/interner.js';
import { MemoryState } from '../../src/state/memory-state.js';
import type { StoredWorkload } from '../../src/state/stored-workload.js';

const pod = (name: string, labels: Record<string, string>, owner = 'web-1'): WorkloadFacts => ({
  apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name, labels: { ...labels }, sidecarStatus: true, hostNetwork: false, finished: false,
  judgedBy: 'carries', owner: { kind: 'ReplicaSet', name: owner },
});

t.test('equal labels and owners are shared, whatever the key order', async (t) => {
  const state = new MemoryState();
  state.upsertWorkload(pod('a', { app: 'web', hash: '1' }));
  state.upsertWorkload(pod('b', { hash: '1', app: 'web' }));
  const a = state.workload('shop', 'Pod', 'a');
  const b = state.workload('shop', 'Pod', 'b');
  t.equal(a?.labels, b?.labels, 'one labels object');
  t.equal(a?.owner, b?.owner, 'one owner object');
  t.same(state.shared, { labelSets: 1, owners: 1 });
  t.same(b?.labels, { app: 'web', hash: '1' }, 'the values are unchanged');
});

t.test('a set nobody holds is forgotten: updates and deletes release what they replace', async (t) => {
  const state = new MemoryState();
  for (let i = 0; i < 10; i++) state.upsertWorkload(pod(`p-${i}`, { app: 'web', hash: '1' }));
  // A rollout: every pod replaced by one of the new template, owned by the new ReplicaSet.
  for (let i = 0; i < 10; i++) {
    state.deleteWorkload('shop', 'Pod', `p-${i}`);
    state.upsertWorkload(pod(`q-${i}`, { app: 'web', hash: '2' }, 'web-2'));
  }
  t.same(state.shared, { labelSets: 1, owners: 1 }, 'only the new template is held');
  state.upsertWorkload(pod('q-0', { app: 'web', hash: '3' }, 'web-3'));
  t.same(state.shared, { labelSets: 2, owners: 2 }, 'an update holds its new set');
  state.upsertWorkload(pod('q-0', { app: 'web', hash: '2' }, 'web-2'));
  t.same(state.shared, { labelSets: 1, owners: 1 }, '...and releases the one it replaced');
  for (let i = 0; i < 10; i++) state.deleteWorkload('shop', 'Pod', `q-${i}`);
  t.same(state.shared, { labelSets: 0, owners: 0 }, 'nothing is held once every workload is gone');
  state.upsertWorkload(pod('same', { app: 'x' }));
  const same = state.workload('shop', 'Pod', 'same') as WorkloadFacts;
  state.upsertWorkload(same);
  t.same(state.shared, { labelSets: 1, owners: 1 }, 'upserting the stored object again holds it once');
});

t.test('the label hash ignores key order and tells values apart', async (t) => {
  t.equal(hashLabels({ a: '1', b: '2' }), hashLabels({ b: '2', a: '1' }));
  t.not(hashLabels({ a: '1', b: '2' }), hashLabels({ a: '2', b: '1' }));
  t.ok(sameLabels({ a: '1' }, { a: '1' }));
  t.notOk(sameLabels({ a: '1' }, { b: '1' }));
  t.notOk(sameLabels({ a: undefined as unknown as string }, { b: '1' }), 'a missing key is not an undefined value');
});

t.test('a stored workload reads back every field it was given', async (t) => {
  const proxies = [undefined, 'container', 'native-sidecar', 'init-container'] as const;
  let compared = 0;
  for (const proxy of proxies) {
    for (let bits = 0; bits < 64; bits++) {
      const facts: WorkloadFacts = {
        apiVersion: bits & 1 ? 'apps/v1' : 'v1', kind: bits & 1 ? 'Deployment' : 'Pod', namespace: 'shop', name: `w-${bits}`, labels: { app: 'w' },
        sidecarStatus: (bits & 2) !== 0, hostNetwork: (bits & 4) !== 0, finished: (bits & 8) !== 0, judgedBy: bits & 16 ? 'carries' : 'intent',
      };
      if (proxy) {
        facts.proxy = proxy;
        facts.proxyInStatus = (bits & 32) !== 0;
        facts.proxyImage = 'istio/proxyv2:1.24.0';
      }
      if (bits & 32) Object.assign(facts, { nameGenerated: true, nodeName: 'node-1', owner: { kind: 'ReplicaSet', name: 'w-1' }, injectAnnotation: 'true' });
      const state = new MemoryState();
      state.upsertWorkload(facts);
      const stored = state.workload('shop', facts.kind, facts.name) as StoredWorkload;
      t.same(stored.toJSON(), facts, `${proxy ?? 'no proxy'} ${bits}`, { diagnostic: false });
      for (const key of Object.keys(facts) as (keyof WorkloadFacts)[]) if (stored[key] !== facts[key] && key !== 'labels' && key !== 'owner') t.fail(`${key} reads back`);
      compared++;
    }
  }
  t.equal(compared, 256);
});

t.test('a spread of a stored workload (its getters dropped) is refused loudly, not stored without a kind', async (t) => {
  const state = new MemoryState();
  state.upsertWorkload(pod('a', { app: 'web' }));
  const stored = state.workload('shop', 'Pod', 'a') as WorkloadFacts;
  t.throws(() => state.upsertWorkload({ ...stored }), /toJSON/);
  state.upsertWorkload({ ...(stored as StoredWorkload).toJSON(), labels: { app: 'db' } });
  t.same(state.workload('shop', 'Pod', 'a')?.labels, { app: 'db' });
});
