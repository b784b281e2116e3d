/** Reads the config file (YAML or JSON) and validates it; no file means the defaults. */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { describeFsError, invalidConfig, unreadable } from '../errors.js';
import { MAX_ALIAS_COUNT, yamlSyntaxError } from '../manifests/yaml.js';
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
  if (error) throw yamlSyntaxError(file, error);
  const result = parseConfig(document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }));
  if (!result.ok) throw invalidConfig(file, result.errors);
  return result.config;
}
