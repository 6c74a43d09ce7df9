/** Minimal XML text helpers: enough to render libvirt XML safely and to read back the few values we wrote. */

/** Escapes `s` for use as XML character data or inside a single- or double-quoted attribute value. */
export function xmlEscape(s: string): string {
  // XML 1.0 forbids most C0 control characters even as character references; libvirt would reject them.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s)) {
    throw new Error(`value ${JSON.stringify(s)} contains characters that XML cannot carry`);
  }
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Reverses {@link xmlEscape} (and numeric character references) for text read back from libvirt. */
export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, ent: string) => {
    switch (ent) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(
          ent.startsWith('#x') ? Number.parseInt(ent.slice(2), 16) : Number.parseInt(ent.slice(1), 10),
        );
    }
  });
}

/** Renders a start tag, `<name a="v" ...>` (or self-closing), skipping attributes whose value is undefined. */
export function tag(
  name: string,
  attrs: Record<string, string | number | undefined> = {},
  selfClose = false,
): string {
  const rendered = Object.entries(attrs)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');
  return `<${name}${rendered}${selfClose ? '/>' : '>'}`;
}

/** Renders `<name attrs>text</name>` with `text` escaped. */
export function element(
  name: string,
  text: string | number,
  attrs: Record<string, string | number | undefined> = {},
) {
  return `${tag(name, attrs)}${xmlEscape(String(text))}</${name}>`;
}
