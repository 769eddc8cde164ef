// hls_serve_dir ROOT [PORT [INDEX_FILE]]: serves ROOT with HlsHttpServer on 127.0.0.1 (port 0 =
// any) and prints "PORT <n>". Runs until stdin closes or SIGTERM. Used by the browser test to
// serve HLS written by stock hlssink2 (a baseline) and by hand to look at output directories.
#include <gst/gst.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "http/hls_http_server.h"

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc < 2) {
    fprintf(stderr, "usage: %s ROOT [PORT [INDEX_FILE]]\n", argv[0]);
    return 2;
  }
  live::http::HlsHttpServerConfig config;
  config.root_dir = argv[1];
  if (argc > 3) config.index_file = argv[3];
  live::http::HlsHttpServer server(config);
  auto port = server.start("127.0.0.1", argc > 2 ? static_cast<uint16_t>(atoi(argv[2])) : 0);
  if (!port.ok()) {
    fprintf(stderr, "hls_serve_dir: %s\n", port.error().describe().c_str());
    return 1;
  }
  printf("PORT %u\n", port.value());
  fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  return 0;
}
