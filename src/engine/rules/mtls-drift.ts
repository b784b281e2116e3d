/**
 * SPEC 2.2 mtls-drift: warn when a change lets plaintext in — a PERMISSIVE or DISABLE mode or port,
 * a STRICT policy weakened or deleted — and when a policy silently has no effect.
 */
import { clip, type RuleFinding } from '../findings.js';
import {
  composeMode,
  describeScope,
  describeSource,
  effectiveMode,
  parentMode,
  scopeOf,
  shadowingPolicy,
  type PolicyIndex,
  type ResolvedMode,
} from '../peer-authentication.js';
import type { PeerAuthenticationFacts } from '../types.js';

function warning(message: string): RuleFinding {
  const short = clip(message);
  return { rule: 'mtls-drift', severity: 'violation', message: short, warning: short, subjects: [] };
}

/** "namespace x accepts" but "workloads app=y in x accept". */
function accepts(policy: PeerAuthenticationFacts, root: string): string {
  return scopeOf(policy, root) === 'workload' ? 'accept' : 'accepts';
}

function ref(policy: PeerAuthenticationFacts): string {
  return `${policy.namespace}/${policy.name}`;
}

const acceptsPlaintext = (mode: string): boolean => mode === 'PERMISSIVE' || mode === 'DISABLE';

/** CREATE or UPDATE: `after` indexes the state with the new policy, `before` the state with the old one. */
export function driftOnWrite(
  policy: PeerAuthenticationFacts,
  after: PolicyIndex,
  previous?: { policy: PeerAuthenticationFacts; index: PolicyIndex },
): RuleFinding[] {
  const root = after.rootNamespace;
  if (scopeOf(policy, root) === 'ignored') {
    return [warning(`PeerAuthentication ${ref(policy)} has no effect: Istio ignores policies with a selector in the root namespace ${root}; move it to the workloads' namespace`)];
  }
  const shadow = shadowingPolicy(after, policy);
  if (shadow) {
    return [
      warning(
        `PeerAuthentication ${ref(policy)} has no effect: the older ${ref(shadow)} (${shadow.mode}) already governs ${describeScope(policy, root)}; Istio applies only the oldest`,
      ),
    ];
  }
  const findings: RuleFinding[] = [];
  const scope = describeScope(policy, root);
  const now = effectiveMode(after, policy);
  const parent = describeSource(parentMode(after, policy));
  const was = previous ? effectiveMode(previous.index, previous.policy) : undefined;
  if (was?.mode === 'STRICT' && now.mode !== 'STRICT') {
    findings.push(warning(`PeerAuthentication ${ref(policy)} downgrades STRICT to ${now.mode}: ${scope} now ${accepts(policy, root)} plaintext (parent scope: ${parent})`));
  } else if (acceptsPlaintext(policy.mode)) {
    findings.push(warning(`PeerAuthentication ${ref(policy)} sets ${policy.mode}: ${scope} ${accepts(policy, root)} plaintext (parent scope: ${parent})`));
  }
  for (const { port, mode } of policy.portLevel) {
    if (!acceptsPlaintext(mode)) continue;
    findings.push(warning(`PeerAuthentication ${ref(policy)} sets port ${port} to ${mode}: ${scope} accept plaintext on port ${port} (workload mode: ${now.mode})`));
  }
  return findings;
}

/** What the deleted policy's scope falls back to once it is gone. */
function fallback(policy: PeerAuthenticationFacts, after: PolicyIndex): ResolvedMode {
  switch (scopeOf(policy, after.rootNamespace)) {
    case 'mesh':
      return composeMode(after.mesh);
    case 'namespace':
      return composeMode(after.mesh, after.namespaceWide.get(policy.namespace));
    default:
      return parentMode(after, policy);
  }
}

/** DELETE of a policy that made its scope STRICT. */
export function driftOnDelete(policy: PeerAuthenticationFacts, before: PolicyIndex, after: PolicyIndex): RuleFinding[] {
  if (scopeOf(policy, before.rootNamespace) === 'ignored' || shadowingPolicy(before, policy)) return [];
  if (effectiveMode(before, policy).mode !== 'STRICT') return [];
  const next = fallback(policy, after);
  const consequence = next.mode === 'STRICT' ? 'so plaintext stays refused' : `and ${accepts(policy, before.rootNamespace)} plaintext`;
  return [
    warning(
      `Deleting STRICT PeerAuthentication ${ref(policy)}: ${describeScope(policy, before.rootNamespace)} ${accepts(policy, before.rootNamespace) === 'accept' ? 'fall' : 'falls'} back to ${describeSource(next)}, ${consequence}`,
    ),
  ];
}

/** SPEC 1.3: fields PeerAuthentication does not have are dropped by the API server; what is left takes effect. */
export function droppedFieldWarnings(policy: PeerAuthenticationFacts, root: string): RuleFinding[] {
  if (!policy.droppedFields) return [];
  const fields = policy.droppedFields.join(', ');
  return [
    warning(
      `PeerAuthentication ${ref(policy)}: ${fields} is not a PeerAuthentication field and the API server drops it, so the policy applies to ${describeScope(policy, root)}`,
    ),
  ];
}
