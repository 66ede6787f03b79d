/**
 * What the API server checks of an apiextensions.k8s.io/v1 CustomResourceDefinition
 * before it accepts one (no kube-apiserver can run here): the object's shape,
 * names, versions, and that each version's openAPIV3Schema is *structural*, as
 * "Specifying a structural schema" in the Kubernetes CRD documentation and
 * apiextensions' validation define it. Returns every problem as "path: message".
 */

type Json = Record<string, unknown>;

/** JSONSchemaProps' fields (apiextensions/v1 types.go); anything else is an unknown field. */
const SCHEMA_FIELDS = new Set([
  "id",
  "$schema",
  "$ref",
  "description",
  "type",
  "format",
  "title",
  "default",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "uniqueItems",
  "multipleOf",
  "enum",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "allOf",
  "oneOf",
  "anyOf",
  "not",
  "properties",
  "additionalProperties",
  "patternProperties",
  "dependencies",
  "additionalItems",
  "definitions",
  "externalDocs",
  "example",
  "nullable",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-list-type",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
]);
/** v1 CRDs reject these outright. */
const FORBIDDEN = [
  "$ref",
  "$schema",
  "id",
  "definitions",
  "patternProperties",
  "dependencies",
  "additionalItems",
];
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);
/**
 * Formats the API server validates (k8s.io/kube-openapi's strfmt registry). Others are accepted and ignored;
 * tortie's own `ip` is one of them, so listing it here says on purpose that only tortie checks it.
 */
const FORMATS = new Set([
  "bsonobjectid",
  "uri",
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "cidr",
  "mac",
  "uuid",
  "uuid3",
  "uuid4",
  "uuid5",
  "isbn",
  "isbn10",
  "isbn13",
  "creditcard",
  "ssn",
  "hexcolor",
  "rgbcolor",
  "byte",
  "password",
  "date",
  "duration",
  "datetime",
  "date-time",
  "int32",
  "int64",
  "float",
  "double",
]);
export const TORTIE_ONLY_FORMATS = new Set(["ip"]);
const JUNCTORS = ["allOf", "anyOf", "oneOf", "not"] as const;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function schemaProblems(
  s: unknown,
  path: string,
  root: boolean,
  inJunctor: boolean,
  typeAllowedInJunctor = false,
): string[] {
  const out: string[] = [];
  if (!isObj(s)) return [`${path}: must be an object`];
  for (const k of Object.keys(s)) if (!SCHEMA_FIELDS.has(k)) out.push(`${path}.${k}: unknown field`);
  for (const k of FORBIDDEN) if (k in s) out.push(`${path}.${k}: not allowed in a v1 CRD`);
  const type = s.type;
  const intOrString = s["x-kubernetes-int-or-string"] === true;
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (inJunctor) {
    for (const k of ["description", "type", "default", "additionalProperties", "nullable"])
      if (k in s && !(k === "type" && typeAllowedInJunctor))
        out.push(`${path}.${k}: must not be set inside allOf/anyOf/oneOf/not`);
  } else if (type === undefined) {
    if (!intOrString && !preserve) out.push(`${path}: must have a type (structural schemas type every node)`);
  } else if (typeof type !== "string" || !TYPES.has(type)) {
    out.push(`${path}.type: must be one of ${[...TYPES].join(", ")}`);
  }
  if (root && type !== "object") out.push(`${path}.type: the root must be "object"`);
  if (intOrString && type !== undefined) out.push(`${path}: x-kubernetes-int-or-string must not have a type`);
  if (s.uniqueItems === true) out.push(`${path}.uniqueItems: must not be true`);
  if (s.additionalProperties === false) out.push(`${path}.additionalProperties: must not be false`);
  if (s.additionalProperties !== undefined && s.properties !== undefined)
    out.push(`${path}: properties and additionalProperties are mutually exclusive`);
  if (preserve && type !== undefined && type !== "object")
    out.push(`${path}: x-kubernetes-preserve-unknown-fields needs type object`);
  if (typeof s.format === "string" && !FORMATS.has(s.format) && !TORTIE_ONLY_FORMATS.has(s.format))
    out.push(`${path}.format: "${s.format}" is not a format the API server knows`);
  if (s.items !== undefined && !isObj(s.items)) out.push(`${path}.items: must be one schema`);
  if (type === "array" && s.items === undefined) out.push(`${path}: an array must say its items`);
  if (s.enum !== undefined) {
    if (!Array.isArray(s.enum)) out.push(`${path}.enum: must be a list`);
    else
      for (const [i, v] of s.enum.entries())
        if (!valueFits(type, v))
          out.push(`${path}.enum[${i}]: ${JSON.stringify(v)} is not a ${String(type)}`);
  }
  if (s.required !== undefined) {
    if (!Array.isArray(s.required) || s.required.some((r) => typeof r !== "string"))
      out.push(`${path}.required: must be a list of names`);
    else if (isObj(s.properties) && !preserve)
      for (const r of s.required as string[])
        if (!(r in s.properties)) out.push(`${path}.required: "${r}" is not one of its properties`);
  }
  if (s.properties !== undefined) {
    if (!isObj(s.properties)) out.push(`${path}.properties: must be a map`);
    else
      for (const [k, v] of Object.entries(s.properties))
        out.push(...schemaProblems(v, `${path}.properties.${k}`, false, inJunctor));
  }
  if (isObj(s.additionalProperties))
    out.push(...schemaProblems(s.additionalProperties, `${path}.additionalProperties`, false, inJunctor));
  if (isObj(s.items)) out.push(...schemaProblems(s.items, `${path}.items`, false, inJunctor));
  for (const j of JUNCTORS) {
    const v = s[j];
    if (v === undefined) continue;
    const list = j === "not" ? [v] : Array.isArray(v) ? v : [];
    if (j !== "not" && !Array.isArray(v)) out.push(`${path}.${j}: must be a list`);
    for (const [i, sub] of list.entries()) {
      // int-or-string's own pattern, anyOf [{type: integer}, {type: string}], is the one exception.
      out.push(...schemaProblems(sub, `${path}.${j}[${i}]`, false, true, j === "anyOf" && intOrString));
      // A field named inside a junctor must also be specified outside it.
      if (isObj(sub) && isObj(sub.properties))
        for (const k of Object.keys(sub.properties))
          if (!isObj(s.properties) || !(k in s.properties))
            out.push(`${path}.${j}[${i}].properties.${k}: not specified outside ${j}`);
    }
  }
  if (root && isObj(s.properties) && isObj(s.properties.metadata)) {
    const m = s.properties.metadata;
    const allowed = new Set(["type", "properties"]);
    for (const k of Object.keys(m))
      if (!allowed.has(k))
        out.push(`${path}.properties.metadata.${k}: only name and generateName may be restricted`);
    if (isObj(m.properties))
      for (const k of Object.keys(m.properties))
        if (k !== "name" && k !== "generateName")
          out.push(
            `${path}.properties.metadata.properties.${k}: only name and generateName may be restricted`,
          );
  }
  return out;
}

