import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { formatPath, isResourceType, resourceTypes } from '@stratus/model';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLMap,
} from 'yaml';
import { Diagnostics, type SourceRange } from '../diagnostics/index.js';
import type { Locator, OutputConfig, ResourceConfig, StackConfig } from '../engine/config.js';
import { fromRawJson } from '../engine/expr.js';
import { normalizeBackend, normalizeOptions, normalizeProperties } from '../engine/normalize.js';

const TOP_KEYS = new Set(['name', 'description', 'resources', 'outputs', 'backend']);
const RESOURCE_KEYS = new Set(['type', 'properties', 'dependsOn', 'lifecycle', 'timeouts', 'description']);
const OUTPUT_KEYS = new Set(['value', 'sensitive', 'description']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Result of loading a stack file: the config when there were no errors, and all diagnostics. */
export interface LoadResult {
  config?: StackConfig;
  diagnostics: Diagnostics;
}

/**
 * Loads a stack file (YAML): `resources` by name, each with `type`, `properties` (strings may hold
 * `${name}` / `${name.attr}` references) and `dependsOn`; `outputs`; `backend`. Reports every problem
 * with file, line, column and field. References and the graph are checked by `checkStack`.
 */
export function loadStackFile(path: string): LoadResult {
  const file = resolve(path);
  const diags = new Diagnostics();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    diags.error(`cannot read stack file: ${(e as Error).message}`, undefined, { file, line: 1, column: 1 });
    return { diagnostics: diags };
  }
  return loadStackBytes(bytes, file, diags);
}

/**
 * Like {@link loadStackFile}, from the file's bytes. Text that is not valid UTF-8 is an error at the
 * first bad byte, never silently replaced by U+FFFD (which would change user data or names unseen).
 */
export function loadStackBytes(bytes: Uint8Array, file: string, diags = new Diagnostics()): LoadResult {
  const text = decodeUtf8(bytes, file, diags);
  if (text === undefined) return { diagnostics: diags };
  return loadStackText(text, file, diags);
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Offset of the first byte of the first ill-formed UTF-8 sequence in `b`, or -1 when it is all well
 * formed (the Unicode Standard, table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < b.length && b[i]! >= lo && b[i]! <= hi;
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) i += 1;
    else if (c >= 0xc2 && c <= 0xdf && cont(i + 1)) i += 2;
    else if (
      (c === 0xe0 && cont(i + 1, 0xa0) && cont(i + 2)) ||
      (((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) && cont(i + 1) && cont(i + 2)) ||
      (c === 0xed && cont(i + 1, 0x80, 0x9f) && cont(i + 2))
    )
      i += 3;
    else if (
      (c === 0xf0 && cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3)) ||
      (c >= 0xf1 && c <= 0xf3 && cont(i + 1) && cont(i + 2) && cont(i + 3)) ||
      (c === 0xf4 && cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3))
    )
      i += 4;
    else return i;
  }
  return -1;
}

/** Decodes strict UTF-8, or reports where the first invalid byte is and returns undefined. */
function decodeUtf8(bytes: Uint8Array, file: string, diags: Diagnostics): string | undefined {
  const bad = firstInvalidUtf8(bytes);
  if (bad < 0) return fatalUtf8.decode(bytes);
  const lines = fatalUtf8.decode(bytes.subarray(0, bad)).split('\n');
  diags.error(
    `the file is not valid UTF-8: invalid byte sequence starting with 0x${bytes[bad]!.toString(16).padStart(2, '0')} at byte offset ${bad} (put binary user data in userDataBase64)`,
    undefined,
    { file, line: lines.length, column: [...lines[lines.length - 1]!].length + 1 },
  );
  return undefined;
}

type ParsedYaml = ReturnType<typeof parseDocument>;

