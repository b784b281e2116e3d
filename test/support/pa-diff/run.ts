/**
 * The differential run: generate states, ask the oracle about each before and after its change (many states per
 * call), compare, and shrink any state that disagrees to a minimal one.
 */
import { disagreements, expectedDenial } from './compare.js';
import { generate, policiesAfter, rootMenu, type GenState } from './generate.js';
import { askOracle, type OracleJob } from './oracle.js';

export interface Disagreement {
  state: GenState;
  problems: string[];
}

export interface RunResult {
  states: number;
  oracleCalls: number;
  disagreements: Disagreement[];
  /** How often each kind of change was judged, and how many denials istiod's answers implied. */
  stats: Record<string, number>;
}

const jobsOf = (state: GenState): [OracleJob, OracleJob] => [
  { state, policies: state.policies },
  { state, policies: policiesAfter(state) },
];

export function judge(oracle: string, states: readonly GenState[]): { problems: string[][]; calls: number; denied: number; refused: number } {
  const jobs = states.flatMap(jobsOf);
  let calls = 0;
  const views = askOracle(oracle, jobs, 1000, () => (calls += 1));
  let denied = 0;
  let refused = 0;
  const problems = states.map((state, i) => {
    const expected = expectedDenial(state, views[2 * i]!, views[2 * i + 1]!);
    if (expected === 'refused') refused += 1;
    else if (expected.length > 0) denied += 1;
    return disagreements(state, views[2 * i]!, views[2 * i + 1]!);
  });
  return { problems, calls, denied, refused };
}

export function runDiff(oracle: string, seed: number, count: number): RunResult {
  const menu = rootMenu(seed);
  const states = Array.from({ length: count }, (_, i) => generate(seed, i, menu));
  const { problems, calls, denied, refused } = judge(oracle, states);
  const stats: Record<string, number> = { denied, refused };
  for (const state of states) stats[state.op.operation] = (stats[state.op.operation] ?? 0) + 1;
  const found: Disagreement[] = [];
  problems.forEach((list, i) => {
    if (list.length > 0) found.push({ state: states[i] as GenState, problems: list });
  });
  return { states: count, oracleCalls: calls, disagreements: found, stats };
}

/** Smaller variants of a state: one policy, workload, label, port, selector label or port setting less. */
function* smaller(state: GenState): Generator<GenState> {
  const clone = (): GenState => structuredClone(state);
  const target = state.op.object ?? state.op.oldObject;
  for (let i = 0; i < state.policies.length; i++) {
    const p = state.policies[i];
    if (p && target && p.namespace === target.namespace && p.name === target.name) continue;
    const next = clone();
    next.policies.splice(i, 1);
    yield next;
  }
  for (let i = 0; i < state.workloads.length; i++) {
    const next = clone();
    next.workloads.splice(i, 1);
    if (next.workloads.length > 0) yield next;
  }
  for (let i = 0; i < state.workloads.length; i++) {
    const workload = state.workloads[i];
    for (const key of Object.keys(workload?.labels ?? {})) {
      const next = clone();
      delete next.workloads[i]?.labels[key];
      yield next;
    }
    for (let k = 0; k < (workload?.ports.length ?? 0); k++) {
      const next = clone();
      next.workloads[i]?.ports.splice(k, 1);
      yield next;
    }
    if (workload?.nodeName) {
      const next = clone();
      delete next.workloads[i]?.nodeName;
      yield next;
    }
  }
  const isTarget = (p: { namespace: string; name: string }): boolean => target !== undefined && p.namespace === target.namespace && p.name === target.name;
  const specs = (s: GenState): Record<string, unknown>[] => [...s.policies.filter((p) => !isTarget(p)), ...(s.op.object ? [s.op.object] : [])].map((p) => p.spec);
  const all = specs(state);
  for (let i = 0; i < all.length; i++) {
    const spec = all[i] as Record<string, unknown>;
    for (const field of ['portLevelMtls', 'selector'] as const) {
      const map = field === 'selector' ? (spec['selector'] as { matchLabels?: Record<string, unknown> } | undefined)?.matchLabels : (spec[field] as Record<string, unknown> | undefined);
      if (Object.keys(map ?? {}).length < 2) continue;
      for (const key of Object.keys(map ?? {})) {
        const next = clone();
        const nextSpec = specs(next)[i] as Record<string, unknown>;
        const nextMap = field === 'selector' ? (nextSpec['selector'] as { matchLabels: Record<string, unknown> }).matchLabels : (nextSpec[field] as Record<string, unknown>);
        delete nextMap[key];
        yield next;
      }
    }
  }
}

/** Greedily the smallest state that still disagrees with istiod (one oracle call per candidate). */
export function shrink(oracle: string, state: GenState): Disagreement {
  let current = state;
  let problems = judge(oracle, [state]).problems[0] ?? [];
  for (let progress = true; progress; ) {
    progress = false;
    for (const candidate of smaller(current)) {
      const found = judge(oracle, [candidate]).problems[0] ?? [];
      if (found.length > 0) {
        current = candidate;
        problems = found;
        progress = true;
        break;
      }
    }
  }
  return { state: current, problems };
}
