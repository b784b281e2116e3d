/** SARIF 2.1.0 (OASIS): rule metadata and one result per finding, pointing at the object's file and line. */
import { isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CheckResult, LocatedFinding } from '../check.js';
import { CHECK_RULES } from '../rules.js';
import { fileLine, objectName, type FormatContext } from './where.js';

const LEVEL: Record<LocatedFinding['action'], 'error' | 'warning' | 'note'> = { deny: 'error', warn: 'warning', audit: 'note' };

function artifactLocation(file: string): Record<string, string> {
  if (isAbsolute(file)) return { uri: pathToFileURL(file).href };
  return { uri: file.split(sep).map(encodeURIComponent).join('/'), uriBaseId: 'SRCROOT' };
}

const sentence = (text: string): string => (/[.!?]$/.test(text) ? text : `${text}.`);

function result(finding: LocatedFinding): Record<string, unknown> {
  const ruleIndex = CHECK_RULES.findIndex((rule) => rule.id === finding.rule);
  const location: Record<string, unknown> = {
    logicalLocations: [{ name: finding.object.name, fullyQualifiedName: objectName(finding.object), kind: 'resource' }],
  };
  const at = fileLine(finding.source);
  if (at) location['physicalLocation'] = { artifactLocation: artifactLocation(at.file), region: { startLine: at.line } };
  return {
    ruleId: finding.rule,
    ruleIndex,
    level: LEVEL[finding.action],
    message: { text: sentence(finding.message) },
    locations: [location],
    partialFingerprints: { objectRule: `${finding.rule}/${objectName(finding.object)}` },
    properties: { action: finding.action, source: finding.source, subjects: finding.subjects },
  };
}

export function formatSarif(check: CheckResult, context: FormatContext): string {
  const rules = CHECK_RULES.map((rule) => ({
    id: rule.id,
    name: rule.name,
    shortDescription: { text: rule.short },
    fullDescription: { text: rule.full },
    help: { text: rule.help, markdown: `**Fix:** ${rule.help}` },
    defaultConfiguration: { level: rule.defaultAction === 'deny' ? 'error' : 'warning' },
  }));
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'mtls-guard', version: context.version, semanticVersion: context.version, rules } },
        originalUriBaseIds: { SRCROOT: { uri: pathToFileURL(context.cwd.endsWith(sep) ? context.cwd : `${context.cwd}${sep}`).href } },
        results: check.findings.map(result),
        columnKind: 'utf16CodeUnits',
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
