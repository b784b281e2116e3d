/** YAML reading shared by manifests and the config file: one error format, one alias bound. */
import type { YAMLError } from 'yaml';
import { syntax, type UserError } from '../errors.js';

/** Guard against pathological inputs: YAML aliases that expand without bound. */
export const MAX_ALIAS_COUNT = 100;

/** A YAML parse error as one line naming the file, line and column. */
export function yamlSyntaxError(file: string, error: YAMLError): UserError {
  const pos = error.linePos?.[0];
  const message = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? error.code;
  return syntax(pos ? `${file}:${pos.line}:${pos.col}` : file, `invalid YAML: ${message}`);
}

