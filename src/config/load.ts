/** Reads the config file (YAML or JSON) and validates it; no file means the defaults. */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { describeFsError, invalidConfig, syntax, unreadable } from '../errors.js';
import { DEFAULT_CONFIG, parseConfig, type Config } from './config.js';

export async function loadConfig(file: string | undefined): Promise<Config> {
  if (file === undefined) return structuredClone(DEFAULT_CONFIG) as Config;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw unreadable(file, describeFsError(error));
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = document.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const message = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? error.code;
    throw syntax(pos ? `${file}:${pos.line}:${pos.col}` : file, `invalid YAML: ${message}`);
  }
  const result = parseConfig(document.toJS({ maxAliasCount: 100 }));
  if (!result.ok) throw invalidConfig(file, result.errors);
  return result.config;
}
