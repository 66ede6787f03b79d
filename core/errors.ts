/**
 * The two kinds of failure the CLI distinguishes. A UserError is something the
 * user can fix (bad flag, bad file, bad field): one line, exit 2, no stack.
 * Anything else is a runtime failure: exit 1.
 */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserError";
  }
}

/** A validation problem located by the object it is in and the field path inside it. */
export interface FieldProblem {
  /** e.g. `NetworkPolicy default/allow-web` */
  readonly object: string;
  /** e.g. `spec.ingress[0].ports[1].endPort` */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: FieldProblem): string {
  return `${p.object}: ${p.path}: ${p.message}`;
}

export class ValidationError extends UserError {
  constructor(readonly problems: readonly FieldProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ValidationError";
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
