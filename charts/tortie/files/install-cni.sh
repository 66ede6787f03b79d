#!/bin/sh
# The chart's init container (templates/daemonset.yaml, "install-cni"). The kubelet runs CNI plugins on
# the host, outside every container, so the plugin cannot live only in the image:
#   1. copy Node.js and tortie (the image's /app) to the host, into INSTALL_DIR/BUILD_ID (mounted at the
#      same path inside as outside), renamed into place only when complete, so a plugin the kubelet runs
#      meanwhile never sees half a copy;
#   2. for the kubernetes datastore, write a kubeconfig (mode 0600) for the plugin into the CNI conf dir,
#      with the service account's long-lived token (templates/serviceaccount.yaml says why long-lived);
#   3. run `tortie cni install` from the host copy: it writes the `tortie` and `tortie-ipam` launchers,
#      which name that copy's node and entry point, and the conflist;
#   4. remove copies no launcher names any more.
# Every path can be overridden by the environment (test/charts/install-cni.test.ts runs this in a temp dir).
set -eu

app=${TORTIE_APP_DIR:-/app}
node=${TORTIE_NODE_BIN:-$(command -v node)}
install_dir=${TORTIE_INSTALL_DIR:-/opt/tortie}
bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
conf_dir=${CNI_CONF_DIR:-/host/etc/cni/net.d}
host_conf_dir=${CNI_HOST_CONF_DIR:-/etc/cni/net.d}
token_dir=${TORTIE_TOKEN_DIR:-/var/run/secrets/tortie-cni}
datastore=${TORTIE_DATASTORE:-kubernetes}
node_name=${NODENAME:-$(hostname)}

die() {
  echo "install-cni: $*" >&2
  exit 1
}

id=$(cat "$app/.build-id") || die "$app/.build-id is missing: the image was not built by the Dockerfile"
case $id in
  '' | *[!A-Za-z0-9._-]*) die "$app/.build-id: '$id' is not a build id" ;;
esac

dest=$install_dir/$id
if [ ! -x "$dest/node" ]; then
  tmp=$install_dir/.tmp-$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp -R "$app/." "$tmp/"
  cp "$node" "$tmp/node"
  chmod 0755 "$tmp/node"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "install-cni: copied tortie $id to $dest"
fi

# The copy the current launcher names, kept until this run has replaced the launcher.
previous=$(sed -n 's|^exec "\(.*\)/node" .*|\1|p' "$bin_dir/tortie" 2>/dev/null || true)

if [ "$datastore" = kubernetes ]; then
  [ -n "${KUBERNETES_SERVICE_HOST:-}" ] || die "KUBERNETES_SERVICE_HOST is not set: not running in a pod?"
  # The token controller fills the Secret shortly after it is created.
  tries=0
  while [ ! -s "$token_dir/token" ] || [ ! -s "$token_dir/ca.crt" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 120 ] || die "no token in $token_dir after 60 s: is the Secret tortie-cni-token filled?"
    sleep 0.5
  done
  server_host=$KUBERNETES_SERVICE_HOST
  case $server_host in *:*) server_host="[$server_host]" ;; esac
  token=$(cat "$token_dir/token")
  ca=$(base64 -w 0 <"$token_dir/ca.crt")
  mkdir -p "$conf_dir"
  (
    umask 077
    cat >"$conf_dir/tortie-kubeconfig.tmp" <<KUBECONFIG
{
  "apiVersion": "v1",
  "kind": "Config",
  "clusters": [{ "name": "local", "cluster": { "server": "https://$server_host:${KUBERNETES_SERVICE_PORT:-443}", "certificate-authority-data": "$ca" } }],
  "users": [{ "name": "tortie-cni", "user": { "token": "$token" } }],
  "contexts": [{ "name": "tortie-cni", "context": { "cluster": "local", "user": "tortie-cni" } }],
  "current-context": "tortie-cni"
}
KUBECONFIG
  )
  mv "$conf_dir/tortie-kubeconfig.tmp" "$conf_dir/tortie-kubeconfig"
  datastore=kubernetes:$host_conf_dir/tortie-kubeconfig
fi

"$dest/node" "$dest/dist/cli/main.js" cni install \
  --dir "$bin_dir" --conf-dir "$conf_dir" \
  --datastore "$datastore" --node-name "$node_name" \
  --mtu "${CNI_MTU:-1500}" --network "${CNI_NETWORK:-k8s-pod-network}"

for d in "$install_dir"/*; do
  [ -d "$d" ] || continue
  [ "$d" = "$dest" ] || [ "$d" = "$previous" ] || rm -rf "$d"
done
