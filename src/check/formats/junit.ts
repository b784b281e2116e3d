/**
 * JUnit XML: one test case per input object, as conftest reports every document. Findings at or above --fail-on
 * are its failure; the others are printed in its system-out. A Namespace (or other object read as state only)
 * passes, saying so; a kind mtls-guard does not check is a skipped case that says why.
 */
import type { CheckResult, LocatedFinding } from '../check.js';
import { failing, fileLine, objectName, type FormatContext } from './where.js';

function xml(text: string): string {
  // XML 1.0 cannot carry most control characters at all, not even escaped.
  return text
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const line = (finding: LocatedFinding): string => `${finding.action.toUpperCase()} ${finding.rule}: ${finding.message}`;

export function formatJunit(result: CheckResult, context: FormatContext): string {
  const byObject = new Map<string, LocatedFinding[]>();
  for (const finding of result.findings) {
    const key = `${objectName(finding.object)} ${finding.source}`;
    byObject.set(key, [...(byObject.get(key) ?? []), finding]);
  }
  let failures = 0;
  const cases: string[] = [];
  let skipped = 0;
  for (const { object, source, stateOnly, skipped: skippedBecause } of result.checked) {
    const found = byObject.get(`${objectName(object)} ${source}`) ?? [];
    const failed = found.filter((f) => failing(f.action, context.failOn));
    const passed = found.filter((f) => !failing(f.action, context.failOn));
    const at = fileLine(source);
    const attributes = [
      `name="${xml(objectName(object))}"`,
      `classname="${xml(`mtls-guard.${object.kind}`)}"`,
      ...(at ? [`file="${xml(at.file)}"`, `line="${at.line}"`] : []),
    ];
    const body: string[] = [];
    if (skippedBecause !== undefined) {
      skipped += 1;
      body.push(`      <skipped message="${xml(skippedBecause)}"/>`);
    }
    if (failed.length > 0) {
      failures += 1;
      const first = failed[0] as LocatedFinding;
      const message = failed.length === 1 ? `${first.rule}: ${first.message}` : `${failed.length} findings: ${failed.map((f) => f.rule).join(', ')}`;
      body.push(`      <failure message="${xml(message)}" type="${xml(first.rule)}">${xml(`${source}\n${failed.map(line).join('\n')}`)}</failure>`);
    }
    const notes = [...(stateOnly ? [`${object.kind}: read as cluster state; no rule judges it on its own`] : []), ...passed.map(line)];
    if (notes.length > 0) body.push(`      <system-out>${xml(notes.join('\n'))}</system-out>`);
    cases.push(body.length === 0 ? `    <testcase ${attributes.join(' ')}/>` : `    <testcase ${attributes.join(' ')}>\n${body.join('\n')}\n    </testcase>`);
  }
  const counts = `tests="${result.checked.length}" failures="${failures}" errors="0" skipped="${skipped}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="mtls-guard check" ${counts}>`,
    `  <testsuite name="mtls-guard check" ${counts}>`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
