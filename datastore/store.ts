import { ValidationError, type FieldProblem } from "../core/errors.js";
import { KINDS, type KindName } from "./kinds.js";
import { validateObject } from "./validate.js";
import type {
  Datastore,
  DeleteOptions,
  ListResult,
  ObjectOf,
  StoredObject,
  Watch,
  WatchOptions,
} from "./types.js";

/** Checks an object of a kind; returns every problem found (empty: valid). */
export type Validator = (kind: KindName, obj: StoredObject) => FieldProblem[];

/**
 * Backends hand back what was validated on the way in (or by the API server),
 * which is why Store may narrow their StoredObjects to the kind's type.
 *
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

export class Store implements Datastore {
  constructor(
    private readonly backend: Backend,
    private readonly validators: Validator[] = [validateObject],
  ) {}

  get url(): string {
    return this.backend.url;
  }

  /** Adds a check run on every create and update of this store (policy/ uses setPolicyValidator instead). */
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
    return this.backend.get(kind, name, this.ns(kind, namespace)) as Promise<ObjectOf<K>>;
  }

  list<K extends KindName>(kind: K, opts: { namespace?: string } = {}): Promise<ListResult<ObjectOf<K>>> {
    return this.backend.list(kind, this.ns(kind, opts.namespace)) as Promise<ListResult<ObjectOf<K>>>;
  }

  watch<K extends KindName>(kind: K, opts: WatchOptions = {}): Watch<ObjectOf<K>> {
    const ns = this.ns(kind, opts.namespace);
    return this.backend.watch(kind, { ...opts, namespace: ns }) as Watch<ObjectOf<K>>;
  }

  async create<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>> {
    this.validate(kind, obj);
    const { resourceVersion: _rv, uid: _uid, ...metadata } = obj.metadata;
    return (await this.backend.create(kind, { ...obj, metadata })) as ObjectOf<K>;
  }

  async update<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>> {
    this.validate(kind, obj);
    return (await this.backend.update(kind, obj)) as ObjectOf<K>;
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
