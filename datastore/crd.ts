import { KINDS, KIND_NAMES, TORTIE_GROUP, type KindName } from "./kinds.js";
import type { JsonSchema } from "./schema/builder.js";
import { objectSchema } from "./validate.js";

/** apiextensions.k8s.io/v1 CustomResourceDefinition, as much of it as tortie writes. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string };
    scope: "Namespaced" | "Cluster";
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

/** The tortie.io kinds: the ones that need a CRD. */
export const CRD_KINDS: readonly KindName[] = KIND_NAMES.filter((k) => KINDS[k].group === TORTIE_GROUP);

/** The CRD for one of our kinds, its schema the one the code validates with. */
export function customResourceDefinition(kind: KindName): CustomResourceDefinition {
  const info = KINDS[kind];
  if (info.group !== TORTIE_GROUP) throw new Error(`${kind} is not a tortie.io kind`);
  const schema = objectSchema(kind);
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${info.plural}.${info.group}`, labels: { "app.kubernetes.io/name": "tortie" } },
    spec: {
      group: info.group,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.kind.toLowerCase(),
      },
      scope: info.namespaced ? "Namespaced" : "Cluster",
      versions: [
        {
          name: info.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

/** Every CRD the chart installs, in a stable order. */
export function customResourceDefinitions(): CustomResourceDefinition[] {
  return CRD_KINDS.map(customResourceDefinition);
}
