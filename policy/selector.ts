/**
 * Label selectors: the Calico expression language and Kubernetes LabelSelectors share one AST.
 */

/** The selector AST. `all` matches everything (an empty Kubernetes selector, Calico `all()`). */
export type Selector =
  | { readonly op: "all" }
  | { readonly op: "has"; readonly key: string }
  | { readonly op: "eq"; readonly key: string; readonly value: string }
  | { readonly op: "ne"; readonly key: string; readonly value: string }
  | { readonly op: "in"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "not"; readonly expr: Selector }
  | { readonly op: "and"; readonly exprs: readonly Selector[] }
  | { readonly op: "or"; readonly exprs: readonly Selector[] };
