/**
 * The expression language of stack files: strings that hold `${...}` (Terraform's template
 * interpolation, https://developer.hashicorp.com/terraform/language/expressions/strings). Inside the
 * braces: `var.NAME`, `local.NAME`, `count.index`, `each.key` / `each.value`, resources (`web`,
 * `web.accessIpV4`, `web[1].id`, `web["a"]`), function calls (`format("web-%d", count.index)`),
 * literals (`"text"`, `3`, `true`, `null`, `[1, 2]`, `{a = 1}`), indexing (`x[0]`, `x.key`) and
 * the operators `! - * / % + - < <= > >= == != && || ?:` with HCL's precedence. `$${` is a literal `${`.
 *
 * Every node records where it starts and ends in the string (UTF-16 offsets), for messages.
 */

/** A parsed expression. `at`/`end`: offsets of its first character and just after its last. */
export type Expr = (
  | { k: 'lit'; value: unknown }
  /** A string mixing text and interpolations; parts are text or expressions. */
  | { k: 'tmpl'; parts: (string | Expr)[] }
  /** A bare name: `var`, `local`, `count`, `each`, or a resource. */
  | { k: 'name'; name: string }
  /** `obj.key` (attr: true) or `obj[key]`. */
  | { k: 'get'; obj: Expr; key: Expr; attr: boolean }
  | { k: 'call'; fn: string; args: Expr[] }
  /** An operator: `==`, `+`, `!`, `neg` (unary minus), `?:` ... */
  | { k: 'op'; op: string; args: Expr[] }
  | { k: 'list'; items: Expr[] }
  | { k: 'map'; entries: [string, Expr][] }
) & { at: number; end: number };

