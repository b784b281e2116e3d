/** The audit report for a terminal: the namespaces as a table, then each violation with its fix, then the callers. */
import type { AuditReport, Coverage, NamespacePosture } from './report.js';

/** Findings printed in full; the rest are counted (`--output json` has them all). */
const LISTED_FINDINGS = 50;
const LISTED_CALLERS = 20;

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

function percent(part: number, total: number): string {
  return total === 0 ? '-' : `${Math.floor((part / total) * 100)}%`;
}

function coverageOf(row: NamespacePosture): Coverage {
  return {
    total: row.pods.total + row.templates.total,
    inMesh: row.pods.inMesh + row.templates.inMesh,
    outOfMesh: row.pods.outOfMesh + row.templates.outOfMesh,
    hostNetwork: row.pods.hostNetwork + row.templates.hostNetwork,
  };
}

function table(rows: string[][]): string[] {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd());
}

export function formatAuditText(report: AuditReport): string {
  const out: string[] = [];
  const { summary } = report;
  const mesh = report.mesh.policy ? `${report.mesh.mode} (${report.mesh.policy})` : `${report.mesh.mode} (Istio's default: no mesh-wide policy)`;
  out.push(`mtls-guard audit of ${report.source}`);
  out.push(`Istio ${report.istioVersion}, root namespace ${report.rootNamespace}, mesh-wide mode ${mesh}`);
  out.push('');
  const rows = [['NAMESPACE', 'MODE', 'SET BY', 'ENROLLMENT', 'IN MESH', 'OUTSIDE', 'OWN POLICY', 'VIOLATIONS']];
  for (const row of report.namespaces) {
    const coverage = coverageOf(row);
    const violations = Object.entries(row.violations)
      .filter(([, count]) => count > 0)
      .map(([rule, count]) => `${rule} ${count}`)
      .join(', ');
    rows.push([
      row.exempt ? `${row.name} (exempt)` : row.name,
      row.mode.mode,
      row.mode.policy ?? 'default',
      row.enrollment,
      `${coverage.inMesh}/${coverage.total} ${percent(coverage.inMesh, coverage.total)}`,
      coverage.hostNetwork > 0 ? `${coverage.outOfMesh} (${coverage.hostNetwork} hostNetwork)` : String(coverage.outOfMesh),
      String(row.ownPolicy),
      violations || '-',
    ]);
  }
  out.push(...table(rows), '');

  for (const finding of report.findings.slice(0, LISTED_FINDINGS)) {
    const object = `${finding.object.kind} ${finding.object.namespace ? `${finding.object.namespace}/` : ''}${finding.object.name}`;
    out.push(`${finding.action.toUpperCase()} ${finding.rule}: ${object}`);
    for (const line of finding.message.split('\n')) out.push(`  ${line}`);
    out.push('');
  }
  if (report.findings.length > LISTED_FINDINGS) {
    out.push(`… and ${plural(report.findings.length - LISTED_FINDINGS, 'more finding')} (mtls-guard audit --output json lists them all)`, '');
  }

  const { callers } = report;
  if (callers.byPolicy.length > 0) {
    if (callers.basis === 'telemetry') {
      out.push(`Plaintext callers STRICT refuses (Istio telemetry over ${callers.window ?? 'the window'}${callers.observedAt ? `, read ${callers.observedAt}` : ''}):`);
      if (callers.error) out.push(`  note: the last telemetry refresh failed: ${callers.error}`);
      for (const entry of callers.byPolicy) {
        const unidentified = entry.unidentified && entry.unidentified.requests + entry.unidentified.connections > 0
          ? `; ${entry.unidentified.requests} requests and ${entry.unidentified.connections} connections from sources Istio could not name`
          : '';
        const names = entry.callers.slice(0, LISTED_CALLERS).map((c) => `${c.namespace}/${c.workload}`);
        const more = entry.callers.length > LISTED_CALLERS ? `, … (${entry.callers.length} in all)` : '';
        out.push(`  ${entry.policy}: ${names.length > 0 ? names.join(', ') + more : 'none seen'}${unidentified}`);
      }
    } else {
      const possible = callers.possible ?? [];
      out.push(
        `STRICT policies in force: ${callers.byPolicy.map((entry) => `${entry.policy} (${plural(entry.destinations.length, 'workload')})`).join(', ')}.`,
        `No telemetry (--prometheus-url), so every workload outside the mesh is a possible caller: ${possible.length === 0 ? 'there are none.' : `${plural(possible.length, 'workload')}, whose plaintext STRICT refuses:`}`,
      );
      for (const caller of possible.slice(0, LISTED_CALLERS)) {
        const [kind, name] = caller.workload.split('/');
        out.push(`  ${kind} ${caller.namespace}/${name}${caller.because ? `: ${caller.because}` : ''}`);
      }
      if (possible.length > LISTED_CALLERS) out.push(`  … and ${possible.length - LISTED_CALLERS} more`);
    }
    out.push('');
  }

  const v = summary.violations;
  out.push(
    `${plural(summary.namespaces, 'namespace')}, ${plural(summary.workloads.total, 'workload')}: ${summary.workloads.inMesh} in the mesh (${percent(summary.workloads.inMesh, summary.workloads.total)}), ${summary.workloads.outOfMesh} outside; ` +
      `violations: strict-requires-mesh ${v['strict-requires-mesh']}, pod-requires-mesh ${v['pod-requires-mesh']}, mtls-drift ${v['mtls-drift']}`,
  );
  return `${out.join('\n')}\n`;
}
