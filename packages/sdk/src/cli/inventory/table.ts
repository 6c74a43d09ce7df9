/**
 * Tables as the OpenStack CLI prints them (`openstack server list`): a `+---+` border, a header row, one
 * row per object; cells holding several values put one per line.
 */

/** Renders `rows` under `headers`. Cells are strings; a newline in a cell starts another line of the row. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h) => h.length);
  const lines = rows.map((r) => r.map((c) => c.split('\n')));
  for (const r of lines)
    r.forEach((cell, i) => {
      for (const l of cell) widths[i] = Math.max(widths[i] ?? 0, l.length);
    });
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const row = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [rule, row(headers), rule];
  for (const r of lines) {
    const height = Math.max(1, ...r.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(row(r.map((c) => c[k] ?? '')));
  }
  out.push(rule);
  return `${out.join('\n')}\n`;
}
