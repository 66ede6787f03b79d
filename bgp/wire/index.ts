/**
 * The BGP-4 wire layer: framing, every message, capabilities and path attributes, and the typed
 * error each malformation maps to. No I/O: sessions feed bytes in and write the Buffers out.
 * See README.md for the API.
 */
export * from "./constants.js";
export * from "./errors.js";
export * from "./header.js";
export * from "./capabilities/index.js";
export * from "./open.js";
export * from "./notification.js";
export * from "./keepalive.js";
export * from "./route-refresh.js";
export * from "./context.js";
export { ipv4ToString, parseIpv4, ipv6ToString, parseIpv6 } from "./reader.js";
export * from "./nlri.js";
export * from "./attributes/index.js";
export { asPathCount, mergeAs4 } from "./as4.js";
export * from "./update.js";
export * from "./message.js";
