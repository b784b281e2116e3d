/**
 * Rule `namespace-unknown` (check only): an object in a namespace that neither the input nor the live cluster
 * defines cannot be judged on that namespace's labels. Such an object gets a `namespace-unknown` finding naming
 * the namespace and how to supply it, and no finding that holds only for some labels the namespace might have
 * is reported: a finding is kept only when it also holds with the unknown namespaces labelled for sidecar
 * injection and with them enrolled in ambient mode.
 */
import { decodeNamespace } from '../engine/decode.js';
import { clip, type Finding } from '../engine/findings.js';
import { DATAPLANE_MODE, INJECTION_LABEL } from '../engine/istio-labels.js';
import type { Action, Labels, ObjectRef, Policy, SubjectRef } from '../engine/types.js';
import type { Entry } from '../state/build-state.js';
import type { MemoryState } from '../state/memory-state.js';

export const NAMESPACE_UNKNOWN = 'namespace-unknown';

/** The namespace labels under which a finding must still hold to be reported. */
const HYPOTHESES: readonly Labels[] = [{ [INJECTION_LABEL]: 'enabled' }, { [DATAPLANE_MODE]: 'ambient' }];

export interface CheckFinding extends Omit<Finding, 'rule'> {
  rule: Finding['rule'] | typeof NAMESPACE_UNKNOWN;
}

export interface Resolution {
  state: MemoryState;
  /** Every entry of the state (files and live cluster). */
  entries: readonly Entry[];
  /** The checked entries and their findings with the unknown namespaces absent. */
  checked: ReadonlyMap<Entry, Finding[]>;
  findingsOf: (entry: Entry) => Finding[];
  policy: Policy;
  action: Action;
  /** Source label of the live cluster, when there is one. */
  cluster?: string;
}

const sameVerdict = (a: Finding, b: Finding): boolean =>
  a.rule === b.rule &&
  a.action === b.action &&
  a.object.kind === b.object.kind &&
  a.object.namespace === b.object.namespace &&
  a.object.name === b.object.name;

/** Namespaces objects are in that no Namespace in the state defines (exempt ones are never judged). */
function unknownNamespaces(state: MemoryState, entries: readonly Entry[], policy: Policy): string[] {
  const unknown = new Set<string>();
  for (const { identity } of entries) {
    const ns = identity.namespace;
    if (ns && !policy.exempt.has(ns) && !state.namespace(ns)) unknown.add(ns);
  }
  return [...unknown].sort();
}

function supplyHint(namespaces: readonly string[], cluster: string | undefined): string {
  const list = namespaces.join(', ');
  const one = namespaces.length === 1;
  if (cluster) {
    return `Supply ${one ? 'it' : 'them'}: create ${one ? 'it' : 'them'} in ${cluster}, or add ${one ? 'a Namespace manifest' : 'Namespace manifests'} for ${list} to the input`;
  }
  return `Supply ${one ? 'it' : 'them'}: run check with --kubeconfig to read ${one ? 'it' : 'them'} from the cluster, or add ${one ? 'a Namespace manifest' : 'Namespace manifests'} for ${list} to the input`;
}

function unknownFinding(object: ObjectRef, namespaces: readonly string[], own: boolean, action: Action, subjects: SubjectRef[], cluster: string | undefined): CheckFinding {
  const where = cluster ? `neither in the input nor in ${cluster}` : 'not defined in the input';
  const list = namespaces.join(', ');
  const problem = own
    ? `namespace ${list} is ${where}: its labels, which decide mesh injection, are unknown, so nothing was judged on them.`
    : `this verdict depends on namespace${namespaces.length === 1 ? '' : 's'} ${list}, ${where}: their labels are unknown, so nothing was judged on them.`;
  return {
    rule: NAMESPACE_UNKNOWN,
    action: action as Finding['action'],
    object,
    message: clip(`${problem} ${supplyHint(namespaces, cluster)}`),
    subjects,
  };
}

function uniqueSubjects(subjects: Iterable<SubjectRef>): SubjectRef[] {
  const seen = new Map<string, SubjectRef>();
  for (const s of subjects) seen.set(`${s.kind}/${s.namespace}/${s.name}`, s);
  return [...seen.values()];
}

/** The checked entries' findings with guesses about unknown namespaces replaced by `namespace-unknown` findings. */
export function resolveUnknownNamespaces(r: Resolution): Map<Entry, CheckFinding[]> {
  const out = new Map<Entry, CheckFinding[]>();
  const unknown = unknownNamespaces(r.state, r.entries, r.policy);
  if (unknown.length === 0) {
    for (const [entry, found] of r.checked) out.set(entry, found);
    return out;
  }
  const unknownSet = new Set(unknown);
  const withFindings = [...r.checked].filter(([, found]) => found.length > 0).map(([entry]) => entry);
  const alternatives = new Map<Entry, Finding[][]>();
  for (const labels of HYPOTHESES) {
    for (const name of unknown) {
      const decoded = decodeNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      if (decoded.ok) r.state.upsertNamespace(decoded.value);
    }
    try {
      for (const entry of withFindings) {
        const list = alternatives.get(entry) ?? [];
        list.push(r.findingsOf(entry));
        alternatives.set(entry, list);
      }
    } finally {
      for (const name of unknown) r.state.deleteNamespace(name);
    }
  }

  for (const [entry, found] of r.checked) {
    const kept: CheckFinding[] = [];
    const dropped: Finding[] = [];
    for (const finding of found) {
      const versions = [finding];
      for (const alternative of alternatives.get(entry) ?? []) {
        const same = alternative.find((f) => sameVerdict(f, finding));
        if (same) versions.push(same);
      }
      if (versions.length !== HYPOTHESES.length + 1) {
        dropped.push(finding);
        continue;
      }
      // The version about the fewest workloads: the others' extra subjects were judged on labels nobody knows.
      kept.push(versions.reduce((best, v) => (v.subjects.length < best.subjects.length ? v : best)));
    }
    const namespace = entry.identity.namespace;
    const object: ObjectRef = { apiVersion: entry.identity.apiVersion, kind: entry.identity.kind, namespace, name: entry.identity.name };
    const droppedSubjects = uniqueSubjects(dropped.flatMap((f) => f.subjects));
    if (r.action !== 'off') {
      if (unknownSet.has(namespace)) {
        const subjects = entry.identity.kind === 'PeerAuthentication' ? droppedSubjects : [{ kind: object.kind, namespace, name: object.name }];
        kept.push(unknownFinding(object, [namespace], true, r.action, subjects, r.cluster));
      } else if (dropped.length > 0) {
        const inUnknown = droppedSubjects.filter((s) => unknownSet.has(s.namespace));
        const namespaces = [...new Set(inUnknown.map((s) => s.namespace))].sort();
        kept.push(unknownFinding(object, namespaces.length > 0 ? namespaces : unknown, false, r.action, inUnknown, r.cluster));
      }
    }
    out.set(entry, kept);
  }
  return out;
}
