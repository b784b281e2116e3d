/** Output of `mtls-guard check`: text for people, JSON (SPEC 3.1) for machines. */
import type { CheckResult } from './check.js';

export function formatJson(result: CheckResult): string {
  const findings = result.findings.map(({ rule, action, object, message, subjects }) => ({ rule, action, object, message, subjects }));
  return `${JSON.stringify({ findings, summary: result.summary }, null, 2)}\n`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function formatText(result: CheckResult): string {
  const out: string[] = [];
  for (const finding of result.findings) {
    const { object } = finding;
    const name = object.namespace ? `${object.namespace}/${object.name}` : object.name;
    out.push(`${finding.action.toUpperCase()} ${finding.rule}: ${object.kind} ${name} (${finding.source})`);
    for (const line of finding.message.split('\n')) out.push(`  ${line}`);
    out.push('');
  }
  const { objects, deny, warn, audit } = result.summary;
  out.push(`${plural(objects, 'object')} checked: ${deny} denied, ${plural(warn, 'warning')}, ${audit} audited`);
  return `${out.join('\n')}\n`;
}
