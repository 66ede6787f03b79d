import t from "tap";
import { waitFor } from "./wait.js";

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
