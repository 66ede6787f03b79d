import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { loadKubeConfig } from "../../datastore/kubernetes.js";
import { CHART, REPO } from "./generate.js";

/**
 * The init container's script (files/install-cni.sh), run as the container runs it but in a temp dir:
 * the "image" is this repository's build (linked, so the copy is cheap), the host dirs are temp dirs.
 * The launchers it leaves must run the plugin from the host copy.
 */

const script = join(CHART, "files", "install-cni.sh");
const root = mkdtempSync(join(tmpdir(), "tortie-install-cni-"));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

function image(id: string): string {
  const app = join(root, `app-${id}`);
  if (existsSync(app)) return app;
  mkdirSync(join(app, "core", "native"), { recursive: true });
  // dist is copied, as in the image: Node runs an entry point from its real path, and the launchers must
  // name the host copy's. node_modules and the addon are only resolved from there, so links do.
  cpSync(join(REPO, "dist"), join(app, "dist"), { recursive: true });
  for (const d of ["node_modules", "bin"]) symlinkSync(join(REPO, d), join(app, d));
  symlinkSync(join(REPO, "core", "native", "build"), join(app, "core", "native", "build"));
  writeFileSync(join(app, "package.json"), readFileSync(join(REPO, "package.json")));
  writeFileSync(join(app, ".build-id"), `${id}\n`);
  return app;
}

const host = {
  bin: join(root, "host", "opt", "cni", "bin"),
  conf: join(root, "host", "etc", "cni", "net.d"),
  install: join(root, "host", "opt", "tortie"),
  token: join(root, "token"),
};
mkdirSync(host.token, { recursive: true });
writeFileSync(join(host.token, "token"), "eyJhbGciOiJSUzI1NiJ9.test-token");
writeFileSync(
  join(host.token, "ca.crt"),
  "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n",
);

function install(id: string, env: Record<string, string> = {}): string {
  return execFileSync("/bin/sh", [script], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      TORTIE_APP_DIR: image(id),
      TORTIE_NODE_BIN: process.execPath,
      TORTIE_INSTALL_DIR: host.install,
      CNI_BIN_DIR: host.bin,
      CNI_CONF_DIR: host.conf,
      CNI_HOST_CONF_DIR: "/etc/cni/net.d",
      TORTIE_TOKEN_DIR: host.token,
      TORTIE_DATASTORE: "kubernetes",
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      KUBERNETES_SERVICE_PORT: "443",
      NODENAME: "node-a",
      CNI_MTU: "8950",
      TORTIE_LOG_LEVEL: "warn",
      ...env,
    },
  });
}

t.test("install-cni copies tortie to the host and writes launchers that run it from there", async (t) => {
  install("build1");
  const launcher = readFileSync(join(host.bin, "tortie"), "utf8");
  t.match(
    launcher,
    `exec "${join(host.install, "build1", "node")}" "${join(host.install, "build1", "dist", "cni", "main.js")}" main`,
  );
  t.match(
    readFileSync(join(host.bin, "tortie-ipam"), "utf8"),
    `${join(host.install, "build1", "dist", "cni", "main.js")}" ipam`,
  );
  t.equal(statSync(join(host.bin, "tortie")).mode & 0o777, 0o755);
  const version = execFileSync(join(host.bin, "tortie"), [], {
    encoding: "utf8",
    env: { CNI_COMMAND: "VERSION", PATH: process.env.PATH ?? "" },
    input: "",
  });
  t.match(JSON.parse(version), { supportedVersions: Array }, "the launcher runs the plugin: VERSION answers");
  t.same(
    readdirSync(host.install).filter((f) => !f.startsWith(".")),
    ["build1"],
    "one complete copy, no temp dir left",
  );
});

t.test(
  "the conflist and the plugin's kubeconfig name host paths and the service account's token",
  async (t) => {
    const conf = JSON.parse(readFileSync(join(host.conf, "10-tortie.conflist"), "utf8"));
    t.match(conf, {
      cniVersion: "1.0.0",
      plugins: [
        {
          type: "tortie",
          datastore: "kubernetes:/etc/cni/net.d/tortie-kubeconfig",
          nodeName: "node-a",
          mtu: 8950,
          ipam: { type: "tortie-ipam" },
        },
      ],
    });
    const path = join(host.conf, "tortie-kubeconfig");
    t.equal(statSync(path).mode & 0o777, 0o600, "the token is readable by root only");
    const kc = loadKubeConfig(path);
    t.equal(kc.getCurrentCluster()?.server, "https://10.96.0.1:443");
    t.equal(kc.getCurrentUser()?.token, "eyJhbGciOiJSUzI1NiJ9.test-token");
    t.match(Buffer.from(kc.getCurrentCluster()?.caData ?? "", "base64").toString(), /BEGIN CERTIFICATE/);
  },
);

t.test("an upgrade keeps the copy the old launcher named until the next one, then removes it", async (t) => {
  install("build2");
  t.same(readdirSync(host.install).sort(), ["build1", "build2"]);
  t.match(readFileSync(join(host.bin, "tortie"), "utf8"), join(host.install, "build2", "node"));
  install("build3");
  t.same(readdirSync(host.install).sort(), ["build2", "build3"]);
});

t.test("an IPv6 service address is bracketed; an etcd datastore needs no kubeconfig", async (t) => {
  install("build3", { KUBERNETES_SERVICE_HOST: "fd00::1" });
  t.same(readdirSync(host.install), ["build3"], "a re-run of the same build leaves only it");
  t.equal(
    loadKubeConfig(join(host.conf, "tortie-kubeconfig")).getCurrentCluster()?.server,
    "https://[fd00::1]:443",
  );
  rmSync(join(host.conf, "tortie-kubeconfig"));
  install("build3", { TORTIE_DATASTORE: "etcd:http://10.0.0.5:2379" });
  t.match(JSON.parse(readFileSync(join(host.conf, "10-tortie.conflist"), "utf8")), {
    plugins: [{ datastore: "etcd:http://10.0.0.5:2379" }],
  });
  t.notOk(readdirSync(host.conf).includes("tortie-kubeconfig"));
});

t.test("a bad build id or a missing token stops it with a message, before anything is written", async (t) => {
  const app = image("x");
  writeFileSync(join(app, ".build-id"), "../../etc\n");
  t.throws(() => install("unused", { TORTIE_APP_DIR: app }), /is not a build id/);
  const empty = join(root, "no-token");
  mkdirSync(empty);
  t.throws(
    () => install("build4", { TORTIE_TOKEN_DIR: empty, KUBERNETES_SERVICE_HOST: "" }),
    /KUBERNETES_SERVICE_HOST is not set/,
  );
});
