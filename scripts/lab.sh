#!/usr/bin/env bash
# The main job: a small real cluster in network namespaces (the lab).
# Set-up first, so this works on a fresh Debian 12 + Node 20 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if node bin/tortie.js lab --help >/dev/null 2>&1; then
  exec bash scripts/lab-demo.sh
fi
node bin/tortie.js doctor
echo
echo "The lab (tortie lab up/apply/matrix/down) is not built yet: this machine is ready for it."
exit 1
