#!/usr/bin/env bash
# The one command that runs every test: set-up, type-check (the build compiles
# the tests too), lint, format check, the unit tier, then the integration tier
# (namespaces and real daemons; needs root). Ends with `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp -d /tmp/tortie-results.XXXXXX)
trap 'rm -rf "$results"' EXIT
checks_failed=0
checks_passed=0

step() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then checks_passed=$((checks_passed + 1)); else echo "== $name FAILED"; checks_failed=$((checks_failed + 1)); fi
}

step "type-check" npx tsc -p tsconfig.json --noEmit
step "lint" npx eslint --max-warnings 0 .
step "format" npx prettier --check --log-level warn .

# Tiers are chosen by file name: *.test.ts is pure (no root, no namespaces),
# *.itest.ts is the integration tier. TORTIE_TEST_FILTER narrows both (a glob).
filter=${TORTIE_TEST_FILTER:-**}
mapfile -t unit < <(find dist -path "dist/node_modules" -prune -o -path "dist/$filter" -name '*.test.js' -print | sort)
mapfile -t integ < <(find dist -path "dist/node_modules" -prune -o -path "dist/$filter" -name '*.itest.js' -print | sort)

run_tier() {
  local tier=$1; shift
  [ "$#" -eq 0 ] && return 0
  echo "== $tier tier: $# files"
  npx tap --reporter=tap "$@" > "$results/$tier.tap" 2>&1
  local rc=$?
  node scripts/tap-summary.mjs --failures "$results/$tier.tap"
  return $rc
}

run_tier unit "${unit[@]}"
if [ "${TORTIE_SKIP_INTEGRATION:-}" = "1" ]; then
  echo "== integration tier skipped (TORTIE_SKIP_INTEGRATION=1)"
else
  run_tier integration "${integ[@]}"
fi

node scripts/tap-summary.mjs --checks-passed "$checks_passed" --checks-failed "$checks_failed" "$results"/*.tap
