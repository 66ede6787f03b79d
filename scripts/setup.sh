#!/usr/bin/env bash
# Installs exactly what tortie needs on Debian 12 (as root), only what is missing,
# then `npm ci` when node_modules is missing or older than package-lock.json, then builds.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the dataplane tools, the reference BGP daemons and etcd for
# the integration tier, and what the tests drive traffic with.
PACKAGES=(
  nftables iproute2 iptables ipset conntrack   # dataplane
  bird2 frr gobgpd exabgp                      # BGP peers and top-of-rack routers
  etcd-server etcd-client                      # etcd datastore
  iperf3 socat iputils-ping procps psmisc      # traffic and process tools
  containernetworking-plugins                  # reference CNI plugins (bench/ipam: ADD latency side by side)
  python3 make g++                             # node-gyp for the native addon
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian packages enable their daemons as system services; tortie's tests
# start their own copies inside namespaces, so the system ones are not wanted.
for svc in bird frr gobgpd exabgp etcd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.tortie-lock ] || [ "$(cat node_modules/.tortie-lock)" != "$lock_sum" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.tortie-lock
fi

# The native addon (core/native: TCP-MD5 and GTSM for BGP, netlink sockets) and the CNI launcher
# (cni/launcher/launcher.c, an executable target of the same binding.gyp), built against this Node's
# headers when either is missing or older than its sources.
for dir in core/native; do
  addon=$(ls "$dir"/build/Release/*.node 2>/dev/null | head -n 1 || true)
  launcher=$dir/build/Release/tortie-cni-launcher
  if [ -z "$addon" ] || [ ! -x "$launcher" ] ||
    [ -n "$(find "$dir" cni/launcher -maxdepth 1 \( -name '*.c' -o -name '*.h' -o -name binding.gyp \) \( -newer "$addon" -o -newer "$launcher" \))" ]; then
    echo "setup: building $dir"
    npx --no-install node-gyp rebuild --directory "$dir" --loglevel=error >/dev/null
  fi
done

npm run --silent build

# A compiled file whose source was renamed or deleted must not run as a test.
find dist -name '*.js' -not -path 'dist/node_modules/*' | while read -r f; do
  src="${f#dist/}"
  [ -f "${src%.js}.ts" ] || rm -f "$f" "$f.map"
done
