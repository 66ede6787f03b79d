/**
 * Masquerade for pools with natOutgoing, in tortie's own table `inet tortie-nat` (kept apart from the
 * policy table, which the policy engine replaces whole). One rule per family: from a NAT pool to
 * outside every pool → masquerade. Programmed as one atomic transaction that replaces the table, so
 * the desired state is the whole truth and a hand edit is undone at the next resync.
 */
import { run } from "../../core/exec.js";
import { applyNft } from "../../policy/nft/apply.js";
import type { NftDocument } from "../../policy/nft/schema.js";
import type { Masquerade } from "../calc/desired.js";

export const NAT_TABLE = "tortie-nat";

const elems = (cidrs: readonly string[]) =>
  cidrs.map((c) => {
    const [addr, len] = c.split("/");
    return { prefix: { addr, len: Number(len) } };
  });

/** nftables JSON for the whole table. */
export function renderNat(m: Masquerade): { nftables: unknown[] } {
  const table = { family: "inet", name: NAT_TABLE };
  const cmds: unknown[] = [{ add: { table } }, { delete: { table } }, { add: { table } }];
  cmds.push({
    add: {
      chain: {
        family: "inet",
        table: NAT_TABLE,
        name: "postrouting",
        type: "nat",
        hook: "postrouting",
        prio: 100,
        policy: "accept",
      },
    },
  });
  for (const [fam, type, proto] of [
    ["v4", "ipv4_addr", "ip"],
    ["v6", "ipv6_addr", "ip6"],
  ] as const) {
    const all = m.pools[fam];
    const nat = m.natPools[fam];
    for (const [name, list] of [
      [`pools-${fam}`, all],
      [`nat-${fam}`, nat],
    ] as const)
      cmds.push({
        add: {
          set: {
            family: "inet",
            table: NAT_TABLE,
            name,
            type,
            flags: ["interval"],
            ...(list.length ? { elem: elems(list) } : {}),
          },
        },
      });
    if (nat.length === 0) continue;
    cmds.push({
      add: {
        rule: {
          family: "inet",
          table: NAT_TABLE,
          chain: "postrouting",
          comment: `tortie:masquerade-${fam}`,
          expr: [
            {
              match: {
                op: "==",
                left: { payload: { protocol: proto, field: "saddr" } },
                right: `@nat-${fam}`,
              },
            },
            {
              match: {
                op: "!=",
                left: { payload: { protocol: proto, field: "daddr" } },
                right: `@pools-${fam}`,
              },
            },
            { counter: null },
            { masquerade: null },
          ],
        },
      },
    });
  }
  return { nftables: cmds };
}

export async function applyNat(m: Masquerade): Promise<void> {
  await applyNft((cmd, args) => run(cmd, args), renderNat(m) as unknown as NftDocument);
}
