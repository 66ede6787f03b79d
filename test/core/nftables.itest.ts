import t from "tap";
import {
  NftSetError,
  NftSets,
  addrKey,
  cidrElements,
  concatKey,
  portField,
  protoField,
} from "../../core/netlink/nftables.js";
import { Kit } from "../kit/kit.js";

const RULESET = `
table inet tortie {
  set pods4 { type ipv4_addr; }
  set pods6 { type ipv6_addr; }
  set nets4 { type ipv4_addr; flags interval; }
  set ports4 { type ipv4_addr . inet_proto . inet_service; }
  set ranges4 { type ipv4_addr . inet_service; flags interval; }
}
`;

interface NftElem {
  elem?: unknown;
  prefix?: { addr: string; len: number };
  concat?: unknown[];
  range?: unknown[];
}

t.test("set elements change in one atomic nf_tables transaction over netlink", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("nftsets");
  await ns.exec("nft", ["-f", "-"], { input: RULESET });
  const sets = new NftSets(ns.name);
  t.teardown(() => sets.close());
  const elements = async (set: string): Promise<unknown[]> => {
    const out = JSON.parse(await ns.exec("nft", ["-j", "list", "set", "inet", "tortie", set])) as {
      nftables: { set?: { elem?: unknown[] } }[];
    };
    return out.nftables.find((x) => x.set)?.set?.elem ?? [];
  };

  await sets.apply([
    {
      family: "inet",
      table: "tortie",
      set: "pods4",
      add: [{ key: addrKey("10.0.0.1") }, { key: addrKey("10.0.0.2") }],
    },
    { family: "inet", table: "tortie", set: "pods6", add: [{ key: addrKey("fd00::1") }] },
    {
      family: "inet",
      table: "tortie",
      set: "nets4",
      add: [...cidrElements("192.168.0.0/16"), ...cidrElements("10.1.2.0/24")],
    },
    {
      family: "inet",
      table: "tortie",
      set: "ports4",
      add: [{ key: concatKey([addrKey("10.0.0.1"), protoField(6), portField(8080)]) }],
    },
    {
      family: "inet",
      table: "tortie",
      set: "ranges4",
      add: [
        {
          key: concatKey([addrKey("10.0.0.1"), portField(8000)]),
          keyEnd: concatKey([addrKey("10.0.0.1"), portField(8099)]),
        },
      ],
    },
  ]);
  t.same((await elements("pods4")).sort(), ["10.0.0.1", "10.0.0.2"]);
  t.same(await elements("pods6"), ["fd00::1"]);
  const nets = (await elements("nets4")) as NftElem[];
  t.same(
    nets.map((e) => (e.prefix ? `${e.prefix.addr}/${e.prefix.len}` : e)).sort(),
    ["10.1.2.0/24", "192.168.0.0/16"],
    "interval elements read back as the CIDRs",
  );
  t.same(await elements("ports4"), [{ concat: ["10.0.0.1", "tcp", 8080] }]);
  t.same(await elements("ranges4"), [{ concat: ["10.0.0.1", { range: [8000, 8099] }] }]);

  await sets.apply([
    {
      family: "inet",
      table: "tortie",
      set: "pods4",
      remove: [{ key: addrKey("10.0.0.1") }],
      add: [{ key: addrKey("10.0.0.3") }],
    },
    { family: "inet", table: "tortie", set: "nets4", remove: cidrElements("10.1.2.0/24") },
  ]);
  t.same((await elements("pods4")).sort(), ["10.0.0.2", "10.0.0.3"], "one removed, one added");
  t.same(
    ((await elements("nets4")) as NftElem[]).map((e) => e.prefix?.addr),
    ["192.168.0.0"],
  );

  // Atomic: a transaction with one bad change leaves everything as it was.
  const bad = sets.apply([
    { family: "inet", table: "tortie", set: "pods4", add: [{ key: addrKey("10.0.0.9") }] },
    { family: "inet", table: "tortie", set: "nosuchset", add: [{ key: addrKey("10.0.0.8") }] },
  ]);
  await t.rejects(bad, NftSetError);
  await t.rejects(
    sets.apply([{ family: "inet", table: "tortie", set: "nosuchset", add: [{ key: addrKey("10.0.0.8") }] }]),
    /ENOENT/,
    "the error names the cause",
  );
  t.same(
    (await elements("pods4")).sort(),
    ["10.0.0.2", "10.0.0.3"],
    "nothing of the failed transaction applied",
  );

  // Removing an element that is not there is refused as a whole too.
  await t.rejects(
    sets.apply([{ family: "inet", table: "tortie", set: "pods4", remove: [{ key: addrKey("10.9.9.9") }] }]),
    /ENOENT/,
  );
});
