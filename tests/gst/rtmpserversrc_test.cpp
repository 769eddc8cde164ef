// rtmpserversrc element tests: a real pipeline (rtmpserversrc ! appsink) on a free loopback
// port, fed by replaying recorded publisher sessions (tests/data/captures) over TCP or TLS.
// The server's S1 differs from nginx-rtmp's in the capture, so the recorded C2 does not echo
// our S1: the server accepts it (lenient, as real servers are), which is what lets us replay.
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../lib/test_data.h"
#include "flv/flv_tag.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "free_port.h"

namespace {

using Bytes = std::vector<uint8_t>;
using namespace std::chrono_literals;
using live::test_data::media_tags;
using live::test_data::read_capture;
using live::test_data::read_flv_tags;

using live::test::free_port;

bool contains(const Bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// The codes of the onStatus commands the server sent (after S0 S1 S2), in order.
std::vector<std::string> status_codes(const Bytes& s2c) {
  std::vector<std::string> codes;
  const size_t handshake = 1 + 1536 + 1536;
  if (s2c.size() <= handshake) return codes;
  live::rtmp::ChunkReader reader;
  std::vector<live::rtmp::Message> messages;
  std::span<const uint8_t> rest(s2c.data() + handshake, s2c.size() - handshake);
  while (!rest.empty()) {
    auto used = reader.feed(rest, messages);
    if (!used || used.value() == 0) break;
    rest = rest.subspan(used.value());
    for (auto& m : messages) {
      if (m.type == 1 && m.payload.size() >= 4)
        reader.set_chunk_size(uint32_t(m.payload[0]) << 24 | m.payload[1] << 16 | m.payload[2] << 8 | m.payload[3]);
      if (m.type != 20) continue;
      auto command = live::rtmp::decode_command(m.payload);
      if (command && command->name == "onStatus" && !command->arguments.empty())
        codes.push_back(command->arguments[0].string_property("code"));
    }
    messages.clear();
  }
  return codes;
}

bool has_status(const Bytes& s2c, const std::string& code) {
  auto codes = status_codes(s2c);
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// A TCP (optionally TLS) client: writes from the test thread, a reader thread collects what
// the server sends until it closes.
class Client {
 public:
  explicit Client(uint16_t port, bool tls = false) {
    GSocketClient* client = g_socket_client_new();
    GError* error = nullptr;
    connection_ = G_IO_STREAM(g_socket_client_connect_to_host(client, "127.0.0.1", port,
                                                              nullptr, &error));
    g_object_unref(client);
    if (!connection_) {
      ADD_FAILURE() << "connect: " << error->message;
      g_clear_error(&error);
      return;
    }
    stream_ = G_IO_STREAM(g_object_ref(connection_));
    if (tls) {
      GIOStream* t = g_tls_client_connection_new(connection_, nullptr, &error);
      if (!t) {
        ADD_FAILURE() << "TLS: " << error->message;
        g_clear_error(&error);
        return;
      }
      g_signal_connect(t, "accept-certificate",
                       G_CALLBACK(+[](GTlsConnection*, GTlsCertificate*, GTlsCertificateFlags,
                                      gpointer) -> gboolean { return TRUE; }),
                       nullptr);
      if (!g_tls_connection_handshake(G_TLS_CONNECTION(t), nullptr, &error)) {
        ADD_FAILURE() << "TLS handshake: " << error->message;
        g_clear_error(&error);
        g_object_unref(t);
        return;
      }
      g_object_unref(stream_);
      stream_ = t;
    }
    cancellable_ = g_cancellable_new();
    reader_ = std::thread([this] { read_loop(); });
  }
  ~Client() {
    if (cancellable_) g_cancellable_cancel(cancellable_);
    if (reader_.joinable()) reader_.join();
    if (stream_) g_object_unref(stream_);
    if (connection_) g_object_unref(connection_);
    if (cancellable_) g_object_unref(cancellable_);
  }

  bool send(const Bytes& bytes, size_t from = 0, size_t to = SIZE_MAX) {
    if (!stream_) return false;
    to = std::min(to, bytes.size());
    gsize written = 0;
    return g_output_stream_write_all(g_io_stream_get_output_stream(stream_), bytes.data() + from,
                                     to - from, &written, nullptr, nullptr);
  }
  // Ends our side (FIN) but keeps reading.
  void shutdown_write() {
    if (connection_)
      g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(connection_)), FALSE,
                        TRUE, nullptr);
  }
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return contains(received_, needle); });
  }
  // Waits until the server sent an onStatus with this code.
  bool wait_status(const std::string& code, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return has_status(received_, code); });
  }
  // True once `needle` arrived; false when the server closed first or on timeout.
  bool wait_for_unless_closed(const std::string& needle, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || contains(received_, needle); });
    return contains(received_, needle);
  }
  bool wait_for_size(size_t size, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return received_.size() >= size; });
  }
  bool wait_closed(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return closed_; });
  }
  Bytes received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void read_loop() {
    uint8_t buffer[16384];
    GInputStream* in = g_io_stream_get_input_stream(stream_);
    for (;;) {
      gssize n = g_input_stream_read(in, buffer, sizeof buffer, cancellable_, nullptr);
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        closed_ = true;
        cv_.notify_all();
        return;
      }
      received_.insert(received_.end(), buffer, buffer + n);
      cv_.notify_all();
    }
  }

  GIOStream* connection_ = nullptr;
  GIOStream* stream_ = nullptr;
  GCancellable* cancellable_ = nullptr;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  Bytes received_;
  bool closed_ = false;
};

struct OutBuffer {
  Bytes bytes;
  GstClockTime pts;
  GstClockTime dts;
  bool header;
  bool discont;
  bool delta;
};

