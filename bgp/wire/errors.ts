import { errorName } from "./constants.js";

/**
 * What a receiver does about an error, RFC 7606 §2, weakest first so actions compare with `<`.
 * - AttributeDiscard: drop the one attribute, keep the route.
 * - TreatAsWithdraw: every prefix of the UPDATE is withdrawn (not installed).
 * - AfiSafiDisable: RFC 4760 §7 — drop the family's routes from this peer; a session that does
 *   not support that resets instead.
 * - SessionReset: send the NOTIFICATION and close.
 */
export const ErrorAction = {
  AttributeDiscard: 1,
  TreatAsWithdraw: 2,
  AfiSafiDisable: 3,
  SessionReset: 4,
} as const;
export type ErrorAction = (typeof ErrorAction)[keyof typeof ErrorAction];

export function actionName(a: ErrorAction): string {
  switch (a) {
    case ErrorAction.AttributeDiscard:
      return "attribute-discard";
    case ErrorAction.TreatAsWithdraw:
      return "treat-as-withdraw";
    case ErrorAction.AfiSafiDisable:
      return "afi-safi-disable";
    case ErrorAction.SessionReset:
      return "session-reset";
  }
}

/**
 * The one error type of the wire layer. It carries the NOTIFICATION it maps to (code, subcode,
 * data) and the RFC 7606 action; `afi`/`safi` are set for AfiSafiDisable. Decoders throw it for
 * session-reset and AFI/SAFI-disable errors and report weaker ones on the decoded UPDATE.
 */
export class BgpError extends Error {
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
  readonly action: ErrorAction;
  readonly afi: number | undefined;
  readonly safi: number | undefined;

  constructor(
    code: number,
    subcode: number,
    message: string,
    opts: { data?: Buffer; action?: ErrorAction; afi?: number; safi?: number } = {},
  ) {
    super(`${errorName(code, subcode)}: ${message}`);
    this.name = "BgpError";
    this.code = code;
    this.subcode = subcode;
    // Copy: the data often points into a large receive buffer we must not keep alive.
    this.data = opts.data ? Buffer.from(opts.data) : Buffer.alloc(0);
    this.action = opts.action ?? ErrorAction.SessionReset;
    this.afi = opts.afi;
    this.safi = opts.safi;
  }

  /** The JSON shape the malformed-message corpus and logs use. */
  toJSON(): { code: number; subcode: number; data: string; action: string; message: string } {
    return {
      code: this.code,
      subcode: this.subcode,
      data: this.data.toString("hex"),
      action: actionName(this.action),
      message: this.message,
    };
  }
}

/** GoBGP's name for the same thing. */
export { BgpError as MessageError };

export function isBgpError(e: unknown): e is BgpError {
  return e instanceof BgpError;
}