/** Whether a plain value has no cycle (a recursive alias `&r {a: *r}` expands to one). */
function isAcyclic(v: unknown, onPath = new Set<object>()): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (onPath.has(v)) return false;
  onPath.add(v);
  const ok = Object.values(v).every((x) => isAcyclic(x, onPath));
  onPath.delete(v);
  return ok;
}

/** Marks a value that could not be expanded (already reported). */
const BAD = Symbol('bad');

/** Whether some mapping below `node` repeats a key, as yaml's `uniqueKeys` check compares keys. */
function hasDuplicateKeys(node: unknown): boolean {
  if (isMap(node)) {
    const seen = new Set<unknown>();
    for (const p of node.items) {
      // yaml compares scalar keys by value and any other key by identity, which never repeats.
      if (isScalar(p.key)) {
        if (seen.has(p.key.value)) return true;
        seen.add(p.key.value);
      } else if (hasDuplicateKeys(p.key)) return true;
      if (hasDuplicateKeys(p.value)) return true;
    }
  } else if (isSeq(node)) {
    for (const x of node.items) if (hasDuplicateKeys(x)) return true;
  } else if (isPair(node)) {
    // A single-pair mapping in a flow sequence (`[a: 1]`).
    return hasDuplicateKeys(node.key) || hasDuplicateKeys(node.value);
  }
  return false;
}

/**
 * Parses a stack file, with yaml's duplicate-key check done in linear time: yaml compares each key with
 * every earlier key of its mapping, which takes seconds on a stack of 10,000 resources. Text that does
 * repeat a key is parsed again with yaml's own check, so the errors reported are exactly yaml's.
 */
function parseStackYaml(text: string): { doc: ParsedYaml; lc: LineCounter } {
  const lc = new LineCounter();
  const doc = withPlainEnv(
    () => parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false }),
    text.length,
  );
  if (!hasDuplicateKeys(doc.contents)) return { doc, lc };
  // A fresh counter: the first parse already recorded every line start in `lc`.
  const again = new LineCounter();
  return {
    doc: withPlainEnv(
      () => parseDocument(text, { lineCounter: again, prettyErrors: false, uniqueKeys: true }),
      text.length,
    ),
    lc: again,
  };
}

/** Text size from which {@link withPlainEnv} pays for its copy of the environment. */
const PLAIN_ENV_MIN_SIZE = 64 * 1024;

/**
 * Runs `fn` with `process.env` replaced by a plain copy of it. yaml's parser reads
 * `process.env.LOG_TOKENS` once per token (half a million in a stack of 10,000 resources), and each
 * read of the real environment object is a call into the runtime: a tenth or more of the parse. `fn`
 * is synchronous, so nothing else runs while the copy stands in, and the real environment is put back
 * even when `fn` throws.
 */
function withPlainEnv<T>(fn: () => T, size: number): T {
  // Copying the environment costs more than it saves on a small file.
  if (size < PLAIN_ENV_MIN_SIZE) return fn();
  const env = process.env;
  try {
    process.env = { ...env };
  } catch {
    // A runtime whose environment object cannot be replaced: parse as it is.
    return fn();
  }
  try {
    return fn();
  } finally {
    process.env = env;
  }
}

