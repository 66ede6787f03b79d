import { createHash } from "node:crypto";

/**
 * The host-side interface of a pod: `tort` + the first 11 hex digits of
 * sha1("<namespace>.<pod>"). The CNI plugin names the veth this way and the
 * policy renderer dispatches on it, so both must use this one function.
 * 4 + 11 = 15 characters, the kernel's IFNAMSIZ limit less the NUL.
 */
export function hostIfName(namespace: string, pod: string): string {
  return `tort${createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 11)}`;
}
