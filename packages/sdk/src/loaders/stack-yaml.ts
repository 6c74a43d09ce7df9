import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  convertVariable,
  formatPath,
  isResourceType,
  parseVariableType,
  resourceTypes,
  VARIABLE_NAME_RE,
  type VariableType,
} from '@stratus/model';
import type { Node, YAMLMap } from 'yaml';
import { Diagnostics, type SourceRange } from '../diagnostics/index.js';
import type { Locator, StackConfig } from '../engine/config.js';
import { normalizeBackend, normalizeOptions } from '../engine/normalize.js';
import { type ExpandOptions, expandStack } from '../expand/expand.js';
import { parseExpression, parseTemplate, SyntaxProblem } from '../expand/syntax.js';
import {
  type OutputBlock,
  type ResourceBlock,
  SourceExpr,
  type StackTemplate,
  type Tree,
} from '../expand/template.js';
import type { VariableBlock, VariableInput } from '../expand/variables.js';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
} from '../util/yaml.generated.js';

const TOP_KEYS = new Set(['name', 'description', 'variables', 'locals', 'resources', 'outputs', 'backend']);
const RESOURCE_KEYS = new Set([
  'type',
  'properties',
  'count',
  'forEach',
  'dependsOn',
  'lifecycle',
  'timeouts',
  'description',
]);
const OUTPUT_KEYS = new Set(['value', 'sensitive', 'description']);
const VARIABLE_KEYS = new Set(['type', 'default', 'description', 'sensitive', 'validation']);
const VALIDATION_KEYS = new Set(['condition', 'error_message', 'errorMessage']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Result of loading a stack file: the config when there were no errors, and all diagnostics. */
export interface LoadResult {
  config?: StackConfig;
  diagnostics: Diagnostics;
}

/** Result of reading a stack file without expanding it (its variables are not given values yet). */
export interface TemplateResult {
  template?: StackTemplate;
  diagnostics: Diagnostics;
}

/** Variable values and how to treat missing ones, for {@link loadStackFile}. */
export interface LoadOptions extends ExpandOptions {
  /** Values given for variables by name (`-var`, `-var-file`, `STRATUS_VAR_NAME`, prompts). */
  variables?: ReadonlyMap<string, VariableInput>;
}

/**
 * Loads a stack file (YAML): `resources` by name, each with `type`, `properties` (strings may hold
 * `${name}` / `${name.attr}` references) and `dependsOn`; `outputs`; `backend`. Reports every problem
 * with file, line, column and field. References and the graph are checked by `checkStack`.
 */
export function loadStackFile(path: string, opts: LoadOptions = {}): LoadResult {
  const t = readStackTemplate(path);
  if (!t.template) return { diagnostics: t.diagnostics };
  return expandStack(t.template, opts.variables ?? new Map(), opts, t.diagnostics);
}

/**
 * Reads a stack file into its template: variables, locals, resources with their `count` / `forEach`
 * and values as expressions, not yet given values (expandStack does that). Every problem is reported.
 */
export function readStackTemplate(path: string): TemplateResult {
  const file = resolve(path);
  const diags = new Diagnostics();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    diags.error(`cannot read stack file: ${(e as Error).message}`, undefined, { file, line: 1, column: 1 });
    return { diagnostics: diags };
  }
  const text = decodeUtf8(bytes, file, diags);
  if (text === undefined) return { diagnostics: diags };
  return readTemplateText(text, file, diags);
}

/**
 * Like {@link loadStackFile}, from the file's bytes. Text that is not valid UTF-8 is an error at the
 * first bad byte, never silently replaced by U+FFFD (which would change user data or names unseen).
 */
