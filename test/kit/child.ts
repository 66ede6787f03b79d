/**
 * A test process used by kit.itest.ts to prove cleanup: it makes a namespace
 * with a daemon inside, reports them on stdout, then ends the way argv[2] says.
 */
import { Kit } from "./kit.js";

const mode = process.argv[2] ?? "wait";

async function main(): Promise<void> {
  if (mode === "failing-test") {
    const { default: t } = await import("tap");
    t.test("a test that fails after making a namespace", async (tt) => {
      const kit = Kit.create(tt);
      const ns = await kit.netns("victim");
      const d = kit.spawn(ns, "sleep", ["600"]);
      process.stdout.write(`READY ${ns.name} ${d.pid}\n`);
      tt.equal(1, 2, "deliberately failing");
    });
    return;
  }
  const kit = Kit.create();
  const ns = await kit.netns("victim");
  const d = kit.spawn(ns, "sleep", ["600"]);
  process.stdout.write(`READY ${ns.name} ${d.pid}\n`);
  if (mode === "throw") throw new Error("deliberate crash");
  // "wait": stay until a signal arrives
  setInterval(() => undefined, 1000);
}

await main();
