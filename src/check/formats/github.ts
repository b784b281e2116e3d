/** GitHub Actions workflow commands: one ::error / ::warning / ::notice per finding, annotating its file and line. */
import type { CheckResult, LocatedFinding } from '../check.js';
import { fileLine, objectName, type FormatContext } from './where.js';

const COMMAND: Record<LocatedFinding['action'], string> = { deny: 'error', warn: 'warning', audit: 'notice' };

/** Escaping of GitHub's runner (toCommandValue / toCommandProperties in @actions/core). */
const data = (text: string): string => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const property = (text: string): string => data(text).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function formatGithub(result: CheckResult, context: FormatContext): string {
  const out: string[] = [];
  for (const finding of result.findings) {
    const at = fileLine(finding.source);
    const properties = [...(at ? [`file=${property(at.file)}`, `line=${at.line}`] : []), `title=${property(`mtls-guard ${finding.rule}: ${objectName(finding.object)}`)}`];
    // A warning that fails the run (--fail-on warn) is shown as an error.
    const command = finding.action === 'warn' && context.failOn === 'warn' ? 'error' : COMMAND[finding.action];
    out.push(`::${command} ${properties.join(',')}::${data(finding.message)}`);
  }
  const { objects, deny, warn, audit } = result.summary;
  out.push(`mtls-guard check: ${objects} object${objects === 1 ? '' : 's'} checked: ${deny} denied, ${warn} warning${warn === 1 ? '' : 's'}, ${audit} audited`);
  return `${out.join('\n')}\n`;
}
