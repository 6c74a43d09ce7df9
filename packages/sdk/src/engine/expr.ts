/** A reference to another resource: `${name}` (its id) or `${name.attr[0].field}`. */
export class Ref {
  constructor(
    readonly resource: string,
    readonly path: readonly (string | number)[],
    /** The text as written, e.g. `${web.accessIpV4}`. */
    readonly text: string,
  ) {}
}

/**
 * A function or operator applied to values of which some depend on other resources (the rest were
 * evaluated when the stack was loaded): `${format("http://%s/", web.accessIpV4)}`. Evaluated by the
 * engine once its arguments are known (see functions.ts); unknown while one is not.
 */
export class Call {
  constructor(
    /** A function name (functions.ts FUNCTIONS) or an operator symbol (OPERATORS). */
    readonly fn: string,
    readonly args: readonly Value[],
    /** The expression as written, e.g. `${format("http://%s/", web.accessIpV4)}`. */
    readonly text: string,
  ) {}
}

/** A string with references interpolated, e.g. `http://${web.accessIpV4}/`. */
export class Template {
  constructor(readonly parts: readonly (string | Ref | Call)[]) {}
}

/** A configuration value: JSON with references. */
export type Value =
  | null
  | boolean
  | number
  | string
  | Ref
  | Template
  | Call
  | Value[]
  | { [k: string]: Value };

const REF_BODY = /^([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)$/;

/** Parses one `${...}` body into a Ref, or returns an error message. */
function parseRef(body: string): Ref | string {
  const m = REF_BODY.exec(body.trim());
  if (!m) return `invalid reference \${${body}}: expected \${name} or \${name.attribute}`;
  const path: (string | number)[] = [];
  for (const seg of m[2]!.matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    path.push(seg[1] !== undefined ? seg[1] : Number(seg[2]));
  }
  return new Ref(m[1]!, path, `\${${body}}`);
}

/**
 * Parses a string that may contain `${...}` references. `$${` is a literal `${`.
 * Returns the string itself when it has no references.
 */
export function parseString(s: string): string | Ref | Template | { error: string } {
  if (!s.includes('${')) return s;
  const parts: (string | Ref)[] = [];
  let lit = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      lit += '${';
      i += 3;
    } else if (s.startsWith('${', i)) {
      const end = s.indexOf('}', i + 2);
      if (end < 0) return { error: `unterminated reference in ${JSON.stringify(s)}` };
      const ref = parseRef(s.slice(i + 2, end));
      if (typeof ref === 'string') return { error: ref };
      if (lit) parts.push(lit);
      lit = '';
      parts.push(ref);
      i = end + 1;
    } else {
      lit += s[i];
      i++;
    }
  }
  if (lit) parts.push(lit);
  if (parts.length === 1 && parts[0] instanceof Ref) return parts[0];
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return new Template(parts);
}

/** Calls `fn` for every reference in `v`, with the path of the value holding it. */
export function walkRefs(
  v: Value,
  fn: (ref: Ref, path: (string | number)[]) => void,
  path: (string | number)[] = [],
): void {
  if (v instanceof Ref) fn(v, path);
  else if (v instanceof Template) {
    for (const p of v.parts) if (typeof p !== 'string') walkRefs(p, fn, path);
  } else if (v instanceof Call) {
    for (const a of v.args) walkRefs(a, fn, path);
  } else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) walkRefs(x, fn, [...path, i]);
  } else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) walkRefs(x, fn, [...path, k]);
}

/** Turns references back into their text, giving plain JSON (for schema validation). */
export function toRawJson(v: Value): unknown {
  if (v instanceof Ref || v instanceof Call) return v.text;
  if (v instanceof Template)
    return v.parts.map((p) => (typeof p !== 'string' ? p.text : p.replace(/\$\{/g, () => '$${'))).join('');
  if (Array.isArray(v)) return v.map(toRawJson);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toRawJson(x)]));
  return v;
}

/** Parses every string in plain JSON for references; reports malformed ones through `onError`. */
export function fromRawJson(
  v: unknown,
  onError: (message: string, path: (string | number)[]) => void,
  path: (string | number)[] = [],
): Value {
  if (typeof v === 'string') {
    const r = parseString(v);
    if (typeof r === 'object' && 'error' in r) {
      onError(r.error, path);
      return v;
    }
    return r;
  }
  if (Array.isArray(v)) return v.map((x, i) => fromRawJson(x, onError, [...path, i]));
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromRawJson(x, onError, [...path, k])]));
  return v as Value;
}
