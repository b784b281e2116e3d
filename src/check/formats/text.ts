/** Text for people: each finding with where it is, then where the state came from and the counts. */
import type { CheckResult } from '../check.js';
import { objectName } from './where.js';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function formatText(result: CheckResult): string {
  const out: string[] = [];
  for (const finding of result.findings) {
    out.push(`${finding.action.toUpperCase()} ${finding.rule}: ${objectName(finding.object)} (${finding.source})`);
    for (const line of finding.message.split('\n')) out.push(`  ${line}`);
    out.push('');
  }
  const { objects, deny, warn, audit, sources } = result.summary;
  if (sources) {
    const cluster = Object.entries(sources.cluster).map(([source, count]) => `${plural(count, 'object')} from ${source}`);
    out.push(`state: ${plural(sources.files, 'object')} from the input, ${cluster.join(', ')}`);
    if (sources.overridden.length > 0) out.push(`  the input replaces the cluster's ${sources.overridden.join(', ')}`);
  }
  for (const note of result.notes) out.push(`note: ${note}`);
  out.push(`${plural(objects, 'object')} checked: ${deny} denied, ${plural(warn, 'warning')}, ${audit} audited`);
  return `${out.join('\n')}\n`;
}
