import { CNI_CODES, CniError } from "./errors.js";

export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "GC" | "STATUS";
const COMMANDS: readonly CniCommand[] = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"];

/** The network configuration the runtime passes on stdin (our keys, exactly as the issue names them). */
export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly datastore: string;
  readonly nodeName: string;
  readonly mtu: number;
  readonly ipam: { readonly type: string; readonly [k: string]: unknown };
  readonly prevResult?: CniResult;
  /** CNI 1.1 GC: the attachments that are still valid. */
  readonly validAttachments?: readonly { containerID: string; ifname: string }[];
  readonly raw: Record<string, unknown>;
}

export interface CniEnv {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly args: Readonly<Record<string, string>>;
  readonly path: readonly string[];
  /** The CNI_* variables as given, for a delegated plugin. */
  readonly vars: Readonly<Record<string, string>>;
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly sandbox?: string;
}
export interface CniIp {
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
}
export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
}
export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces?: readonly CniInterface[];
  readonly ips: readonly CniIp[];
  readonly routes?: readonly CniRoute[];
  readonly dns?: Record<string, unknown>;
}

const bad = (msg: string): CniError => new CniError(CNI_CODES.InvalidNetworkConfig, msg);

export function parseNetConf(stdin: string, command: CniCommand): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(
      CNI_CODES.DecodeFailure,
      `network configuration on stdin is not JSON: ${(e as Error).message}`,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new CniError(CNI_CODES.DecodeFailure, "network configuration on stdin must be a JSON object");
  const r = raw as Record<string, unknown>;
  const str = (k: string, required: boolean): string => {
    const v = r[k];
    if (v === undefined && !required) return "";
    if (typeof v !== "string" || v === "")
      throw bad(`network configuration: "${k}" must be a non-empty string`);
    return v;
  };
  const cniVersion = str("cniVersion", true);
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion))
    throw new CniError(
      CNI_CODES.IncompatibleVersion,
      `cniVersion ${cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(", ")})`,
    );
  const needsStore = command !== "VERSION";
  const ipam = r["ipam"];
  if (
    ipam !== undefined &&
    (typeof ipam !== "object" || ipam === null || typeof (ipam as { type?: unknown }).type !== "string")
  )
    throw bad(`network configuration: "ipam" must be an object with a "type"`);
  const mtu = r["mtu"] ?? 1500;
  if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535)
    throw bad(`network configuration: "mtu" must be an integer from 576 to 65535`);
  const prev = r["prevResult"];
  const va = r["cni.dev/valid-attachments"];
  return {
    cniVersion,
    name: str("name", needsStore),
    type: str("type", needsStore),
    datastore: str("datastore", needsStore),
    nodeName: str("nodeName", needsStore),
    mtu,
    ipam: (ipam as NetConf["ipam"] | undefined) ?? { type: "tortie-ipam" },
    ...(prev !== undefined ? { prevResult: prev as CniResult } : {}),
    ...(Array.isArray(va) ? { validAttachments: va as NetConf["validAttachments"] & object } : {}),
    raw: r,
  };
}

export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(";")) {
    if (kv === "") continue;
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new CniError(CNI_CODES.InvalidEnvironment, `CNI_ARGS: "${kv}" is not KEY=VALUE`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env["CNI_COMMAND"] ?? "";
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new CniError(
      CNI_CODES.InvalidEnvironment,
      `CNI_COMMAND "${command}" is not one of ${COMMANDS.join(", ")}`,
    );
  const cmd = command as CniCommand;
  const need = (k: string): string => {
    const v = env[k];
    if (!v) throw new CniError(CNI_CODES.InvalidEnvironment, `${k} is required for ${cmd}`);
    return v;
  };
  const perContainer = cmd === "ADD" || cmd === "DEL" || cmd === "CHECK";
  return {
    command: cmd,
    containerId: perContainer ? need("CNI_CONTAINERID") : "",
    // DEL may come after the namespace is gone: the runtime may then pass it empty.
    netns: cmd === "ADD" || cmd === "CHECK" ? need("CNI_NETNS") : (env["CNI_NETNS"] ?? ""),
    ifname: perContainer ? need("CNI_IFNAME") : "",
    args: parseCniArgs(env["CNI_ARGS"] ?? ""),
    path: (env["CNI_PATH"] ?? "").split(":").filter((p) => p !== ""),
    vars: Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => e[0].startsWith("CNI_") && e[1] !== undefined),
    ),
  };
}

/** The pod as the kubelet names it in CNI_ARGS. */
export function podOf(env: CniEnv): { namespace: string; pod: string } | undefined {
  const namespace = env.args["K8S_POD_NAMESPACE"];
  const pod = env.args["K8S_POD_NAME"];
  return namespace && pod ? { namespace, pod } : undefined;
}
