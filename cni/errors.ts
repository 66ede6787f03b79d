/**
 * CNI error codes (CNI spec 1.0 "Error", 1.1 STATUS). 0-99 are the spec's;
 * 100 and up are ours.
 */
export const CNI_CODES = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  /** IPAM could not assign (no free block, pool exhausted, address in use, ...). */
  IpamFailure: 100,
  /** Creating or removing links, addresses or routes failed. */
  DataplaneFailure: 101,
  /** CHECK found the attachment different from what ADD made. */
  CheckFailed: 102,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = "",
  ) {
    super(message);
    this.name = "CniError";
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}