// A running pipeline description with appsinks named sink0, sink1, ...
class Pipeline {
 public:
  explicit Pipeline(const std::string& description) {
    GError* error = nullptr;
    pipeline_ = gst_parse_launch(description.c_str(), &error);
    if (!pipeline_) {
      ADD_FAILURE() << "parse: " << (error ? error->message : "?");
      g_clear_error(&error);
    }
    bus_ = gst_element_get_bus(pipeline_);
  }
  ~Pipeline() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    for (GstStructure* s : messages_) gst_structure_free(s);
    gst_object_unref(bus_);
    gst_object_unref(pipeline_);
  }
  GstStateChangeReturn play() {
    // Live: the sinks complete PLAYING asynchronously, once the first buffer arrives.
    return gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }
  GstElement* get(const char* name) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline_), name);
    gst_object_unref(e);  // the bin keeps it
    return e;
  }
  // Pulls buffers from `sink` until `stop` says so or nothing came for `quiet`.
  std::vector<OutBuffer> pull(const char* sink, size_t at_least, std::chrono::milliseconds quiet = 1500ms) {
    std::vector<OutBuffer> out;
    GstAppSink* app = GST_APP_SINK(get(sink));
    for (;;) {
      GstSample* sample = gst_app_sink_try_pull_sample(
          app, (out.size() < at_least ? 10000 : quiet.count()) * GST_MSECOND);
      if (!sample) break;
      GstBuffer* b = gst_sample_get_buffer(sample);
      OutBuffer o;
      GstMapInfo map;
      gst_buffer_map(b, &map, GST_MAP_READ);
      o.bytes.assign(map.data, map.data + map.size);
      gst_buffer_unmap(b, &map);
      o.pts = GST_BUFFER_PTS(b);
      o.dts = GST_BUFFER_DTS(b);
      o.header = GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_HEADER);
      o.discont = GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT);
      o.delta = GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
      out.push_back(std::move(o));
      gst_sample_unref(sample);
    }
    return out;
  }
  // Element messages seen so far (and errors, as "error" with "text" and "debug").
  std::vector<GstStructure*> messages() {
    while (GstMessage* m = gst_bus_pop_filtered(
               bus_, static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        GstStructure* s = gst_structure_copy(gst_message_get_structure(m));
        gst_structure_set(s, "source", G_TYPE_STRING, GST_OBJECT_NAME(GST_MESSAGE_SRC(m)), nullptr);
        messages_.push_back(s);
      } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
        messages_.push_back(gst_structure_new_empty("eos"));
      } else {
        GError* e = nullptr;
        gchar* debug = nullptr;
        gst_message_parse_error(m, &e, &debug);
        messages_.push_back(gst_structure_new("error", "text", G_TYPE_STRING, e->message, "debug",
                                              G_TYPE_STRING, debug ? debug : "", nullptr));
        g_clear_error(&e);
        g_free(debug);
      }
      gst_message_unref(m);
    }
    return messages_;
  }
  size_t count_messages(const char* name, const char* source = nullptr) {
    size_t n = 0;
    for (GstStructure* s : messages()) {
      if (!gst_structure_has_name(s, name)) continue;
      if (source && g_strcmp0(gst_structure_get_string(s, "source"), source) != 0) continue;
      ++n;
    }
    return n;
  }
  bool wait_message(const char* name, std::chrono::milliseconds timeout = 5000ms) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (count_messages(name) > 0) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  GstElement* pipeline_ = nullptr;
  GstBus* bus_ = nullptr;
  std::vector<GstStructure*> messages_;
};


Bytes concat(const std::vector<OutBuffer>& buffers) {
  Bytes all;
  for (auto& b : buffers) all.insert(all.end(), b.bytes.begin(), b.bytes.end());
  return all;
}

// Media tags equal in type and payload, with the same timestamps relative to the first.
void expect_same_media(const std::vector<live::flv::Tag>& got,
                       const std::vector<live::flv::Tag>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].type, want[i].type) << "tag " << i;
    EXPECT_TRUE(got[i].payload == want[i].payload) << "tag " << i;
    EXPECT_EQ(int64_t(got[i].timestamp) - got[0].timestamp,
              int64_t(want[i].timestamp) - want[0].timestamp) << "tag " << i;
  }
}

class RtmpServerSrcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    port = free_port();
    capture = read_capture("ffmpeg-publish.c2s.bin");
    source_media = media_tags(read_flv_tags(read_capture("source.flv")));
    ASSERT_GT(source_media.size(), 100u);
  }
  std::string src(const std::string& props) {
    return "rtmpserversrc address=127.0.0.1 port=" + std::to_string(port) + " " + props;
  }
  static bool play_ok(GstStateChangeReturn r) {
    return r != GST_STATE_CHANGE_FAILURE;
  }
  // Replays the whole ffmpeg publish on a new connection: the server must answer
  // NetStream.Publish.BadName (never Publish.Start) and close the connection.
  void expect_publish_refused() {
    Client client(port);
    ASSERT_TRUE(client.send(capture));
    EXPECT_TRUE(client.wait_status("NetStream.Publish.BadName"));
    EXPECT_FALSE(has_status(client.received(), "NetStream.Publish.Start"));
    EXPECT_TRUE(client.wait_closed());
  }
  uint16_t port = 0;
  Bytes capture;
  std::vector<live::flv::Tag> source_media;
};

