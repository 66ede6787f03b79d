{
  "targets": [
    {
      "target_name": "tortie_native",
      "sources": ["addon.c", "sockopt.c", "netlink.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
