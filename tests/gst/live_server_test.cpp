// GstLiveServer tests: the process-wide server object as an application uses it, through
// GObject only (g_type_from_name after loading the plugin). A player asking for a stream no
// element serves makes "mount-needed" build the pipeline that serves it; "http-request" answers
// what no element serves, and the rest gets a readable 404 page.
#include <gio/gio.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "../lib/test_data.h"
#include "flv/flv_tag.h"
#include "rtmp_test_client.h"
#include "free_port.h"

namespace {

using namespace std::chrono_literals;
using live::test::RtmpPlayClient;

using live::test::free_port;

std::string thread_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// A GstLiveServer on loopback, made the way an application makes it.
GstObject* make_server(uint16_t rtmp_port, uint16_t http_port) {
  GstPlugin* plugin = gst_plugin_load_by_name("liveserver");
  EXPECT_NE(plugin, nullptr);
  if (plugin) gst_object_unref(plugin);
  const GType type = g_type_from_name("GstLiveServer");
  EXPECT_NE(type, 0u);
  GstObject* server = GST_OBJECT(g_object_new(type, "address", "127.0.0.1", "rtmp-port", guint(rtmp_port),
                                              "http-address", "127.0.0.1", "http-port", guint(http_port), nullptr));
  gst_object_ref_sink(server);
  return server;
}

bool start(GstObject* server, std::string* error = nullptr) {
  gboolean ok = FALSE;
  g_signal_emit_by_name(server, "start", &ok);
  if (!ok && error) {
    gchar* text = nullptr;
    g_object_get(server, "last-error", &text, nullptr);
    *error = text ? text : "";
    g_free(text);
  }
  return ok;
}

// Everything an HTTP/1.0 GET answers (status line, headers, body), read to the close.
std::string http_get(uint16_t port, const std::string& path) {
  GSocketClient* client = g_socket_client_new();
  GSocketConnection* connection = g_socket_client_connect_to_host(client, "127.0.0.1", port, nullptr, nullptr);
  g_object_unref(client);
  if (!connection) return "";
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
  g_output_stream_write_all(out, request.data(), request.size(), nullptr, nullptr, nullptr);
  GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
  std::string response;
  char buffer[4096];
  gssize n;
  while ((n = g_input_stream_read(in, buffer, sizeof buffer, nullptr, nullptr)) > 0) response.append(buffer, n);
  g_object_unref(connection);
  return response;
}

// What a "mount-needed" handler saw, and the pipelines it built.
struct Provider {
  uint16_t rtmp_port = 0;
  bool serve = true;
  std::mutex lock;
  std::vector<std::string> requests;  // "action app key client" of each emission
  std::vector<std::string> threads;
  std::vector<GstElement*> pipelines;

  ~Provider() {
    for (GstElement* p : pipelines) {
      gst_element_set_state(p, GST_STATE_NULL);
      gst_object_unref(p);
    }
  }

  static gboolean on_mount_needed(GstObject*, GstStructure* request, gpointer data) {
    auto* self = static_cast<Provider*>(data);
    const std::string key = gst_structure_get_string(request, "stream-key");
    {
      std::lock_guard guard(self->lock);
      self->requests.push_back(std::string(gst_structure_get_string(request, "action")) + " " +
                               gst_structure_get_string(request, "application") + " " + key + " " +
                               gst_structure_get_string(request, "client-address"));
      self->threads.push_back(thread_name());
    }
    if (!self->serve) return FALSE;
    // Build and start the pipeline that serves the key before answering, as live-server does.
    const std::string description = "appsrc name=src is-live=true format=time ! flvrelaysink name=sink "
                                     "address=127.0.0.1 port=" + std::to_string(self->rtmp_port) +
                                     " stream-key=" + key;
    GstElement* pipeline = gst_parse_launch(description.c_str(), nullptr);
    if (!pipeline || gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return FALSE;
    std::lock_guard guard(self->lock);
    self->pipelines.push_back(pipeline);
    return TRUE;
  }
};

void push(GstElement* pipeline, const std::vector<uint8_t>& bytes, bool header = false) {
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstBuffer* buffer = gst_buffer_new_memdup(bytes.data(), bytes.size());
  if (header) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_HEADER);
  EXPECT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), buffer), GST_FLOW_OK);
  gst_object_unref(src);
}

