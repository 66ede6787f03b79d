import type { Command } from "commander";
import { emit, table } from "../cli/output.js";
import { errorMessage } from "../core/errors.js";
import { log } from "../core/log.js";
import { loadConfig } from "./config.js";
import {
  DEFAULT_CONTROL_SOCKET,
  queryControl,
  serveControl,
  type RoutesView,
  type StatusView,
} from "./session/control.js";
import { DEFAULT_RESTART_TIME, Speaker } from "./session/speaker.js";
import { KernelRoutes } from "../core/kernel-routes.js";
import { KernelInstaller } from "./kernel.js";

interface ControlOpts {
  control: string;
  json?: boolean;
}

/** Runs until SIGINT/SIGTERM; SIGHUP re-reads the config (a bad new config is logged and ignored). */
async function runSpeaker(file: string, control: string): Promise<void> {
  const parsed = loadConfig(file);
  const logger = log().child({ component: "bgp" });
  const speaker = new Speaker(parsed, logger);
  const graceful = parsed.config.gracefulRestart !== undefined;
  let kernel: { routes: KernelRoutes; installer: KernelInstaller; keepStale: boolean } | undefined;
  if (parsed.config.kernel) {
    const routes = new KernelRoutes(parsed.config.kernel);
    const installer = new KernelInstaller(routes, logger.child({ component: "kernel" }));
    // Routes of ours already in the table mean a previous run left them for a graceful restart.
    const leftover = (await routes.list()).length;
    const keepStale = graceful && leftover > 0;
    await installer.start(speaker, keepStale);
    if (keepStale) {
      speaker.restarting = true;
      logger.info({ routes: leftover }, "graceful restart: keeping the routes a previous run installed");
    }
    kernel = { routes, installer, keepStale };
  }
  await speaker.start();
  if (kernel?.keepStale) {
    // After start: the peers exist now, so End-of-RIB from every one of them is what we wait for.
    const { installer } = kernel;
    const restartTime = parsed.config.gracefulRestart?.restartTime ?? DEFAULT_RESTART_TIME;
    void speaker.whenSynced(restartTime * 1000).then(async (why) => {
      logger.info({ why }, "graceful restart: purging the routes that stayed stale");
      await installer.purgeStale();
    });
  }
  const app = await serveControl(speaker, control);
  logger.info({ control }, "control socket ready");
  process.on("SIGHUP", () => {
    try {
      speaker.apply(loadConfig(file));
      logger.info({ file }, "config reloaded");
    } catch (err) {
      logger.error({ file, err: errorMessage(err) }, "config reload refused; keeping the running config");
    }
  });
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  if (graceful) logger.info("stopping for a graceful restart: no Cease; kernel routes stay");
  else logger.info("stopping: Cease to every peer");
  await speaker.stop({ graceful });
  if (kernel) {
    await kernel.installer.stop(!graceful);
    kernel.routes.close();
  }
  await app.close();
}

function statusText(s: StatusView): string {
  if (s.peers.length === 0) return "no peers configured";
  return table([
    ["PEER", "ASN", "STATE", "RECEIVED", "ADVERTISED", "UPTIME", "BFD"],
    ...s.peers.map((p) => [
      p.address,
      String(p.asn),
      p.state,
      String(p.prefixesReceived),
      String(p.prefixesAdvertised),
      `${p.uptime}s`,
      // The diagnostic says why a session that was up went down.
      !p.bfd ? "-" : p.bfd.diag === "None" ? p.bfd.state : `${p.bfd.state} (${p.bfd.diag})`,
    ]),
  ]);
}

function routesText(r: RoutesView): string {
  const rows = (title: string, list: RoutesView["best"], reason: boolean): string =>
    `${title}:\n${
      list.length === 0
        ? "  (none)"
        : table([
            ["PREFIX", "FROM", ...(reason ? ["REASON"] : []), "ATTRIBUTES"],
            ...list.map((x) => [
              x.prefix,
              x.multipath ? x.multipath.join(",") : x.from,
              ...(reason ? [x.reason ?? ""] : []),
              JSON.stringify(x.attributes),
            ]),
          ])
    }`;
  return `${rows("best", r.best, true)}\n${rows("received", r.received, false)}`;
}

export function registerBgpCommands(program: Command): void {
  const bgp = program.command("bgp").description("the BGP-4 speaker");
  bgp
    .command("run")
    .description("run a standalone BGP speaker")
    .requiredOption("--config <file>", "YAML config: routerId, asn, listen, peers, originate")
    .option("--control <socket>", "unix socket for status and routes", DEFAULT_CONTROL_SOCKET)
    .action(async (o: { config: string; control: string }) => {
      await runSpeaker(o.config, o.control);
    });
  view(bgp, "status", "peers and their RFC 4271 states", statusText);
  view(bgp, "routes", "received and best routes with their attributes", routesText);
}

/** A read-only command that asks the running speaker over its control socket. */
function view<T extends "status" | "routes">(
  bgp: Command,
  name: T,
  description: string,
  text: (v: T extends "status" ? StatusView : RoutesView) => string,
): void {
  bgp
    .command(name)
    .description(description)
    .option("--control <socket>", "the speaker's control socket", DEFAULT_CONTROL_SOCKET)
    .option("--json", "print JSON")
    .action(async (o: ControlOpts) => {
      emit(o.json, await queryControl<T extends "status" ? StatusView : RoutesView>(o.control, name), text);
    });
}
