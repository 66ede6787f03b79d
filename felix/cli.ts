import { Option, type Command } from "commander";
import { Counter } from "prom-client";
import { emit, table } from "../cli/output.js";
import { UserError } from "../core/errors.js";
import { log } from "../core/log.js";
import { serveCni } from "../cni/agent.js";
import { execWithAgentRuntime } from "../core/runtime.js";
import { Agent, type NodeStatusView } from "./agent.js";
import { queryStatus, serveControlSocket, serveHealth } from "./http.js";

import { DEFAULT_SECRETS_NAMESPACE } from "./calc/desired.js";
import { checkPolicyObjectsInDatastores } from "../policy/datastore.js";

export const DEFAULT_NODE_CONTROL = "/run/tortie/node.sock";
export const DEFAULT_LISTEN = "127.0.0.1:9099";

interface RunOpts {
  datastore?: string;
  node?: string;
  control: string;
  listen: string;
  ip?: string;
  backend: string;
  resyncInterval: string;
  cniSocket?: string;
  secretsNamespace?: string;
}

/** HOST:PORT or [IPv6]:PORT. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--listen: ${JSON.stringify(s)} is not HOST:PORT`);
  return { host: m[1], port };
}

export function checkRunOptions(o: RunOpts) {
  if (!o.datastore)
    throw new UserError("--datastore (or TORTIE_DATASTORE) is required: file:DIR, etcd:URL or kubernetes");
  if (!o.node) throw new UserError("--node (or TORTIE_NODE) is required: this node's name");
  if (o.backend !== "nft" && o.backend !== "iptables")
    throw new UserError(`--backend: ${JSON.stringify(o.backend)} must be nft or iptables`);
  const resync = Number(o.resyncInterval);
  if (!Number.isFinite(resync) || resync <= 0)
    throw new UserError(
      `--resync-interval: ${JSON.stringify(o.resyncInterval)} must be a positive number of seconds`,
    );
  const secretsNamespace = o.secretsNamespace ?? DEFAULT_SECRETS_NAMESPACE;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(secretsNamespace))
    throw new UserError(
      `--secrets-namespace: ${JSON.stringify(secretsNamespace)} is not a namespace name (RFC 1123 label)`,
    );
  if (o.ip !== undefined && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(o.ip))
    throw new UserError(`--ip: ${JSON.stringify(o.ip)} must be an IPv4 ADDR/LEN, e.g. 10.0.0.1/24`);
  return {
    datastore: o.datastore,
    node: o.node,
    ip: o.ip,
    backend: o.backend === "iptables" ? ("iptables" as const) : ("nft" as const),
    resyncSeconds: resync,
    secretsNamespace,
    listen: parseListen(o.listen),
    control: o.control,
  };
}

async function runNode(o: RunOpts): Promise<void> {
  const opts = checkRunOptions(o);
  const agent = new Agent(opts);
  await agent.start();
  const health = await serveHealth(agent, opts.listen.host, opts.listen.port);
  const control = await serveControlSocket(agent, opts.control);
  // The CNI executable hands ADD/DEL/CHECK to this process when it listens: a
  // fresh plugin process spends most of its time loading modules and opening
  // the datastore, which the agent has already done.
  // It also claims this node's next block in the background, so that an ADD finds a free address.
  const claims = new Counter({
    name: "tortie_ipam_block_claims_total",
    help: "Blocks this node's CNI server claimed: inline (an ADD waited for the claim) or in the background",
    labelNames: ["mode"],
    registers: [agent.metrics.registry],
  });
  const cni = o.cniSocket
    ? await serveCni(o.cniSocket, {
        onCall: (r) => log().info(r, "cni call"),
        onClaim: (cidr, mode, node) => {
          claims.inc({ mode });
          log().info({ cidr, mode, node }, "block claimed");
        },
        prepare: { datastores: [opts.datastore], node: opts.node },
      })
    : undefined;
  log().info({ node: opts.node, listen: o.listen, control: opts.control }, "node agent running");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  log().info("stopping: kernel routes and nftables stay in place for the next agent");
  await cni?.close();
  await control.close();
  await health.close();
  await agent.stop();
}

export function statusText(s: NodeStatusView): string {
  const lines = [
    `node ${s.node} (${s.ip ?? "no address"}): ${s.ready ? "ready" : `not ready: ${s.notReadyReasons.join("; ")}`}`,
    `datastore ${s.datastore.url}: ${s.datastore.up ? "up" : "unreachable"}`,
    `bgp: AS ${s.bgp.asn ?? "-"}, router id ${s.bgp.routerId ?? "-"}`,
  ];
  if (s.bgp.peers.length > 0)
    lines.push(
      table([
        ["PEER", "ASN", "STATE", "RECEIVED", "ADVERTISED", "UPTIME", "SOURCE"],
        ...s.bgp.peers.map((p) => [
          p.address,
          String(p.asn),
          p.state,
          String(p.prefixesReceived),
          String(p.prefixesAdvertised),
          `${p.uptime}s`,
          p.source,
        ]),
      ]),
    );
  lines.push(
    `routes in: ${s.routes.in.map((r) => `${r.prefix} via ${r.nextHops.join(",")}`).join(", ") || "(none)"}`,
  );
  lines.push(
    `routes out: ${s.routes.out.join(", ") || "(none)"}; local ${s.routes.local}, stale ${s.routes.stale}`,
  );
  if (s.vxlan) {
    const v = s.vxlan;
    lines.push(
      `vxlan: ${v.device} vni ${v.vni}, tunnel address ${v.address ?? "(none yet)"}, mac ${v.mac}, mtu ${v.mtu ?? "-"}`,
    );
    if (v.vteps.length > 0)
      lines.push(
        table([
          ["NODE", "TUNNEL", "MAC", "UNDERLAY"],
          ...v.vteps.map((x) => [x.node, x.tunnel, x.mac, x.underlay]),
        ]),
      );
  }
  lines.push(`local endpoints: ${s.localEndpoints.length}`);
  for (const e of s.localEndpoints) lines.push(`  ${e.namespace}/${e.pod}  ${e.ifName}  ${e.ips.join(",")}`);
  lines.push(
    `policies: ${s.policies.active.length} (sets ${s.policies.stats.sets}, rules ${s.policies.stats.rules})`,
  );
  for (const p of s.policies.active) lines.push(`  ${p}`);
  lines.push(
    `last programming: ${s.lastProgramming ? `${s.lastProgramming.ms} ms (${s.lastProgramming.kind}) at ${s.lastProgramming.at}` : "never"}`,
  );
  for (const p of s.problems) lines.push(`problem: ${p}`);
  return lines.join("\n");
}

export function registerNodeCommands(program: Command): void {
  checkPolicyObjectsInDatastores();
  const node = program
    .command("node")
    .description("the node agent (felix): datastore to kernel, BGP, health");
  node
    .command("run")
    .description("run the node agent in this network namespace")
    .addOption(new Option("--datastore <url>", "file:DIR, etcd:URL or kubernetes").env("TORTIE_DATASTORE"))
    .addOption(new Option("--node <name>", "this node's name").env("TORTIE_NODE"))
    .addOption(
      new Option("--control <socket>", "unix socket for `tortie node status`")
        .env("TORTIE_CONTROL")
        .default(DEFAULT_NODE_CONTROL),
    )
    .addOption(
      new Option("--listen <host:port>", "liveness, readiness and metrics")
        .env("TORTIE_LISTEN")
        .default(DEFAULT_LISTEN),
    )
    .addOption(
      new Option("--ip <addr/len>", "this node's IPv4 address for BGP (default: autodetect)").env(
        "TORTIE_IP",
      ),
    )
    .addOption(new Option("--backend <nft|iptables>", "policy backend").env("TORTIE_BACKEND").default("nft"))
    .addOption(
      new Option("--resync-interval <seconds>", "full reconcile against the kernel this often")
        .env("TORTIE_RESYNC_INTERVAL")
        .default("30"),
    )
    .addOption(
      new Option(
        "--secrets-namespace <namespace>",
        "where the Secrets named by BGPPeer spec.password / BGPConfiguration spec.nodeMeshPassword live (the DaemonSet's namespace)",
      )
        .env("TORTIE_SECRETS_NAMESPACE")
        .default(DEFAULT_SECRETS_NAMESPACE),
    )
    .addOption(
      new Option(
        "--cni-socket <path>",
        "serve the CNI plugin's calls on this unix socket (the network configuration's agentSocket, by default /run/tortie/cni.sock)",
      ).env("TORTIE_CNI_SOCKET"),
    )
    .action(async (o: RunOpts) => {
      // Before anything opens a socket: the process image is replaced, options sized to the machine.
      execWithAgentRuntime();
      await runNode(o);
    });
  node
    .command("status")
    .description("BGP peers, routes in and out, local endpoints, policies, last programming latency")
    .addOption(
      new Option("--control <socket>", "the agent's control socket")
        .env("TORTIE_CONTROL")
        .default(DEFAULT_NODE_CONTROL),
    )
    .option("--json", "print JSON")
    .action(async (o: { control: string; json?: boolean }) => {
      emit(o.json, await queryStatus(o.control), statusText);
    });
}
