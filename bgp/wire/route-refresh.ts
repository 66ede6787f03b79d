import { ErrorCode, MessageType, RouteRefreshSubcode } from "./constants.js";
import { BgpError } from "./errors.js";
import { frameMessage } from "./header.js";

/** RFC 2918 §3; `subtype` is RFC 7313's (0 request, 1 BoRR, 2 EoRR), reserved before it. */
export interface RouteRefreshMessage {
  readonly kind: "route-refresh";
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}

export function decodeRouteRefresh(body: Buffer): RouteRefreshMessage {
  if (body.length !== 4) {
    // RFC 7313 §5: the data is the complete message. We negotiate no ORF, so only 4 is valid.
    throw new BgpError(
      ErrorCode.ROUTE_REFRESH,
      RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
      `ROUTE-REFRESH body is ${body.length} bytes, want 4`,
      { data: frameMessage(MessageType.ROUTE_REFRESH, body) },
    );
  }
  return { kind: "route-refresh", afi: body.readUInt16BE(0), subtype: body[2] ?? 0, safi: body[3] ?? 0 };
}

export function encodeRouteRefresh(m: RouteRefreshMessage): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(m.afi, 0);
  b[2] = m.subtype;
  b[3] = m.safi;
  return frameMessage(MessageType.ROUTE_REFRESH, b);
}
