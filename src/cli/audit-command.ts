/** `mtls-guard audit`: the posture of a live cluster or of manifests, as text, JSON or one HTML file. */
import { auditState } from '../audit/audit.js';
import { observedCallers, type ReportInputs } from '../audit/build-report.js';
import type { AuditReport } from '../audit/report.js';
import { formatAuditText } from '../audit/text.js';
import { liveContext } from '../check/live-context.js';
import { mtlsGuardNamespace } from '../check/own-namespace.js';
import { policyFor } from '../config/config.js';
import { loadConfig } from '../config/load.js';
import { usage } from '../errors.js';
import { loadManifests } from '../manifests/load.js';
import { buildState } from '../state/build-state.js';
import { liveSnapshotFor, wantsCluster } from './live-flags.js';

export const AUDIT_FORMATS = ['text', 'json', 'html'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export interface AuditFlags {
  file?: string[];
  namespace: string;
  config?: string;
  output: AuditFormat;
  failOn: 'deny' | 'warn' | 'never';
  kubeconfig?: string;
  context?: string;
  requestTimeout: number;
  prometheusUrl?: string;
  callersWindow: number;
}

export interface AuditIo {
  stdout: (text: string) => void;
  stdin: () => Promise<string>;
}

async function render(report: AuditReport, format: AuditFormat): Promise<string> {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'html':
      return (await import('../audit/html.js')).renderHtml(report);
    case 'text':
      return formatAuditText(report);
  }
}

/** Exit 1 when a finding's action is at --fail-on or stronger (deny > warn > audit). */
function failed(report: AuditReport, failOn: AuditFlags['failOn']): boolean {
  if (failOn === 'never') return false;
  return report.findings.some((f) => f.action === 'deny' || (failOn === 'warn' && f.action === 'warn'));
}

/** One reading of Istio's telemetry; a Prometheus that cannot be read is an error (exit 2), not a silent fallback. */
async function telemetryCallers(url: string, windowSeconds: number, timeoutMs: number): Promise<ReportInputs['callers']> {
  const { queryPlaintextTraffic } = await import('../telemetry/prometheus-source.js');
  try {
    const traffic = await queryPlaintextTraffic({ url, windowSeconds, timeoutMs });
    return observedCallers(traffic, new Date().toISOString(), undefined);
  } catch (error) {
    throw usage(`cannot read the plaintext callers from Prometheus at ${url}: ${(error as Error).message}`);
  }
}

export async function runAudit(flags: AuditFlags, io: AuditIo): Promise<number> {
  const files = flags.file ?? [];
  if (files.length === 0 && !wantsCluster(flags)) throw usage('audit needs --kubeconfig / --context (a live cluster) or -f PATH (manifests)');
  const config = await loadConfig(flags.config);
  const objects = files.length > 0 ? await loadManifests(files, io.stdin) : [];
  const live = await liveSnapshotFor(flags, config.rootNamespace);
  const context = liveContext(objects, live, flags.namespace);
  const { state } = buildState([...objects, ...context.used], flags.namespace);
  const policy = policyFor(config, mtlsGuardNamespace([...objects, ...context.used]));
  const source = [live?.source, files.length > 0 ? files.join(', ') : undefined].filter((s) => s !== undefined).join(' + ');
  const callers = flags.prometheusUrl ? await telemetryCallers(flags.prometheusUrl, flags.callersWindow, flags.requestTimeout * 1000) : undefined;
  const report = { ...auditState(state, policy, source, callers), generatedAt: new Date().toISOString() };
  io.stdout(await render(report, flags.output));
  return failed(report, flags.failOn) ? 1 : 0;
}
