#!/usr/bin/env bash
# The README's main job: bring the lab up, show who can reach whom, apply the example policies,
# show the matrix again with what changed, and leave the lab running to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
tortie() { node bin/tortie.js "$@"; }

if [ -e "${TORTIE_LAB_DIR:-/run/tortie-lab}/state.json" ]; then
  echo "== a lab is already up; taking it down first"
  tortie lab down
fi

agent=()
if ! tortie node run --help 2>/dev/null | grep -q -- --datastore; then
  echo "!! this build has no node agent (tortie node run) yet: the lab runs without it, so pods reach"
  echo "!! only pods on their own node, BGP stays down and policies are stored but not enforced."
  agent=(--no-agent)
fi

echo "== tortie lab up"
tortie lab up --nodes "${LAB_NODES:-3}" --tor "${LAB_TOR:-bird}" --pods-per-node "${LAB_PODS_PER_NODE:-3}" "${agent[@]}"

echo
echo "== who can reach whom before any policy (real TCP connects from every pod to every pod)"
tortie lab matrix --port 80/TCP
tortie lab matrix --port 81/TCP >/dev/null

echo
echo "== tortie policy validate examples/*.yaml, then tortie lab apply"
tortie policy validate examples/*.yaml
tortie lab apply examples/*.yaml

echo
echo "== the matrix again, with what the policies changed"
tortie lab matrix --port 80/TCP --out "${TORTIE_LAB_DIR:-/run/tortie-lab}/pictures/matrix-80-tcp.html"
echo
tortie lab matrix --port 81/TCP --out "${TORTIE_LAB_DIR:-/run/tortie-lab}/pictures/matrix-81-tcp.svg"

echo
echo "Pictures of both matrices (green allowed, red denied, changed cells outlined):"
echo "  ${TORTIE_LAB_DIR:-/run/tortie-lab}/pictures/matrix-80-tcp.html, matrix-81-tcp.svg"
cat <<'TXT'

The lab is still running. Explore it:
  npx tortie lab status                 nodes, agents, BGP sessions at the ToR, blocks, pods
  npx tortie lab matrix --port 80/UDP   probe again (any port/protocol; --json, --out FILE.svg|.html)
  npx tortie lab apply FILE.yaml        more Namespaces / Pods / policies
  npx tortie lab stop node2; npx tortie lab start node2    restart a node's agent (or: tor)
  npx tortie lab down                   remove everything the lab made
TXT