/** Like {@link loadStackFile}, from text already read; `file` names it in messages. */
export function loadStackText(text: string, file: string, diags = new Diagnostics()): LoadResult {
  const { doc, lc } = parseStackYaml(text);
  const at = (offset: number | undefined): SourceRange => {
    const p = lc.linePos(offset ?? 0);
    return { file, line: p.line, column: p.col };
  };
  for (const e of [...doc.errors, ...doc.warnings]) {
    diags.error(e.message.split('\n')[0]!, undefined, at(e.pos[0]));
  }
  if (diags.hasErrors) return { diagnostics: diags };

  /** `n` with an alias resolved to the node it names (`m: *n`), so aliases work wherever nodes do. */
  const deref = (n: unknown): unknown => {
    let cur = n;
    // An alias may name another alias; a bounded walk also ends a cycle.
    for (let i = 0; i < 100 && isAlias(cur); i++) cur = cur.resolve(doc);
    return isAlias(cur) ? undefined : cur;
  };
  /**
   * The plain value of a node with its aliases expanded against this document (a node's `toJSON()`
   * without the document leaves each alias as an object). An alias bomb (more than 1,000 alias
   * expansions, yaml's resource-exhaustion check) is an error at the node: {@link BAD} is returned.
   */
  const js = (n: unknown, field: string): unknown => {
    if (n === null || n === undefined) return n;
    try {
      const v: unknown = (n as Node).toJS(doc, { maxAliasCount: 1000 });
      if (!isAcyclic(v)) throw new Error('an alias refers to a node that contains it');
      return v;
    } catch (e) {
      diags.error(
        `cannot be expanded: ${(e as Error).message.split('\n')[0]} (an alias bomb?)`,
        field,
        at((n as Node).range?.[0]),
      );
      return BAD;
    }
  };

  const root = deref(doc.contents);
  if (!isMap(root)) {
    diags.error('a stack file must be a mapping with a `resources` key', undefined, at(0));
    return { diagnostics: diags };
  }

  /** Position of the node at `path` below `base`, or of the deepest ancestor that exists. */
  const locateIn = (base: Node | null, path: readonly (string | number)[]): SourceRange | undefined => {
    let node: unknown = base;
    let best: Node | null = base;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        // Point at the key: that is where the field is written, also when its value spans lines.
        best = pair.key as Node;
        node = deref(pair.value);
        if (!node) break;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        best = node.items[seg] as Node;
        node = deref(node.items[seg]);
      } else break;
    }
    return best?.range ? at(best.range[0]) : undefined;
  };
  const keyRange = (map: YAMLMap, key: string): SourceRange | undefined => {
    const pair = map.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    return (pair?.key as Node | undefined)?.range ? at((pair!.key as Node).range![0]) : undefined;
  };
  const checkKeys = (map: YAMLMap, allowed: Set<string>, where: string) => {
    for (const p of map.items) {
      const k = isScalar(p.key) ? String(p.key.value) : String(p.key);
      if (!allowed.has(k))
        diags.error(
          `unknown key; expected one of ${[...allowed].join(', ')}`,
          where ? `${where}.${k}` : k,
          at((p.key as Node | null)?.range?.[0]),
        );
    }
  };

  checkKeys(root, TOP_KEYS, '');
  const stackName = js(root.get('name', true), 'name');
  const dir = dirname(file);
  const config: StackConfig = {
    name: typeof stackName === 'string' ? stackName : basename(dir),
    file,
    dir,
    resources: new Map(),
    invalid: new Set(),
    outputs: new Map(),
  };

  const resources = deref(root.get('resources', true));
  if (!isMap(resources)) {
    diags.error(
      '`resources` must be a mapping of resource names to resources',
      'resources',
      resources ? at((resources as Node).range?.[0]) : at(0),
    );
  } else {
    for (const pair of resources.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const field = `resources.${name}`;
      const node = deref(pair.value);
      // Turned into a line and column only when reported.
      const keyOffset = (pair.key as Node | null)?.range?.[0];
      if (!NAME_RE.test(name)) {
        diags.error(
          'resource names use letters, digits, `_` and `-`, starting with a letter or `_`',
          field,
          at(keyOffset),
        );
        continue;
      }
      if (!isMap(node)) {
        diags.error('a resource must be a mapping with `type` and `properties`', field, at(keyOffset));
        continue;
      }
      checkKeys(node, RESOURCE_KEYS, field);
      const type = js(node.get('type', true), `${field}.type`);
      if (type === BAD) continue;
      if (type === undefined) {
        diags.error('is required', `${field}.type`, at(keyOffset));
        continue;
      }
      if (!isResourceType(type)) {
        diags.error(
          `unknown resource type ${JSON.stringify(type)}; known types: ${resourceTypes.join(', ')}`,
          `${field}.type`,
          locateIn(node, ['type']),
        );
        config.invalid!.add(name);
        continue;
      }
      const propsNode = deref(node.get('properties', true)) as Node | undefined;
      const rawProps = propsNode ? js(propsNode, `${field}.properties`) : {};
      if (rawProps === BAD) continue;
      if (rawProps === null || typeof rawProps !== 'object' || Array.isArray(rawProps)) {
        diags.error('must be a mapping', `${field}.properties`, locateIn(node, ['properties']));
        continue;
      }
      const locate: Locator = (path) =>
        path[0] === 'properties' && !propsNode ? keyRange(node, 'type') : locateIn(node, path);
      // rawProps is this resource's own plain copy of the document (made by js() above), not read again.
      const { properties, problems } = normalizeProperties(
        type,
        name,
        rawProps as Record<string, unknown>,
        dir,
        { owned: true },
      );
      for (const p of problems)
        diags.error(
          p.message,
          `${field}.properties.${formatPath(p.path)}`,
          locate(['properties', ...p.path]),
        );
      const dependsOn = node.get('dependsOn', true);
      const deps: string[] = [];
      if (dependsOn !== undefined) {
        const list = js(dependsOn, `${field}.dependsOn`);
        if (list === BAD) continue;
        if (!Array.isArray(list) || !list.every((d) => typeof d === 'string'))
          diags.error(
            'must be a list of resource names',
            `${field}.dependsOn`,
            locateIn(node, ['dependsOn']),
          );
        else deps.push(...list);
      }
      const lifecycle = js(node.get('lifecycle', true), `${field}.lifecycle`);
      const timeouts = js(node.get('timeouts', true), `${field}.timeouts`);
      if (lifecycle === BAD || timeouts === BAD) continue;
      const opts = normalizeOptions(type, lifecycle, timeouts);
      for (const p of opts.problems) diags.error(p.message, `${field}.${formatPath(p.path)}`, locate(p.path));
      const rc: ResourceConfig = {
        name,
        type,
        properties,
        dependsOn: deps,
        locate,
        lifecycle: opts.lifecycle,
        timeouts: opts.timeouts,
      };
      config.resources.set(name, rc);
    }
  }

  const outputs = deref(root.get('outputs', true));
  if (outputs !== undefined && !isMap(outputs)) {
    diags.error('`outputs` must be a mapping', 'outputs', locateIn(root, ['outputs']));
  } else if (isMap(outputs)) {
    for (const pair of outputs.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const field = `outputs.${name}`;
      const node = (deref(pair.value) ?? null) as Node | null;
      let raw: unknown = node ? js(node, field) : null;
      if (raw === BAD) continue;
      let sensitive = false;
      let description: string | undefined;
      let valuePath: string[] = [];
      if (isMap(node)) {
        checkKeys(node, OUTPUT_KEYS, field);
        const obj = raw as { value?: unknown; sensitive?: unknown; description?: unknown };
        raw = obj.value;
        sensitive = obj.sensitive === true;
        description = typeof obj.description === 'string' ? obj.description : undefined;
        valuePath = ['value'];
        if (raw === undefined) diags.error('is required', `${field}.value`, locateIn(node, []));
      }
      const locate: Locator = () => locateIn(node, valuePath);
      const value = fromRawJson(raw, (message) => diags.error(message, field, locate([])));
      const out: OutputConfig = { name, value, sensitive, description, locate };
      config.outputs.set(name, out);
    }
  }

  const backendNode = root.get('backend', true);
  const raw = backendNode === undefined ? BAD : js(backendNode, 'backend');
  if (raw !== BAD) {
    const { backend: b, problems } = normalizeBackend(raw, dir);
    for (const p of problems)
      diags.error(p.message, `backend.${p.path.join('.')}`, locateIn(root, ['backend', ...p.path]));
    if (b) config.backend = b;
  }

  return { config, diagnostics: diags };
}
