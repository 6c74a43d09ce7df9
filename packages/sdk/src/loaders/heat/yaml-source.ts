/**
 * A YAML file read with positions, for the HOT loader: the document, a way to turn an offset into
 * file:line:column, and node helpers that resolve aliases. Templates, environment files and nested
 * templates are all read through it, so every diagnostic points into the file that holds the problem.
 */
import { readFileSync } from 'node:fs';
import type { Node, YAMLMap } from 'yaml';
import type { Diagnostics, SourceRange } from '../../diagnostics/index.js';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from '../../util/yaml.generated.js';
import { firstInvalidUtf8 } from '../stack-yaml.js';

/** One YAML file with positions. */
export class YamlSource {
  private constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: ReturnType<typeof parseDocument>,
    private readonly lc: LineCounter,
    private readonly diags: Diagnostics,
  ) {}

  /** Parses `text`; YAML errors are reported and undefined is returned. */
  static parse(text: string, file: string, diags: Diagnostics): YamlSource | undefined {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    const src = new YamlSource(file, text, doc, lc, diags);
    for (const e of [...doc.errors, ...doc.warnings])
      diags.error(e.message.split('\n')[0]!, undefined, src.at(e.pos[0]));
    return doc.errors.length || doc.warnings.length ? undefined : src;
  }

  /** Reads and parses `file` (strict UTF-8); problems are reported at `from` or the file's start. */
  static read(file: string, diags: Diagnostics, what: string, from?: SourceRange): YamlSource | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      diags.error(
        `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        undefined,
        from ?? { file, line: 1, column: 1 },
      );
      return undefined;
    }
    const bad = firstInvalidUtf8(bytes);
    if (bad >= 0) {
      diags.error(`the file is not valid UTF-8 (byte offset ${bad})`, undefined, {
        file,
        line: 1,
        column: 1,
      });
      return undefined;
    }
    return YamlSource.parse(bytes.toString('utf8'), file, diags);
  }

  /** The position of an offset. */
  at(offset: number | undefined): SourceRange {
    const p = this.lc.linePos(offset ?? 0);
    return { file: this.file, line: p.line, column: p.col };
  }

  /** The position of a node (its first character), or of the file's start. */
  pos(node: unknown): SourceRange {
    return this.at((node as Node | undefined)?.range?.[0]);
  }

  /** Aliases resolved so far: yaml's resolve walks the document each time, and bombs use thousands. */
  private readonly resolved = new Map<unknown, unknown>();

  /** `n` with aliases resolved (a bounded walk, so a cycle of aliases ends). */
  deref(n: unknown): unknown {
    if (!isAlias(n)) return n;
    if (this.resolved.has(n)) return this.resolved.get(n);
    let cur: unknown = n;
    for (let i = 0; i < 100 && isAlias(cur); i++) cur = cur.resolve(this.doc);
    const out = isAlias(cur) ? undefined : cur;
    this.resolved.set(n, out);
    return out;
  }

  /** The document's root node. */
  get root(): unknown {
    return this.deref(this.doc.contents);
  }

  /** The pairs of a mapping as [key text, key node, value node (aliases resolved)]. */
  pairs(map: YAMLMap): [string, Node | null, unknown][] {
    return map.items.map((p) => [
      isScalar(p.key) ? String(p.key.value) : String(p.key),
      p.key as Node | null,
      this.deref(p.value),
    ]);
  }

  /** The value node at `key` of a mapping (aliases resolved), or undefined. */
  get(map: unknown, key: string): unknown {
    if (!isMap(map)) return undefined;
    const p = map.items.find((x) => isScalar(x.key) && String(x.key.value) === key);
    return p ? this.deref(p.value) : undefined;
  }

  /** The key node of `key` in a mapping, for positions. */
  keyNode(map: unknown, key: string): Node | undefined {
    if (!isMap(map)) return undefined;
    const p = map.items.find((x) => isScalar(x.key) && String(x.key.value) === key);
    return (p?.key as Node | undefined) ?? undefined;
  }

  /** The node at `path` below `base`: the key node of the last map step, for positions; else the deepest found. */
  locate(base: unknown, path: readonly (string | number)[]): SourceRange | undefined {
    let node: unknown = base;
    let best: unknown = base;
    for (const seg of path) {
      if (isMap(node)) {
        const k = this.keyNode(node, String(seg));
        if (!k) break;
        best = k;
        node = this.get(node, String(seg));
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = this.deref(node.items[seg]);
        best = node;
      } else break;
    }
    return (best as Node | undefined)?.range ? this.pos(best) : undefined;
  }

  /**
   * The plain value of a node (aliases expanded, at most 1,000 of them). A value that cannot be
   * expanded (an alias bomb, an alias inside what it names) is reported at the node: undefined then.
   */
  js(n: unknown): unknown {
    if (n === null || n === undefined) return n;
    try {
      const v: unknown = (n as Node).toJS(this.doc, { maxAliasCount: 1000 });
      if (!isAcyclic(v)) throw new Error('an alias refers to a node that contains it');
      return v;
    } catch (e) {
      this.diags.error(
        `cannot be expanded: ${(e as Error).message.split('\n')[0]} (an alias bomb?)`,
        undefined,
        this.pos(n),
      );
      return undefined;
    }
  }
}

/** Whether a plain value has no cycle. */
function isAcyclic(v: unknown, onPath = new Set<object>()): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (onPath.has(v)) return false;
  onPath.add(v);
  const ok = Object.values(v).every((x) => isAcyclic(x, onPath));
  onPath.delete(v);
  return ok;
}

export { isAlias, isMap, isScalar, isSeq };