TEST(LiveServer, PlayOfAnUnservedStreamBuildsItsPipelineOffTheIoThread) {
  Provider provider;
  provider.rtmp_port = free_port();
  GstObject* server = make_server(provider.rtmp_port, 0);
  g_signal_connect(server, "mount-needed", G_CALLBACK(Provider::on_mount_needed), &provider);
  std::string error;
  ASSERT_TRUE(start(server, &error)) << error;

  RtmpPlayClient player(provider.rtmp_port);
  ASSERT_TRUE(player.connect());
  ASSERT_TRUE(player.play("cam"));
  ASSERT_TRUE(player.wait_status("NetStream.Play.Start")) << "the new pipeline's stream did not start";
  {
    std::lock_guard guard(provider.lock);
    ASSERT_EQ(provider.requests.size(), 1u);
    EXPECT_EQ(provider.requests[0].rfind("play live cam 127.0.0.1:", 0), 0u) << provider.requests[0];
    EXPECT_EQ(provider.threads[0].rfind("rtmp-io-", 0), std::string::npos)
        << "mount-needed ran on the listener's I/O thread";
    ASSERT_EQ(provider.pipelines.size(), 1u);
  }
  // What the new pipeline receives reaches the player that asked for it.
  const auto tags = live::test_data::media_tags(live::test_data::read_flv_tags(live::test_data::read_capture("source.flv")));
  ASSERT_GT(tags.size(), 20u);
  const std::vector<uint8_t> header = {'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0};
  push(provider.pipelines[0], header, true);
  for (size_t i = 0; i < 20; ++i) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(live::flv::write_tag(bytes, tags[i].type, tags[i].timestamp, tags[i].payload).ok());
    push(provider.pipelines[0], bytes);
  }
  ASSERT_TRUE(player.wait_relayed(20, 5s)) << "got " << player.relayed_count() << " of 20 messages";
  const auto got = player.relayed();
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(got[i].payload, tags[i].payload) << "message " << i;

  // Served now: a second player goes straight to the element, the server is not asked again.
  RtmpPlayClient second(provider.rtmp_port);
  ASSERT_TRUE(second.connect());
  ASSERT_TRUE(second.play("cam"));
  ASSERT_TRUE(second.wait_status("NetStream.Play.Start"));
  std::lock_guard guard(provider.lock);
  EXPECT_EQ(provider.requests.size(), 1u);
  g_signal_emit_by_name(server, "stop");
  gst_object_unref(server);
}

TEST(LiveServer, RefusedOrUnansweredStreamsAreNotFound) {
  Provider provider;
  provider.rtmp_port = free_port();
  provider.serve = false;
  GstObject* server = make_server(provider.rtmp_port, 0);
  g_signal_connect(server, "mount-needed", G_CALLBACK(Provider::on_mount_needed), &provider);
  ASSERT_TRUE(start(server));
  RtmpPlayClient refused(provider.rtmp_port);
  ASSERT_TRUE(refused.connect());
  ASSERT_TRUE(refused.play("nobody"));
  EXPECT_TRUE(refused.wait_status("NetStream.Play.StreamNotFound"));
  EXPECT_TRUE(refused.wait_closed());
  {
    std::lock_guard guard(provider.lock);
    EXPECT_EQ(provider.requests.size(), 1u);
  }
  // Without a handler at all: refused the same way.
  GstObject* plain = make_server(free_port(), 0);
  guint port = 0;
  g_object_get(plain, "rtmp-port", &port, nullptr);
  ASSERT_TRUE(start(plain));
  RtmpPlayClient nobody(static_cast<uint16_t>(port));
  ASSERT_TRUE(nobody.connect());
  ASSERT_TRUE(nobody.play("x"));
  EXPECT_TRUE(nobody.wait_status("NetStream.Play.StreamNotFound"));
  gst_object_unref(plain);
  gst_object_unref(server);
}

GstStructure* answer_api(GstObject*, GstStructure* request, gpointer) {
  const std::string path = gst_structure_get_string(request, "path");
  if (path != "/api/hello") return nullptr;
  const std::string body = std::string("{\"query\":\"") + gst_structure_get_string(request, "query") + "\"}";
  return gst_structure_new("http-response", "status", G_TYPE_INT, 200, "content-type", G_TYPE_STRING,
                           "application/json", "body", G_TYPE_STRING, body.c_str(), nullptr);
}

TEST(LiveServer, HttpRequestsNoElementServesGoToTheApplicationOrA404Page) {
  const uint16_t http_port = free_port();
  GstObject* server = make_server(0, http_port);
  g_signal_connect(server, "http-request", G_CALLBACK(answer_api), nullptr);
  std::string error;
  ASSERT_TRUE(start(server, &error)) << error;
  const std::string api = http_get(http_port, "/api/hello?x=1");
  EXPECT_EQ(api.rfind("HTTP/1.", 0), 0u) << api;
  EXPECT_NE(api.find(" 200 "), std::string::npos) << api;
  EXPECT_NE(api.find("Content-Type: application/json"), std::string::npos) << api;
  EXPECT_NE(api.find("\r\n\r\n{\"query\":\"x=1\"}"), std::string::npos) << api;
  const std::string missing = http_get(http_port, "/live/%3Cscript%3E.m3u8");
  EXPECT_NE(missing.find(" 404 "), std::string::npos) << missing;
  EXPECT_NE(missing.find("text/html"), std::string::npos) << missing;
  EXPECT_NE(missing.find("/live/&lt;script&gt;.m3u8"), std::string::npos) << "the path is shown, escaped";
  EXPECT_EQ(missing.find("<script>"), std::string::npos);
  gst_object_unref(server);
  // The port is released with the last user: a new server binds it again.
  GstObject* again = make_server(0, http_port);
  EXPECT_TRUE(start(again, &error)) << error;
  gst_object_unref(again);
}

