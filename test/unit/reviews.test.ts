/** Reviews `check` cannot express (UPDATE, DELETE, Pod CREATE after injection, bad objects), from test/tables/reviews.yaml. */
import t from 'tap';
import { buildState } from '../../src/state/build-state.js';
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js';
import { policyFor } from '../../src/config/config.js';
import { evaluate } from '../../src/engine/evaluate.js';
import type { Operation } from '../../src/engine/types.js';
import type { Judgement } from '../../src/engine/types.js';
import { readYaml } from '../support/helpers.js';

interface Row {
  name: string;
  ownNamespace?: string;
  state: Record<string, unknown>[];
  review: { operation: Operation; object?: unknown; oldObject?: unknown; podJudgement?: Judgement; namespace?: string };
  findings?: { rule: string; action: string; subjects?: string[]; message?: string }[];
  error?: string;
}

/** The cluster state, built exactly as `check` builds it from manifests. */
function stateOf(row: Row) {
  const items = row.state.map((object, i) => ({ object, source: { file: row.name, line: i + 1 } }));
  return buildState(items, 'default').state;
}

for (const row of readYaml<Row[]>('test/tables/reviews.yaml')) {
  t.test(row.name, async (t) => {
    const policy = policyFor(structuredClone(DEFAULT_CONFIG) as Config, row.ownNamespace);
    const result = evaluate(
      {
        operation: row.review.operation,
        object: row.review.object,
        oldObject: row.review.oldObject,
        namespace: row.review.namespace ?? 'default',
        podJudgement: row.review.podJudgement ?? 'intent',
      },
      stateOf(row),
      policy,
    );
    if (row.error !== undefined) {
      t.notOk(result.ok, 'is an error');
      if (!result.ok) t.match(result.error, row.error);
      return;
    }
    if (!result.ok) return t.fail(result.error);
    const expected = row.findings ?? [];
    t.equal(result.findings.length, expected.length, 'number of findings', { findings: result.findings });
    expected.forEach((want, i) => {
      const got = result.findings[i];
      t.equal(got?.rule, want.rule, 'rule');
      t.equal(got?.action, want.action, 'action');
      if (want.subjects) t.same(got?.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`), want.subjects, 'subjects');
      if (want.message) t.ok(got?.message.includes(want.message), 'message', { got: got?.message, want: want.message });
      if (got?.action === 'warn') t.ok(got.message.length < 256, 'warning under 256 characters');
    });
  });
}
