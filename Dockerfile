# The tortie image: the agent (`tortie node run`), the CLI, and the CNI plugin the chart's init container
# copies to the host. It cannot be built on the machines tortie is developed on (no registry access);
# charts/tortie/README.md says how it is built and which checks cover it.
#
#   docker build -t ghcr.io/tortie/tortie:0.1.0 .

# ---- build: TypeScript, the native addon (core/native: TCP-MD5/GTSM sockopts, netlink) and the CNI launcher ----
FROM node:20-bookworm AS build
WORKDIR /src
# node-gyp needs python3, make and a C compiler; the bookworm image has them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Every source folder (tsconfig.json compiles them all, test/ and bench/ included).
COPY . .
# The base image carries Node's headers in /usr/local/include/node: no download at build time.
RUN npx --no-install node-gyp rebuild --nodedir=/usr/local --directory core/native \
 && npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund
# A build id for the init container (charts/tortie/files/install-cni.sh): the host copy of tortie lives
# in a directory named by it, so an upgrade never overwrites files a running CNI plugin is reading.
RUN mkdir -p /app/core/native/build/Release \
 && cp -R dist bin node_modules package.json /app/ \
 && cp core/native/build/Release/tortie_native.node core/native/build/Release/tortie-cni-launcher \
      /app/core/native/build/Release/ \
 && (cd /app && find . -type f ! -name .build-id -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16 > .build-id)

# ---- runtime ----
FROM node:20-bookworm-slim
# The dataplane's tools: nft (the nftables backend, `nft -j`), ip (links, routes, addresses), iptables and
# ipset (the iptables backend); nsenter (util-linux, already in the base image) for the CNI plugin.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iproute2 iptables ipset ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /app
RUN ln -s /app/bin/tortie.js /usr/local/bin/tortie
ENV NODE_ENV=production
# Root, not a user: the agent programs the node's routes, links and nftables from the host's network
# namespace (CAP_NET_ADMIN), opens raw sockets for iptables (CAP_NET_RAW) and binds BGP's port 179
# (CAP_NET_BIND_SERVICE); capabilities given to a non-root user are dropped at execve unless they are
# ambient, which Kubernetes cannot set. The chart drops every other capability instead.
USER 0
ENTRYPOINT ["tortie"]
CMD ["node", "run"]
