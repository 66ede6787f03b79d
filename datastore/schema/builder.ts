/**
 * A typed builder for structural OpenAPI v3 schemas. Each builder call returns
 * the JSON schema and carries its TypeScript type, so `Infer<typeof s>` is the
 * type of what `s` accepts: the types, ajv's validation and the CRDs come from
 * the same value and cannot drift apart.
 *
 * The schemas are written in the Kubernetes structural form (every node typed,
 * maps as additionalProperties, `x-kubernetes-preserve-unknown-fields` where
 * unknown fields are allowed); `forAjv` tightens them for validation.
 */

export interface JsonSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  enum?: (string | number)[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  nullable?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  anyOf?: JsonSchema[];
}

/** A schema that accepts values of type T. `_type` exists only for the type checker. */
export interface Schema<T> {
  readonly json: JsonSchema;
  readonly _type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Props = Record<string, Schema<unknown>>;
type Flat<T> = { [K in keyof T]: T[K] } & {};
type ObjectType<P extends Props, R extends keyof P> = Flat<
  { [K in R]: Infer<P[K]> } & { [K in Exclude<keyof P, R>]?: Infer<P[K]> }
>;

function s<T>(json: JsonSchema): Schema<T> {
  return { json };
}

interface Common {
  description?: string;
}

export const string = (
  o: Common & { format?: string; pattern?: string; minLength?: number; maxLength?: number } = {},
) => s<string>({ type: "string", ...o });

export const integer = (o: Common & { minimum?: number; maximum?: number } = {}) =>
  s<number>({ type: "integer", ...o });

export const number = (o: Common & { minimum?: number; maximum?: number } = {}) =>
  s<number>({ type: "number", ...o });

export const boolean = (o: Common = {}) => s<boolean>({ type: "boolean", ...o });

export function enumOf<const T extends string>(values: readonly T[], o: Common = {}): Schema<T> {
  return s<T>({ type: "string", enum: [...values], ...o });
}

export function array<T>(items: Schema<T>, o: Common & { minItems?: number } = {}): Schema<T[]> {
  return s<T[]>({ type: "array", items: items.json, ...o });
}

/** A string-keyed map (Kubernetes labels, Calico's handle block counts). */
export function map<T>(values: Schema<T>, o: Common = {}): Schema<Record<string, T>> {
  return s<Record<string, T>>({ type: "object", additionalProperties: values.json, ...o });
}

export function nullable<T>(inner: Schema<T>): Schema<T | null> {
  return s<T | null>({ ...inner.json, nullable: true });
}

/** A port number or a named port: Kubernetes' IntOrString. */
export const intOrString = (o: Common = {}) =>
  s<number | string>({ "x-kubernetes-int-or-string": true, ...o });

/**
 * An object with known properties. `required` lists the mandatory ones; with
 * `open: true` unknown fields are kept (Kubernetes objects tortie reads only in
 * part), otherwise they are an error.
 */
export function object<
  P extends Props,
  const R extends keyof P & string = never,
  const O extends boolean = false,
>(
  properties: P,
  o: Common & { required?: readonly R[]; open?: O } = {},
): Schema<O extends true ? ObjectType<P, R> & Record<string, unknown> : ObjectType<P, R>> {
  const json: JsonSchema = {
    type: "object",
    ...(o.description ? { description: o.description } : {}),
    properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.json])),
  };
  if (o.required && o.required.length > 0) json.required = [...o.required];
  if (o.open) json["x-kubernetes-preserve-unknown-fields"] = true;
  return s(json);
}

/** Anything; its inner checks belong to another validator (policy specs). */
export const opaque = <T = Record<string, unknown>>(o: Common = {}) =>
  s<T>({ type: "object", "x-kubernetes-preserve-unknown-fields": true, ...o });

/**
 * The schema ajv checks: objects that do not preserve unknown fields reject
 * them. (A CRD must not say additionalProperties: false; the API server prunes
 * unknown fields instead. tortie names them as errors, which is kinder.)
 */
export function forAjv(json: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...json };
  if (json.properties) {
    out.properties = Object.fromEntries(Object.entries(json.properties).map(([k, v]) => [k, forAjv(v)]));
    if (!json["x-kubernetes-preserve-unknown-fields"] && json.additionalProperties === undefined)
      out.additionalProperties = false;
  }
  if (typeof json.additionalProperties === "object")
    out.additionalProperties = forAjv(json.additionalProperties);
  if (json.items) out.items = forAjv(json.items);
  if (json["x-kubernetes-int-or-string"]) {
    delete out["x-kubernetes-int-or-string"];
    out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  return out;
}
