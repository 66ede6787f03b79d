// Counts test points in TAP streams written by `tap --reporter=tap`.
// A point counts once: leaves (assertions) and subtests that failed without a
// failing leaf (a crash, a timeout) — never a subtest's summary line on top of
// its own assertions. Prints failures, or the final `N passed, N failed`.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
let checksPassed = 0;
let checksFailed = 0;
let showFailuresOnly = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--checks-passed") checksPassed = Number(args[++i]);
  else if (a === "--checks-failed") checksFailed = Number(args[++i]);
  else if (a === "--failures") showFailuresOnly = true;
  else files.push(a);
}

const POINT = /^(\s*)(not ok|ok) \d+(?: - (.*?))?(?: # (SKIP|TODO)\S*.*)?$/i;
const FILE = /^# Subtest: (.*)$/;

/** The test file a line belongs to, and the diagnostic block after it, so a CI log says where. */
function describe(lines, at, name) {
  let file = "?";
  for (let i = at; i >= 0; i--) {
    const m = FILE.exec(lines[i]);
    if (m) {
      file = m[1];
      break;
    }
  }
  const out = [`${file}: ${name}`];
  if (/^\s*---\s*$/.test(lines[at + 1] ?? "")) {
    let shown = 0;
    for (let i = at + 2; i < lines.length && shown < 24; i++) {
      if (/^\s*\.\.\.\s*$/.test(lines[i])) break;
      if (lines[i].trim() === "") continue;
      out.push(`    ${lines[i].trim()}`);
      shown++;
    }
  }
  return out.join("\n");
}
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

for (const f of files) {
  let text = "";
  try {
    text = readFileSync(f, "utf8");
  } catch {
    continue;
  }
  const lines = text.split("\n");
  // Stack of {indent, failedLeaf} for open subtests.
  const points = [];
  for (let i = 0; i < lines.length; i++) {
    const m = POINT.exec(lines[i]);
    if (!m) continue;
    points.push({ indent: m[1].length, ok: m[2] === "ok", name: m[3] ?? "", directive: m[4], line: i });
  }
  // A point is a subtest summary when the point before it is more deeply indented.
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const isSummary = i > 0 && points[i - 1].indent > p.indent;
    if (isSummary) {
      // Count it only if it failed and no deeper point since its start failed.
      if (!p.ok) {
        let childFailed = false;
        for (let j = i - 1; j >= 0 && points[j].indent > p.indent; j--) if (!points[j].ok) childFailed = true;
        if (!childFailed && !p.directive) {
          failed++;
          failures.push(describe(lines, p.line, p.name));
        }
      }
      continue;
    }
    if (p.directive) skipped++;
    else if (p.ok) passed++;
    else {
      failed++;
      failures.push(describe(lines, p.line, p.name));
    }
  }
}

if (showFailuresOnly) {
  for (const x of failures) console.log(`FAILED ${x}`);
  console.log(`   ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""} in this tier`);
} else {
  for (const x of failures) console.log(`FAILED ${x}`);
  if (checksFailed) console.log(`${checksFailed} static check(s) failed (type-check, lint or format)`);
  const p = passed + checksPassed;
  const fl = failed + checksFailed;
  console.log(`${p} passed, ${fl} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exit(fl > 0 || p === 0 ? 1 : 0);
}
