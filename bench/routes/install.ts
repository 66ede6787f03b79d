/**
 * Installing 100,000 routes into a namespace's kernel table: tortie's
 * rtnetlink batches vs `ip -batch` vs bird2's kernel protocol, in one run.
 *   node dist/bench/routes/install.js [count]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KernelRoutes, type RouteSpec } from "../../core/kernel-routes.js";
import { NETLINK_ROUTE, NetlinkSocket } from "../../core/netlink/socket.js";
import { RTM, decodeRoute, routeDumpRequest } from "../../core/netlink/route.js";
import { startBird } from "../../test/kit/daemons.js";
import { Kit } from "../../test/kit/kit.js";
import { waitFor } from "../../test/kit/wait.js";

const count = Number(process.argv[2] ?? 100_000);
const TABLE = 100;

function prefix(i: number): string {
  const a = (10 << 24) | (i << 6);
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/26`;
}

async function countRoutes(sock: NetlinkSocket, protocol?: number): Promise<number> {
  let n = 0;
  for (const m of await sock.dump(RTM.GETROUTE, routeDumpRequest("ipv4"))) {
    const r = decodeRoute(m);
    if (r && r.table === TABLE && (protocol === undefined || r.protocol === protocol)) n++;
  }
  return n;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const kit = Kit.create();
try {
  const node = await kit.netns("bench-rt");
  const peer = await kit.netns("bench-rt-peer");
  await kit.veth(node, "eth0", peer, "eth0");
  await node.addr("eth0", "192.0.2.1/24");
  const sock = new NetlinkSocket(NETLINK_ROUTE, node.name);
  const rows: string[][] = [["method", "routes", "install s", "routes/s", "remove all s"]];

  // tortie: one sync (link dump, route dump, diff, batched RTM_NEWROUTE)
  const routes = new KernelRoutes({ netns: node.name, table: TABLE, protocol: 201 });
  const desired: RouteSpec[] = Array.from({ length: count }, (_, i) => ({
    dst: prefix(i),
    nexthops: [{ gateway: "192.0.2.2" }],
  }));
  let t0 = performance.now();
  const rep = await routes.sync(desired);
  const ours = (performance.now() - t0) / 1000;
  if (rep.failed.length) throw new Error(`failures: ${JSON.stringify(rep.failed.slice(0, 3))}`);
  const installed = await countRoutes(sock, 201);
  t0 = performance.now();
  const again = await routes.sync(desired);
  const resync = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await routes.sync([]);
  const oursDel = (performance.now() - t0) / 1000;
  rows.push([
    "tortie (rtnetlink batch)",
    String(installed),
    ours.toFixed(3),
    Math.round(count / ours).toString(),
    oursDel.toFixed(3),
  ]);

  // Incremental: one route replaced at a time, 1,000 times, with the full table in place.
  await routes.sync(desired);
  const lat: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t1 = performance.now();
    await routes.apply({
      replace: [{ dst: prefix(i), nexthops: [{ gateway: i % 2 ? "192.0.2.3" : "192.0.2.2" }] }],
    });
    lat.push(performance.now() - t1);
  }
  lat.sort((a, b) => a - b);
  const ipLat: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t1 = performance.now();
    await node.ip([
      "route",
      "replace",
      prefix(i),
      "via",
      i % 2 ? "192.0.2.2" : "192.0.2.3",
      "table",
      String(TABLE),
      "proto",
      "201",
    ]);
    ipLat.push(performance.now() - t1);
  }
  ipLat.sort((a, b) => a - b);
  await routes.sync([]);
  routes.close();

  // ip -batch from a file
  const batch = join(kit.dir("bench"), "routes.batch");
  writeFileSync(
    batch,
    desired.map((r) => `route replace ${r.dst} via 192.0.2.2 table ${TABLE} proto 202\n`).join(""),
  );
  t0 = performance.now();
  await node.ip(["-batch", batch]);
  const ipb = (performance.now() - t0) / 1000;
  const ipInstalled = await countRoutes(sock, 202);
  t0 = performance.now();
  await node.ip(["route", "flush", "table", String(TABLE), "proto", "202"]);
  const ipDel = (performance.now() - t0) / 1000;
  rows.push([
    "ip -batch",
    String(ipInstalled),
    ipb.toFixed(3),
    Math.round(count / ipb).toString(),
    `${ipDel.toFixed(3)} (ip route flush)`,
  ]);

  // bird2: static routes exported by its kernel protocol into the same table
  const statics = desired.map((r) => `  route ${r.dst} via 192.0.2.2;`).join("\n");
  const conf = [
    "router id 192.0.2.1;",
    "protocol device {}",
    `ipv4 table t${TABLE};`,
    `protocol static { ipv4 { table t${TABLE}; }; \n${statics}\n}`,
    `protocol kernel { kernel table ${TABLE}; ipv4 { table t${TABLE}; export all; import none; }; }`,
    "",
  ].join("\n");
  t0 = performance.now();
  const bird = await startBird(kit, node, conf);
  await waitFor("bird2 to install every route", async () => (await countRoutes(sock)) >= count, {
    timeoutMs: 120_000,
    intervalMs: 20,
  });
  const birdT = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await bird.daemon.stop();
  await waitFor("bird2 to remove its routes", async () => (await countRoutes(sock)) === 0, {
    timeoutMs: 120_000,
    intervalMs: 20,
  });
  const birdDel = (performance.now() - t0) / 1000;
  rows.push([
    "bird2 (static → kernel protocol)",
    String(count),
    birdT.toFixed(3),
    Math.round(count / birdT).toString(),
    `${birdDel.toFixed(3)} (on shutdown)`,
  ]);
  sock.close();

  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  console.log(
    `\ntortie resync with nothing to change: ${resync.toFixed(3)} s (${again.unchanged} unchanged)`,
  );
  console.log(
    `one route replaced, full table in place: tortie p50 ${pct(lat, 50).toFixed(2)} ms p99 ${pct(lat, 99).toFixed(2)} ms; ` +
      `\`ip route replace\` per change p50 ${pct(ipLat, 50).toFixed(2)} ms p99 ${pct(ipLat, 99).toFixed(2)} ms`,
  );
  console.log("bird2's time includes its start and parsing its configuration of static routes.");
} finally {
  await kit.cleanup();
}
