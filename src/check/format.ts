/** Output of `mtls-guard check` in every --output format. */
import type { CheckResult } from './check.js';
import { formatGithub } from './formats/github.js';
import { formatJson, formatYaml } from './formats/json.js';
import { formatJunit } from './formats/junit.js';
import { formatSarif } from './formats/sarif.js';
import { formatText } from './formats/text.js';
import type { FormatContext } from './formats/where.js';

export { formatJson, formatText };

export const OUTPUT_FORMATS = ['text', 'json', 'yaml', 'sarif', 'junit', 'github'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function formatResult(result: CheckResult, format: OutputFormat, context: FormatContext): string {
  switch (format) {
    case 'text':
      return formatText(result);
    case 'json':
      return formatJson(result);
    case 'yaml':
      return formatYaml(result);
    case 'sarif':
      return formatSarif(result, context);
    case 'junit':
      return formatJunit(result, context);
    case 'github':
      return formatGithub(result, context);
  }
}
