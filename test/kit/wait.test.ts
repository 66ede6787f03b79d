import t from "tap";
import { WaitAborted, waitFor } from "./wait.js";

t.test("waitFor returns the first truthy probe result", async (t) => {
  let n = 0;
  const v = await waitFor("n to reach 3", () => (++n >= 3 ? n : undefined), { intervalMs: 1 });
  t.equal(v, 3);
});

t.test("waitFor names what it waited for and the last error when the deadline passes", async (t) => {
  await t.rejects(
    waitFor(
      "the impossible",
      () => {
        throw new Error("still broken");
      },
      { timeoutMs: 30, intervalMs: 5 },
    ),
    /timed out after 30 ms waiting for the impossible: last error: still broken/,
  );
});

t.test("waitFor stops at once when a probe says waiting cannot help", async (t) => {
  const started = Date.now();
  await t.rejects(
    waitFor(
      "a dead process",
      () => {
        throw new WaitAborted("it exited");
      },
      { timeoutMs: 5_000 },
    ),
    /it exited/,
  );
  t.ok(Date.now() - started < 1_000, "did not wait for the deadline");
});