/** A syntax error at an offset of the string. */
export class SyntaxProblem extends Error {
  override readonly name = 'SyntaxProblem';
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

const IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER = /[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

/** Binary operators by precedence level, lowest first (HCL's order). */
const LEVELS: string[][] = [
  ['||'],
  ['&&'],
  ['==', '!='],
  ['<=', '>=', '<', '>'],
  ['+', '-'],
  ['*', '/', '%'],
];

class Parser {
  pos: number;
  constructor(
    readonly s: string,
    start: number,
  ) {
    this.pos = start;
  }

  fail(message: string, at = this.pos): never {
    throw new SyntaxProblem(message, at);
  }

  /** Skips whitespace and returns where the next token starts. */
  mark(): number {
    this.ws();
    return this.pos;
  }

  ws(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }

  /** Consumes `tok` (after whitespace) when it comes next. */
  eat(tok: string): boolean {
    this.ws();
    if (!this.s.startsWith(tok, this.pos)) return false;
    this.pos += tok.length;
    return true;
  }

  expect(tok: string, what: string): void {
    if (!this.eat(tok)) this.fail(`expected ${tok} ${what}${this.found()}`);
  }

  found(): string {
    this.ws();
    if (this.pos >= this.s.length) return ', found the end of the string';
    return `, found ${JSON.stringify(this.s.slice(this.pos, this.pos + 10))}`;
  }

  ident(): string | undefined {
    this.ws();
    IDENT.lastIndex = this.pos;
    const m = IDENT.exec(this.s);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  expr(): Expr {
    const at = this.mark();
    const cond = this.binary(0);
    if (this.eat('?')) {
      const a = this.expr();
      this.expect(':', 'in a conditional (c ? a : b)');
      const b = this.expr();
      return { k: 'op', op: '?:', args: [cond, a, b], at, end: this.pos };
    }
    return cond;
  }

  binary(level: number): Expr {
    if (level >= LEVELS.length) return this.unary();
    const at = this.mark();
    let left = this.binary(level + 1);
    for (;;) {
      this.ws();
      const op = LEVELS[level]!.find(
        (o) =>
          this.s.startsWith(o, this.pos) &&
          // `<` is not the start of `<=` here, `=` alone is not an operator, and `=>` is not `=`.
          !(o.length === 1 && (o === '<' || o === '>') && this.s[this.pos + 1] === '='),
      );
      if (!op) return left;
      this.pos += op.length;
      const right = this.binary(level + 1);
      left = { k: 'op', op, args: [left, right], at, end: this.pos };
    }
  }

  unary(): Expr {
    const at = this.mark();
    if (this.eat('!')) return { k: 'op', op: '!', args: [this.unary()], at, end: this.pos };
    if (this.s[this.pos] === '-' && !/[0-9]/.test(this.s[this.pos + 1] ?? '')) {
      this.pos++;
      return { k: 'op', op: 'neg', args: [this.unary()], at, end: this.pos };
    }
    return this.postfix(this.primary());
  }

  postfix(base: Expr): Expr {
    let e = base;
    for (;;) {
      this.ws();
      if (this.s[this.pos] === '.' && !/[0-9]/.test(this.s[this.pos + 1] ?? '')) {
        this.pos++;
        const keyAt = this.pos;
        const name = this.ident();
        if (!name) this.fail(`expected an attribute name after .${this.found()}`);
        e = {
          k: 'get',
          obj: e,
          key: { k: 'lit', value: name, at: keyAt, end: this.pos },
          attr: true,
          at: e.at,
          end: this.pos,
        };
      } else if (this.s[this.pos] === '[') {
        this.pos++;
        const key = this.expr();
        this.expect(']', 'to close the index');
        e = { k: 'get', obj: e, key, attr: false, at: e.at, end: this.pos };
      } else return e;
    }
  }

  primary(): Expr {
    this.ws();
    const at = this.pos;
    const c = this.s[this.pos];
    if (c === undefined || c === '}') this.fail('expected an expression', at);
    if (c === '"') return { k: 'lit', value: this.string(), at, end: this.pos };
    if (c === '-' || /[0-9]/.test(c)) {
      const neg = c === '-';
      if (neg) this.pos++;
      NUMBER.lastIndex = this.pos;
      const m = NUMBER.exec(this.s);
      if (!m) this.fail('expected a number', at);
      this.pos += m[0].length;
      return { k: 'lit', value: (neg ? -1 : 1) * Number(m[0]), at, end: this.pos };
    }
    if (c === '(') {
      this.pos++;
      const e = this.expr();
      this.expect(')', 'to close the parenthesis');
      return { ...e, at, end: this.pos };
    }
    if (c === '[') {
      this.pos++;
      const items: Expr[] = [];
      while (!this.eat(']')) {
        items.push(this.expr());
        if (!this.eat(',')) {
          this.expect(']', 'to close the list');
          break;
        }
      }
      return { k: 'list', items, at, end: this.pos };
    }
    if (c === '{') {
      this.pos++;
      const entries: [string, Expr][] = [];
      while (!this.eat('}')) {
        this.ws();
        const key = this.s[this.pos] === '"' ? this.string() : this.ident();
        if (key === undefined) this.fail(`expected a key${this.found()}`);
        if (!this.eat('=') && !this.eat(':')) this.fail(`expected = or : after the key${this.found()}`);
        entries.push([key, this.expr()]);
        if (!this.eat(',')) {
          this.expect('}', 'to close the map');
          break;
        }
      }
      return { k: 'map', entries, at, end: this.pos };
    }
    const name = this.ident();
    if (!name) this.fail(`unexpected ${JSON.stringify(c)}`, at);
    if (name === 'true' || name === 'false') return { k: 'lit', value: name === 'true', at, end: this.pos };
    if (name === 'null') return { k: 'lit', value: null, at, end: this.pos };
    if (this.eat('(')) {
      const args: Expr[] = [];
      while (!this.eat(')')) {
        args.push(this.expr());
        if (!this.eat(',')) {
          this.expect(')', `to close the call of ${name}()`);
          break;
        }
      }
      return { k: 'call', fn: name, args, at, end: this.pos };
    }
    return { k: 'name', name, at, end: this.pos };
  }

  /** A double-quoted string literal with JSON's escapes. */
  string(): string {
    const at = this.pos;
    this.pos++;
    let out = '';
    while (this.pos < this.s.length && this.s[this.pos] !== '"') {
      const ch = this.s[this.pos]!;
      if (ch === '\\') {
        const e = this.s[this.pos + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r', '/': '/' };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          this.pos += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(Number.parseInt(this.s.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
        } else this.fail('unknown escape in a string literal', this.pos);
      } else {
        out += ch;
        this.pos++;
      }
    }
    if (this.s[this.pos] !== '"') this.fail('unterminated string literal', at);
    this.pos++;
    return out;
  }
}

/** Parses one expression (the body of `${...}` without the braces), e.g. for a validation condition. */
export function parseExpression(text: string): Expr {
  const p = new Parser(text, 0);
  const e = p.expr();
  p.ws();
  if (p.pos < text.length)
    p.fail(`unexpected ${JSON.stringify(text.slice(p.pos, p.pos + 10))} after the expression`);
  return e;
}

/**
 * Parses a string that may hold `${...}`: a literal (no interpolation), the expression itself (the whole
 * string is one `${...}`: its value keeps its type, a list stays a list), or a template (text and
 * interpolations, rendered as a string). Throws SyntaxProblem.
 */
export function parseTemplate(s: string): Expr {
  if (!s.includes('${')) return { k: 'lit', value: s, at: 0, end: s.length };
  const parts: (string | Expr)[] = [];
  let lit = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      lit += '${';
      i += 3;
    } else if (s.startsWith('${', i)) {
      const p = new Parser(s, i + 2);
      if (p.eat('}')) p.fail('empty ${}', i);
      const e = p.expr();
      if (!p.eat('}')) {
        p.ws();
        if (p.pos >= s.length) p.fail('unterminated ${: expected }', i);
        p.fail(`expected } to end the \${ started at column ${i + 1}${p.found()}`);
      }
      if (lit) parts.push(lit);
      lit = '';
      parts.push(e);
      i = p.pos;
    } else {
      lit += s[i];
      i++;
    }
  }
  if (lit) parts.push(lit);
  if (parts.length === 1 && typeof parts[0] !== 'string') return parts[0]!;
  if (parts.every((x) => typeof x === 'string'))
    return { k: 'lit', value: parts.join(''), at: 0, end: s.length };
  return { k: 'tmpl', parts, at: 0, end: s.length };
}

/** Calls `fn` for every node of `e`, parents first. */
export function walkExpr(e: Expr, fn: (e: Expr) => void): void {
  fn(e);
  switch (e.k) {
    case 'tmpl':
      for (const p of e.parts) if (typeof p !== 'string') walkExpr(p, fn);
      break;
    case 'get':
      walkExpr(e.obj, fn);
      walkExpr(e.key, fn);
      break;
    case 'call':
    case 'op':
      for (const a of e.args) walkExpr(a, fn);
      break;
    case 'list':
      for (const x of e.items) walkExpr(x, fn);
      break;
    case 'map':
      for (const [, x] of e.entries) walkExpr(x, fn);
      break;
  }
}

/** The `var.X` / `local.X` names an expression reads (`kind.name`), for dependencies and sensitivity. */
export function namesRead(e: Expr): { vars: Set<string>; locals: Set<string> } {
  const vars = new Set<string>();
  const locals = new Set<string>();
  walkExpr(e, (n) => {
    if (n.k === 'get' && n.attr && n.obj.k === 'name' && n.key.k === 'lit') {
      if (n.obj.name === 'var') vars.add(String(n.key.value));
      if (n.obj.name === 'local') locals.add(String(n.key.value));
    }
  });
  return { vars, locals };
}
