#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (the README's set-up commands run it).
import { existsSync } from "node:fs";
const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    "tortie: not built yet: run `npm run build` (or `make test`) in the repository first\n",
  );
  process.exit(1);
}
await import(main.href);
