/** The `--json` convention: read-only commands print one JSON document on stdout, or text for people. */
export function emit<T>(json: boolean | undefined, data: T, text: (d: T) => string): void {
  if (json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else {
    const out = text(data);
    process.stdout.write(out.endsWith("\n") ? out : `${out}\n`);
  }
}

/** Left-aligned columns for text tables. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "))
    .join("\n");
}
