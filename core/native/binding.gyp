{
  "targets": [
    {
      "target_name": "tortie_native",
      "sources": ["addon.c", "sockopt.c", "netlink.c", "exec.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "tortie-cni-launcher",
      "type": "executable",
      "sources": ["../../cni/launcher/launcher.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