function valueFits(type: unknown, v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    default:
      return true;
  }
}

/** Every problem the API server would reject a CRD for, or the structural-schema rules it breaks. */
export function crdProblems(crd: unknown): string[] {
  const out: string[] = [];
  if (!isObj(crd)) return ["(crd): must be an object"];
  if (crd.apiVersion !== "apiextensions.k8s.io/v1") out.push(`apiVersion: must be apiextensions.k8s.io/v1`);
  if (crd.kind !== "CustomResourceDefinition") out.push(`kind: must be CustomResourceDefinition`);
  for (const k of Object.keys(crd))
    if (!["apiVersion", "kind", "metadata", "spec", "status"].includes(k)) out.push(`${k}: unknown field`);
  const meta = crd.metadata;
  const spec = crd.spec;
  if (!isObj(spec)) return [...out, "spec: is required"];
  const group = spec.group;
  const names = spec.names;
  if (
    typeof group !== "string" ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/.test(group)
  )
    out.push("spec.group: must be a DNS subdomain with at least one dot");
  if (!isObj(names)) out.push("spec.names: is required");
  else {
    for (const k of ["plural", "kind"] as const)
      if (typeof names[k] !== "string" || names[k] === "") out.push(`spec.names.${k}: is required`);
    for (const k of ["plural", "singular"] as const)
      if (names[k] !== undefined && (typeof names[k] !== "string" || !DNS1035.test(names[k])))
        out.push(`spec.names.${k}: must be a lower-case DNS-1035 label`);
    if (typeof names.kind === "string" && !/^[A-Z][A-Za-z0-9]*$/.test(names.kind))
      out.push("spec.names.kind: must be a CamelCase name");
    if (names.listKind !== undefined && names.listKind !== `${String(names.kind)}List`)
      out.push("spec.names.listKind: must be the kind + List");
    if (!isObj(meta) || meta.name !== `${String(names.plural)}.${String(group)}`)
      out.push(`metadata.name: must be <spec.names.plural>.<spec.group>`);
  }
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster")
    out.push("spec.scope: must be Namespaced or Cluster");
  const versions = spec.versions;
  if (!Array.isArray(versions) || versions.length === 0) return [...out, "spec.versions: must not be empty"];
  let storage = 0;
  const seen = new Set<string>();
  for (const [i, v] of versions.entries()) {
    const p = `spec.versions[${i}]`;
    if (!isObj(v)) {
      out.push(`${p}: must be an object`);
      continue;
    }
    if (typeof v.name !== "string" || !DNS1035.test(v.name)) out.push(`${p}.name: must be a DNS-1035 label`);
    else if (seen.has(v.name)) out.push(`${p}.name: duplicate version`);
    else seen.add(v.name);
    if (typeof v.served !== "boolean") out.push(`${p}.served: is required`);
    if (typeof v.storage !== "boolean") out.push(`${p}.storage: is required`);
    if (v.storage === true) storage++;
    const schema = isObj(v.schema) ? v.schema.openAPIV3Schema : undefined;
    // v1 CRDs must have a schema per version (no top-level spec.validation any more).
    if (schema === undefined) out.push(`${p}.schema.openAPIV3Schema: is required`);
    else out.push(...schemaProblems(schema, `${p}.schema.openAPIV3Schema`, true, false));
  }
  if (storage !== 1) out.push(`spec.versions: exactly one must be the storage version (found ${storage})`);
  return out;
}
