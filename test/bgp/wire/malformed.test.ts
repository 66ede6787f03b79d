import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import {
  actionName,
  BgpError,
  decodeMessage,
  Framer,
  makeContext,
  routeChanges,
  validateOpen,
  type Capability,
  type WireContext,
} from "../../../bgp/wire/index.js";

/**
 * Replays test/bgp/malformed/: each NAME.hex is one message as received, NAME.json names the
 * NOTIFICATION (code, subcode, data) and RFC 7606 action it must produce, or null when the
 * message is valid.
 */
interface Case {
  description: string;
  rfc: string;
  context?: Partial<WireContext>;
  framer?: { extendedMessage?: boolean };
  open?: {
    peerAs?: number;
    localBgpId?: string;
    localAs?: number;
    requiredCapabilities?: Capability[];
  };
  expect: { code: number; subcode: number; data: string; action: string } | null;
}

const dir = fileURLToPath(new URL("../../../../test/bgp/malformed/", import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();

t.ok(names.length >= 40, `${names.length} cases in the corpus`);

function replay(c: Case, wire: Buffer): { thrown?: BgpError; strongest?: BgpError; announced: number } {
  const framer = new Framer();
  framer.setExtendedMessage(c.framer?.extendedMessage ?? false);
  const ctx = makeContext(c.context ?? {});
  try {
    const frames = framer.push(wire);
    if (frames.length !== 1 || framer.buffered !== 0)
      throw new Error(`framed into ${frames.length} messages`);
    const m = decodeMessage(frames[0]!, ctx);
    if (m.kind === "open" && c.open) validateOpen(m, c.open);
    if (m.kind !== "update") return { announced: 0 };
    let strongest: BgpError | undefined;
    for (const e of m.errors) if (!strongest || e.action > strongest.action) strongest = e;
    const announced = routeChanges(m).announce.reduce((n, a) => n + a.prefixes.count, 0);
    return strongest ? { strongest, announced } : { announced };
  } catch (e) {
    if (!(e instanceof BgpError)) throw e;
    return { thrown: e, announced: 0 };
  }
}

for (const name of names) {
  t.test(name, async (t) => {
    const c = JSON.parse(readFileSync(`${dir}/${name}.json`, "utf8")) as Case;
    const wire = Buffer.from(readFileSync(`${dir}/${name}.hex`, "utf8").trim(), "hex");
    const r = replay(c, wire);
    const err = r.thrown ?? r.strongest;
    if (c.expect === null) {
      t.equal(err, undefined, `no error: ${c.description}`);
      t.ok(r.announced > 0, "the route is announced");
      return;
    }
    t.ok(err, `an error for: ${c.description}`);
    if (!err) return;
    t.same(
      {
        code: err.code,
        subcode: err.subcode,
        data: err.data.toString("hex"),
        action: actionName(err.action),
      },
      c.expect,
      `${c.rfc}: ${err.message}`,
    );
    // Errors that leave the session up must be reported, not thrown; the others must throw.
    t.equal(r.thrown !== undefined, err.action >= 3, "thrown exactly when the session (or family) goes down");
    if (c.expect.action === "treat-as-withdraw") t.equal(r.announced, 0, "nothing is announced");
    if (c.expect.action === "attribute-discard") t.ok(r.announced > 0, "the route survives the discard");
  });
}
