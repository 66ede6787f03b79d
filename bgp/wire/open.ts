import {
  capabilityCode,
  decodeCapability,
  encodeCapability,
  findCapability,
  type Capability,
} from "./capabilities/index.js";
import { AS_TRANS, BGP_VERSION, ErrorCode, MessageType, OpenSubcode } from "./constants.js";
import { BgpError } from "./errors.js";
import { frameMessage } from "./header.js";
import { ipv4ToString, parseIpv4 } from "./reader.js";

/** RFC 4271 §4.2. `myAs` is the 2-octet field as sent (AS_TRANS for a 4-octet AS). */
export interface OpenMessage {
  readonly kind: "open";
  readonly version: number;
  readonly myAs: number;
  /** Seconds; 0 or at least 3. */
  readonly holdTime: number;
  /** Dotted quad. */
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
}

const CAPABILITIES_PARAMETER = 2;
/** RFC 9072: an Optional Parameters Length of 255 followed by type 255 announces the extended form. */
const EXTENDED_PARAMETERS = 255;

function openError(subcode: number, message: string, data?: Buffer): BgpError {
  return new BgpError(ErrorCode.OPEN_MESSAGE, subcode, message, data ? { data } : {});
}

/**
 * Decodes an OPEN body and applies the checks of RFC 4271 §6.2 that need no configuration:
 * version, hold time 1–2, BGP Identifier 0, optional parameter syntax and types. The checks
 * against configuration (peer AS, our own identifier, required capabilities) are `validateOpen`.
 */
export function decodeOpen(body: Buffer): OpenMessage {
  if (body.length < 10)
    throw openError(OpenSubcode.UNSPECIFIC, `OPEN body is ${body.length} bytes, under 10`);
  const version = body[0] ?? 0;
  if (version !== BGP_VERSION) {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(BGP_VERSION, 0);
    throw openError(OpenSubcode.UNSUPPORTED_VERSION_NUMBER, `version ${version}, we speak 4`, data);
  }
  const myAs = body.readUInt16BE(1);
  const holdTime = body.readUInt16BE(3);
  const id = body.readUInt32BE(5);
  if (holdTime === 1 || holdTime === 2) {
    throw openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime}s (must be 0 or at least 3)`);
  }
  if (id === 0) throw openError(OpenSubcode.BAD_BGP_IDENTIFIER, "BGP Identifier 0.0.0.0");

  let optLen = body[9] ?? 0;
  let off = 10;
  let wideLengths = false;
  if (optLen === EXTENDED_PARAMETERS && body[10] === EXTENDED_PARAMETERS) {
    if (body.length < 13)
      throw openError(OpenSubcode.UNSPECIFIC, "extended optional parameters length is cut short");
    optLen = body.readUInt16BE(11);
    off = 13;
    wideLengths = true;
  }
  if (off + optLen !== body.length) {
    throw openError(
      OpenSubcode.UNSPECIFIC,
      `optional parameters length ${optLen} does not match the ${body.length - off} bytes that follow`,
    );
  }
  const capabilities: Capability[] = [];
  const end = off + optLen;
  while (off < end) {
    const head = wideLengths ? 3 : 2;
    if (end - off < head) throw openError(OpenSubcode.UNSPECIFIC, "optional parameter header is cut short");
    const type = body[off] ?? 0;
    const len = wideLengths ? body.readUInt16BE(off + 1) : (body[off + 1] ?? 0);
    off += head;
    if (end - off < len)
      throw openError(OpenSubcode.UNSPECIFIC, `optional parameter ${type} overruns the OPEN`);
    if (type !== CAPABILITIES_PARAMETER) {
      throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type}`);
    }
    const pEnd = off + len;
    while (off < pEnd) {
      if (pEnd - off < 2) throw openError(OpenSubcode.UNSPECIFIC, "capability header is cut short");
      const code = body[off] ?? 0;
      const clen = body[off + 1] ?? 0;
      off += 2;
      if (pEnd - off < clen)
        throw openError(OpenSubcode.UNSPECIFIC, `capability ${code} overruns its parameter`);
      const cap = decodeCapability(code, body.subarray(off, off + clen));
      if (typeof cap === "string") throw openError(OpenSubcode.UNSPECIFIC, cap);
      capabilities.push(cap);
      off += clen;
    }
  }
  return { kind: "open", version, myAs, holdTime, bgpId: ipv4ToString(id), capabilities };
}