TEST(LiveServer, StartFailsClearlyOnAPortInUseOrASecondServerObject) {
  // A port some other socket holds.
  GSocket* holder = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* a = g_inet_socket_address_new(lo, 0);
  ASSERT_TRUE(g_socket_bind(holder, a, FALSE, nullptr));
  ASSERT_TRUE(g_socket_listen(holder, nullptr));
  GSocketAddress* bound = g_socket_get_local_address(holder, nullptr);
  const uint16_t taken = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  GstObject* server = make_server(taken, 0);
  std::string error;
  EXPECT_FALSE(start(server, &error));
  EXPECT_NE(error.find(std::to_string(taken)), std::string::npos) << error;
  gst_object_unref(server);
  g_socket_close(holder, nullptr);
  g_object_unref(holder);

  const uint16_t port = free_port();
  GstObject* first = make_server(port, 0);
  GstObject* second = make_server(port, 0);
  ASSERT_TRUE(start(first, &error)) << error;
  EXPECT_FALSE(start(second, &error));
  EXPECT_NE(error.find("another server object"), std::string::npos) << error;
  gst_object_unref(second);
  gst_object_unref(first);
}

// Anonymous connections (connected, never publishing) that each hold as many unfinished
// messages as a session allows them: together they stay within the listener's budget (64 MiB,
// kMaxUnestablishedInputBytes); the connection that grew past it is closed, and a real player
// still gets its stream (issue #9: 120 such connections took a server to 544 MB).
TEST(LiveServer, ConnectionsThatNeverPublishStayWithinTheListenersInputBudget) {
  Provider provider;
  provider.rtmp_port = free_port();
  GstObject* server = make_server(provider.rtmp_port, 0);
  g_object_set(server, "max-connections-per-address", 0u, nullptr);
  g_signal_connect(server, "mount-needed", G_CALLBACK(Provider::on_mount_needed), &provider);
  ASSERT_TRUE(start(server));
  constexpr int kClients = 40;
  constexpr uint32_t kMessage = 1000 * 1000;  // below the 1 MiB anonymous message limit
  constexpr size_t kSent = 14 * 65536;  // of each of two messages, whole chunks: 1.8 MB held per client
  std::vector<std::unique_ptr<RtmpPlayClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto client = std::make_unique<RtmpPlayClient>(provider.rtmp_port);
    ASSERT_TRUE(client->connect()) << "client " << i;
    std::vector<uint8_t> bytes = {0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 1, 0, 0};  // chunk size 65536
    for (uint8_t csid : {uint8_t(20), uint8_t(21)}) {
      const std::vector<uint8_t> header = {csid, 0, 0, 0, uint8_t(kMessage >> 16), uint8_t(kMessage >> 8),
                                           uint8_t(kMessage), 9, 1, 0, 0, 0};
      bytes.insert(bytes.end(), header.begin(), header.end());
      for (size_t sent = 0; sent < kSent; sent += 65536) {
        if (sent) bytes.push_back(uint8_t(0xC0 | csid));
        bytes.insert(bytes.end(), std::min<size_t>(65536, kSent - sent), 0x27);
      }
    }
    ASSERT_TRUE(client->send_bytes(bytes)) << "client " << i;
    clients.push_back(std::move(client));
  }
  // Held now: at most the budget (plus one read of the connection that crossed it).
  size_t closed = 0;
  const auto until = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    closed = 0;
    for (auto& c : clients) closed += c->closed();
    if (closed >= size_t(kClients - 64 * 1024 * 1024 / (2 * kSent)) || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(closed, size_t(kClients - 64 * 1024 * 1024 / (2 * kSent)))
      << "connections holding " << kClients * 2 * kSent << " bytes before any publish were kept";
  EXPECT_LE(closed, size_t(kClients - 64 * 1024 * 1024 / (2 * kSent) + 2)) << "more closed than needed";
  // A real player is not disturbed.
  RtmpPlayClient player(provider.rtmp_port);
  ASSERT_TRUE(player.connect());
  ASSERT_TRUE(player.play("cam"));
  EXPECT_TRUE(player.wait_status("NetStream.Play.Start"));
  clients.clear();
  gst_object_unref(server);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