export function loadStackBytes(
  bytes: Uint8Array,
  file: string,
  diags = new Diagnostics(),
  opts: LoadOptions = {},
): LoadResult {
  const text = decodeUtf8(bytes, file, diags);
  if (text === undefined) return { diagnostics: diags };
  return loadStackText(text, file, diags, opts);
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
export function loadStackText(
  text: string,
  file: string,
  diags = new Diagnostics(),
  opts: LoadOptions = {},
): LoadResult {
  const t = readTemplateText(text, file, diags);
  if (!t.template) return { diagnostics: t.diagnostics };
  const expanded = expandStack(t.template, opts.variables ?? new Map(), opts, t.diagnostics);
  // Problems in the file's shape are reported with those of expansion; a config only when usable.
  return { config: expanded.config, diagnostics: expanded.diagnostics };
}

/**
 * An unquoted `${` in a YAML flow collection (`[{ subnet: ${subnet} }]`) is read by YAML as the start
 * of a mapping, which gives a cascade of parser errors: one diagnostic per such line instead, saying to
 * quote it. Returns whether it found any.
 */
function unquotedInFlow(
  text: string,
  errorOffsets: number[],
  at: (o: number) => SourceRange,
  diags: Diagnostics,
): boolean {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const lineOf = (o: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const lines = new Set(errorOffsets.map(lineOf));
  let found = false;
  for (const l of [...lines].sort((a, b) => a - b)) {
    const start = lineStarts[l]!;
    const line = text.slice(start, lineStarts[l + 1] ?? text.length);
    // `${` right after a flow indicator or a key inside one, not inside quotes.
    const m = /[[{,]\s*(?:[^\s"'{}[\],:]+\s*:\s*)?(\$\{[^}\n]*\}?)/.exec(line);
    if (!m || !/[[{]/.test(line.slice(0, m.index + 1))) continue;
    const col = start + m.index + m[0].length - m[1]!.length;
    diags.error(
      `unquoted ${m[1]} inside a YAML flow collection ([...] or {...}): YAML reads { as the start of a mapping; quote it: "${m[1]}"`,
      undefined,
      at(col),
    );
    found = true;
  }
  return found;
}

/** Reads stack text into its template (see {@link readStackTemplate}). */
export function readTemplateText(text: string, file: string, diags = new Diagnostics()): TemplateResult {
  const { doc, lc } = parseStackYaml(text);
  const at = (offset: number | undefined): SourceRange => {
    const p = lc.linePos(offset ?? 0);
    return { file, line: p.line, column: p.col };
  };
  const yamlErrors = [...doc.errors, ...doc.warnings];
  if (
    yamlErrors.length &&
    text.includes('${') &&
    unquotedInFlow(
      text,
      yamlErrors.map((e) => e.pos[0]),
      at,
      diags,
    )
  )
    return { diagnostics: diags };
  for (const e of yamlErrors) {
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
  const template: StackTemplate = {
    name: typeof stackName === 'string' ? stackName : basename(dir),
    file,
    dir,
    variables: [],
    locals: new Map(),
    resources: new Map(),
    invalid: new Set(),
    outputs: new Map(),
  };

  /** The node at `path` below `base` (aliases resolved), or undefined. */
  const nodeAt = (base: unknown, path: readonly (string | number)[]): Node | undefined => {
    let node: unknown = base;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        node = pair ? deref(pair.value) : undefined;
      } else if (isSeq(node) && typeof seg === 'number') node = deref(node.items[seg]);
      else return undefined;
    }
    return node as Node | undefined;
  };

  /**
   * Where offset `o` of the string `value` (the scalar `node`) is in the file: found by looking for the
   * text from `o` in the scalar's source (quoting and folding move it), else the scalar's start.
   */
  const locateInScalar = (node: Node | undefined, value: string, fallback: () => SourceRange | undefined) => {
    return (o: number): SourceRange | undefined => {
      const r = node?.range;
      if (!r) return fallback();
      const source = text.slice(r[0], r[1]);
      const line = value.slice(o).split('\n')[0]!;
      for (let len = Math.min(line.length, 40); len > 0; len = Math.floor(len / 2)) {
        const j = source.indexOf(line.slice(0, len), Math.max(0, o - 2));
        const k = j >= 0 ? j : source.indexOf(line.slice(0, len));
        if (k >= 0) return at(r[0] + k);
      }
      return at(r[0]);
    };
  };

  /**
   * A declared value: the plain value with every string parsed as an expression, positions from the
   * YAML nodes at the same paths. A syntax error is reported at its place; `undefined` then.
   */
  const treeOf = (
    v: unknown,
    base: unknown,
    path: (string | number)[],
    field: string,
    fallback: () => SourceRange | undefined,
  ): Tree | undefined => {
    let ok = true;
    const walk = (x: unknown, p: (string | number)[]): Tree => {
      // Most strings are plain text: no expression, no locator made for them.
      if (typeof x === 'string' && !x.includes('${')) return x;
      if (typeof x === 'string') {
        const node = nodeAt(base, p);
        const locate = locateInScalar(node, x, fallback);
        try {
          return new SourceExpr(parseTemplate(x), x, locate);
        } catch (e) {
          if (!(e instanceof SyntaxProblem)) throw e;
          diags.error(
            e.message,
            `${field}${p.length ? `.${formatPath(p.slice(path.length))}` : ''}`.replace(/\.$/, ''),
            locate(e.at),
          );
          ok = false;
          return null;
        }
      }
      if (Array.isArray(x)) return x.map((y, i) => walk(y, [...p, i]));
      if (x !== null && typeof x === 'object') {
        const out: Record<string, Tree> = {};
        for (const [k, y] of Object.entries(x)) {
          const t = walk(y, [...p, k]);
          if (k === '__proto__')
            Object.defineProperty(out, k, { value: t, writable: true, enumerable: true, configurable: true });
          else out[k] = t;
        }
        return out;
      }
      return x as Tree;
    };
    const t = walk(v, path);
    return ok ? t : undefined;
  };

  /** One expression written as a string (`${...}`), or for a validation condition also bare. */
  const exprOf = (node: unknown, field: string, bare: boolean): SourceExpr | undefined => {
    const n = deref(node);
    const v = js(n, field);
    if (v === BAD) return undefined;
    const nn = n as Node | undefined;
    const fallback = () => (nn?.range ? at(nn.range[0]) : undefined);
    if (typeof v !== 'string') {
      if (typeof v === 'number' || typeof v === 'boolean')
        return new SourceExpr({ k: 'lit', value: v, at: 0, end: 0 }, String(v), fallback);
      diags.error('must be an expression, e.g. ${var.count}', field, fallback());
      return undefined;
    }
    const locate = locateInScalar(nn, v, fallback);
    try {
      return new SourceExpr(bare && !v.includes('${') ? parseExpression(v) : parseTemplate(v), v, locate);
    } catch (e) {
      if (!(e instanceof SyntaxProblem)) throw e;
      diags.error(e.message, field, locate(e.at));
      return undefined;
    }
  };

  const variables = deref(root.get('variables', true));
  if (variables !== undefined && !isMap(variables)) {
    diags.error(
      '`variables` must be a mapping of variable names to declarations',
      'variables',
      locateIn(root, ['variables']),
    );
  } else if (isMap(variables)) {
    for (const pair of variables.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const field = `variables.${name}`;
      const keyAt = at((pair.key as Node | null)?.range?.[0]);
      if (!VARIABLE_NAME_RE.test(name)) {
        diags.error(
          'variable names use letters, digits and `_`, starting with a letter or `_`',
          field,
          keyAt,
        );
        continue;
      }
      const node = deref(pair.value) ?? null;
      if (node !== null && !isMap(node)) {
        diags.error(
          'a variable must be a mapping (type, default, description, sensitive, validation)',
          field,
          keyAt,
        );
        continue;
      }
      const decl: VariableBlock = {
        name,
        type: { kind: 'any' },
        sensitive: false,
        validations: [],
        range: keyAt,
      };
      if (isMap(node)) {
        checkKeys(node, VARIABLE_KEYS, field);
        const typeText = js(node.get('type', true), `${field}.type`);
        if (typeText !== undefined && typeText !== BAD) {
          const t =
            typeof typeText === 'string'
              ? parseVariableType(typeText)
              : { error: 'must be a type name such as string' };
          if ('error' in t) diags.error(t.error, `${field}.type`, locateIn(node, ['type']));
          else decl.type = t as VariableType;
        }
        const desc = js(node.get('description', true), `${field}.description`);
        if (typeof desc === 'string') decl.description = desc;
        else if (desc !== undefined && desc !== BAD)
          diags.error('must be a string', `${field}.description`, locateIn(node, ['description']));
        const sens = js(node.get('sensitive', true), `${field}.sensitive`);
        if (typeof sens === 'boolean') decl.sensitive = sens;
        else if (sens !== undefined && sens !== BAD)
          diags.error('must be true or false', `${field}.sensitive`, locateIn(node, ['sensitive']));
        if (node.has('default')) {
          const d = js(node.get('default', true), `${field}.default`);
          if (d !== BAD) {
            // null is "no default" in YAML as in Terraform's (nullable) variables: the variable is required.
            if (d !== null) {
              const c = convertVariable(d, decl.type);
              if ('error' in c)
                diags.error(
                  `the default is not valid: ${c.error}`,
                  `${field}.default`,
                  locateIn(node, ['default']),
                );
              else decl.default = c.value;
            }
          }
        }
        const vnode = deref(node.get('validation', true));
        if (vnode !== undefined) {
          const rules = isSeq(vnode) ? vnode.items.map((x) => deref(x)) : [vnode];
          rules.forEach((rule, i) => {
            const rfield = `${field}.validation${isSeq(vnode) ? `[${i}]` : ''}`;
            if (!isMap(rule)) {
              diags.error(
                'a validation rule is a mapping with condition and error_message',
                rfield,
                locateIn(node, ['validation']),
              );
              return;
            }
            checkKeys(rule, VALIDATION_KEYS, rfield);
            const condition = rule.has('condition')
              ? exprOf(rule.get('condition', true), `${rfield}.condition`, true)
              : undefined;
            if (!rule.has('condition'))
              diags.error('is required', `${rfield}.condition`, at((rule as Node).range?.[0]));
            const msg = js(
              rule.get('error_message', true) ?? rule.get('errorMessage', true),
              `${rfield}.error_message`,
            );
            if (typeof msg !== 'string' || msg === '') {
              diags.error(
                'is required: the message shown when the condition is false',
                `${rfield}.error_message`,
                at((rule as Node).range?.[0]),
              );
              return;
            }
            if (condition) decl.validations.push({ condition, errorMessage: msg });
          });
        }
      }
      template.variables.push(decl);
    }
  }

  const locals = deref(root.get('locals', true));
  if (locals !== undefined && !isMap(locals)) {
    diags.error('`locals` must be a mapping of names to values', 'locals', locateIn(root, ['locals']));
  } else if (isMap(locals)) {
    for (const pair of locals.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const field = `locals.${name}`;
      const keyAt = at((pair.key as Node | null)?.range?.[0]);
      if (!VARIABLE_NAME_RE.test(name)) {
        diags.error('local names use letters, digits and `_`, starting with a letter or `_`', field, keyAt);
        continue;
      }
      const node = deref(pair.value);
      const raw = js(node, field);
      if (raw === BAD) continue;
      const tree = treeOf(raw, node, [], field, () => keyAt);
      if (tree !== undefined) template.locals.set(name, tree);
    }
  }

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
        template.invalid.add(name);
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
      const properties = treeOf(rawProps, propsNode, [], `${field}.properties`, () => locate(['properties']));
      if (properties === undefined) {
        template.invalid.add(name);
        continue;
      }
      const count = node.has('count') ? exprOf(node.get('count', true), `${field}.count`, false) : undefined;
      const forEach = node.has('forEach')
        ? exprOf(node.get('forEach', true), `${field}.forEach`, false)
        : undefined;
      if ((node.has('count') && !count) || (node.has('forEach') && !forEach)) {
        template.invalid.add(name);
        continue;
      }
      if (count && forEach) {
        diags.error('count and forEach exclude each other', `${field}.forEach`, locateIn(node, ['forEach']));
        template.invalid.add(name);
        continue;
      }
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
      const block: ResourceBlock = {
        name,
        type,
        properties: properties as Record<string, Tree>,
        ...(count ? { count } : {}),
        ...(forEach ? { forEach } : {}),
        dependsOn: deps,
        locate,
        lifecycle: opts.lifecycle,
        timeouts: opts.timeouts,
      };
      template.resources.set(name, block);
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
      const value = treeOf(raw ?? null, nodeAt(node, valuePath), [], field, () => locate([]));
      if (value === undefined) continue;
      const out: OutputBlock = { name, value, sensitive, description, locate };
      template.outputs.set(name, out);
    }
  }

  const backendNode = root.get('backend', true);
  const raw = backendNode === undefined ? BAD : js(backendNode, 'backend');
  if (raw !== BAD) {
    const { backend: b, problems } = normalizeBackend(raw, dir);
    for (const p of problems)
      diags.error(p.message, `backend.${p.path.join('.')}`, locateIn(root, ['backend', ...p.path]));
    if (b) template.backend = b;
  }

  return { template, diagnostics: diags };
}