export function encodeOpenBody(open: OpenMessage): Buffer {
  const id = parseIpv4(open.bgpId);
  if (id === undefined)
    throw new RangeError(`OPEN bgpId ${JSON.stringify(open.bgpId)} is not an IPv4 address`);
  const caps = open.capabilities.map(encodeCapability);
  let params: Buffer[] = [];
  let capsLength = 0;
  for (const c of caps) capsLength += c.length;
  // One Capabilities parameter per capability keeps each within 255 bytes and is what most speakers send.
  let optLen = 0;
  for (const c of caps) optLen += c.length + 2;
  const extended = optLen > 254;
  if (extended) {
    const p = Buffer.alloc(3);
    p[0] = CAPABILITIES_PARAMETER;
    p.writeUInt16BE(capsLength, 1);
    params = [p, ...caps];
    optLen = capsLength + 3;
  } else {
    for (const c of caps) params.push(Buffer.from([CAPABILITIES_PARAMETER, c.length]), c);
  }
  const head = Buffer.alloc(extended ? 13 : 10);
  head[0] = open.version;
  head.writeUInt16BE(open.myAs, 1);
  head.writeUInt16BE(open.holdTime, 3);
  head.writeUInt32BE(id, 5);
  if (extended) {
    head[9] = EXTENDED_PARAMETERS;
    head[10] = EXTENDED_PARAMETERS;
    head.writeUInt16BE(optLen, 11);
  } else {
    head[9] = optLen;
  }
  return Buffer.concat([head, ...params]);
}

export function encodeOpen(open: OpenMessage): Buffer {
  return frameMessage(MessageType.OPEN, encodeOpenBody(open));
}

/**
 * Builds our OPEN: `myAs` is AS_TRANS for a 4-octet AS, and the 4-octet AS capability is added
 * when missing (RFC 6793 §3: a NEW speaker always advertises it).
 */
export function buildOpen(opts: {
  asn: number;
  holdTime: number;
  bgpId: string;
  capabilities?: readonly Capability[];
}): OpenMessage {
  const caps = [...(opts.capabilities ?? [])];
  if (!findCapability(caps, "four-octet-as")) caps.push({ kind: "four-octet-as", asn: opts.asn });
  return {
    kind: "open",
    version: BGP_VERSION,
    myAs: opts.asn > 0xffff ? AS_TRANS : opts.asn,
    holdTime: opts.holdTime,
    bgpId: opts.bgpId,
    capabilities: caps,
  };
}

/** The speaker's real AS: the 4-octet AS capability's when present, else the My AS field. */
export function openAs(open: OpenMessage): number {
  return findCapability(open.capabilities, "four-octet-as")?.asn ?? open.myAs;
}

/** Same capability for the purpose of "required": same code, and same family for multiprotocol. */
function sameCapability(a: Capability, b: Capability): boolean {
  if (capabilityCode(a) !== capabilityCode(b)) return false;
  if (a.kind === "multiprotocol" && b.kind === "multiprotocol") return a.afi === b.afi && a.safi === b.safi;
  return true;
}

export interface OpenExpectations {
  /** The AS configured for this peer; undefined accepts any. */
  readonly peerAs?: number;
  /** Our BGP Identifier and AS: an iBGP peer may not share our identifier (RFC 6286 §2.2). */
  readonly localBgpId?: string;
  readonly localAs?: number;
  /** Capabilities we refuse to run without (RFC 5492 §3: Unsupported Capability). */
  readonly requiredCapabilities?: readonly Capability[];
  /** Smallest hold time we accept besides 0 (RFC 4271 §6.2 lets an implementation refuse more). */
  readonly minHoldTime?: number;
}

/** RFC 4271 §6.2 checks against configuration, after `decodeOpen`. Throws BgpError. */
export function validateOpen(open: OpenMessage, want: OpenExpectations): void {
  const peerAs = openAs(open);
  if (want.peerAs !== undefined && peerAs !== want.peerAs) {
    throw openError(OpenSubcode.BAD_PEER_AS, `peer AS ${peerAs}, configured ${want.peerAs}`);
  }
  const fourOctet = findCapability(open.capabilities, "four-octet-as");
  if (fourOctet && fourOctet.asn === 0)
    throw openError(OpenSubcode.BAD_PEER_AS, "4-octet AS capability carries AS 0");
  if (open.myAs === 0) throw openError(OpenSubcode.BAD_PEER_AS, "My Autonomous System is 0");
  if (want.localBgpId !== undefined && open.bgpId === want.localBgpId && want.localAs === peerAs) {
    throw openError(OpenSubcode.BAD_BGP_IDENTIFIER, `iBGP peer uses our own BGP Identifier ${open.bgpId}`);
  }
  if (want.minHoldTime !== undefined && open.holdTime !== 0 && open.holdTime < want.minHoldTime) {
    throw openError(
      OpenSubcode.UNACCEPTABLE_HOLD_TIME,
      `hold time ${open.holdTime}s is under our minimum ${want.minHoldTime}s`,
    );
  }
  const missing = (want.requiredCapabilities ?? []).filter(
    (need) => !open.capabilities.some((c) => sameCapability(c, need)),
  );
  if (missing.length > 0) {
    throw openError(
      OpenSubcode.UNSUPPORTED_CAPABILITY,
      `peer lacks required capabilities ${missing.map((c) => c.kind).join(", ")}`,
      Buffer.concat(missing.map(encodeCapability)),
    );
  }
}
