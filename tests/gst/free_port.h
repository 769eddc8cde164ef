// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back, closed), for element
// tests that start servers on loopback.
#pragma once

#include <gio/gio.h>

#include <cstdint>

namespace live::test {

inline uint16_t free_port() {
  GSocket* s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* a = g_inet_socket_address_new(lo, 0);
  g_socket_bind(s, a, TRUE, nullptr);
  GSocketAddress* bound = g_socket_get_local_address(s, nullptr);
  const uint16_t port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_socket_close(s, nullptr);
  g_object_unref(s);
  return port;
}

}  // namespace live::test
