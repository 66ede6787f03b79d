import { MessageType } from "./constants.js";
import type { WireContext } from "./context.js";
import type { Frame } from "./header.js";
import { encodeKeepalive, type KeepaliveMessage } from "./keepalive.js";
import { decodeNotification, encodeNotification, type NotificationMessage } from "./notification.js";
import { decodeOpen, encodeOpen, type OpenMessage } from "./open.js";
import { decodeRouteRefresh, encodeRouteRefresh, type RouteRefreshMessage } from "./route-refresh.js";
import {
  decodeUpdate,
  encodeUpdate,
  type AttributeCache,
  type UpdateInput,
  type UpdateMessage,
} from "./update.js";

export type Message =
  OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** Decodes one framed message. Throws only BgpError. */
export function decodeMessage(frame: Frame, ctx: WireContext, cache?: AttributeCache): Message {
  switch (frame.type) {
    case MessageType.OPEN:
      return decodeOpen(frame.body);
    case MessageType.UPDATE:
      return decodeUpdate(frame.body, ctx, cache);
    case MessageType.NOTIFICATION:
      return decodeNotification(frame.body);
    case MessageType.KEEPALIVE:
      return { kind: "keepalive" };
    case MessageType.ROUTE_REFRESH:
      return decodeRouteRefresh(frame.body);
  }
}

/** Encodes any message; an UPDATE given as UpdateMessage is re-encoded from its fields. */
export function encodeMessage(m: Message | ({ kind: "update" } & UpdateInput), ctx: WireContext): Buffer {
  switch (m.kind) {
    case "open":
      return encodeOpen(m);
    case "update": {
      const mp = "mpReach" in m || "mpUnreach" in m ? m : undefined;
      const attributes = mp
        ? {
            ...m.attributes,
            ...(mp.mpReach ? { mpReach: mp.mpReach } : {}),
            ...(mp.mpUnreach ? { mpUnreach: mp.mpUnreach } : {}),
          }
        : m.attributes;
      return encodeUpdate({ ...m, ...(attributes ? { attributes } : {}) }, ctx);
    }
    case "notification":
      return encodeNotification(m);
    case "keepalive":
      return encodeKeepalive();
    case "route-refresh":
      return encodeRouteRefresh(m);
  }
}
