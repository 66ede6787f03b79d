/**
 * The typed failures every backend maps its own onto, so callers (IPAM's CAS
 * retry loops, felix's informers) branch on the class, never on a message.
 */
export type DatastoreErrorCode = "NotFound" | "AlreadyExists" | "Conflict" | "Expired" | "ReadOnly";

export abstract class DatastoreError extends Error {
  abstract readonly code: DatastoreErrorCode;
}

/** The object does not exist (get, update, delete). */
export class NotFoundError extends DatastoreError {
  readonly code = "NotFound";
  constructor(readonly object: string) {
    super(`${object} not found`);
    this.name = "NotFoundError";
  }
}

/** create of a name that is already taken. */
export class AlreadyExistsError extends DatastoreError {
  readonly code = "AlreadyExists";
  constructor(readonly object: string) {
    super(`${object} already exists`);
    this.name = "AlreadyExistsError";
  }
}

/** update/delete with a resourceVersion that is no longer the current one: re-read and retry. */
export class ConflictError extends DatastoreError {
  readonly code = "Conflict";
  constructor(
    readonly object: string,
    readonly expected: string,
    readonly actual: string | undefined,
  ) {
    super(
      `${object}: resourceVersion ${expected} is stale (current ${actual ?? "deleted"}); re-read and retry`,
    );
    this.name = "ConflictError";
  }
}

/**
 * A watch asked to resume from a version the store no longer remembers
 * (compacted, 410 Gone). The only correct answer is a fresh list: the
 * Informer does that and emits the difference, so nothing is silently lost.
 */
export class ExpiredError extends DatastoreError {
  readonly code = "Expired";
  constructor(
    readonly kind: string,
    readonly resourceVersion: string,
    detail = "",
  ) {
    super(
      `watch of ${kind} from resourceVersion ${resourceVersion} expired${detail ? `: ${detail}` : ""}; relist`,
    );
    this.name = "ExpiredError";
  }
}

/** The file store's hand-written manifests belong to the user: tortie does not rewrite them. */
export class ReadOnlyError extends DatastoreError {
  readonly code = "ReadOnly";
  constructor(
    readonly object: string,
    readonly file: string,
  ) {
    super(`${object} is defined in the manifest ${file}: edit that file instead`);
    this.name = "ReadOnlyError";
  }
}

export function isDatastoreError(err: unknown, code: DatastoreErrorCode): boolean {
  return err instanceof DatastoreError && err.code === code;
}
