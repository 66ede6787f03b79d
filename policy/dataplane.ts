/**
 * From a loaded state to what one node's kernel gets: compile for the node, render for a backend.
 * Shared by `tortie policy render`, the enforcement tests and the benchmark.
 */
import { hostname } from "node:os";
import { calculate } from "./calc.js";
import type { PolicyIR } from "./ir.js";
import { renderIptablesText } from "./iptables/render.js";
import { renderFullText } from "./nft/render.js";
import type { LoadedState } from "./state.js";

export const BACKENDS = ["nft", "iptables"] as const;
export type Backend = (typeof BACKENDS)[number];

export function isBackend(s: string): s is Backend {
  return (BACKENDS as readonly string[]).includes(s);
}

/** The node tortie runs for when none is named: $NODENAME as Calico uses it, else the host name. */
export function defaultNodeName(): string {
  return process.env["NODENAME"] ?? hostname();
}

export function compileForNode(loaded: LoadedState, node: string): PolicyIR {
  return calculate({ state: loaded.state, policies: loaded.policies, node });
}

/** One complete transaction for the backend, as text. */
export function renderTransaction(ir: PolicyIR, backend: Backend): string {
  return backend === "nft" ? `${renderFullText(ir)}\n` : renderIptablesText(ir);
}
