import { resolve } from "node:path";
import { UserError } from "../core/errors.js";
import { FileBackend, type FileStoreOptions } from "./file.js";
import { Store, type Backend } from "./store.js";

export interface OpenOptions {
  readonly file?: FileStoreOptions;
}

/** Which backend a `--datastore` value names, without opening anything. */
export type DatastoreUrl =
  | { readonly type: "file"; readonly dir: string }
  | { readonly type: "etcd"; readonly endpoint: string; readonly prefix: string }
  | { readonly type: "kubernetes"; readonly kubeconfig?: string };

/**
 * `file:DIR` (relative to the working directory), `etcd:http://HOST:PORT[/PREFIX]`
 * (prefix default `/tortie`), `kubernetes` (in-cluster, or KUBECONFIG / ~/.kube/config)
 * or `kubernetes:PATH-TO-KUBECONFIG`.
 */
export function parseDatastoreUrl(url: string): DatastoreUrl {
  if (url.startsWith("file:")) {
    const dir = url.slice("file:".length);
    if (dir === "")
      throw new UserError(`--datastore ${url}: file: needs a directory, e.g. file:/var/lib/tortie`);
    return { type: "file", dir: resolve(dir) };
  }
  if (url.startsWith("etcd:")) {
    let u: URL;
    try {
      u = new URL(url.slice("etcd:".length));
    } catch {
      throw new UserError(`--datastore ${url}: etcd: needs a URL, e.g. etcd:http://127.0.0.1:2379`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new UserError(`--datastore ${url}: etcd URL must be http:// or https://`);
    const prefix = u.pathname === "/" || u.pathname === "" ? "/tortie" : u.pathname.replace(/\/$/, "");
    return { type: "etcd", endpoint: `${u.protocol}//${u.host}`, prefix };
  }
  if (url === "kubernetes") return { type: "kubernetes" };
  if (url.startsWith("kubernetes:")) return { type: "kubernetes", kubeconfig: resolve(url.slice(11)) };
  throw new UserError(`--datastore ${url}: expected file:DIR, etcd:URL or kubernetes`);
}

export function openBackend(url: string, opts: OpenOptions = {}): Promise<Backend> {
  const u = parseDatastoreUrl(url);
  switch (u.type) {
    case "file":
      return Promise.resolve(new FileBackend(u.dir, opts.file));
    case "etcd":
    case "kubernetes":
      throw new UserError(`--datastore ${url}: the ${u.type} backend is not built yet`);
  }
}

/** Opens the datastore a `--datastore` flag names. */
export async function openDatastore(url: string, opts: OpenOptions = {}): Promise<Store> {
  return new Store(await openBackend(url, opts));
}
