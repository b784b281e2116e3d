/**
 * SPEC 3.5 / issue 13: the engine's effective mTLS against istiod's own code (`istio-oracle peerauthn`, built
 * from the istio.io/istio module by tools/build-istio-oracle.sh), over seeded random states with one
 * CREATE, UPDATE or DELETE each: top-level and port modes, governing policies, refused input, and the
 * strict-requires-mesh denial with its subjects. 0 disagreements.
 *
 * PA_DIFF_SEED replays a run, PA_DIFF_STATES sets how many states (default 2,000); MTLS_GUARD_ISTIO_ORACLE
 * names the oracle binary (else the build script finds or builds it). A disagreement is shrunk to a minimal
 * state and printed as manifests.
 */
import t from 'tap';
import { describe } from '../support/pa-diff/compare.js';
import { findOracle } from '../support/pa-diff/oracle.js';
import { runDiff, shrink } from '../support/pa-diff/run.js';

const seed = Number(process.env['PA_DIFF_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const count = Number(process.env['PA_DIFF_STATES'] ?? 2000);
t.setTimeout(Math.max(600_000, count * 200));

t.test(`${count} states against istiod (PA_DIFF_SEED=${seed})`, async (t) => {
  const oracle = findOracle();
  const began = Date.now();
  const result = runDiff(oracle, seed, count);
  const seconds = (Date.now() - began) / 1000;
  t.comment(`seed ${seed}: ${result.states} states (${JSON.stringify(result.stats)}) in ${result.oracleCalls} oracle calls, ${seconds.toFixed(1)} s`);
  if (result.disagreements.length > 0) {
    const first = result.disagreements[0]!;
    const minimal = shrink(oracle, first.state);
    t.comment(`${result.disagreements.length} states disagree; the first, shrunk (replay with PA_DIFF_SEED=${seed}):\n${minimal.problems.join('\n')}\n${describe(minimal.state)}`);
  }
  t.equal(result.disagreements.length, 0, `0 disagreements with istiod (PA_DIFF_SEED=${seed})`);
});
