/**
 * Policies and network sets written through tortie are checked by policy/ before they are stored:
 * the command groups that open a datastore plug the checks in.
 */
import { Command } from "commander";
import t from "tap";
import { ValidationError } from "../../core/errors.js";
import { decodeManifest } from "../../datastore/manifest.js";
import { setPolicyValidator } from "../../datastore/validate.js";
import { registerNodeCommands } from "../../felix/cli.js";
import { registerLabCommands } from "../../lab/cli.js";

const badPolicy = {
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: "p", namespace: "prod" },
  spec: { selector: "app == 'web'", ingress: [{ action: "Allow", source: { selector: "app ==" } }] },
};
const badSet = {
  apiVersion: "tortie.io/v1",
  kind: "GlobalNetworkSet",
  metadata: { name: "feed" },
  spec: { nets: ["203.0.113.0/24", "203.0.113.0/99"] },
};
const goodSet = { ...badSet, spec: { nets: ["203.0.113.0/24"] } };

const problemsOf = (doc: object): string[] => {
  try {
    decodeManifest(doc, "test.yaml");
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.problems.map((p) => `${p.object}: ${p.path}`);
  }
};

t.afterEach(() => setPolicyValidator(undefined));

for (const [group, register] of [
  ["lab", registerLabCommands],
  ["node", registerNodeCommands],
] as const)
  t.test(`\`tortie ${group}\` refuses a bad policy or network set before storing it`, async (t) => {
    t.same(problemsOf(badPolicy), [], "the datastore alone checks structure only");
    register(new Command());
    t.same(problemsOf(badPolicy), ["NetworkPolicy prod/p: spec.ingress[0].source.selector"]);
    t.same(problemsOf(badSet), ["GlobalNetworkSet feed: spec.nets[1]"]);
    t.same(problemsOf(goodSet), [], "a good one is stored");
  });
