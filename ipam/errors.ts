/**
 * The IPAM error vocabulary. Each has a stable `code` so the CNI plugin can map
 * it to a CNI error code and `tortie ipam` can print a precise message.
 */
export type IpamErrorCode =
  | "NoFreeBlocks"
  | "PoolExhausted"
  | "AddressInUse"
  | "AddressNotInPool"
  | "AddressReserved"
  | "ClaimConflict"
  | "RetriesExhausted"
  | "NoPool"
  | "InvalidRequest";

export class IpamError extends Error {
  constructor(
    readonly code: IpamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** No block of an eligible pool can be claimed, and borrowing is not allowed or found nothing. */
export class NoFreeBlocksError extends IpamError {
  constructor(message: string) {
    super("NoFreeBlocks", message);
  }
}

/** Every address of every eligible pool is allocated or reserved. */
export class PoolExhaustedError extends IpamError {
  constructor(message: string) {
    super("PoolExhausted", message);
  }
}

export class AddressInUseError extends IpamError {
  constructor(
    readonly address: string,
    readonly owner: string,
  ) {
    super("AddressInUse", `address ${address} is already in use by handle ${owner}`);
  }
}

/** Another writer changed the record between our read and our write more times than the retry budget. */
export class ClaimConflictError extends IpamError {
  constructor(message: string) {
    super("ClaimConflict", message);
  }
}
