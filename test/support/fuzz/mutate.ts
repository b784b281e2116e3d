/**
 * Mutations of valid AdmissionReviews into the raw bytes of one HTTP/1.1 request to POST /validate, each with
 * what a correct server may answer. Cases are pure functions of (seed, index), so any failure can be replayed.
 */
import { BODY_LIMIT, LARGE_BODY_BYTES } from '../../../src/server/json-body.js';
import { stringify as toYaml } from 'yaml';
import type { Part } from '../child-webhook.js';
import type { Json, JsonObject } from './corpus.js';
import { Random } from './random.js';

/** The body limit of the webhook: bodies over it are answered 413. */
export const LIMIT = BODY_LIMIT;
const MiB = 1024 * 1024;

export const KINDS = [
  'valid',
  'wrong-type',
  'missing-field',
  'extra-field',
  'duplicate-key',
  'deep-nesting',
  'huge-string',
  'huge-array',
  'limit-edge',
  'proto-keys',
  'invalid-utf8',
  'truncated',
  'content-type',
  'chunked',
  'bad-chunked',
  'empty',
  'non-json',
] as const;
export type Kind = (typeof KINDS)[number];

const WEIGHTS: readonly (readonly [number, Kind])[] = [
  [6, 'valid'],
  [14, 'wrong-type'],
  [10, 'missing-field'],
  [8, 'extra-field'],
  [5, 'duplicate-key'],
  [4, 'deep-nesting'],
  [3, 'huge-string'],
  [3, 'huge-array'],
  [1, 'limit-edge'],
  [8, 'proto-keys'],
  [8, 'invalid-utf8'],
  [7, 'truncated'],
  [6, 'content-type'],
  [6, 'chunked'],
  [4, 'bad-chunked'],
  [3, 'empty'],
  [6, 'non-json'],
];

export interface Expectation {
  /** HTTP statuses a correct server may answer with. */
  statuses: number[];
  /** The server may also close the connection without an answer we can read (e.g. after rejecting an oversized body). */
  mayClose: boolean;
  /** On 200, `allowed` and `status.code` must be those of the unmutated review: the mutation cannot change the decision. */
  sameVerdict: boolean;
  /** On 400, the error must name this field. */
  errorMentions?: string;
}

export interface FuzzCase {
  index: number;
  kind: Kind;
  detail: string;
  /** Index of the corpus review it was made from. */
  base: number;
  parts: Part[];
  /** Half-close our side of the connection once everything is sent. */
  end: boolean;
  /** The request body as sent (absent when the transfer itself is what is broken). */
  body: Buffer;
  expect: Expectation;
}

type Path = (string | number)[];

/** Keys whose contents are matched or interpreted by the rules: inserting into them may legitimately change the decision. */
const SEMANTIC = new Set(['labels', 'annotations', 'matchLabels', 'selector', 'portLevelMtls']);

