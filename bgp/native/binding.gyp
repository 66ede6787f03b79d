{
  "targets": [
    {
      "target_name": "tortie_sockopt",
      "sources": ["sockopt.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
