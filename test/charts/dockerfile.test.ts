import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parse } from "yaml";
import { CHART, REPO } from "./generate.js";

/**
 * The image cannot be built here (no registry access), so this checks, as text, that the Dockerfile makes
 * the image the chart runs: the tag the chart pulls, the tools the dataplane calls, and the layout the
 * init script and the native addon's loader expect.
 */

const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
  image: { repository: string; tag: string };
};

t.test("the Dockerfile builds the image the chart references, with what the agent runs", async (t) => {
  t.match(dockerfile, `docker build -t ${values.image.repository}:${values.image.tag} .`);
  t.match(dockerfile, /^FROM node:20-bookworm AS build$/m);
  t.match(dockerfile, /^FROM node:20-bookworm-slim$/m);
  const install =
    /apt-get install -y --no-install-recommends ([^\n&]+)/.exec(dockerfile)?.[1]?.split(/\s+/) ?? [];
  for (const p of ["nftables", "iproute2", "iptables", "ipset"]) t.ok(install.includes(p), `installs ${p}`);
  t.match(dockerfile, "node-gyp rebuild", "builds the native addon");
  t.match(dockerfile, "npx tsc -p tsconfig.json", "compiles");
  t.match(
    dockerfile,
    "ln -s /app/bin/tortie.js /usr/local/bin/tortie",
    "`tortie` on PATH for the DaemonSet's command",
  );
});

t.test("the image's layout is the one the init script and the addon loader expect", async (t) => {
  // core/native/index.ts loads ../../../core/native/build/Release/tortie_native.node from dist/core/native/.
  const loader = readFileSync(join(REPO, "core", "native", "index.ts"), "utf8");
  t.match(loader, "../../../core/native/build/Release/tortie_native.node");
  t.match(
    dockerfile,
    "cp core/native/build/Release/tortie_native.node core/native/build/Release/tortie-cni-launcher",
  );
  // cni/install.ts copies the C launcher (a node-gyp executable target) from there into the CNI bin dir.
  t.match(
    readFileSync(join(REPO, "cni", "install.ts"), "utf8"),
    "../../core/native/build/Release/tortie-cni-launcher",
  );
  t.match(
    readFileSync(join(REPO, "core", "native", "binding.gyp"), "utf8"),
    '"target_name": "tortie-cni-launcher"',
  );
  t.match(dockerfile, "cp -R dist bin node_modules package.json /app/");
  t.match(dockerfile, "> .build-id");
  const script = readFileSync(join(CHART, "files", "install-cni.sh"), "utf8");
  t.match(script, "app=${TORTIE_APP_DIR:-/app}");
  t.match(script, '"$dest/node" "$dest/dist/cli/main.js" cni install');
});

t.test(".dockerignore keeps the developer's build out of the image", async (t) => {
  const ignored = readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n");
  for (const p of ["node_modules", "dist", "**/build", ".git"]) t.ok(ignored.includes(p), p);
});
