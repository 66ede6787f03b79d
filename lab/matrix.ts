import type { ProbeProtocol } from "./protocol.js";

/** "80/TCP" style keys, as Kubernetes writes a port and protocol. */
export type PortKey = `${number}/${ProbeProtocol}`;
/** source "ns/pod" → destination "ns/pod" → allowed. */
export type Matrix = Record<string, Record<string, boolean>>;

/** The `tortie lab matrix --json` document (a contract: keep the field names). */
export interface MatrixReport {
  readonly port: PortKey;
  readonly pods: readonly string[];
  readonly matrix: Matrix;
}

/** One cell whose verdict differs between two matrices of the same port. */
export interface MatrixChange {
  readonly from: string;
  readonly to: string;
  readonly before: boolean | undefined;
  readonly after: boolean;
}

/** Parses "80/TCP" (protocol case-insensitive, TCP when omitted); undefined when it is not a port. */
export function parsePortKey(text: string): PortKey | undefined {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return undefined;
  const proto = (m[2] ?? "TCP").toUpperCase() as ProbeProtocol;
  return `${port}/${proto}`;
}

/** Every cell where got differs from want, as "from -> to port: want allow/deny". */
export function matrixDiff(want: Record<string, Matrix>, got: Record<string, Matrix>): string[] {
  const out: string[] = [];
  for (const [port, wm] of Object.entries(want))
    for (const [a, row] of Object.entries(wm))
      for (const [b, w] of Object.entries(row)) {
        const g = got[port]?.[a]?.[b];
        if (g !== w)
          out.push(`${a} -> ${b} ${port}: want ${w ? "allow" : "deny"}, got ${g ? "allow" : "deny"}`);
      }
  return out;
}

/** The cells of `after` whose verdict is not the one in `before` (cells new in `after` count as changed). */
export function matrixChanges(before: Matrix | undefined, after: Matrix): MatrixChange[] {
  const out: MatrixChange[] = [];
  for (const [from, row] of Object.entries(after))
    for (const [to, allowed] of Object.entries(row)) {
      const was = before?.[from]?.[to];
      if (was !== allowed) out.push({ from, to, before: was, after: allowed });
    }
  return out;
}

/** A readable grid for terminals: rows are sources, columns destinations; "." allowed, "X" denied, "*" changed. */
export function formatMatrix(m: Matrix, changed: readonly MatrixChange[] = []): string {
  const keys = Object.keys(m);
  const isChanged = new Set(changed.map((c) => `${c.from} ${c.to}`));
  const index = keys.map((_, i) => String(i + 1));
  const w = Math.max(3, ...index.map((s) => s.length + 2));
  const nameW = Math.max(8, ...keys.map((k, i) => k.length + index[i]!.length + 1));
  const head = ["from \\ to".padEnd(nameW), ...index.map((s) => s.padStart(w))].join(" ");
  const rows = keys.map((a, i) =>
    [
      `${index[i]} ${a}`.padEnd(nameW),
      ...keys.map((b) => {
        const mark = m[a]?.[b] ? "." : "X";
        return (isChanged.has(`${a} ${b}`) ? `*${mark}` : mark).padStart(w);
      }),
    ].join(" "),
  );
  return [head, ...rows].join("\n");
}

/** One line per changed cell, for people; past `max` lines, a count of the rest (the picture shows them all). */
export function formatChanges(changes: readonly MatrixChange[], max = 12): string {
  if (changes.length === 0) return "no change";
  const verdict = (v: boolean | undefined) => (v === undefined ? "new" : v ? "allowed" : "denied");
  const lines = changes
    .slice(0, max)
    .map((c) => `${c.from} -> ${c.to}: ${verdict(c.before)} -> ${verdict(c.after)}`);
  if (changes.length > max) {
    const nowDenied = changes.filter((c) => !c.after).length;
    lines.push(
      `... and ${changes.length - max} more: ${changes.length} cell(s) changed in all, ${nowDenied} now denied, ${changes.length - nowDenied} now allowed`,
    );
  }
  return lines.join("\n");
}

const escapeXml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
  );

/**
 * The matrix as a picture: a grid of squares, green allowed, red denied, with the pod names along
 * both axes; a changed cell gets a thick outline, so a picture drawn after a policy shows what it did.
 */
export function renderSvg(report: MatrixReport, changed: readonly MatrixChange[] = []): string {
  const cell = 22;
  const keys = report.pods;
  const label = Math.max(60, ...keys.map((k) => k.length * 7 + 10));
  const top = label + 30;
  const width = label + keys.length * cell + 20;
  const height = top + keys.length * cell + 40;
  const isChanged = new Set(changed.map((c) => `${c.from} ${c.to}`));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<title>${escapeXml(`tortie lab: connectivity on ${report.port}`)}</title>`,
    `<text x="4" y="16" font-size="13">${escapeXml(`connectivity on ${report.port} (rows: from, columns: to)`)}</text>`,
  ];
  keys.forEach((k, i) => {
    const y = top + i * cell + cell * 0.7;
    parts.push(`<text x="${label - 6}" y="${y}" text-anchor="end">${escapeXml(k)}</text>`);
    const x = label + i * cell + cell * 0.7;
    parts.push(
      `<text x="${x}" y="${top - 6}" transform="rotate(-60 ${x} ${top - 6})">${escapeXml(k)}</text>`,
    );
  });
  keys.forEach((a, i) =>
    keys.forEach((b, j) => {
      const ok = report.matrix[a]?.[b] === true;
      const ch = isChanged.has(`${a} ${b}`);
      parts.push(
        `<rect x="${label + j * cell + 1}" y="${top + i * cell + 1}" width="${cell - 2}" height="${cell - 2}" fill="${ok ? "#2e9d4a" : "#d23b3b"}"${ch ? ' stroke="#111" stroke-width="3"' : ""}><title>${escapeXml(`${a} -> ${b}: ${ok ? "allowed" : "denied"}${ch ? " (changed)" : ""}`)}</title></rect>`,
      );
    }),
  );
  const legendY = top + keys.length * cell + 24;
  parts.push(
    `<rect x="4" y="${legendY - 11}" width="12" height="12" fill="#2e9d4a"/><text x="20" y="${legendY}">allowed</text>`,
    `<rect x="84" y="${legendY - 11}" width="12" height="12" fill="#d23b3b"/><text x="100" y="${legendY}">denied</text>`,
    `<rect x="164" y="${legendY - 11}" width="12" height="12" fill="none" stroke="#111" stroke-width="3"/><text x="180" y="${legendY}">changed</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}

/** The picture wrapped in a page, with the changes listed under it. */
export function renderHtml(report: MatrixReport, changed: readonly MatrixChange[] = []): string {
  const list = changed
    .map(
      (c) =>
        `<li>${escapeXml(`${c.from} → ${c.to}: ${c.before === undefined ? "new" : c.before ? "allowed" : "denied"} → ${c.after ? "allowed" : "denied"}`)}</li>`,
    )
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>tortie lab: ${escapeXml(report.port)}</title></head>
<body style="font-family: sans-serif">
<h1>tortie lab: connectivity on ${escapeXml(report.port)}</h1>
${renderSvg(report, changed)}
<h2>Changed since the previous matrix (${changed.length})</h2>
<ul>
${list}
</ul>
</body></html>
`;
}