function nodes(root: Json, filter: (path: Path, value: Json) => boolean = () => true): Path[] {
  const out: Path[] = [];
  const walk = (value: Json, path: Path): void => {
    if (path.length > 0 && filter(path, value)) out.push(path);
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(root, []);
  return out;
}

function parentOf(root: Json, path: Path): { parent: Json[] | JsonObject; key: string | number } {
  let node = root as Json[] | JsonObject;
  for (const step of path.slice(0, -1)) node = (node as Record<string | number, Json>)[step] as Json[] | JsonObject;
  return { parent: node, key: path[path.length - 1]! };
}

function getAt(root: Json, path: Path): Json {
  const { parent, key } = parentOf(root, path);
  return (parent as Record<string | number, Json>)[key] as Json;
}

function setAt(root: Json, path: Path, value: Json): void {
  const { parent, key } = parentOf(root, path);
  (parent as Record<string | number, Json>)[key] = value;
}

function removeAt(root: Json, path: Path): void {
  const { parent, key } = parentOf(root, path);
  if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete parent[key as string];
}

const isObject = (value: Json): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const typeOf = (value: Json): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
const inert = (path: Path): boolean => !path.some((step) => typeof step === 'string' && SEMANTIC.has(step));
const dotted = (path: Path): string => path.join('.');

/** A review serialized with markers replaced by raw bytes: deep nesting, forbidden keys and invalid UTF-8 cannot be built as JS values. */
class Splicer {
  private readonly splices = new Map<string, Buffer>();

  marker(raw: string | Buffer): string {
    const marker = `@@fuzz-splice-${this.splices.size}@@`;
    this.splices.set(JSON.stringify(marker), Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
    return marker;
  }

  replace(marker: string, raw: string | Buffer): void {
    this.splices.set(JSON.stringify(marker), Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
  }

  render(value: Json): Buffer {
    let text = JSON.stringify(value);
    const pieces: Buffer[] = [];
    for (;;) {
      let first: { at: number; marker: string } | undefined;
      for (const marker of this.splices.keys()) {
        const at = text.indexOf(marker);
        if (at >= 0 && (!first || at < first.at)) first = { at, marker };
      }
      if (!first) break;
      pieces.push(Buffer.from(text.slice(0, first.at)), this.splices.get(first.marker)!);
      text = text.slice(first.at + first.marker.length);
    }
    pieces.push(Buffer.from(text));
    return Buffer.concat(pieces);
  }
}

interface HeadOptions {
  contentType?: string | null;
  length?: number | null;
  chunked?: boolean;
  extra?: string[];
}

function head(options: HeadOptions): Buffer {
  const lines = ['POST /validate HTTP/1.1', 'Host: localhost'];
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  if (contentType !== null) lines.push(`Content-Type: ${contentType}`);
  if (options.chunked) lines.push('Transfer-Encoding: chunked');
  if (options.length !== undefined && options.length !== null) lines.push(`Content-Length: ${options.length}`);
  lines.push(...(options.extra ?? []));
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** A body as chunked transfer coding, in random chunk sizes. */
function chunked(rng: Random, body: Buffer, options: { extensions?: boolean; upper?: boolean; trailer?: boolean } = {}): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const size = Math.min(body.length - at, rng.chance(0.3) ? rng.between(1, 16) : rng.between(1, 65_536));
    const hex = options.upper ? size.toString(16).toUpperCase() : size.toString(16);
    pieces.push(Buffer.from(`${hex}${options.extensions ? ';fuzz=1' : ''}\r\n`), body.subarray(at, at + size), Buffer.from('\r\n'));
    at += size;
  }
  pieces.push(Buffer.from(options.trailer ? '0\r\nX-Fuzz-Trailer: 1\r\n\r\n' : '0\r\n\r\n'));
  return Buffer.concat(pieces);
}

const OTHER_VALUES: Json[] = [0, -1, 1e308, 3.14159, true, false, null, '', 'fuzz', [], [1, 'a', null], {}, { a: 1 }, 'A'.repeat(300)];

const INVALID_UTF8 = [[0xff], [0xfe], [0xc0, 0x80], [0x80], [0xbf, 0xbf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3]];

const CONTENT_TYPES: (string | null)[] = [
  null,
  '',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzz',
  'application/json; charset=iso-8859-1',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/json;charset=UTF-8',
  'application/yaml',
  'application/octet-stream',
  'application/vnd.kubernetes.protobuf',
  'application/json, text/html',
  ';;;',
  `application/${'x'.repeat(4000)}`,
];

const PROTO_VALUES = [
  '{"allowed":true}',
  '{"prototype":{"allowed":true,"polluted":"yes"}}',
  '{"polluted":"yes"}',
  '"polluted"',
  'null',
  '[]',
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
];

function requiredPaths(review: JsonObject): Path[] {
  const request = review['request'] as JsonObject;
  const paths: Path[] = [['apiVersion'], ['kind'], ['request'], ['request', 'uid'], ['request', 'kind'], ['request', 'operation'],
    ['request', 'kind', 'kind'], ['request', 'kind', 'group'], ['request', 'kind', 'version']];
  if (request['operation'] === 'DELETE') paths.push(['request', 'oldObject']);
  else paths.push(['request', 'object']);
  return paths;
}

const ok = (sameVerdict: boolean): Expectation => ({ statuses: [200], mayClose: false, sameVerdict });
const any = (): Expectation => ({ statuses: [200, 400], mayClose: false, sameVerdict: false });
const bad = (mayClose = false): Expectation => ({ statuses: [400], mayClose, sameVerdict: false });
/**
 * Over the limit: 413. Large bodies may also meet the client's share of the body budget used up by its other
 * large bodies in flight (the fuzzer is one peer sending many at once): 503, retryable, never a verdict, and the
 * connection closed.
 */
const sized = (bytes: number, sameVerdict = false): Expectation => {
  // Past the limit: 413, or 503 when the fuzzer's other bodies in flight used up its share first.
  if (bytes > LIMIT) return { statuses: [413, 503], mayClose: true, sameVerdict: false };
  const large = bytes > LARGE_BODY_BYTES;
  // A refused body's connection closes at once, so its client may see the close before the 503.
  return { statuses: [...(sameVerdict ? [200] : [200, 400]), ...(large ? [503] : [])], mayClose: large, sameVerdict };
};

/** The size of the largest huge-string and huge-array cases under the limit: enough to exercise the large-body path. */
const LARGE_CASE_BYTES = 12 * MiB;

/** Fill `bytes` of JSON text with a string of `unit` characters, as raw (already JSON-escaped) text. */
function filler(bytes: number, unit: string): string {
  const unitBytes = Buffer.byteLength(unit);
  return `"${unit.repeat(Math.max(0, Math.floor((bytes - 2) / unitBytes)))}"`;
}

/** A new key on an object node that nothing interprets, for values the mutation controls. */
function inertObject(rng: Random, review: JsonObject): JsonObject {
  const candidates = nodes(review, (path, value) => isObject(value) && inert(path));
  return candidates.length > 0 && rng.chance(0.8) ? (getAt(review, rng.pick(candidates)) as JsonObject) : review;
}

/** Build case `index` of the run seeded with `seed`, from a clone of one of the corpus reviews. */
export function makeCase(seed: number, index: number, corpus: readonly JsonObject[]): FuzzCase {
  const rng = new Random((seed + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const kind = rng.weighted(WEIGHTS);
  const base = rng.int(corpus.length);
  const review = structuredClone(corpus[base]!) as JsonObject;
  const splicer = new Splicer();
  const simple = (body: Buffer, expect: Expectation, detail: string, headOptions: HeadOptions = {}): FuzzCase => ({
    index, kind, detail, base, body, expect, end: false, parts: [head({ length: body.length, ...headOptions }), body],
  });

  switch (kind) {
    case 'valid':
      return simple(splicer.render(review), ok(true), 'unmutated');
    case 'wrong-type': {
      const path = rng.pick(nodes(review));
      const original = getAt(review, path);
      const value = rng.pick(OTHER_VALUES.filter((v) => typeOf(v) !== typeOf(original)));
      setAt(review, path, structuredClone(value));
      return simple(splicer.render(review), any(), `${dotted(path)}: ${typeOf(original)} -> ${JSON.stringify(value).slice(0, 40)}`);
    }
    case 'missing-field': {
      if (rng.chance(0.35)) {
        const path = rng.pick(requiredPaths(review));
        removeAt(review, path);
        return simple(splicer.render(review), { ...bad(), errorMentions: String(path[path.length - 1]) }, `required ${dotted(path)} removed`);
      }
      const path = rng.pick(nodes(review));
      removeAt(review, path);
      return simple(splicer.render(review), any(), `${dotted(path)} removed`);
    }
    case 'extra-field': {
      const added: string[] = [];
      for (let n = rng.between(1, 5); n > 0; n -= 1) {
        const target = inertObject(rng, review);
        const key = `x-fuzz-${rng.word()}`;
        target[key] = structuredClone(rng.pick(OTHER_VALUES));
        added.push(key);
      }
      return simple(splicer.render(review), ok(true), `added ${added.join(', ')}`);
    }
    case 'duplicate-key': {
      const objects = nodes(review, (_path, value) => isObject(value) && Object.keys(value).length > 0);
      const path = rng.pick(objects);
      const target = getAt(review, path) as JsonObject;
      const key = rng.pick(Object.keys(target));
      const value = rng.pick(OTHER_VALUES);
      const marker = splicer.marker(JSON.stringify(key));
      // An integer-like key ("9187") is always enumerated before string keys, so it cannot be put after the
      // duplicate's marker: those take the other branch.
      if (rng.chance(0.5) && !/^\d+$/.test(key)) {
        // The duplicate comes first, the original last: JSON.parse keeps the last, so nothing changes.
        const rebuilt: JsonObject = { [marker]: value, ...target };
        setAt(review, path, rebuilt);
        return simple(splicer.render(review), ok(true), `${dotted(path)}.${key} duplicated before the original`);
      }
      target[marker] = value;
      return simple(splicer.render(review), any(), `${dotted(path)}.${key} duplicated after the original with ${JSON.stringify(value).slice(0, 40)}`);
    }
    case 'deep-nesting': {
      const depth = rng.pick([1_000, 10_000, 100_000, 100_000, 250_000]);
      const arrays = rng.chance(0.6);
      const raw = arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      let where: string;
      if (rng.chance(0.5)) {
        const path = rng.pick(nodes(review));
        setAt(review, path, splicer.marker(raw));
        where = dotted(path);
      } else {
        inertObject(rng, review)['x-fuzz-deep'] = splicer.marker(raw);
        where = 'x-fuzz-deep';
      }
      const body = splicer.render(review);
      return simple(body, sized(body.length), `${depth} nested ${arrays ? 'arrays' : 'objects'} at ${where}`);
    }
    case 'huge-string':
    case 'huge-array': {
      const over = rng.chance(0.4);
      const target = over ? LIMIT + rng.between(1, 4 * MiB) : rng.between(256 * 1024, LARGE_CASE_BYTES);
      const marker = splicer.marker(Buffer.alloc(0));
      let where: string;
      const strings = nodes(review, (_path, value) => typeof value === 'string');
      if (kind === 'huge-string' && rng.chance(0.5) && strings.length > 0) {
        const path = rng.pick(strings);
        setAt(review, path, marker);
        where = dotted(path);
      } else {
        inertObject(rng, review)['x-fuzz-huge'] = marker;
        where = 'x-fuzz-huge';
      }
      const rest = splicer.render(review).length;
      let what: string;
      if (kind === 'huge-string') {
        const unit = rng.pick(['a', 'é', '€', '😀', '\\n', '\\"', '\\u0000']);
        splicer.replace(marker, filler(target - rest, unit));
        what = `string of ${unit}`;
      } else {
        const element = rng.pick(['0', 'null', '{}', '[]', '"x"', '{"name":"c","image":"registry.example.com/c:1"}']);
        const count = Math.max(1, Math.floor((target - rest - 2) / (element.length + 1)));
        splicer.replace(marker, `[${new Array<string>(count).fill(element).join(',')}]`);
        what = `array of ${count} ${element}`;
      }
      const body = splicer.render(review);
      const viaChunks = over && rng.chance(0.3);
      const detail = `${what} at ${where}, body ${body.length} bytes${viaChunks ? ', chunked' : ''}`;
      if (viaChunks) return { ...simple(body, sized(body.length), detail), parts: [head({ chunked: true }), chunked(rng, body)] };
      return simple(body, sized(body.length), detail);
    }
    case 'limit-edge': {
      const target = LIMIT + rng.pick([-1024, -1, 0, 0, 1, 1, 1024]);
      review['x-fuzz-pad'] = '';
      const rest = splicer.render(review).length;
      review['x-fuzz-pad'] = 'a'.repeat(target - rest);
      const body = splicer.render(review);
      return simple(body, sized(body.length, true), `body of exactly ${body.length} bytes (limit ${body.length - LIMIT >= 0 ? '+' : ''}${body.length - LIMIT})`);
    }
    case 'proto-keys': {
      const added: string[] = [];
      for (let n = rng.between(1, 3); n > 0; n -= 1) {
        const key = rng.pick(['__proto__', 'constructor', 'prototype']);
        const value = rng.pick(PROTO_VALUES);
        const candidates = nodes(review, (path, v) => isObject(v) && inert(path));
        const path = candidates.length > 0 && rng.chance(0.85) ? rng.pick(candidates) : [];
        const target = path.length > 0 ? (getAt(review, path) as JsonObject) : review;
        target[splicer.marker(JSON.stringify(key))] = splicer.marker(value);
        added.push(`${dotted(path) || '(root)'}.${key}=${value}`);
      }
      // An inert key must not change the decision, whatever it is called.
      return simple(splicer.render(review), { statuses: [200, 400], mayClose: false, sameVerdict: true }, added.join('; '));
    }
    case 'invalid-utf8': {
      const bytes = Buffer.from(rng.pick(INVALID_UTF8));
      const strings = nodes(review, (_path, value) => typeof value === 'string');
      if (rng.chance(0.5) && strings.length > 0) {
        const path = rng.pick(strings);
        const text = JSON.stringify(getAt(review, path)).slice(1, -1);
        const at = rng.int(text.length + 1);
        setAt(review, path, splicer.marker(Buffer.concat([Buffer.from(`"${text.slice(0, at)}`), bytes, Buffer.from(`${text.slice(at)}"`)])));
        return simple(splicer.render(review), any(), `${bytes.toString('hex')} inside ${dotted(path)}`);
      }
      const body = splicer.render(review);
      const at = rng.int(body.length + 1);
      const mutated = Buffer.concat([body.subarray(0, at), bytes, body.subarray(at)]);
      return simple(mutated, any(), `${bytes.toString('hex')} at byte ${at}`);
    }
    case 'truncated': {
      const body = splicer.render(review);
      const variant = rng.pick(['content-length-too-large', 'content-length-too-large', 'cut-json', 'cut-headers', 'unterminated-chunks']);
      if (variant === 'content-length-too-large') {
        const extra = rng.between(1, 4096);
        return { index, kind, detail: `content-length ${body.length + extra} for ${body.length} bytes, then end`, base, body, end: true,
          expect: bad(true), parts: [head({ length: body.length + extra }), body] };
      }
      if (variant === 'cut-json') {
        const cut = rng.between(1, body.length - 1);
        return simple(body.subarray(0, cut), bad(), `body cut to ${cut} of ${body.length} bytes, content-length matching`);
      }
      if (variant === 'cut-headers') {
        const headers = head({ length: body.length });
        const cut = rng.between(1, headers.length - 3);
        return { index, kind, detail: `headers cut after ${cut} bytes, then end`, base, body: Buffer.alloc(0), end: true, expect: bad(true), parts: [headers.subarray(0, cut)] };
      }
      const encoded = chunked(rng, body);
      const cut = rng.between(1, encoded.length - 6);
      return { index, kind, detail: `chunked body cut at ${cut} of ${encoded.length} bytes, then end`, base, body, end: true, expect: bad(true),
        parts: [head({ chunked: true }), encoded.subarray(0, cut)] };
    }
    case 'content-type': {
      const contentType = rng.pick(CONTENT_TYPES);
      const body = splicer.render(review);
      // Today every content type is read as JSON; a server that refuses a non-JSON type with 400 is also correct.
      return simple(body, { statuses: [200, 400], mayClose: false, sameVerdict: true }, `content-type ${JSON.stringify(contentType)?.slice(0, 60)}`, { contentType });
    }
    case 'chunked': {
      const body = splicer.render(review);
      const options = { extensions: rng.chance(0.3), upper: rng.chance(0.3), trailer: rng.chance(0.2) };
      const encoded = chunked(rng, body, options);
      return { index, kind, detail: `chunked ${JSON.stringify(options)}`, base, body, end: false, expect: ok(true), parts: [head({ chunked: true }), encoded] };
    }
    case 'bad-chunked': {
      const body = splicer.render(review);
      const variant = rng.pick(['bad-hex', 'short-size', 'long-size-then-end', 'content-length-and-chunked', 'negative-size']);
      const wire =
        variant === 'bad-hex'
          ? Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])
          : variant === 'short-size'
            ? Buffer.concat([Buffer.from(`${Math.max(1, body.length - 10).toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
            : variant === 'long-size-then-end'
              ? Buffer.concat([Buffer.from(`${(body.length + 100).toString(16)}\r\n`), body])
              : variant === 'negative-size'
                ? Buffer.concat([Buffer.from('-10\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])
                : chunked(rng, body);
      const headers = variant === 'content-length-and-chunked' ? head({ chunked: true, length: body.length }) : head({ chunked: true });
      return { index, kind, detail: variant, base, body, end: variant === 'long-size-then-end', expect: bad(true), parts: [headers, wire] };
    }
    case 'empty': {
      const variant = rng.pick(['content-length-0', 'no-length', 'whitespace', 'only-last-chunk']);
      if (variant === 'no-length') return { index, kind, detail: variant, base, body: Buffer.alloc(0), end: false, expect: bad(), parts: [head({})] };
      if (variant === 'only-last-chunk') return { index, kind, detail: variant, base, body: Buffer.alloc(0), end: false, expect: bad(), parts: [head({ chunked: true }), Buffer.from('0\r\n\r\n')] };
      return simple(Buffer.from(variant === 'whitespace' ? ' \r\n\t ' : ''), bad(), variant);
    }
    case 'non-json': {
      const json = JSON.stringify(review);
      const variant = rng.pick(['random-bytes', 'null', 'array', 'number', 'string', 'true', 'empty-object', 'yaml', 'xml', 'trailing-garbage',
        'comment', 'two-reviews', 'byte-order-mark', 'single-quotes', 'NaN']);
      const texts: Record<string, () => string | Buffer> = {
        'random-bytes': () => Buffer.from(Array.from({ length: rng.between(1, 4096) }, () => rng.int(256))),
        null: () => 'null',
        array: () => `[${json}]`,
        number: () => '42',
        string: () => JSON.stringify(json),
        true: () => 'true',
        'empty-object': () => '{}',
        yaml: () => toYaml(review),
        xml: () => '<?xml version="1.0"?><AdmissionReview><request uid="x"/></AdmissionReview>',
        'trailing-garbage': () => `${json}x`,
        comment: () => `// review\n${json}`,
        'two-reviews': () => `${json}\n${json}`,
        'byte-order-mark': () => `\uFEFF${json}`,
        'single-quotes': () => json.replace(/"/g, "'"),
        NaN: () => json.replace(/"dryRun":false/, '"dryRun":NaN').replace(/^\{/, '{"n":NaN,'),
      };
      const raw = texts[variant]!();
      const body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      // A byte-order mark before valid JSON may be skipped by a lenient server; then the verdict must not change.
      const expect = variant === 'byte-order-mark' ? { statuses: [200, 400], mayClose: false, sameVerdict: true } : bad();
      return simple(body, expect, variant);
    }
  }
}

/**
 * Fixed inputs run before the random ones in every run, whatever the seed: the corners where defects were
 * found, so that they are always exercised.
 */
export function pinnedCases(corpus: readonly JsonObject[]): FuzzCase[] {
  const policy = corpus.findIndex((r) => (r['request'] as JsonObject)['kind'] !== undefined && JSON.stringify(r).includes('"mode":"STRICT"'));
  const deleted = corpus.findIndex((r) => (r['request'] as JsonObject)['operation'] === 'DELETE');
  const cases: FuzzCase[] = [];
  const add = (kind: Kind, base: number, detail: string, body: Buffer, expect: Expectation, headOptions: HeadOptions = {}): void => {
    cases.push({ index: -1 - cases.length, kind, detail, base, body, expect, end: false, parts: [head({ length: body.length, ...headOptions }), body] });
  };
  for (const depth of [1_000, 10_000, 100_000]) {
    const review = structuredClone(corpus[policy]!);
    const splicer = new Splicer();
    (((review['request'] as JsonObject)['object'] as JsonObject)['spec'] as JsonObject)['mtls'] = { mode: splicer.marker(`${'['.repeat(depth)}${']'.repeat(depth)}`) };
    add('deep-nesting', policy, `${depth} nested arrays at request.object.spec.mtls.mode`, splicer.render(review), any());
  }
  for (const contentType of ['', ';;;', 'application/json, text/html']) {
    add('content-type', policy, `content-type ${JSON.stringify(contentType)}`, Buffer.from(JSON.stringify(corpus[policy])), { statuses: [200, 400], mayClose: false, sameVerdict: true }, { contentType });
  }
  const huge = structuredClone(corpus[policy]!);
  (((huge['request'] as JsonObject)['object'] as JsonObject)['spec'] as JsonObject)['mtls'] = { mode: 'a'.repeat(MiB) };
  add('huge-string', policy, 'string of a (1 MiB) at request.object.spec.mtls.mode', Buffer.from(JSON.stringify(huge)), any());
  const review = structuredClone(corpus[deleted]!);
  delete (review['request'] as JsonObject)['operation'];
  add('missing-field', deleted, 'required request.operation removed', Buffer.from(JSON.stringify(review)), { ...bad(), errorMentions: 'operation' });
  return cases;
}
