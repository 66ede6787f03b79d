import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { checkRunOptions, parseListen } from "../../felix/cli.js";
import { reconcileSysctls, wantedSysctls } from "../../felix/dataplane/interfaces.js";
import { renderNat } from "../../felix/dataplane/nat.js";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));

function tortie(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TORTIE_")));
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...clean, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("tortie node run: user mistakes are one line naming the flag, exit 2", async (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--node", "n1"], {}, /^tortie: --datastore \(or TORTIE_DATASTORE\) is required/],
    [["--datastore", "file:/nonexistent"], {}, /^tortie: --node \(or TORTIE_NODE\) is required/],
    [
      [],
      { TORTIE_DATASTORE: "file:/x", TORTIE_NODE: "n1", TORTIE_BACKEND: "ebpf" },
      /--backend: "ebpf" must be nft or iptables/,
    ],
    [
      ["--datastore", "file:/x", "--node", "n1", "--resync-interval", "0"],
      {},
      /--resync-interval: "0" must be a positive/,
    ],
    [
      ["--datastore", "file:/x", "--node", "n1", "--ip", "10.0.0.1"],
      {},
      /--ip: "10\.0\.0\.1" must be an IPv4 ADDR\/LEN/,
    ],
    [
      ["--datastore", "file:/x", "--node", "n1", "--listen", "nowhere"],
      {},
      /--listen: "nowhere" is not HOST:PORT/,
    ],
    [
      ["--datastore", "file:/x", "--node", "n1"],
      { TORTIE_SECRETS_NAMESPACE: "Kube_System" },
      /--secrets-namespace: "Kube_System" is not a namespace name/,
    ],
  ];
  for (const [args, env, re] of cases) {
    const r = tortie(["node", "run", ...args], env);
    t.equal(r.code, 2, `${args.join(" ")} ${JSON.stringify(env)} exits 2`);
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
});

t.test("flags win over the environment; defaults as the contract gives them", async (t) => {
  const o = checkRunOptions({
    datastore: "file:/d",
    node: "n1",
    control: "/run/tortie/node.sock",
    listen: "127.0.0.1:9099",
    backend: "iptables",
    resyncInterval: "2.5",
  });
  t.same(o, {
    datastore: "file:/d",
    node: "n1",
    ip: undefined,
    backend: "iptables",
    resyncSeconds: 2.5,
    secretsNamespace: "kube-system",
    listen: { host: "127.0.0.1", port: 9099 },
    control: "/run/tortie/node.sock",
  });
  t.same(parseListen("[::1]:9099"), { host: "::1", port: 9099 });
  const help = tortie(["node", "run", "--help"]).stdout.replace(/\s+/g, " ");
  t.match(help, /--control <socket>.*\(default: "\/run\/tortie\/node\.sock", env: TORTIE_CONTROL\)/s);
  t.match(help, /--listen <host:port>.*\(default: "127\.0\.0\.1:9099", env: TORTIE_LISTEN\)/s);
  t.match(help, /--resync-interval <seconds>.*\(default: "30", env: TORTIE_RESYNC_INTERVAL\)/s);
  t.match(help, /--cni-socket <path>.*\(env: TORTIE_CNI_SOCKET\)/s);
  t.match(
    help,
    /--secrets-namespace <namespace>.*\(default: "kube-system", env: TORTIE_SECRETS_NAMESPACE\)/s,
  );
});

t.test("tortie node status without an agent: exit 2 naming the socket", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-node-cli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = tortie(["node", "status", "--control", join(dir, "none.sock")]);
  t.equal(r.code, 2);
  t.match(r.stderr, /no tortie node agent is listening on \S+none\.sock/);
});

t.test("masquerade: from a NAT pool to outside every pool", async (t) => {
  const doc = renderNat({
    pools: { v4: ["10.244.0.0/16", "10.250.0.0/16"], v6: [] },
    natPools: { v4: ["10.244.0.0/16"], v6: [] },
  });
  const text = JSON.stringify(doc);
  t.match(
    text,
    /"delete":\{"table":\{"family":"inet","name":"tortie-nat"\}\}/,
    "replaces only its own table",
  );
  const rules = doc.nftables.filter((c) => JSON.stringify(c).includes('"rule"'));
  t.equal(rules.length, 1, "one rule: IPv4 only, no IPv6 NAT pool");
  t.match(JSON.stringify(rules[0]), /"right":"@nat-v4".*"op":"!=".*"right":"@pools-v4".*"masquerade"/);
  t.match(
    text,
    /"name":"pools-v4".*"elem":\[\{"prefix":\{"addr":"10\.244\.0\.0","len":16\}\},\{"prefix":\{"addr":"10\.250\.0\.0","len":16\}\}\]/,
  );
});

t.test("sysctls: forwarding, proxy ARP on pod interfaces only", async (t) => {
  const w = wantedSysctls(["lo", "eth0", "tort0123456789a"], false);
  t.same([...w.keys()].sort(), [
    "ipv4/conf/tort0123456789a/proxy_arp",
    "ipv4/ip_forward",
    "ipv4/neigh/tort0123456789a/proxy_delay",
  ]);
  t.ok(wantedSysctls([], true).has("ipv6/conf/all/forwarding"));
});

t.test("sysctls: all links, or only the interfaces a pass names", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "tortie-sysctl-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const put = (path: string, v: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), v);
  };
  put("ipv4/ip_forward", "1");
  for (const l of ["eth0", "tortaaaaaaaaaaa", "tortbbbbbbbbbbb"]) {
    put(`ipv4/conf/${l}/proxy_arp`, "0");
    put(`ipv4/neigh/${l}/proxy_delay`, "80");
  }
  const only = reconcileSysctls(false, root, ["tortbbbbbbbbbbb"]);
  t.same(only.repaired, ["ipv4/conf/tortbbbbbbbbbbb/proxy_arp", "ipv4/neigh/tortbbbbbbbbbbb/proxy_delay"]);
  t.equal(readFileSync(join(root, "ipv4/conf/tortaaaaaaaaaaa/proxy_arp"), "utf8"), "0");
  const all = reconcileSysctls(false, root);
  t.same(all.repaired, ["ipv4/conf/tortaaaaaaaaaaa/proxy_arp", "ipv4/neigh/tortaaaaaaaaaaa/proxy_delay"]);
  t.equal(readFileSync(join(root, "ipv4/conf/eth0/proxy_arp"), "utf8"), "0");
  t.same(reconcileSysctls(false, root).repaired, []);
});
