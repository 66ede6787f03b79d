import type { CapabilityDescriptor, RouteRefreshCapability } from "./types.js";

/** RFC 2918 §2: no value. */
export const routeRefresh: CapabilityDescriptor<RouteRefreshCapability> = {
  code: 2,
  kind: "route-refresh",
  decode(v) {
    if (v.length !== 0) return `route refresh capability length ${v.length}, want 0`;
    return { kind: "route-refresh" };
  },
  encode() {
    return Buffer.alloc(0);
  },
};