TEST_F(RtmpServerSrcTest, ReplayedFfmpegPublishComesOutAsTheSourceFlvTags) {
  Pipeline p(src("name=src stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client client(port);
  ASSERT_TRUE(client.send(capture));
  EXPECT_TRUE(client.wait_status("NetStream.Publish.Start"));
  auto out = p.pull("sink0", source_media.size() + 2);
  ASSERT_GE(out.size(), source_media.size() + 2);

  // First buffer: FLV header + PreviousTagSize0, audio and video flagged, marked HEADER.
  const Bytes header = {'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0};
  EXPECT_TRUE(out[0].bytes == header);
  EXPECT_TRUE(out[0].header);
  EXPECT_EQ(out[0].pts, out[1].pts);  // stamped like the first tag, which follows it

  // Then exactly one tag (with its PreviousTagSize) per buffer; first the onMetaData.
  std::vector<live::flv::Tag> tags;
  for (size_t i = 1; i < out.size(); ++i) {
    Bytes framed = header;
    framed.insert(framed.end(), out[i].bytes.begin(), out[i].bytes.end());
    auto one = read_flv_tags(framed);
    ASSERT_EQ(one.size(), 1u) << "buffer " << i;
    const auto& t = one[0];
    ASSERT_EQ(out[i].bytes.size(), 11 + t.payload.size() + 4);
    EXPECT_FALSE(out[i].header);
    EXPECT_EQ(out[i].pts, out[i].dts);
    if (t.type != 18) {
      EXPECT_EQ(out[i].pts, t.timestamp * GST_MSECOND) << "buffer " << i;
    }
    if (t.type == 9) {
      EXPECT_EQ(out[i].delta, ((t.payload[0] >> 4) & 7) != 1);
    }
    tags.push_back(t);
  }
  ASSERT_EQ(tags[0].type, 18);
  EXPECT_TRUE(contains(tags[0].payload, "onMetaData"));
  expect_same_media(media_tags(tags), source_media);
  // Timestamps follow the publisher's: PTS deltas equal the source's.
  for (size_t i = 2; i < out.size(); ++i) EXPECT_GE(out[i].pts + 100 * GST_MSECOND, out[1].pts);

  ASSERT_TRUE(p.wait_message("rtmp-publish-stop"));
  EXPECT_EQ(p.count_messages("rtmp-publish-start"), 1u);
  for (GstStructure* m : p.messages()) {
    if (!gst_structure_has_name(m, "rtmp-publish-start")) continue;
    EXPECT_STREQ(gst_structure_get_string(m, "application"), "live");
    EXPECT_STREQ(gst_structure_get_string(m, "stream-key"), "capff");
    EXPECT_TRUE(g_str_has_prefix(gst_structure_get_string(m, "client-address"), "127.0.0.1:"));
  }
  GstStructure* stats = nullptr;
  g_object_get(p.get("src"), "stats", &stats, nullptr);
  ASSERT_NE(stats, nullptr);
  guint64 bytes_in = 0, messages = 0, publishes = 0;
  gboolean publishing = TRUE;
  gst_structure_get_uint64(stats, "bytes-in", &bytes_in);
  gst_structure_get_uint64(stats, "messages", &messages);
  gst_structure_get_uint64(stats, "publishes", &publishes);
  gst_structure_get_boolean(stats, "publishing", &publishing);
  EXPECT_GT(bytes_in, capture.size() * 9 / 10);
  EXPECT_LE(bytes_in, capture.size());
  EXPECT_EQ(messages, source_media.size() + 1);
  EXPECT_EQ(publishes, 1u);
  EXPECT_FALSE(publishing);
  gst_structure_free(stats);
}

TEST_F(RtmpServerSrcTest, PortIsReleasedWhenTheLastElementStops) {
  {
    Pipeline p(src("stream-key=a") + " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    Client client(port);  // connect works while running
    ASSERT_TRUE(client.send(Bytes{3}));
  }
  GSocket* s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* a = g_inet_socket_address_new(lo, port);
  EXPECT_TRUE(g_socket_bind(s, a, TRUE, nullptr) && g_socket_listen(s, nullptr));
  g_object_unref(a);
  g_object_unref(lo);
  g_object_unref(s);
}

TEST_F(RtmpServerSrcTest, AuthorizePublishFalseRefusesWithBadName) {
  Pipeline p(src("name=src stream-key=capff") + " ! appsink name=sink0 sync=false");
  struct Seen { std::string address, app, key, query; int calls = 0; } seen;
  g_signal_connect(p.get("src"), "authorize-publish",
                   G_CALLBACK(+[](GstElement*, const char* address, const char* app,
                                  const char* key, const char* query, Seen* s) -> gboolean {
                     s->address = address; s->app = app; s->key = key; s->query = query;
                     ++s->calls;
                     return FALSE;
                   }),
                   &seen);
  ASSERT_TRUE(play_ok(p.play()));
  expect_publish_refused();
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.app, "live");
  EXPECT_EQ(seen.key, "capff");
  EXPECT_TRUE(g_str_has_prefix(seen.address.c_str(), "127.0.0.1:"));
  EXPECT_TRUE(p.pull("sink0", 0, 500ms).empty());
  EXPECT_EQ(p.count_messages("rtmp-publish-start"), 0u);
}

TEST_F(RtmpServerSrcTest, UnknownStreamKeyIsRefusedWithBadName) {
  Pipeline p(src("stream-key=other") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  expect_publish_refused();
  EXPECT_TRUE(p.pull("sink0", 0, 500ms).empty());
}

TEST_F(RtmpServerSrcTest, TwoElementsOnOnePortEachGetTheirOwnStream) {
  Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false " +
             src("stream-key=caplib read-interval=1000") + " ! appsink name=sink1 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Bytes librtmp = read_capture("librtmp-publish.c2s.bin");
  Client a(port), b(port);
  std::thread send_b([&] { b.send(librtmp); });
  ASSERT_TRUE(a.send(capture));
  send_b.join();
  EXPECT_TRUE(a.wait_status("NetStream.Publish.Start"));
  EXPECT_TRUE(b.wait_status("NetStream.Publish.Start"));
  auto out0 = p.pull("sink0", source_media.size() + 2);
  auto out1 = p.pull("sink1", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out0))), source_media);
  // librtmp's session carries the same elementary streams, remuxed by flvmux.
  auto lib_media = media_tags(read_flv_tags(concat(out1)));
  ASSERT_EQ(lib_media.size(), source_media.size());
  size_t video_equal = 0;
  for (size_t i = 0, j = 0; i < lib_media.size(); ++i) {
    if (lib_media[i].type != 9) continue;
    while (j < source_media.size() && source_media[j].type != 9) ++j;
    if (j < source_media.size() && lib_media[i].payload == source_media[j].payload) ++video_equal;
    ++j;
  }
  EXPECT_GT(video_equal, 0u);
}

TEST_F(RtmpServerSrcTest, SecondPublisherForABusyKeyIsRefused) {
  Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client first(port);
  ASSERT_TRUE(first.send(capture, 0, capture.size() / 2));  // still publishing
  ASSERT_TRUE(first.wait_status("NetStream.Publish.Start"));
  Client second(port);
  ASSERT_TRUE(second.send(capture));
  EXPECT_TRUE(second.wait_for("already publishing"));
  EXPECT_TRUE(has_status(second.received(), "NetStream.Publish.BadName"));
  EXPECT_TRUE(second.wait_closed());
  EXPECT_FALSE(first.wait_closed(300ms));
  // The first publisher continues undisturbed.
  ASSERT_TRUE(first.send(capture, capture.size() / 2));
  auto out = p.pull("sink0", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
}

TEST_F(RtmpServerSrcTest, PublisherTakeoverReplacesTheCurrentPublisher) {
  Pipeline p(src("stream-key=capff publisher-takeover=true") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client first(port);
  ASSERT_TRUE(first.send(capture, 0, capture.size() / 2));
  ASSERT_TRUE(first.wait_status("NetStream.Publish.Start"));
  auto before = p.pull("sink0", 10, 500ms);
  Client second(port);
  ASSERT_TRUE(second.send(capture));
  EXPECT_TRUE(second.wait_status("NetStream.Publish.Start"));
  EXPECT_TRUE(first.wait_closed());
  auto after = p.pull("sink0", source_media.size() + 1);
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(after[0].discont);
  expect_same_media(media_tags(read_flv_tags(concat(after))), source_media);
  EXPECT_GE(after[0].pts, before.back().pts);
  EXPECT_EQ(p.count_messages("rtmp-publish-start"), 2u);
}

TEST_F(RtmpServerSrcTest, ReconnectingPublisherContinuesTheSameStream) {
  Pipeline p(src("name=src stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  {
    Client first(port);
    ASSERT_TRUE(first.send(capture));
    ASSERT_TRUE(first.wait_status("NetStream.Publish.Start"));
    ASSERT_TRUE(p.wait_message("rtmp-publish-stop"));
  }
  auto one = p.pull("sink0", source_media.size() + 2);
  Client second(port);
  ASSERT_TRUE(second.send(capture));
  ASSERT_TRUE(second.wait_status("NetStream.Publish.Start"));
  auto two = p.pull("sink0", source_media.size() + 1);
  ASSERT_EQ(one.size(), source_media.size() + 2);
  ASSERT_EQ(two.size(), source_media.size() + 1);
  // One FLV header only; the second session starts with its onMetaData, marked DISCONT.
  EXPECT_TRUE(one[0].header);
  for (auto& b : two) EXPECT_FALSE(b.header);
  EXPECT_TRUE(two[0].discont);
  Bytes framed = one[0].bytes;
  Bytes rest = concat(two);
  framed.insert(framed.end(), rest.begin(), rest.end());
  auto second_tags = read_flv_tags(framed);
  ASSERT_FALSE(second_tags.empty());
  EXPECT_EQ(second_tags[0].type, 18);
  expect_same_media(media_tags(read_flv_tags(concat(one))), source_media);
  expect_same_media(media_tags(second_tags), source_media);
  // Running time continues: the new session lands after the last output buffer.
  GstClockTime last_one = 0;
  for (auto& b : one) if (GST_CLOCK_TIME_IS_VALID(b.pts)) last_one = std::max(last_one, b.pts);
  EXPECT_GT(two[0].pts, last_one);
  EXPECT_EQ(p.count_messages("eos"), 0u);
  GstStructure* stats = nullptr;
  g_object_get(p.get("src"), "stats", &stats, nullptr);
  guint64 reconnects = 0;
  gst_structure_get_uint64(stats, "reconnects", &reconnects);
  EXPECT_EQ(reconnects, 1u);
  gst_structure_free(stats);
}

TEST_F(RtmpServerSrcTest, BadClientsAreClosedWithoutDisturbingAGoodPublisher) {
  Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client good(port), garbage(port), oversized(port);
  ASSERT_TRUE(good.send(capture, 0, capture.size() / 3));
  ASSERT_TRUE(garbage.send(Bytes{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n', '\r', '\n'}));
  // A valid plain handshake, then a chunk announcing a 16 MiB video message (limit: 8 MiB).
  Bytes big(1 + 1536 + 1536, 0);
  big[0] = 3;
  const Bytes chunk = {0x04, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0, 0x17, 0x01};
  big.insert(big.end(), chunk.begin(), chunk.end());
  ASSERT_TRUE(oversized.send(big));
  EXPECT_TRUE(garbage.wait_closed());
  EXPECT_TRUE(oversized.wait_closed());
  ASSERT_TRUE(good.send(capture, capture.size() / 3));
  auto out = p.pull("sink0", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
}

TEST_F(RtmpServerSrcTest, RtmpsWithASelfSignedCertificate) {
  gchar* dir = g_dir_make_tmp("rtmpserversrc-tls-XXXXXX", nullptr);
  ASSERT_NE(dir, nullptr);
  const std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                          cert + " -subj /CN=localhost -days 2 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl must be installed";
  {
    Pipeline p(src("stream-key=capff tls-certificate=" + cert + " tls-key=" + key) +
               " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    Client client(port, /*tls=*/true);
    ASSERT_TRUE(client.send(capture));
    EXPECT_TRUE(client.wait_status("NetStream.Publish.Start"));
    auto out = p.pull("sink0", source_media.size() + 2);
    expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
    // Plain RTMP on the RTMPS port gets nowhere and is closed.
    Client plain(port);
    plain.send(capture, 0, 1537);
    EXPECT_TRUE(plain.wait_closed());
    EXPECT_FALSE(contains(plain.received(), "NetStream"));
  }
  std::filesystem::remove_all(dir);
  g_free(dir);
}

TEST_F(RtmpServerSrcTest, DifferentTlsSettingsOnOnePortFailToStart) {
  gchar* dir = g_dir_make_tmp("rtmpserversrc-tls-XXXXXX", nullptr);
  const std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                          cert + " -subj /CN=localhost -days 2 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  {
    Pipeline p(src("stream-key=a") + " ! appsink name=sink0 sync=false " +
               src("stream-key=b tls-certificate=" + cert + " tls-key=" + key) +
               " ! appsink name=sink1 sync=false");
    EXPECT_EQ(p.play(), GST_STATE_CHANGE_FAILURE);
    bool error_seen = false;
    for (GstStructure* m : p.messages())
      if (gst_structure_has_name(m, "error")) error_seen = true;
    EXPECT_TRUE(error_seen);
  }
  std::filesystem::remove_all(dir);
  g_free(dir);
}

TEST_F(RtmpServerSrcTest, IdleTimeoutEndsTheStreamAfterThePublisherLeft) {
  Pipeline p(src("stream-key=capff idle-timeout=1") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client client(port);
  ASSERT_TRUE(client.send(capture));
  ASSERT_TRUE(p.wait_message("rtmp-publish-stop"));
  auto stopped = std::chrono::steady_clock::now();
  auto out = p.pull("sink0", source_media.size() + 2, 200ms);
  EXPECT_EQ(out.size(), source_media.size() + 2);
  ASSERT_TRUE(p.wait_message("eos", 4000ms));
  auto waited = std::chrono::steady_clock::now() - stopped;
  EXPECT_GE(waited, 900ms);
}

TEST_F(RtmpServerSrcTest, PlayRequestsAreRefusedWithAClearStatus) {
  Pipeline p(src("stream-key=src") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client client(port);
  ASSERT_TRUE(client.send(read_capture("ffmpeg-play.c2s.bin")));
  EXPECT_TRUE(client.wait_status("NetStream.Play.StreamNotFound"));
  EXPECT_TRUE(client.wait_closed());
}

}  // namespace

namespace {

TEST_F(RtmpServerSrcTest, ConnectionsBeyondMaxConnectionsAreClosed) {
  Pipeline p(src("stream-key=capff max-connections=2") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  auto one = std::make_unique<Client>(port);
  Client two(port);
  ASSERT_TRUE(one->send(capture, 0, 1537));  // C0 C1: the server answers S0 S1 S2
  ASSERT_TRUE(two.send(capture, 0, 1537));
  EXPECT_TRUE(one->wait_for(std::string(1, '\x03')));
  EXPECT_TRUE(two.wait_for(std::string(1, '\x03')));
  {
    Client three(port);
    EXPECT_TRUE(three.wait_closed(2000ms));
    EXPECT_TRUE(three.received().empty());
  }
  EXPECT_FALSE(one->wait_closed(200ms));
  // Once one leaves there is room again: a full publish goes through.
  one.reset();
  std::this_thread::sleep_for(300ms);
  Client four(port);
  ASSERT_TRUE(four.send(capture));
  EXPECT_TRUE(four.wait_status("NetStream.Publish.Start"));
}

TEST_F(RtmpServerSrcTest, SilentConnectionIsClosedAfterTheHandshakeTimeout) {
  Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  auto start = std::chrono::steady_clock::now();
  Client silent(port);
  ASSERT_TRUE(silent.send(capture, 0, 1537));  // handshake started, never finished
  EXPECT_TRUE(silent.wait_closed(15000ms));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 9500ms);
  EXPECT_LE(waited, 12500ms);
}

}  // namespace

namespace {

// Listener I/O threads alive in this process (they are named rtmp-io-PORT).
size_t io_thread_count() {
  size_t n = 0;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("rtmp-io-", 0) == 0) ++n;
  }
  return n;
}

// Voluntary context switches of this process's thread named `name` (-1: no such thread).
int64_t voluntary_switches(const std::string& name) {
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name != name) continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stoll(line.substr(24));
    }
  }
  return -1;
}

// The streaming threads of one listener's publishing sources share one wakeup per read batch;
// a source without a publisher must not wake with another stream's batches (it did, about
// 55 times a second with one ffmpeg publisher next to it).
TEST_F(RtmpServerSrcTest, ASourceWithoutPublisherSleepsWhileAnotherStreamIsRead) {
  Pipeline p(src("name=busy stream-key=capff") + " ! appsink name=sink0 sync=false async=false " +
             src("name=idle stream-key=nobody") + " ! appsink name=sink1 sync=false async=false");
  ASSERT_TRUE(play_ok(p.play()));
  std::this_thread::sleep_for(200ms);  // both streaming threads are waiting
  const int64_t idle_before = voluntary_switches("idle:src");
  const int64_t busy_before = voluntary_switches("busy:src");
  ASSERT_GE(idle_before, 0) << "no thread named idle:src";
  ASSERT_GE(busy_before, 0) << "no thread named busy:src";
  Client client(port);
  // The capture in 40 pieces over about 1.2 s: many read batches of the busy stream.
  const size_t piece = capture.size() / 40 + 1;
  for (size_t at = 0; at < capture.size(); at += piece) {
    ASSERT_TRUE(client.send(capture, at, at + piece));
    std::this_thread::sleep_for(30ms);
  }
  auto out = p.pull("sink0", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
  const int64_t busy_woken = voluntary_switches("busy:src") - busy_before;
  const int64_t idle_woken = voluntary_switches("idle:src") - idle_before;
  EXPECT_GE(busy_woken, 10) << "the busy stream was read in fewer batches than the test needs";
  EXPECT_LE(idle_woken, 2) << "the idle source woke " << idle_woken << " times while the busy stream "
                           << "woke " << busy_woken << " times";
  EXPECT_TRUE(p.pull("sink1", 0, 100ms).empty());
}

TEST_F(RtmpServerSrcTest, PublishSentInSmallPiecesGivesTheSameTags) {
  Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client client(port);
  for (size_t at = 0; at < capture.size(); at += 997) {
    ASSERT_TRUE(client.send(capture, at, at + 997));
    if (at % (997 * 16) == 0) std::this_thread::sleep_for(1ms);  // let reads split differently
  }
  auto out = p.pull("sink0", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
}

TEST_F(RtmpServerSrcTest, StateChangesLeaveNoThreadsBehind) {
  EXPECT_EQ(io_thread_count(), 0u);
  for (int round = 0; round < 4; ++round) {
    Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    EXPECT_EQ(io_thread_count(), 1u);
    Client client(port);
    ASSERT_TRUE(client.send(capture, 0, capture.size() / 2));
    ASSERT_TRUE(client.wait_status("NetStream.Publish.Start"));
    p.pull("sink0", 5, 100ms);
    // Stopping with a publisher attached: it is told and disconnected.
    ASSERT_EQ(gst_element_set_state(p.pipeline_, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    EXPECT_TRUE(client.wait_closed());
    EXPECT_TRUE(has_status(client.received(), "NetStream.Unpublish.Success"));
    EXPECT_EQ(io_thread_count(), 0u);
    ASSERT_EQ(gst_element_set_state(p.pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  EXPECT_EQ(io_thread_count(), 0u);
}

}  // namespace

namespace {

// Offset in a c2s capture just after the "publish" command, and the publish's stream id and
// the client's chunk size there, so that synthetic media can follow.
struct PublishPoint {
  size_t offset = 0;
  uint32_t stream_id = 0;
  uint32_t chunk_size = 128;
};

PublishPoint find_publish(const Bytes& c2s) {
  PublishPoint point;
  live::rtmp::ChunkReader reader;
  std::vector<live::rtmp::Message> messages;
  for (size_t i = 1 + 1536 + 1536; i < c2s.size(); ++i) {
    auto used = reader.feed(std::span<const uint8_t>(&c2s[i], 1), messages);
    if (!used) break;
    for (auto& m : messages) {
      if (m.type == 1 && m.payload.size() >= 4)
        reader.set_chunk_size(uint32_t(m.payload[0]) << 24 | m.payload[1] << 16 |
                              m.payload[2] << 8 | m.payload[3]);
      if (m.type != 20) continue;
      auto command = live::rtmp::decode_command(m.payload);
      if (command && command->name == "publish") {
        point.offset = i + 1;
        point.stream_id = m.stream_id;
        point.chunk_size = reader.chunk_size();
        return point;
      }
    }
    messages.clear();
  }
  return point;
}

// Publishers' media is read in batches (read-interval), but a connecting client's handshake
// and commands are answered at once, even while the batches of a running publisher are timed.
TEST_F(RtmpServerSrcTest, CommandsAreAnsweredAtOnceWhileMediaIsReadInBatches) {
  Pipeline p(src("name=batched stream-key=capff read-interval=1000") + " ! appsink name=sink0 sync=false " +
             src("stream-key=caplib read-interval=1000") + " ! appsink name=sink1 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  GstElement* first = gst_bin_get_by_name(GST_BIN(p.pipeline_), "batched");
  ASSERT_NE(first, nullptr);
  GstQuery* latency = gst_query_new_latency();
  ASSERT_TRUE(gst_element_query(first, latency));
  gboolean live = FALSE;
  GstClockTime min_latency = 0, max_latency = 0;
  gst_query_parse_latency(latency, &live, &min_latency, &max_latency);
  EXPECT_TRUE(live);
  EXPECT_EQ(min_latency, GST_SECOND);  // media can be up to one read interval late
  gst_query_unref(latency);
  gst_object_unref(first);

  // Publisher A goes on sending media in small pieces for 3 s: the batched set keeps timing.
  const PublishPoint publish = find_publish(capture);
  ASSERT_GT(publish.offset, 0u);
  Client a(port);
  ASSERT_TRUE(a.send(capture, 0, publish.offset));
  ASSERT_TRUE(a.wait_status("NetStream.Publish.Start"));
  std::thread a_media([&] {
    const size_t piece = (capture.size() - publish.offset) / 60 + 1;
    for (size_t at = publish.offset; at < capture.size(); at += piece) {
      a.send(capture, at, at + piece);
      std::this_thread::sleep_for(50ms);
    }
  });
  std::this_thread::sleep_for(300ms);

  // Client B: two round trips (C0+C1 -> S0+S1+S2; C2 and the commands -> Publish.Start).
  const Bytes librtmp = read_capture("librtmp-publish.c2s.bin");
  const PublishPoint b_publish = find_publish(librtmp);
  ASSERT_GT(b_publish.offset, 0u);
  Client b(port);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.send(librtmp, 0, 1 + 1536));
  ASSERT_TRUE(b.wait_for_size(1 + 1536 + 1536));
  ASSERT_TRUE(b.send(librtmp, 1 + 1536, b_publish.offset));
  ASSERT_TRUE(b.wait_status("NetStream.Publish.Start"));
  const auto took = std::chrono::steady_clock::now() - started;
  // Batched like media, each round trip would wait for the next 1 s read.
  EXPECT_LT(took, 900ms) << "handshake and publish took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << " ms";
  ASSERT_TRUE(b.send(librtmp, b_publish.offset));
  a_media.join();

  // Both streams come out whole, A's in its one-second batches.
  auto out_a = p.pull("sink0", source_media.size() + 2, 2500ms);
  expect_same_media(media_tags(read_flv_tags(concat(out_a))), source_media);
  auto out_b = p.pull("sink1", 10);
  EXPECT_GT(media_tags(read_flv_tags(concat(out_b))).size(), 100u);
}

// An application's EOS (gst-launch -e, Ctrl-C in live-server) first outputs everything the
// publisher sent, including input still waiting for its batched read, then ends the stream.
TEST_F(RtmpServerSrcTest, EndOfStreamOutputsEverythingReceivedFirst) {
  Pipeline p(src("stream-key=capff read-interval=1000") + " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  const PublishPoint publish = find_publish(capture);
  ASSERT_GT(publish.offset, 0u);
  Client client(port);
  ASSERT_TRUE(client.send(capture, 0, publish.offset));
  ASSERT_TRUE(client.wait_status("NetStream.Publish.Start"));
  // The first half is read at once and starts a one-second batch; the second half waits in
  // the socket for the next read when the EOS comes.
  const size_t half = publish.offset + (capture.size() - publish.offset) / 2;
  ASSERT_TRUE(client.send(capture, publish.offset, half));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(client.send(capture, half));
  ASSERT_TRUE(gst_element_send_event(p.pipeline_, gst_event_new_eos()));
  auto out = p.pull("sink0", source_media.size() + 2, 500ms);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
  EXPECT_TRUE(gst_app_sink_is_eos(GST_APP_SINK(p.get("sink0"))));
  EXPECT_TRUE(p.wait_message("eos"));
}

TEST_F(RtmpServerSrcTest, SlowDownstreamPausesThePublisherInsteadOfDropping) {
  // appsink holds at most 2 buffers and is not pulled at first: the streaming thread blocks.
  Pipeline p(src("name=src stream-key=capff") + " ! appsink name=sink0 sync=false max-buffers=2");
  ASSERT_TRUE(play_ok(p.play()));
  const PublishPoint publish = find_publish(capture);
  ASSERT_GT(publish.offset, 0u);
  Bytes stream(capture.begin(), capture.begin() + publish.offset);
  live::rtmp::ChunkWriter writer;
  writer.set_chunk_size_silently(publish.chunk_size);
  constexpr size_t kMessages = 120, kSize = 100 * 1024;  // 12 MiB, above the 8 MiB pause mark
  for (size_t n = 0; n < kMessages; ++n) {
    Bytes payload(kSize, uint8_t(n));
    payload[0] = n == 0 ? 0x17 : 0x27;  // AVC key / inter frame, NALU
    payload[1] = 1;
    payload[2] = payload[3] = payload[4] = 0;
    payload[5] = uint8_t(n >> 8);
    payload[6] = uint8_t(n);
    writer.write(20, uint32_t(n * 40), 9, publish.stream_id, payload, stream);
  }
  Client client(port);
  std::thread sender([&] { client.send(stream); });
  ASSERT_TRUE(client.wait_status("NetStream.Publish.Start"));
  // Wait for the pause (a busy machine may need more than a moment to read 8 MiB), then
  // check that the queue stopped growing at the pause mark.
  GstStructure* stats = nullptr;
  guint64 queued = 0, pauses = 0, dropped = 1;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (pauses == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    g_object_get(p.get("src"), "stats", &stats, nullptr);
    gst_structure_get_uint64(stats, "flow-control-pauses", &pauses);
    gst_structure_free(stats);
  }
  std::this_thread::sleep_for(500ms);  // a paused reader must not queue any further
  g_object_get(p.get("src"), "stats", &stats, nullptr);
  gst_structure_get_uint64(stats, "queued-bytes", &queued);
  gst_structure_get_uint64(stats, "flow-control-pauses", &pauses);
  gst_structure_get_uint64(stats, "dropped-messages", &dropped);
  gst_structure_free(stats);
  EXPECT_GE(queued, 8u * 1024 * 1024);
  EXPECT_LE(queued, 9u * 1024 * 1024);
  EXPECT_GE(pauses, 1u);
  // Now drain: every message arrives, in order, none dropped, no DISCONT.
  auto out = p.pull("sink0", kMessages + 1);
  sender.join();
  ASSERT_EQ(out.size(), kMessages + 1);
  for (size_t n = 0; n < kMessages; ++n) {
    const Bytes& b = out[n + 1].bytes;
    ASSERT_EQ(b.size(), 11 + kSize + 4);
    EXPECT_EQ(size_t(b[11 + 5]) << 8 | b[11 + 6], n);
    EXPECT_FALSE(out[n + 1].discont && n > 0);
  }
  g_object_get(p.get("src"), "stats", &stats, nullptr);
  gst_structure_get_uint64(stats, "dropped-messages", &dropped);
  gst_structure_free(stats);
  EXPECT_EQ(dropped, 0u);
}

}  // namespace

namespace {

// The per-address limit counts connections not yet accepted as a publisher or player (what a
// client can hold without any authorization); an accepted publisher frees its place.
TEST_F(RtmpServerSrcTest, ConnectionsBeyondThePerAddressLimitAreClosedAtAccept) {
  Pipeline p(src("stream-key=capff max-connections-per-address=2") +
             " ! appsink name=sink0 sync=false");
  ASSERT_TRUE(play_ok(p.play()));
  Client publisher(port);
  ASSERT_TRUE(publisher.send(capture, 0, capture.size() / 2));
  EXPECT_TRUE(publisher.wait_status("NetStream.Publish.Start"));
  Client waiting(port), second_waiting(port);
  ASSERT_TRUE(waiting.send(capture, 0, 1537));  // C0 C1: the server answers S0 S1 S2
  EXPECT_TRUE(waiting.wait_for(std::string(1, '\x03')));
  ASSERT_TRUE(second_waiting.send(capture, 0, 1537));
  EXPECT_TRUE(second_waiting.wait_for(std::string(1, '\x03')));
  {
    Client third(port), fourth(port);  // both from 127.0.0.1 too: two pending already
    EXPECT_TRUE(third.wait_closed(2000ms));
    EXPECT_TRUE(fourth.wait_closed(2000ms));
    EXPECT_TRUE(third.received().empty());
    EXPECT_TRUE(fourth.received().empty());
  }
  // The refusals touched no existing connection; the publisher streams on to the end of its
  // session: all of source.flv comes out.
  EXPECT_FALSE(publisher.wait_closed(100ms));
  EXPECT_FALSE(waiting.wait_closed(100ms));
  ASSERT_TRUE(publisher.send(capture, capture.size() / 2));
  auto out = p.pull("sink0", source_media.size() + 2);
  expect_same_media(media_tags(read_flv_tags(concat(out))), source_media);
  EXPECT_FALSE(waiting.wait_closed(100ms));
}

TEST_F(RtmpServerSrcTest, PerAddressLimitDefaultsTo16AndZeroLiftsIt) {
  auto open_clients = [&](size_t count) {
    std::vector<std::unique_ptr<Client>> clients;
    for (size_t i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<Client>(port));
      EXPECT_TRUE(clients.back()->send(capture, 0, 1537));
    }
    size_t answered = 0;
    for (auto& c : clients) answered += c->wait_for_unless_closed(std::string(1, '\x03')) ? 1 : 0;
    return answered;
  };
  {
    Pipeline p(src("name=src stream-key=capff") + " ! appsink name=sink0 sync=false");
    guint limit = 0;
    g_object_get(p.get("src"), "max-connections-per-address", &limit, nullptr);
    EXPECT_EQ(limit, 16u);
    ASSERT_TRUE(play_ok(p.play()));
    EXPECT_EQ(open_clients(20), 16u);
  }
  port = free_port();
  {
    Pipeline p(src("stream-key=capff max-connections-per-address=0") +
               " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    EXPECT_EQ(open_clients(20), 20u);
  }
}

// Stream keys are secrets: no log line of ours at INFO or above, and no error text, names one.
struct CapturedLog {
  std::mutex mutex;
  std::vector<std::string> lines;
};

void capture_log(GstDebugCategory* category, GstDebugLevel level, const gchar*, const gchar*, gint,
                 GObject*, GstDebugMessage* message, gpointer data) {
  const char* name = gst_debug_category_get_name(category);
  if (level > GST_LEVEL_INFO) return;
  if (g_strcmp0(name, "livenet") != 0 && g_strcmp0(name, "rtmpserversrc") != 0) return;
  auto* log = static_cast<CapturedLog*>(data);
  std::lock_guard lock(log->mutex);
  log->lines.push_back(gst_debug_message_get(message));
}

TEST_F(RtmpServerSrcTest, StreamKeysNeverAppearInLogsAtInfoOrInErrors) {
  CapturedLog log;
  gst_debug_set_active(TRUE);
  gst_debug_remove_log_function(gst_debug_log_default);
  gst_debug_add_log_function(capture_log, &log, nullptr);
  gst_debug_set_threshold_for_name("livenet", GST_LEVEL_INFO);
  gst_debug_set_threshold_for_name("rtmpserversrc", GST_LEVEL_INFO);
  std::vector<std::string> errors;
  {
    // Accepted publish of key "capff", then a second element asking for the same key.
    Pipeline p(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    Client client(port);
    ASSERT_TRUE(client.send(capture));
    EXPECT_TRUE(client.wait_status("NetStream.Publish.Start"));
    EXPECT_GT(p.pull("sink0", source_media.size() + 2).size(), source_media.size());
    Pipeline twin(src("stream-key=capff") + " ! appsink name=sink0 sync=false");
    EXPECT_EQ(twin.play(), GST_STATE_CHANGE_FAILURE);
    for (GstStructure* s : twin.messages())
      if (gst_structure_has_name(s, "error"))
        errors.push_back(std::string(gst_structure_get_string(s, "text")) + " / " +
                         gst_structure_get_string(s, "debug"));
  }
  {
    // A publish of "capff" to an element that serves "hunter2secret": refused.
    Pipeline p(src("stream-key=hunter2secret") + " ! appsink name=sink0 sync=false");
    ASSERT_TRUE(play_ok(p.play()));
    expect_publish_refused();
  }
  gst_debug_remove_log_function(capture_log);
  gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  gst_debug_unset_threshold_for_name("livenet");
  gst_debug_unset_threshold_for_name("rtmpserversrc");

  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("already serves application 'live'"), std::string::npos) << errors[0];
  for (const auto& error : errors) EXPECT_EQ(error.find("capff"), std::string::npos) << error;
  std::lock_guard lock(log.mutex);
  // The log did record both sessions (so the check below looked at something).
  auto logged = [&](const std::string& text) {
    return std::any_of(log.lines.begin(), log.lines.end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(logged("publishing to app 'live'"));
  EXPECT_TRUE(logged("refused: no such stream"));
  for (const auto& line : log.lines) {
    EXPECT_EQ(line.find("capff"), std::string::npos) << line;
    EXPECT_EQ(line.find("hunter2secret"), std::string::npos) << line;
  }
}

}  // namespace
