/** JSON (SPEC 3.1) and the same document as YAML. */
import { stringify } from 'yaml';
import type { CheckResult } from '../check.js';

function document(result: CheckResult): Record<string, unknown> {
  const findings = result.findings.map(({ rule, action, object, message, subjects, source }) => ({ rule, action, object, message, subjects, source }));
  return { findings, summary: result.summary };
}

export function formatJson(result: CheckResult): string {
  return `${JSON.stringify(document(result), null, 2)}\n`;
}

export function formatYaml(result: CheckResult): string {
  return stringify(document(result), { lineWidth: 0 });
}
