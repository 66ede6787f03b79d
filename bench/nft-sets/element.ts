/**
 * One set element added to a large loaded ruleset: nf_tables over netlink
 * (core/netlink/nftables.ts) vs the `nft` CLI, in one run.
 *   node dist/bench/nft-sets/element.js [sets] [elementsPerSet]
 */
import { NftSets, addrKey } from "../../core/netlink/nftables.js";
import { run } from "../../core/exec.js";
import { Kit } from "../../test/kit/kit.js";

const sets = Number(process.argv[2] ?? 2000);
const perSet = Number(process.argv[3] ?? 50);

function ruleset(): string {
  const lines = ["table inet tortie {"];
  for (let s = 0; s < sets; s++) {
    const elems = Array.from(
      { length: perSet },
      (_, e) => `10.${(s >> 4) & 255}.${((s & 15) << 4) | (e >> 4)}.${(e & 15) << 4}/28`,
    );
    lines.push(`  set s${s} { type ipv4_addr; flags interval; elements = { ${elems.join(", ")} } }`);
  }
  lines.push("  set pods { type ipv4_addr; }");
  lines.push("  map dispatch { type ifname : verdict; }");
  for (let c = 0; c < 110; c++) {
    lines.push(`  chain ep${c} {`);
    for (let r = 0; r < 20; r++)
      lines.push(`    ip saddr @s${(c * 20 + r) % sets} tcp dport ${80 + r} counter accept`);
    lines.push("  }");
  }
  lines.push(
    "  chain forward { type filter hook forward priority 0; policy accept; ct state established,related accept; iifname vmap @dispatch; }",
  );
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

function pct(a: number[], p: number): string {
  const s = [...a].sort((x, y) => x - y);
  return (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN).toFixed(2);
}

const kit = Kit.create();
try {
  const ns = await kit.netns("bench-nft");
  const text = ruleset();
  let t0 = performance.now();
  await ns.exec("nft", ["-f", "-"], { input: text, timeoutMs: 600_000 });
  const load = (performance.now() - t0) / 1000;

  const nl = new NftSets(ns.name);
  const netlink: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const key = addrKey(`172.16.${i >> 8}.${i & 255}`);
    t0 = performance.now();
    await nl.apply([{ family: "inet", table: "tortie", set: "pods", add: [{ key }] }]);
    netlink.push(performance.now() - t0);
    t0 = performance.now();
    await nl.apply([{ family: "inet", table: "tortie", set: "pods", remove: [{ key }] }]);
    netlink.push(performance.now() - t0);
  }
  nl.close();

  const cli: number[] = [];
  for (let i = 0; i < 20; i++) {
    t0 = performance.now();
    await run("ip", [
      "netns",
      "exec",
      ns.name,
      "nft",
      "add",
      "element",
      "inet",
      "tortie",
      "pods",
      `{ 172.17.0.${i} }`,
    ]);
    cli.push(performance.now() - t0);
  }
  const count = JSON.parse(await ns.exec("nft", ["-j", "list", "set", "inet", "tortie", "pods"])) as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  const held = count.nftables.find((x) => x.set)?.set?.elem?.length ?? 0;

  console.log(`ruleset: ${sets} interval sets x ${perSet} elements, 110 chains x 20 rules, a verdict map`);
  console.log(`load with nft -f: ${load.toFixed(2)} s`);
  console.log(
    `one element add or remove, netlink transaction (2,000 changes): p50 ${pct(netlink, 50)} ms, p99 ${pct(netlink, 99)} ms`,
  );
  console.log(`one element add, nft CLI (20 changes): p50 ${pct(cli, 50)} ms, p99 ${pct(cli, 99)} ms`);
  console.log(`set holds ${held} elements afterwards (20 from the CLI expected)`);
} finally {
  await kit.cleanup();
}
