import t from "tap";
import {
  formatChanges,
  formatMatrix,
  matrixChanges,
  parsePortKey,
  renderHtml,
  renderSvg,
  type Matrix,
} from "../../lab/matrix.js";

const before: Matrix = {
  "a/x": { "a/x": true, "b/y": true },
  "b/y": { "a/x": true, "b/y": true },
};
const after: Matrix = {
  "a/x": { "a/x": true, "b/y": false },
  "b/y": { "a/x": true, "b/y": true },
};

t.test("ports are read as Kubernetes writes them", async (t) => {
  t.equal(parsePortKey("80/TCP"), "80/TCP");
  t.equal(parsePortKey("81/udp"), "81/UDP");
  t.equal(parsePortKey("443"), "443/TCP");
  t.equal(parsePortKey("0/TCP"), undefined);
  t.equal(parsePortKey("70000/TCP"), undefined);
  t.equal(parsePortKey("80/SCTP"), undefined);
});

t.test("changes between two matrices, cell by cell", async (t) => {
  const ch = matrixChanges(before, after);
  t.same(ch, [{ from: "a/x", to: "b/y", before: true, after: false }]);
  t.same(matrixChanges(after, after), []);
  t.equal(matrixChanges(undefined, after).length, 4, "without a previous matrix every cell is new");
  t.equal(formatChanges(ch), "a/x -> b/y: allowed -> denied");
  t.equal(formatChanges([]), "no change");
  const many = matrixChanges(undefined, after).map((c) => ({ ...c, before: true }));
  t.equal(
    formatChanges(many, 2),
    "a/x -> a/x: allowed -> allowed\na/x -> b/y: allowed -> denied\n... and 2 more: 4 cell(s) changed in all, 1 now denied, 3 now allowed",
  );
  const text = formatMatrix(after, ch);
  t.match(text, /1 a\/x\s+\.\s+\*X/);
  t.match(text, /2 b\/y\s+\.\s+\./);
});

t.test("the picture: a green or red square per cell, labelled, changed cells outlined", async (t) => {
  const svg = renderSvg(
    { port: "80/TCP", pods: ["a/x", "b/y"], matrix: after },
    matrixChanges(before, after),
  );
  t.equal((svg.match(/<rect [^>]*fill="#2e9d4a"[^>]*><title>/g) ?? []).length, 3, "three allowed cells");
  t.equal((svg.match(/<rect [^>]*fill="#d23b3b"[^>]*><title>/g) ?? []).length, 1, "one denied cell");
  t.match(svg, /stroke-width="3"><title>a\/x -&gt; b\/y: denied \(changed\)<\/title>/);
  t.match(svg, />a\/x<\/text>/);
  const html = renderHtml(
    { port: "80/TCP", pods: ["a/x", "b/y"], matrix: after },
    matrixChanges(before, after),
  );
  t.match(html, /<li>a\/x → b\/y: allowed → denied<\/li>/);
  t.match(html, /<svg /);
});
