import { addPath } from "./add-path.js";
import { extendedMessage } from "./extended-message.js";
import { fourOctetAs } from "./four-octet-as.js";
import { gracefulRestart } from "./graceful-restart.js";
import { multiprotocol } from "./multiprotocol.js";
import { routeRefresh } from "./route-refresh.js";
import type { Capability, CapabilityDescriptor, KnownCapability } from "./types.js";

export type * from "./types.js";

/** The capability table: one descriptor per capability code we implement. */
export const capabilityTable: readonly CapabilityDescriptor[] = [
  multiprotocol,
  routeRefresh,
  extendedMessage,
  gracefulRestart,
  fourOctetAs,
  addPath,
];

const byCode = new Map<number, CapabilityDescriptor>(capabilityTable.map((d) => [d.code, d]));
const byKind = new Map<string, CapabilityDescriptor>(capabilityTable.map((d) => [d.kind, d]));

export function capabilityCode(c: Capability): number {
  if (c.kind === "unknown") return c.code;
  const d = byKind.get(c.kind);
  if (!d) throw new Error(`no descriptor for capability ${c.kind}`);
  return d.code;
}

/** Decodes one capability's value; a string is the reason it is malformed. */
export function decodeCapability(code: number, value: Buffer): Capability | string {
  const d = byCode.get(code);
  if (!d) return { kind: "unknown", code, value: Buffer.from(value) };
  return d.decode(value);
}

export function encodeCapabilityValue(c: Capability): Buffer {
  if (c.kind === "unknown") return c.value;
  const d = byKind.get(c.kind);
  if (!d) throw new Error(`no descriptor for capability ${c.kind}`);
  return d.encode(c);
}

/** Code, length, value: the TLV as it sits in a Capabilities Optional Parameter. */
export function encodeCapability(c: Capability): Buffer {
  const value = encodeCapabilityValue(c);
  if (value.length > 255)
    throw new RangeError(`capability ${c.kind} value is ${value.length} bytes, over 255`);
  return Buffer.concat([Buffer.from([capabilityCode(c), value.length]), value]);
}

export function findCapability<K extends KnownCapability["kind"]>(
  caps: readonly Capability[],
  kind: K,
): Extract<Capability, { kind: K }> | undefined {
  return caps.find((c): c is Extract<Capability, { kind: K }> => c.kind === kind);
}
