/**
 * Reads Kubernetes manifests for `check` and `serve --state`: files, directories (recursively,
 * .yaml/.yml/.json, in sorted order), or stdin; multi-document YAML, JSON, and `kind: List`.
 * Every object keeps where it came from (file and line) so errors and findings can point at it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml';
import { badObject, describeFsError, syntax, unreadable } from '../errors.js';
import { isPlainObject } from '../engine/objects.js';
import { MAX_ALIAS_COUNT, yamlSyntaxError } from './yaml.js';

export interface Source {
  file: string;
  line: number;
}

export interface SourcedObject {
  object: Record<string, unknown>;
  source: Source;
}

export const STDIN = '-';
const MANIFEST_FILE = /\.(ya?ml|json)$/i;
export function where(source: Source): string {
  return `${source.file}:${source.line}`;
}


/** `kind: List` (and PodList, ... from `kubectl get -o yaml`) holds its objects under `items`. */
function isList(object: Record<string, unknown>): boolean {
  return typeof object['kind'] === 'string' && object['kind'].endsWith('List') && Array.isArray(object['items']);
}

function nodeLine(node: Node | null | undefined, lines: LineCounter, fallback: number): number {
  return node?.range ? lines.linePos(node.range[0]).line : fallback;
}

/** JSON is stricter than YAML (no trailing commas, no comments): parse it as JSON, naming line and column on error. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = (error as Error).message.replace(/ in JSON at position \d+.*$/, '');
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    if (position === undefined) throw syntax(file, `invalid JSON: ${reason}`);
    const before = text.slice(0, Number(position));
    const line = before.split('\n').length;
    const column = Number(position) - before.lastIndexOf('\n');
    throw syntax(`${file}:${line}:${column}`, `invalid JSON: ${reason}`);
  }
}

/** A JSON file's objects. JSON.parse is fast on large dumps (`kubectl get -A -o json`); objects point at line 1. */
function jsonManifests(value: unknown, file: string): SourcedObject[] {
  const source = { file, line: 1 };
  if (!isPlainObject(value)) throw badObject(`${file}:1`, 'expected a Kubernetes object (a map with apiVersion and kind)');
  if (!isList(value)) return [{ object: value, source }];
  return (value['items'] as unknown[]).map((item, i) => {
    if (!isPlainObject(item)) throw badObject(`${file}:1`, `items[${i}] is not a Kubernetes object`);
    return { object: item, source };
  });
}

/** Parse one file's text into objects; throws a UserError naming the file and line on bad input. */
export function parseManifests(text: string, file: string): SourcedObject[] {
  if (/\.json$/i.test(file)) return jsonManifests(parseJson(text, file), file);
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, merge: true });
  const objects: SourcedObject[] = [];
  for (const document of Array.isArray(documents) ? documents : []) {
    const error = document.errors[0];
    if (error) throw yamlSyntaxError(file, error);
    const contents = document.contents;
    const line = nodeLine(contents, lines, 1);
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (cause) {
      throw syntax(`${file}:${line}`, `invalid YAML: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    if (value === null || value === undefined) continue;
    if (!isPlainObject(value)) throw badObject(`${file}:${line}`, 'expected a Kubernetes object (a map with apiVersion and kind)');
    if (isList(value)) {
      const itemNodes = isMap(contents) ? contents.get('items', true) : undefined;
      const items = value['items'] as unknown[];
      items.forEach((item, i) => {
        const itemNode = isSeq(itemNodes) ? (itemNodes.items[i] as Node | undefined) : undefined;
        const itemLine = nodeLine(itemNode, lines, line);
        if (!isPlainObject(item)) throw badObject(`${file}:${itemLine}`, `items[${i}] is not a Kubernetes object`);
        objects.push({ object: item, source: { file, line: itemLine } });
      });
      continue;
    }
    objects.push({ object: value, source: { file, line } });
  }
  return objects;
}

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (MANIFEST_FILE.test(entry.name)) files.push(path);
  }
  return files;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw unreadable(file, describeFsError(error));
  }
}

/** Load every object from the given paths, in a stable order (paths as given, directory entries sorted). */
export async function loadManifests(paths: readonly string[], readStdin: () => Promise<string>): Promise<SourcedObject[]> {
  const objects: SourcedObject[] = [];
  for (const path of paths) {
    if (path === STDIN) {
      objects.push(...parseManifests(await readStdin(), '<stdin>'));
      continue;
    }
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw unreadable(path, describeFsError(error));
    }
    const files = info.isDirectory() ? await filesUnder(path) : [path];
    for (const file of files) objects.push(...parseManifests(await readText(file), file));
  }
  return objects;
}
