/**
 * `nft -j list table` without what legitimately differs between two loads of the same table:
 * handles, counter values and the order objects were created in (rules keep their order).
 */
export function canonicalTable(json: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const objs = (JSON.parse(json) as { nftables: Array<Record<string, Record<string, unknown>>> }).nftables;
  for (const o of objs)
    for (const [kind, body] of Object.entries(o)) {
      if (kind === "metainfo") continue;
      const { handle: _h, ...rest } = body;
      const text = JSON.stringify(rest).replace(/"counter":\{"packets":\d+,"bytes":\d+\}/g, '"counter":{}');
      if (kind === "rule") {
        const k = `chain ${String(rest["chain"])} rules`;
        out[k] = [...((out[k] as string[] | undefined) ?? []), text];
      } else out[`${kind} ${String(rest["name"])}`] = text;
    }
  return out;
}
