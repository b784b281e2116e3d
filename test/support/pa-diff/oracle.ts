/**
 * `istio-oracle peerauthn` (tools/istio, built over istiod's own packages): what istiod computes per workload
 * and port. One call judges many states at once: states that share the same root-namespace policies (and
 * cluster ID and network) are put side by side, each in namespaces of its own (`m<k>-<namespace>`). That is
 * exact, because istiod only ever compares policies within one namespace, or within the root namespace.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { repoPath } from '../helpers.js';
import { NODES, ROOT, type GenPolicy, type GenState, type GenWorkload } from './generate.js';

export interface OracleWorkload {
  id: string;
  mode: string;
  ports: Record<string, string>;
  governing: { mesh: string | null; namespace: string | null; workload: string | null };
  error?: string;
}

export interface OracleView {
  /** namespace/name of the policies istiod refuses. */
  rejected: Set<string>;
  /** By workloadId. */
  workloads: Map<string, OracleWorkload>;
}

/** The spec as the API server stores it: fields PeerAuthentication does not have are pruned. */
function stored(spec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['selector', 'mtls', 'portLevelMtls']) if (key in spec) out[key] = spec[key];
  return out;
}

export function findOracle(): string {
  const fromEnv = process.env['MTLS_GUARD_ISTIO_ORACLE'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MTLS_GUARD_ISTIO_ORACLE=${fromEnv}: no such file`);
    return fromEnv;
  }
  const script = repoPath('tools/build-istio-oracle.sh');
  if (!existsSync(script)) throw new Error('no tools/build-istio-oracle.sh to build istio-oracle, and MTLS_GUARD_ISTIO_ORACLE is not set');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const binary = out.trim().split('\n').pop() ?? '';
  if (!existsSync(binary)) throw new Error(`tools/build-istio-oracle.sh printed ${JSON.stringify(binary)}, not a binary`);
  process.env['MTLS_GUARD_ISTIO_ORACLE'] = binary;
  return binary;
}

/** One state at one moment: the policies in the cluster then. */
export interface OracleJob {
  state: GenState;
  policies: readonly GenPolicy[];
}

const prefixed = (member: number, namespace: string): string => (namespace === ROOT ? namespace : `m${member}-${namespace}`);
const unprefixed = (namespace: string): string => namespace.replace(/^m\d+-/, '');

function groupKey(job: OracleJob): string {
  const root = job.policies.filter((p) => p.namespace === ROOT).map((p) => [p.name, p.creationTimestamp, p.apiVersion, p.spec]);
  root.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return JSON.stringify([job.state.clusterID ?? null, job.state.network ?? '', root]);
}

const idOf = (member: number, workload: GenWorkload): string => `${member}|${workload.kind} ${workload.namespace}/${workload.name}`;

function runGroup(oracle: string, jobs: readonly OracleJob[]): OracleView[] {
  const first = jobs[0] as OracleJob;
  const policies: Record<string, unknown>[] = [];
  const rootPolicies = first.policies.filter((p) => p.namespace === ROOT);
  for (const p of rootPolicies) policies.push({ apiVersion: p.apiVersion, kind: 'PeerAuthentication', namespace: p.namespace, name: p.name, creationTimestamp: p.creationTimestamp, spec: stored(p.spec) });
  const workloads: Record<string, unknown>[] = [];
  jobs.forEach((job, member) => {
    for (const p of job.policies) {
      if (p.namespace === ROOT) continue;
      policies.push({ apiVersion: p.apiVersion, kind: 'PeerAuthentication', namespace: prefixed(member, p.namespace), name: p.name, creationTimestamp: p.creationTimestamp, spec: stored(p.spec) });
    }
    for (const w of job.state.workloads) {
      workloads.push({ id: idOf(member, w), namespace: prefixed(member, w.namespace), labels: w.labels, nodeName: w.nodeName ?? '', ports: w.ports });
    }
  });
  const input: Record<string, unknown> = { rootNamespace: ROOT, network: first.state.network ?? '', policies, nodes: NODES, workloads };
  if (first.state.clusterID !== undefined) input['clusterID'] = first.state.clusterID;
  const text = execFileSync(oracle, ['peerauthn'], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
  const out = JSON.parse(text) as { rejected: { namespace: string; name: string }[]; workloads: OracleWorkload[] };
  const views: OracleView[] = jobs.map(() => ({ rejected: new Set<string>(), workloads: new Map<string, OracleWorkload>() }));
  for (const r of out.rejected) {
    const member = /^m(\d+)-/.exec(r.namespace);
    const key = `${unprefixed(r.namespace)}/${r.name}`;
    if (member) views[Number(member[1])]?.rejected.add(key);
    else for (const view of views) view.rejected.add(key);
  }
  const strip = (ref: string | null): string | null => (ref === null ? null : `${unprefixed(ref.slice(0, ref.indexOf('/')))}${ref.slice(ref.indexOf('/'))}`);
  for (const w of out.workloads) {
    const bar = w.id.indexOf('|');
    const view = views[Number(w.id.slice(0, bar))] as OracleView;
    view.workloads.set(w.id.slice(bar + 1), {
      ...w,
      governing: { mesh: strip(w.governing.mesh), namespace: strip(w.governing.namespace), workload: strip(w.governing.workload) },
    });
  }
  return views;
}

/** What istiod computes for each job, in order; jobs sharing root policies go in one call of at most `perCall`. */
export function askOracle(oracle: string, jobs: readonly OracleJob[], perCall = 200, onCall: () => void = () => {}): OracleView[] {
  const groups = new Map<string, number[]>();
  jobs.forEach((job, i) => {
    const key = groupKey(job);
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  const views: OracleView[] = new Array(jobs.length);
  for (const members of groups.values()) {
    for (let start = 0; start < members.length; start += perCall) {
      const chunk = members.slice(start, start + perCall);
      onCall();
      const answers = runGroup(oracle, chunk.map((i) => jobs[i] as OracleJob));
      chunk.forEach((i, k) => (views[i] = answers[k] as OracleView));
    }
  }
  return views;
}
