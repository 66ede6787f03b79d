import { ValidationError, type FieldProblem } from "../core/errors.js";
import { KINDS, apiVersionOf, type KindName } from "./kinds.js";
import type {
  Datastore,
  DeleteOptions,
  ListResult,
  ObjectOf,
  StoredObject,
  Watch,
  WatchOptions,
} from "./types.js";

/** `IPPool default-ipv4` or `Pod default/web-0`: how errors name an object. */
export function objectRef(kind: KindName, name: string, namespace?: string): string {
  return `${KINDS[kind].kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

export function refOf(kind: KindName, obj: StoredObject): string {
  return objectRef(kind, obj.metadata?.name ?? "<unnamed>", obj.metadata?.namespace);
}

/** Checks an object of a kind; returns every problem found (empty: valid). */
export type Validator = (kind: KindName, obj: StoredObject) => FieldProblem[];

/**
 * What each backend implements: storage and watches only. Store wraps it with
 * what every backend shares (identity checks, defaults, validation), so the
 * backends cannot differ on those.
 */
export interface Backend {
  readonly url: string;
  get(kind: KindName, name: string, namespace: string | undefined): Promise<StoredObject>;
  list(kind: KindName, namespace: string | undefined): Promise<ListResult>;
  watch(kind: KindName, opts: WatchOptions): Watch;
  create(kind: KindName, obj: StoredObject): Promise<StoredObject>;
  update(kind: KindName, obj: StoredObject): Promise<StoredObject>;
  delete(kind: KindName, name: string, namespace: string | undefined, opts: DeleteOptions): Promise<void>;
  close(): Promise<void>;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The identity checks every kind shares: apiVersion/kind, a DNS-1123 name, namespace by scope. */
export function checkIdentity(kind: KindName, obj: StoredObject): FieldProblem[] {
  const info = KINDS[kind];
  const object = refOf(kind, obj);
  const problems: FieldProblem[] = [];
  const p = (path: string, message: string) => problems.push({ object, path, message });
  if (obj.apiVersion !== apiVersionOf(info)) p("apiVersion", `must be ${apiVersionOf(info)}`);
  if (obj.kind !== info.kind) p("kind", `must be ${info.kind}`);
  const meta = obj.metadata as unknown;
  if (typeof meta !== "object" || meta === null) {
    p("metadata", "is required");
    return problems;
  }
  const name = obj.metadata.name as unknown;
  if (typeof name !== "string" || name === "") p("metadata.name", "is required");
  else if (name.length > 253 || !NAME_RE.test(name))
    p("metadata.name", `"${name}" is not a DNS-1123 subdomain (lower-case letters, digits, '-', '.')`);
  const ns = obj.metadata.namespace as unknown;
  if (info.namespaced) {
    if (typeof ns !== "string" || ns === "") p("metadata.namespace", `is required for ${info.kind}`);
    else if (!NAME_RE.test(ns)) p("metadata.namespace", `"${ns}" is not a DNS-1123 label`);
  } else if (ns !== undefined && ns !== "") {
    p("metadata.namespace", `${info.kind} is cluster-scoped: remove the namespace`);
  }
  return problems;
}

export class Store implements Datastore {
  constructor(
    private readonly backend: Backend,
    private readonly validators: Validator[] = [checkIdentity],
  ) {}

  get url(): string {
    return this.backend.url;
  }

  /** Adds a check run on every create and update, e.g. policy's semantic validator. */
  addValidator(v: Validator): void {
    this.validators.push(v);
  }

  validate(kind: KindName, obj: StoredObject): void {
    const problems = this.validators.flatMap((v) => v(kind, obj));
    if (problems.length > 0) throw new ValidationError(problems);
  }

  private ns(kind: KindName, namespace: string | undefined): string | undefined {
    return KINDS[kind].namespaced ? namespace : undefined;
  }

  get<K extends KindName>(kind: K, name: string, namespace?: string): Promise<ObjectOf<K>> {
    return this.backend.get(kind, name, this.ns(kind, namespace));
  }

  list<K extends KindName>(kind: K, opts: { namespace?: string } = {}): Promise<ListResult<ObjectOf<K>>> {
    return this.backend.list(kind, this.ns(kind, opts.namespace));
  }

  watch<K extends KindName>(kind: K, opts: WatchOptions = {}): Watch<ObjectOf<K>> {
    const ns = this.ns(kind, opts.namespace);
    return this.backend.watch(kind, { ...opts, namespace: ns });
  }

  async create<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>> {
    this.validate(kind, obj);
    const { resourceVersion: _rv, uid: _uid, ...metadata } = obj.metadata;
    return await this.backend.create(kind, { ...obj, metadata });
  }

  async update<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>> {
    this.validate(kind, obj);
    return await this.backend.update(kind, obj);
  }

  delete<K extends KindName>(
    kind: K,
    name: string,
    namespace?: string,
    opts: DeleteOptions = {},
  ): Promise<void> {
    return this.backend.delete(kind, name, this.ns(kind, namespace), opts);
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}
