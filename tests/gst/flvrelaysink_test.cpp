// flvrelaysink element tests: real pipelines (appsrc ! flvrelaysink, or rtmpserversrc !
// flvrelaysink on one port) on free loopback ports, watched by real clients: an RTMP player
// built on lib/rtmp (rtmp_test_client.h) and raw HTTP sockets. They check what a viewer gets
// (order, types, payload bytes, timestamps), what the element reports (messages, stats), and
// that an application may stop the pipeline from inside its handlers.
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../lib/test_data.h"
#include "flv/flv_tag.h"
#include "rtmp_test_client.h"
#include "free_port.h"

namespace {

using Bytes = std::vector<uint8_t>;
using namespace std::chrono_literals;
using live::flv::Tag;
using live::test::ReceivedMessage;
using live::test::RtmpPlayClient;
using live::test_data::media_tags;
using live::test_data::read_capture;
using live::test_data::read_flv_tags;

using live::test::free_port;

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

// Waits for the I/O threads to be gone: a joined thread can stay listed in /proc for a moment
// after pthread_join returned (the kernel removes it just after waking the joiner).
bool no_io_thread_within(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (io_thread_count() != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool contains(const Bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

Bytes tag_bytes(uint8_t type, uint32_t timestamp, const Bytes& payload) {
  Bytes out;
  EXPECT_TRUE(live::flv::write_tag(out, type, timestamp, payload).ok());
  return out;
}
Bytes tag_bytes(const Tag& tag) { return tag_bytes(tag.type, tag.timestamp, tag.payload); }

const Bytes kFlvHeader = {'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0};

// A pipeline from a description, with the element messages, errors and EOS of its bus.
class Pipeline {
 public:
  explicit Pipeline(const std::string& description) {
    GError* error = nullptr;
    pipeline_ = gst_parse_launch(description.c_str(), &error);
    if (!pipeline_ || error) {
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
  bool play() { return gst_element_set_state(pipeline_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE; }
  GstElement* get(const char* name) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline_), name);
    gst_object_unref(e);  // the bin keeps it
    return e;
  }

  // appsrc "src": bytes as one buffer.
  void push(const Bytes& bytes, bool header = false) {
    GstBuffer* buffer = gst_buffer_new_memdup(bytes.data(), bytes.size());
    if (header) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_HEADER);
    EXPECT_EQ(gst_app_src_push_buffer(GST_APP_SRC(get("src")), buffer), GST_FLOW_OK);
  }
  void push_header() { push(kFlvHeader, true); }
  void push_tags(const std::vector<Tag>& tags, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) push(tag_bytes(tags[i]));
  }
  void end_of_stream() { EXPECT_EQ(gst_app_src_end_of_stream(GST_APP_SRC(get("src"))), GST_FLOW_OK); }

  // A field of the sink's stats (guint or guint64), or -1 when missing.
  int64_t stat(const char* field, const char* sink = "sink") {
    GstStructure* stats = nullptr;
    g_object_get(get(sink), "stats", &stats, nullptr);
    if (!stats) return -1;
    int64_t value = -1;
    guint64 u64 = 0;
    guint u = 0;
    if (gst_structure_get_uint64(stats, field, &u64)) value = int64_t(u64);
    else if (gst_structure_get_uint(stats, field, &u)) value = u;
    gst_structure_free(stats);
    return value;
  }
  // Waits until stat(field) >= at_least.
  bool wait_stat(const char* field, int64_t at_least, std::chrono::milliseconds timeout = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (stat(field) < at_least) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  // Stats are updated by the I/O thread just after it writes to a viewer: a viewer may see its
  // bytes a moment before the numbers change. Waits up to 2 s for `value`, returns the last.
  int64_t stat_soon(const char* field, int64_t value) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    int64_t now = stat(field);
    while (now != value && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      now = stat(field);
    }
    return now;
  }

  std::vector<GstStructure*> messages() {
    while (GstMessage* m = gst_bus_pop_filtered(
               bus_, GstMessageType(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        messages_.push_back(gst_structure_copy(gst_message_get_structure(m)));
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
  std::vector<GstStructure*> messages_named(const char* name) {
    std::vector<GstStructure*> out;
    for (GstStructure* s : messages())
      if (gst_structure_has_name(s, name)) out.push_back(s);
    return out;
  }
  bool wait_message(const char* name, size_t count = 1, std::chrono::milliseconds timeout = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (messages_named(name).size() < count) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  GstElement* pipeline_ = nullptr;
  GstBus* bus_ = nullptr;
  std::vector<GstStructure*> messages_;
};

// The relayed messages equal tags[indices...]: type, timestamp and payload bytes, on the
// player's stream.
void expect_tags(const std::vector<ReceivedMessage>& got, const std::vector<Tag>& tags,
                 const std::vector<size_t>& indices, uint32_t stream_id) {
  ASSERT_EQ(got.size(), indices.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const Tag& want = tags[indices[i]];
    EXPECT_EQ(got[i].type, want.type) << "message " << i << " (tag " << indices[i] << ")";
    EXPECT_EQ(got[i].timestamp, want.timestamp) << "message " << i << " (tag " << indices[i] << ")";
    EXPECT_TRUE(got[i].payload == want.payload) << "message " << i << " (tag " << indices[i] << ")";
    EXPECT_EQ(got[i].stream_id, stream_id) << "message " << i;
  }
}

std::vector<size_t> range(size_t from, size_t to) {
  std::vector<size_t> out;
  for (size_t i = from; i < to; ++i) out.push_back(i);
  return out;
}
std::vector<size_t> join(std::vector<size_t> a, const std::vector<size_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool is_keyframe(const ReceivedMessage& m) {
  return m.type == 9 && !m.payload.empty() && (m.payload[0] >> 4) == 1 &&
         (m.payload.size() < 2 || m.payload[1] == 1);
}

// Labels of the messages from the first one labelled `from` on.
std::vector<std::string> labels_from(const std::vector<ReceivedMessage>& messages, const std::string& from) {
  std::vector<std::string> out;
  bool on = false;
  for (auto& m : messages) {
    on = on || m.label() == from;
    if (on) out.push_back(m.label());
  }
  return out;
}

class FlvRelaySinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    port = free_port();
    tags = read_flv_tags(read_capture("source.flv"));
    ASSERT_EQ(tags.size(), 210u);
    // What the GOP tests below rely on: metadata, AVC and AAC sequence headers first, and
    // keyframes at tags 3, 69 and 137.
    ASSERT_EQ(tags[0].type, 18);
    ASSERT_EQ(tags[1].payload[0], 0x17);
    ASSERT_EQ(tags[1].payload[1], 0);
    ASSERT_EQ(tags[2].payload[1], 0);
    for (size_t key : {3, 69, 137}) ASSERT_EQ(tags[key].payload[0], 0x17) << key;
    for (size_t i = 70; i < 137; ++i) ASSERT_NE(tags[i].payload[0], 0x17) << i;
  }
  std::string relay(const std::string& props) {
    return "appsrc name=src is-live=true format=time caps=video/x-flv ! flvrelaysink name=sink "
           "address=127.0.0.1 port=" + std::to_string(port) + " stream-key=show " + props;
  }
  // A player that connected and started playing "show" (Play.Start received).
  std::unique_ptr<RtmpPlayClient> player(const std::string& key = "show", int receive_buffer = 0) {
    auto client = std::make_unique<RtmpPlayClient>(port, receive_buffer);
    EXPECT_TRUE(client->connect());
    EXPECT_TRUE(client->play(key));
    EXPECT_TRUE(client->wait_status("NetStream.Play.Start"));
    return client;
  }
  uint16_t port = 0;
  std::vector<Tag> tags;
};

// --- 1. a player that joins before the data gets the whole stream --------------------------

TEST_F(FlvRelaySinkTest, PlayerJoiningBeforeDataGetsEveryTagInOrder) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  EXPECT_EQ(p.stat_soon("rtmp-viewers", 1), 1);
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(client->wait_relayed(tags.size()));

  const auto labels = labels_from(client->messages(), "status:NetStream.Play.Reset");
  ASSERT_GE(labels.size(), 6u);
  EXPECT_EQ(labels[0], "status:NetStream.Play.Reset");
  EXPECT_EQ(labels[1], "status:NetStream.Play.Start");
  EXPECT_EQ(labels[2], "data:|RtmpSampleAccess");
  EXPECT_EQ(labels[3], "data:onMetaData");
  EXPECT_EQ(labels[4], "video");  // AVC sequence header
  EXPECT_EQ(labels[5], "audio");  // AAC sequence header
  // StreamBegin for the play stream comes before the status messages.
  bool stream_begin = false;
  for (auto& m : client->messages()) {
    if (m.label() == "status:NetStream.Play.Reset") break;
    stream_begin |= m.user_control == 0 && m.user_control_value == client->stream_id();
  }
  EXPECT_TRUE(stream_begin);
  expect_tags(client->relayed(), tags, range(0, tags.size()), client->stream_id());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(client->relayed_count(), tags.size());  // nothing twice

  // Stats: one viewer, every tag in, at least the payloads out.
  EXPECT_EQ(p.stat("rtmp-viewers"), 1);
  EXPECT_EQ(p.stat("http-flv-viewers"), 0);
  EXPECT_EQ(p.stat("viewers-total"), 1);
  EXPECT_EQ(p.stat("messages-in"), int64_t(tags.size()));
  EXPECT_EQ(p.stat("dropped-messages"), 0);
  EXPECT_EQ(p.stat("parse-errors"), 0);
  size_t payload_bytes = 0;
  for (auto& t : tags) payload_bytes += t.payload.size();
  EXPECT_GE(p.stat("bytes-out"), int64_t(payload_bytes));
  EXPECT_LE(p.stat("bytes-out"), int64_t(client->bytes_received()));
  ASSERT_TRUE(p.wait_message("rtmp-play-start"));
  GstStructure* start = p.messages_named("rtmp-play-start")[0];
  EXPECT_STREQ(gst_structure_get_string(start, "protocol"), "rtmp");
  EXPECT_STREQ(gst_structure_get_string(start, "application"), "live");
  EXPECT_TRUE(g_str_has_prefix(gst_structure_get_string(start, "client-address"), "127.0.0.1:"));
}

// FLV bytes cut anywhere (not one tag per buffer) give the same messages.
TEST_F(FlvRelaySinkTest, InputSplitAnywhereGivesTheSameMessages) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  const Bytes file = read_capture("source.flv");
  for (size_t at = 0; at < file.size(); at += 777)
    p.push(Bytes(file.begin() + at, file.begin() + std::min(file.size(), at + 777)));
  ASSERT_TRUE(client->wait_relayed(tags.size()));
  expect_tags(client->relayed(), tags, range(0, tags.size()), client->stream_id());
  EXPECT_EQ(p.stat("parse-errors"), 0);
}

// --- 2. GOP cache ---------------------------------------------------------------------------

class GopCacheTest : public FlvRelaySinkTest {
 protected:
  // Feeds tags 0..100 (the middle of the GOP that starts at tag 69), lets a player join, then
  // feeds the rest; returns what the player got.
  std::vector<ReceivedMessage> join_mid_gop(Pipeline& p, std::unique_ptr<RtmpPlayClient>& client) {
    p.push_header();
    p.push_tags(tags, 0, 101);
    EXPECT_TRUE(p.wait_stat("messages-in", 101));
    client = player();
    p.push_tags(tags, 101, tags.size());
    EXPECT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
    client->wait_relayed(1000, 500ms);  // everything that comes (it cannot be 1000)
    return client->relayed();
  }
};

TEST_F(GopCacheTest, LateViewerStartsAtTheLastKeyframe) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  p.push_header();
  p.push_tags(tags, 0, 101);
  ASSERT_TRUE(p.wait_stat("messages-in", 101));
  EXPECT_EQ(p.stat("gop-cache-frames"), 101 - 69);
  size_t cached_bytes = 0;
  for (size_t i = 69; i < 101; ++i) cached_bytes += tags[i].payload.size();
  EXPECT_EQ(p.stat("gop-cache-bytes"), int64_t(cached_bytes));

  auto client = player();
  // Metadata, both sequence headers, then tags 69..100 from the cache, then live.
  p.push_tags(tags, 101, tags.size());
  const std::vector<size_t> want = join({0, 1, 2}, range(69, tags.size()));
  ASSERT_TRUE(client->wait_relayed(want.size()));
  std::this_thread::sleep_for(200ms);
  const auto got = client->relayed();
  expect_tags(got, tags, want, client->stream_id());
  ASSERT_GT(got.size(), 3u);
  EXPECT_TRUE(is_keyframe(got[3]));  // the first coded video frame is a keyframe
}

TEST_F(GopCacheTest, WithoutGopCacheALateViewerWaitsForTheNextKeyframe) {
  Pipeline p(relay("gop-cache=false"));
  ASSERT_TRUE(p.play());
  std::unique_ptr<RtmpPlayClient> client;
  const auto got = join_mid_gop(p, client);
  EXPECT_EQ(p.stat("gop-cache-frames"), 0);
  // Metadata and sequence headers at once; frames (audio too) only from the next keyframe.
  expect_tags(got, tags, join({0, 1, 2}, range(137, tags.size())), client->stream_id());
}

TEST_F(GopCacheTest, GopLargerThanMaxGopCacheBytesIsNotCached) {
  ASSERT_GT(tags[69].payload.size(), 1000u);
  Pipeline p(relay("max-gop-cache-bytes=1000"));
  ASSERT_TRUE(p.play());
  std::unique_ptr<RtmpPlayClient> client;
  const auto got = join_mid_gop(p, client);
  expect_tags(got, tags, join({0, 1, 2}, range(137, tags.size())), client->stream_id());
}

// --- 3. a stalled viewer never hurts a reading one -------------------------------------------

TEST_F(FlvRelaySinkTest, StalledViewerIsSkippedThenDisconnectedWhileAReadingOneGetsEverything) {
  Pipeline p(relay("max-viewer-lag=500 viewer-timeout=2000"));
  ASSERT_TRUE(p.play());
  auto reading = player();
  auto stalled = player("show", 4096);  // small receive window: the kernel buffers fill fast
  stalled->set_reading(false);
  ASSERT_TRUE(p.wait_message("rtmp-play-start", 2));

  // 20 s of synthetic video: AVC sequence header, then 25 fps of 100 KB frames with a keyframe
  // every second, each frame numbered; fed at 8x real time (25 MB/s).
  constexpr size_t kFrames = 500, kFrameBytes = 100 * 1024;
  std::vector<Tag> video;
  video.push_back(Tag{9, false, 0, 0, {0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff}});
  for (size_t n = 0; n < kFrames; ++n) {
    Bytes payload(kFrameBytes, uint8_t(n * 7));
    payload[0] = n % 25 == 0 ? 0x17 : 0x27;
    payload[1] = 1;
    payload[2] = payload[3] = payload[4] = 0;
    payload[5] = uint8_t(n >> 8);
    payload[6] = uint8_t(n);
    video.push_back(Tag{9, false, uint32_t(n * 40), 0, std::move(payload)});
  }
  p.push_header();
  const auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < video.size(); ++i) {
    std::this_thread::sleep_until(started + std::chrono::microseconds(i * 5000));
    p.push(tag_bytes(video[i]));
  }

  // The reader gets every message exactly, the stalled viewer is dropped after the timeout.
  ASSERT_TRUE(reading->wait_relayed(video.size(), 10000ms));
  expect_tags(reading->relayed(), video, range(0, video.size()), reading->stream_id());
  EXPECT_FALSE(reading->closed());
  ASSERT_TRUE(p.wait_message("rtmp-play-stop", 1, 8000ms));
  const auto stops = p.messages_named("rtmp-play-stop");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_NE(std::string(gst_structure_get_string(stops[0], "reason")).find("behind"), std::string::npos)
      << gst_structure_get_string(stops[0], "reason");
  EXPECT_EQ(p.stat_soon("rtmp-viewers", 1), 1);
  EXPECT_GE(p.stat("lag-skips"), 1);
  EXPECT_EQ(p.stat("lag-disconnects"), 1);
  EXPECT_GT(p.stat("dropped-messages"), 0);
  // What the stalled viewer's socket still holds ends, then the connection is closed.
  stalled->set_reading(true);
  EXPECT_TRUE(stalled->wait_closed(5000ms));
  EXPECT_LT(stalled->relayed_count(), video.size());
  // What it did get is whole frames in order, and after each gap (a skip) a keyframe.
  int last_frame = -1;
  size_t gaps = 0;
  for (auto& m : stalled->relayed()) {
    if (m.payload[1] != 1) continue;  // the sequence header
    const int frame = m.payload[5] << 8 | m.payload[6];
    ASSERT_EQ(m.payload.size(), kFrameBytes);
    EXPECT_TRUE(m.payload == video[size_t(frame) + 1].payload) << "frame " << frame;
    EXPECT_GT(frame, last_frame);
    if (frame != last_frame + 1) {
      ++gaps;
      EXPECT_TRUE(is_keyframe(m)) << "frame " << frame << " after frame " << last_frame;
    }
    last_frame = frame;
  }
  EXPECT_GE(last_frame, 0) << "the stalled viewer got no frame at all before it stalled";
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(reading->closed());
}

// --- 4. HTTP-FLV ------------------------------------------------------------------------------

// A raw TCP client: sends a request, collects everything until the server closes.
class RawHttpClient {
 public:
  RawHttpClient(uint16_t port, const std::string& request) {
    GSocketClient* client = g_socket_client_new();
    GError* error = nullptr;
    connection_ = g_socket_client_connect_to_host(client, "127.0.0.1", port, nullptr, &error);
    g_object_unref(client);
    if (!connection_) {
      ADD_FAILURE() << "connect: " << error->message;
      g_clear_error(&error);
      return;
    }
    gsize written = 0;
    EXPECT_TRUE(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection_)),
                                          request.data(), request.size(), &written, nullptr, nullptr));
    cancellable_ = g_cancellable_new();
    reader_ = std::thread([this] {
      uint8_t buffer[16384];
      GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(connection_));
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
    });
  }
  ~RawHttpClient() {
    if (cancellable_) g_cancellable_cancel(cancellable_);
    if (reader_.joinable()) reader_.join();
    if (connection_) g_object_unref(connection_);
    if (cancellable_) g_object_unref(cancellable_);
  }
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return contains(received_, needle); });
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
  GSocketConnection* connection_ = nullptr;
  GCancellable* cancellable_ = nullptr;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  Bytes received_;
  bool closed_ = false;
};

struct HttpResponse {
  std::string head;  // status line and headers, without the blank line
  Bytes body;        // after the blank line, raw
};

HttpResponse split_response(const Bytes& bytes) {
  HttpResponse r;
  const std::string blank = "\r\n\r\n";
  auto at = std::search(bytes.begin(), bytes.end(), blank.begin(), blank.end());
  r.head.assign(bytes.begin(), at);
  if (at != bytes.end()) r.body.assign(at + 4, bytes.end());
  return r;
}

// Decodes chunked transfer coding; `complete` says whether the last chunk (size 0) came.
Bytes dechunk(const Bytes& body, bool& complete) {
  Bytes out;
  complete = false;
  size_t at = 0;
  while (at < body.size()) {
    size_t line_end = at;
    while (line_end + 1 < body.size() && !(body[line_end] == '\r' && body[line_end + 1] == '\n')) ++line_end;
    if (line_end + 1 >= body.size()) break;
    const size_t size = std::stoul(std::string(body.begin() + at, body.begin() + line_end), nullptr, 16);
    at = line_end + 2;
    if (size == 0) {
      complete = true;
      break;
    }
    if (at + size + 2 > body.size()) {
      ADD_FAILURE() << "chunk of " << size << " bytes cut short";
      break;
    }
    out.insert(out.end(), body.begin() + at, body.begin() + at + size);
    EXPECT_EQ(body[at + size], '\r');
    EXPECT_EQ(body[at + size + 1], '\n');
    at += size + 2;
  }
  return out;
}

TEST_F(FlvRelaySinkTest, HttpFlvServesTheSameTagsHeadAnswersHeadersAndOtherKeysAre404) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  {
    RawHttpClient head(http_port, "HEAD /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(head.wait_closed());
    const auto r = split_response(head.received());
    EXPECT_TRUE(g_str_has_prefix(r.head.c_str(), "HTTP/1.1 200")) << r.head;
    EXPECT_NE(r.head.find("Content-Type: video/x-flv"), std::string::npos) << r.head;
    EXPECT_TRUE(r.body.empty()) << r.body.size() << " body bytes after HEAD";
  }
  {
    RawHttpClient other(http_port, "GET /live/other.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(other.wait_for("\r\n\r\n"));
    const auto r = split_response(other.received());
    EXPECT_TRUE(g_str_has_prefix(r.head.c_str(), "HTTP/1.1 404")) << r.head;
  }
  EXPECT_EQ(p.stat("viewers-total"), 0);  // neither was a viewer

  RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  // The head and the FLV file header come at once, before any data.
  ASSERT_TRUE(get.wait_for("FLV"));
  EXPECT_EQ(p.stat_soon("http-flv-viewers", 1), 1);
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  p.end_of_stream();  // the response ends with its last chunk
  ASSERT_TRUE(get.wait_closed());
  const auto r = split_response(get.received());
  EXPECT_TRUE(g_str_has_prefix(r.head.c_str(), "HTTP/1.1 200")) << r.head;
  EXPECT_NE(r.head.find("Content-Type: video/x-flv"), std::string::npos) << r.head;
  EXPECT_NE(r.head.find("Transfer-Encoding: chunked"), std::string::npos) << r.head;
  EXPECT_NE(r.head.find("Cache-Control: no-cache"), std::string::npos) << r.head;
  bool complete = false;
  const Bytes flv = dechunk(r.body, complete);
  EXPECT_TRUE(complete) << "no last chunk";
  ASSERT_GE(flv.size(), kFlvHeader.size());
  EXPECT_TRUE(Bytes(flv.begin(), flv.begin() + 13) == kFlvHeader);
  const auto got = read_flv_tags(flv);
  ASSERT_EQ(got.size(), tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    EXPECT_EQ(got[i].type, tags[i].type) << i;
    EXPECT_EQ(got[i].timestamp, tags[i].timestamp) << i;
    EXPECT_TRUE(got[i].payload == tags[i].payload) << i;
  }
  ASSERT_TRUE(p.wait_message("rtmp-play-stop"));
  EXPECT_STREQ(gst_structure_get_string(p.messages_named("rtmp-play-start")[0], "protocol"), "http-flv");
  EXPECT_EQ(p.stat_soon("http-flv-viewers", 0), 0);
  EXPECT_EQ(p.stat("viewers-total"), 1);
}

// HTTP/1.0 has no chunked transfer coding: the body is the plain FLV stream, ended by the close.
TEST_F(FlvRelaySinkTest, Http10GetGetsAPlainFlvBodyEndedByTheClose) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(get.wait_for("FLV"));
  EXPECT_EQ(p.stat_soon("http-flv-viewers", 1), 1);
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  p.end_of_stream();
  ASSERT_TRUE(get.wait_closed());
  const auto r = split_response(get.received());
  EXPECT_TRUE(g_str_has_prefix(r.head.c_str(), "HTTP/1.1 200")) << r.head;
  EXPECT_EQ(r.head.find("Transfer-Encoding"), std::string::npos) << r.head;
  const Bytes flv(r.body.begin(), r.body.end());
  ASSERT_GE(flv.size(), kFlvHeader.size());
  EXPECT_TRUE(Bytes(flv.begin(), flv.begin() + 13) == kFlvHeader);
  const auto got = read_flv_tags(flv);
  ASSERT_EQ(got.size(), tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    EXPECT_EQ(got[i].type, tags[i].type) << i;
    EXPECT_EQ(got[i].timestamp, tags[i].timestamp) << i;
    EXPECT_TRUE(got[i].payload == tags[i].payload) << i;
  }
}

// --- 5. authorization and unknown keys ----------------------------------------------------------

TEST_F(FlvRelaySinkTest, AuthorizePlayFalseRefusesWithPlayFailed) {
  Pipeline p(relay(""));
  struct Seen {
    std::mutex lock;
    std::string address, app, key, query;
    int calls = 0;
  } seen;
  g_signal_connect(p.get("sink"), "authorize-play",
                   G_CALLBACK(+[](GstElement*, const char* address, const char* app, const char* key,
                                  const char* query, Seen* s) -> gboolean {
                     std::lock_guard lock(s->lock);
                     s->address = address;
                     s->app = app;
                     s->key = key;
                     s->query = query;
                     ++s->calls;
                     return FALSE;
                   }),
                   &seen);
  ASSERT_TRUE(p.play());
  p.push_header();
  p.push_tags(tags, 0, 10);
  RtmpPlayClient client(port);
  ASSERT_TRUE(client.connect());
  ASSERT_TRUE(client.play("show?token=abc"));
  EXPECT_TRUE(client.wait_status("NetStream.Play.Failed"));
  EXPECT_TRUE(client.wait_closed());
  EXPECT_FALSE(client.has_status("NetStream.Play.Start"));
  EXPECT_EQ(client.relayed_count(), 0u);
  {
    std::lock_guard lock(seen.lock);
    EXPECT_EQ(seen.calls, 1);
    EXPECT_EQ(seen.app, "live");
    EXPECT_EQ(seen.key, "show");
    EXPECT_EQ(seen.query, "token=abc");
    EXPECT_TRUE(g_str_has_prefix(seen.address.c_str(), "127.0.0.1:"));
  }
  EXPECT_EQ(p.stat("viewers-refused"), 1);
  EXPECT_EQ(p.stat("viewers-total"), 0);
  EXPECT_EQ(p.stat("rtmp-viewers"), 0);
  EXPECT_TRUE(p.messages_named("rtmp-play-start").empty());
}

TEST_F(FlvRelaySinkTest, PlayOfAnUnknownKeyIsStreamNotFound) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  RtmpPlayClient client(port);
  ASSERT_TRUE(client.connect());
  ASSERT_TRUE(client.play("nosuchkey"));
  EXPECT_TRUE(client.wait_status("NetStream.Play.StreamNotFound"));
  EXPECT_TRUE(client.wait_closed());
  EXPECT_FALSE(client.has_status("NetStream.Play.Start"));
  // Another application with the right key is not this stream either.
  RtmpPlayClient other_app(port);
  ASSERT_TRUE(other_app.connect("otherapp"));
  ASSERT_TRUE(other_app.play("show"));
  EXPECT_TRUE(other_app.wait_status("NetStream.Play.StreamNotFound"));
  EXPECT_EQ(p.stat("viewers-total"), 0);
}

// --- 6. player controls --------------------------------------------------------------------------

TEST_F(FlvRelaySinkTest, PauseStopsMediaAndUnpauseResumesAtAKeyframe) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  p.push_header();
  p.push_tags(tags, 0, 50);
  ASSERT_TRUE(client->wait_relayed(50));
  ASSERT_TRUE(client->pause(true, 1000));
  ASSERT_TRUE(client->wait_status("NetStream.Pause.Notify"));
  p.push_tags(tags, 50, 101);
  ASSERT_TRUE(p.wait_stat("messages-in", 101));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(client->relayed_count(), 50u);  // nothing while paused
  ASSERT_TRUE(client->pause(false, 1000));
  ASSERT_TRUE(client->wait_status("NetStream.Unpause.Notify"));
  p.push_tags(tags, 101, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  std::this_thread::sleep_for(300ms);

  // In arrival order: the first 50 tags, Pause.Notify, nothing, Unpause.Notify, then the stream
  // again from its next keyframe (tag 137), audio included only from there.
  const auto messages = client->messages();
  std::vector<ReceivedMessage> before, during, after;
  int phase = 0;
  for (auto& m : messages) {
    if (m.status_code == "NetStream.Pause.Notify") phase = 1;
    else if (m.status_code == "NetStream.Unpause.Notify") phase = 2;
    else if (m.is_relayed()) (phase == 0 ? before : phase == 1 ? during : after).push_back(m);
  }
  expect_tags(before, tags, range(0, 50), client->stream_id());
  EXPECT_TRUE(during.empty()) << during.size() << " messages while paused";
  expect_tags(after, tags, range(137, tags.size()), client->stream_id());
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(is_keyframe(after[0]));
  EXPECT_GT(p.stat("dropped-messages"), 0);
  EXPECT_FALSE(client->closed());
}

TEST_F(FlvRelaySinkTest, ReceiveVideoFalseGivesOnlyAudioAndData) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  ASSERT_TRUE(client->receive_video(false));
  ASSERT_TRUE(client->sync());  // the server handled receiveVideo
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  std::vector<size_t> audio_and_data;
  for (size_t i = 0; i < tags.size(); ++i)
    if (tags[i].type != 9) audio_and_data.push_back(i);
  ASSERT_TRUE(client->wait_relayed(audio_and_data.size()));
  std::this_thread::sleep_for(200ms);
  expect_tags(client->relayed(), tags, audio_and_data, client->stream_id());
}

// --- 7. end of stream -----------------------------------------------------------------------------

TEST_F(FlvRelaySinkTest, EndOfStreamSendsStreamEofAndUnpublishNotifyAndKeepsThePlayer) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(client->wait_relayed(tags.size()));
  p.end_of_stream();
  ASSERT_TRUE(client->wait_status("NetStream.Play.UnpublishNotify"));
  ASSERT_TRUE(p.wait_message("eos"));
  // StreamEOF (user control 1) for the play stream, then the status, after the last tag.
  const auto messages = client->messages();
  size_t eof = messages.size(), unpublish = messages.size(), last_tag = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].user_control == 1 && messages[i].user_control_value == client->stream_id()) eof = i;
    if (messages[i].status_code == "NetStream.Play.UnpublishNotify") unpublish = i;
    if (messages[i].is_relayed()) last_tag = i;
  }
  ASSERT_LT(eof, messages.size()) << "no StreamEOF";
  EXPECT_LT(last_tag, eof);
  EXPECT_LT(eof, unpublish);
  EXPECT_FALSE(client->wait_closed(1000ms));  // the player stays for the stream to come back
  EXPECT_EQ(p.stat("rtmp-viewers"), 1);
  EXPECT_TRUE(p.messages_named("rtmp-play-stop").empty());
}

// --- 8. stopping the pipeline from the application's handlers -------------------------------------

// rtmpserversrc ! flvrelaysink on one port; a player, then the ffmpeg publish replayed.
// The player gets the published media (types, payloads, relative timestamps).
void expect_restream_works(uint16_t port) {
  // capff: the stream key the recorded ffmpeg session publishes to.
  const std::string where = "address=127.0.0.1 port=" + std::to_string(port) + " stream-key=capff";
  Pipeline p("rtmpserversrc " + where + " ! flvrelaysink name=sink " + where);
  ASSERT_TRUE(p.play());
  RtmpPlayClient client(port);
  ASSERT_TRUE(client.connect());
  ASSERT_TRUE(client.play("capff"));
  ASSERT_TRUE(client.wait_status("NetStream.Play.Start"));
  const auto source = media_tags(read_flv_tags(read_capture("source.flv")));
  GSocketClient* socket_client = g_socket_client_new();
  GSocketConnection* publisher = g_socket_client_connect_to_host(socket_client, "127.0.0.1", port, nullptr, nullptr);
  g_object_unref(socket_client);
  ASSERT_NE(publisher, nullptr);
  const Bytes capture = read_capture("ffmpeg-publish.c2s.bin");
  gsize written = 0;
  ASSERT_TRUE(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(publisher)),
                                        capture.data(), capture.size(), &written, nullptr, nullptr));
  const bool all = client.wait_until([&](const auto& ms) {
    return size_t(std::count_if(ms.begin(), ms.end(), [](auto& m) { return m.is_media(); })) >= source.size();
  }, 10000ms);
  g_object_unref(publisher);
  ASSERT_TRUE(all);
  std::vector<ReceivedMessage> media;
  for (auto& m : client.relayed())
    if (m.is_media()) media.push_back(m);
  ASSERT_EQ(media.size(), source.size());
  for (size_t i = 0; i < media.size(); ++i) {
    EXPECT_EQ(media[i].type, source[i].type) << i;
    EXPECT_TRUE(media[i].payload == source[i].payload) << i;
    EXPECT_EQ(int64_t(media[i].timestamp) - media[0].timestamp,
              int64_t(source[i].timestamp) - source[0].timestamp) << i;
  }
}

// Fails the test (and ends the process: a deadlocked pipeline cannot be torn down) if `done`
// is not set within 10 s.
class Watchdog {
 public:
  explicit Watchdog(const std::string& what) : what_(what) {
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_for(lock, 10s, [&] { return done_; })) {
        std::fprintf(stderr, "DEADLOCK: %s did not complete within 10 s\n", what_.c_str());
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~Watchdog() {
    finish();
    thread_.join();
  }
  void finish() {
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// What a handler did when it stopped the pipeline.
struct StopFromHandler {
  GstElement* pipeline = nullptr;
  std::atomic<bool> fired{false};
  std::mutex mutex;
  std::condition_variable cv;
  bool finished = false;
  GstStateChangeReturn result = GST_STATE_CHANGE_FAILURE;
  std::string thread_name;

  // Called from the handler: only the first call stops the pipeline.
  void stop() {
    if (fired.exchange(true)) return;
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    const GstStateChangeReturn r = gst_element_set_state(pipeline, GST_STATE_NULL);
    std::lock_guard lock(mutex);
    result = r;
    thread_name = name;
    finished = true;
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return finished; });
  }
};

class StopFromHandlerTest : public FlvRelaySinkTest {
 protected:
  std::string restream() {
    const std::string where = "address=127.0.0.1 port=" + std::to_string(port) + " stream-key=capff";
    return "rtmpserversrc name=src " + where + " ! flvrelaysink name=sink " + where;
  }
  // Starts a publisher (the ffmpeg capture replayed) or a player, whichever triggers the
  // handler; waits for the handler's state change with a watchdog; then checks the state
  // change succeeded, no I/O thread is left and a new pipeline on the port works.
  void run(Pipeline& p, StopFromHandler& stop, bool publish, const char* what) {
    ASSERT_TRUE(no_io_thread_within(std::chrono::milliseconds(500)));  // of earlier tests
    ASSERT_TRUE(p.play());
    EXPECT_EQ(io_thread_count(), 1u);
    std::unique_ptr<RtmpPlayClient> client;
    GSocketConnection* publisher = nullptr;
    {
      Watchdog watchdog(what);
      if (publish) {
        GSocketClient* socket_client = g_socket_client_new();
        publisher = g_socket_client_connect_to_host(socket_client, "127.0.0.1", port, nullptr, nullptr);
        g_object_unref(socket_client);
        ASSERT_NE(publisher, nullptr);
        const Bytes capture = read_capture("ffmpeg-publish.c2s.bin");
        gsize written = 0;
        // The server may close while we write: a failed write is fine.
        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(publisher)), capture.data(),
                                  capture.size(), &written, nullptr, nullptr);
      } else {
        client = std::make_unique<RtmpPlayClient>(port);
        ASSERT_TRUE(client->connect());
        ASSERT_TRUE(client->play("capff"));
      }
      ASSERT_TRUE(stop.wait(10s)) << what << ": the handler never ran or never returned";
      watchdog.finish();
    }
    EXPECT_NE(stop.result, GST_STATE_CHANGE_FAILURE) << what;
    EXPECT_EQ(stop.result, GST_STATE_CHANGE_SUCCESS) << what;
    EXPECT_EQ(stop.thread_name.rfind("rtmp-io-", 0), std::string::npos)
        << what << " ran on the I/O thread " << stop.thread_name;
    GstState state = GST_STATE_VOID_PENDING;
    gst_element_get_state(p.pipeline_, &state, nullptr, 0);
    EXPECT_EQ(state, GST_STATE_NULL);
    EXPECT_TRUE(no_io_thread_within(std::chrono::milliseconds(500))) << what;
    if (client) {
      EXPECT_TRUE(client->wait_closed());
    }
    if (publisher) g_object_unref(publisher);
    client.reset();
    expect_restream_works(port);
    EXPECT_TRUE(no_io_thread_within(std::chrono::milliseconds(500)));
  }
};

TEST_F(StopFromHandlerTest, AuthorizePublishHandlerStopsThePipelineAndRefuses) {
  Pipeline p(restream());
  StopFromHandler stop;
  stop.pipeline = p.pipeline_;
  g_signal_connect(p.get("src"), "authorize-publish",
                   G_CALLBACK(+[](GstElement*, const char*, const char*, const char*, const char*,
                                  StopFromHandler* s) -> gboolean {
                     s->stop();
                     return FALSE;
                   }),
                   &stop);
  run(p, stop, /*publish=*/true, "set_state(NULL) from authorize-publish");
}

TEST_F(StopFromHandlerTest, AuthorizePlayHandlerStopsThePipelineAndRefuses) {
  Pipeline p(restream());
  StopFromHandler stop;
  stop.pipeline = p.pipeline_;
  g_signal_connect(p.get("sink"), "authorize-play",
                   G_CALLBACK(+[](GstElement*, const char*, const char*, const char*, const char*,
                                  StopFromHandler* s) -> gboolean {
                     s->stop();
                     return FALSE;
                   }),
                   &stop);
  run(p, stop, /*publish=*/false, "set_state(NULL) from authorize-play");
}

GstBusSyncReply stop_on_start_message(GstBus*, GstMessage* message, gpointer data) {
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ELEMENT) {
    const GstStructure* s = gst_message_get_structure(message);
    if (gst_structure_has_name(s, "rtmp-publish-start") || gst_structure_has_name(s, "rtmp-play-start"))
      static_cast<StopFromHandler*>(data)->stop();
  }
  return GST_BUS_PASS;
}

TEST_F(StopFromHandlerTest, BusSyncHandlerStopsThePipelineOnPublishStart) {
  Pipeline p(restream());
  StopFromHandler stop;
  stop.pipeline = p.pipeline_;
  gst_bus_set_sync_handler(p.bus_, stop_on_start_message, &stop, nullptr);
  run(p, stop, /*publish=*/true, "set_state(NULL) from a bus sync handler on rtmp-publish-start");
  gst_bus_set_sync_handler(p.bus_, nullptr, nullptr, nullptr);
}

TEST_F(StopFromHandlerTest, BusSyncHandlerStopsThePipelineOnPlayStart) {
  Pipeline p(restream());
  StopFromHandler stop;
  stop.pipeline = p.pipeline_;
  gst_bus_set_sync_handler(p.bus_, stop_on_start_message, &stop, nullptr);
  run(p, stop, /*publish=*/false, "set_state(NULL) from a bus sync handler on rtmp-play-start");
  gst_bus_set_sync_handler(p.bus_, nullptr, nullptr, nullptr);
}

// --- 9. stats --------------------------------------------------------------------------------------

// rtmpserversrc reads a publisher's media in batches of `read-interval` while nobody waits for
// it in real time (HLS only), and at most every 20 ms while a relay viewer plays it. With
// read-interval=1000 and a publisher sending a piece every 40 ms, what reaches the pipeline
// comes in about one burst a second without a viewer, and piece by piece with one.
TEST_F(FlvRelaySinkTest, PublisherIsReadPromptlyOnlyWhileAViewerWaits) {
  // The relay on a port of its own: the first element on a port sets its read interval, and
  // the demand of a viewer counts for every listener of the process.
  const uint16_t play_port = free_port();
  Pipeline p("rtmpserversrc read-interval=1000 address=127.0.0.1 stream-key=capff port=" + std::to_string(port) +
             " ! tee name=t ! queue ! flvrelaysink name=sink address=127.0.0.1 stream-key=capff port=" +
             std::to_string(play_port) + " t. ! queue ! appsink name=arrivals sync=false");
  ASSERT_TRUE(p.play());
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::mutex arrivals_lock;
  std::vector<double> arrivals;  // seconds since start, one per buffer out of rtmpserversrc
  std::atomic<bool> done{false};
  std::thread puller([&] {
    while (!done) {
      GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(p.get("arrivals")), 20 * GST_MSECOND);
      if (!sample) continue;
      gst_sample_unref(sample);
      std::lock_guard lock(arrivals_lock);
      arrivals.push_back(since_start());
    }
  });

  // The recorded ffmpeg publish, 150 pieces 40 ms apart (6 s); a viewer plays from 2 s to 4 s.
  GSocketClient* socket_client = g_socket_client_new();
  GSocketConnection* publisher = g_socket_client_connect_to_host(socket_client, "127.0.0.1", port, nullptr, nullptr);
  g_object_unref(socket_client);
  ASSERT_NE(publisher, nullptr);
  const Bytes capture = read_capture("ffmpeg-publish.c2s.bin");
  GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(publisher));
  const size_t pieces = 150, piece = capture.size() / pieces + 1;
  std::unique_ptr<RtmpPlayClient> viewer;
  double viewer_from = 0, viewer_until = 0;
  for (size_t i = 0; i < pieces; ++i) {
    const size_t at = i * piece, end = std::min(capture.size(), at + piece);
    if (at < end) {
      gsize written = 0;
      ASSERT_TRUE(g_output_stream_write_all(out, capture.data() + at, end - at, &written, nullptr, nullptr));
    }
    if (i == 50) {
      viewer = std::make_unique<RtmpPlayClient>(play_port);
      ASSERT_TRUE(viewer->connect());
      ASSERT_TRUE(viewer->play("capff"));
      ASSERT_TRUE(viewer->wait_status("NetStream.Play.Start"));
      viewer_from = since_start();
    } else if (i == 100) {
      EXPECT_TRUE(viewer->wait_until([](const auto& ms) {
        return std::any_of(ms.begin(), ms.end(), [](auto& m) { return m.is_media(); });
      }, 2000ms)) << "the viewer got no media";
      viewer.reset();  // closes its connection
      viewer_until = since_start();
    }
    std::this_thread::sleep_until(start + (i + 1) * 40ms);
  }
  const double sent_until = since_start();
  std::this_thread::sleep_for(1200ms);  // the last batch
  done = true;
  puller.join();
  g_object_unref(publisher);

  // Bursts (arrivals less than 15 ms after the previous one belong to its burst) in the last
  // second of each phase, after the interval in use when the phase began is over.
  auto bursts_between = [&](double from, double to) {
    int count = 0;
    double previous = -1;
    for (double at : arrivals) {
      if (at >= from && at < to && (previous < 0 || at - previous > 0.015)) ++count;
      previous = at;
    }
    return count;
  };
  ASSERT_GT(arrivals.size(), 100u) << "most of the published tags came out";
  const int before = bursts_between(viewer_from - 1.0, viewer_from);
  const int during = bursts_between(viewer_until - 1.0, viewer_until);
  const int after = bursts_between(sent_until - 1.0, sent_until);
  EXPECT_LE(before, 2) << "without a viewer the publisher should be read once a second";
  EXPECT_GE(during, 8) << "with a viewer the publisher should be read at least every 20 ms";
  EXPECT_LE(after, 2) << "after the viewer left the publisher should be read once a second again";
}

// video-write-delay: video waits too, so a viewer gets the stream in fewer, larger writes
// (bursts of messages that arrive together), each message at most that much later; by default
// every video message goes out at once.
TEST_F(FlvRelaySinkTest, VideoWriteDelayGroupsMessagesIntoFewerWrites) {
  using Clock = std::chrono::steady_clock;
  struct Outcome {
    int bursts = 0;
    double most_late_ms = 0;
  };
  // Tags 3..123 (video and audio) pushed 20 ms apart (2.4 s) to one player.
  auto play_with = [&](const std::string& props) {
    Outcome outcome;
    port = free_port();
    Pipeline p(relay(props));
    EXPECT_TRUE(p.play());
    auto client = player();
    p.push_header();
    p.push_tags(tags, 0, 3);
    EXPECT_TRUE(client->wait_relayed(3));
    std::vector<Clock::time_point> pushed_at(tags.size());
    const auto start = Clock::now();
    for (size_t i = 3; i < 123; ++i) {
      std::this_thread::sleep_until(start + (i - 3) * 20ms);
      pushed_at[i] = Clock::now();
      p.push_tags(tags, i, i + 1);
    }
    EXPECT_TRUE(client->wait_relayed(123, 3000ms));
    const auto got = client->relayed();
    expect_tags(got, tags, range(0, 123), client->stream_id());
    if (got.size() != 123) return outcome;
    Clock::time_point previous{};
    for (size_t i = 3; i < got.size(); ++i) {
      // A burst: messages that arrive less than 10 ms after the previous one.
      if (i == 3 || got[i].arrived_at - previous > 10ms) ++outcome.bursts;
      previous = got[i].arrived_at;
      outcome.most_late_ms = std::max(
          outcome.most_late_ms, std::chrono::duration<double, std::milli>(got[i].arrived_at - pushed_at[i]).count());
    }
    return outcome;
  };
  const Outcome at_once = play_with("");
  const Outcome delayed = play_with("video-write-delay=200");
  std::printf("writes (bursts) at once: %d, latest %.1f ms; video-write-delay=200: %d, latest %.1f ms\n",
              at_once.bursts, at_once.most_late_ms, delayed.bursts, delayed.most_late_ms);
  // 120 messages over 2.4 s: about one write each at once; one per 200 ms (12) held.
  EXPECT_GE(at_once.bursts, 40) << "by default video (and what waited for it) goes out at once";
  EXPECT_LT(at_once.most_late_ms, 120);
  EXPECT_LE(delayed.bursts, 18) << "with video-write-delay=200 about 12 writes in 2.4 s";
  EXPECT_GE(delayed.most_late_ms, 120) << "messages were held";
  EXPECT_LT(delayed.most_late_ms, 200 + 150) << "but not much longer than the delay";
}

// A held message is not late: a delay above max-viewer-lag and at viewer-timeout neither skips
// nor disconnects a viewer that reads.
TEST_F(FlvRelaySinkTest, VideoWriteDelayIsNotLagForAReadingViewer) {
  Pipeline p(relay("video-write-delay=1000 max-viewer-lag=100 viewer-timeout=1000"));
  ASSERT_TRUE(p.play());
  auto client = player();
  p.push_header();
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < 123; ++i) {
    std::this_thread::sleep_until(start + i * 20ms);
    p.push_tags(tags, i, i + 1);
  }
  ASSERT_TRUE(client->wait_relayed(123, 3000ms));
  expect_tags(client->relayed(), tags, range(0, 123), client->stream_id());
  EXPECT_EQ(p.stat("lag-skips"), 0);
  EXPECT_EQ(p.stat("lag-disconnects"), 0);
  EXPECT_EQ(p.stat("rtmp-viewers"), 1);
}

TEST_F(FlvRelaySinkTest, StatsCountViewersAndBytes) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  for (const char* field : {"rtmp-viewers", "http-flv-viewers", "viewers-total", "viewers-refused",
                            "lag-disconnects", "lag-skips", "messages-in", "bytes-out",
                            "dropped-messages", "gop-cache-bytes", "gop-cache-frames", "parse-errors"})
    EXPECT_EQ(p.stat(field), 0) << field;
  {
    GstStructure* stats = nullptr;
    g_object_get(p.get("sink"), "stats", &stats, nullptr);
    ASSERT_NE(stats, nullptr);
    EXPECT_TRUE(gst_structure_has_name(stats, "flv-relay-sink-stats"));
    EXPECT_TRUE(gst_structure_has_field(stats, "push-targets"));
    gst_structure_free(stats);
  }
  auto one = player();
  auto two = player();
  EXPECT_EQ(p.stat_soon("rtmp-viewers", 2), 2);
  EXPECT_EQ(p.stat_soon("viewers-total", 2), 2);
  p.push_header();
  p.push_tags(tags, 0, 100);
  ASSERT_TRUE(one->wait_relayed(100));
  ASSERT_TRUE(two->wait_relayed(100));
  ASSERT_TRUE(p.wait_stat("messages-in", 100));
  const int64_t half = p.stat("bytes-out");
  p.push_tags(tags, 100, tags.size());
  ASSERT_TRUE(one->wait_relayed(tags.size()));
  ASSERT_TRUE(two->wait_relayed(tags.size()));
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  std::this_thread::sleep_for(100ms);
  const int64_t all = p.stat("bytes-out");
  EXPECT_GT(all, half);
  EXPECT_LE(all, int64_t(one->bytes_received() + two->bytes_received()));
  size_t payload_bytes = 0;
  for (auto& t : tags) payload_bytes += t.payload.size();
  EXPECT_GE(all, int64_t(2 * payload_bytes));
  EXPECT_EQ(p.stat("gop-cache-frames"), int64_t(tags.size() - 137));

  // A viewer that leaves: closeStream ends its play; the count goes down, the bytes stay.
  ASSERT_TRUE(two->close_stream());
  ASSERT_TRUE(two->wait_closed());
  ASSERT_TRUE(p.wait_message("rtmp-play-stop"));
  EXPECT_EQ(p.stat_soon("rtmp-viewers", 1), 1);
  EXPECT_EQ(p.stat("viewers-total"), 2);
  EXPECT_GE(p.stat("bytes-out"), all);
  EXPECT_EQ(p.stat("lag-skips"), 0);
  EXPECT_EQ(p.stat("lag-disconnects"), 0);
}

// --- 10. more of what viewers see ----------------------------------------------------------------

// Timestamps past 0xFFFFFF ms (4.6 hours: extended timestamps in RTMP, the extension byte in
// FLV) and a small chunk size (every tag in many chunks) reach RTMP and HTTP-FLV viewers exact.
TEST_F(FlvRelaySinkTest, ExtendedTimestampsAndSmallChunksArriveExact) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("chunk-size=128 http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  std::vector<Tag> late = tags;
  for (auto& t : late) t.timestamp += 0xFFFFFF - 1500;  // crosses the boundary 1.5 s in
  auto client = player();
  RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(get.wait_for("FLV"));
  ASSERT_EQ(p.stat_soon("http-flv-viewers", 1), 1);
  p.push_header();
  p.push_tags(late, 0, late.size());
  ASSERT_TRUE(client->wait_relayed(late.size()));
  expect_tags(client->relayed(), late, range(0, late.size()), client->stream_id());
  p.end_of_stream();
  ASSERT_TRUE(get.wait_closed());
  bool complete = false;
  const auto got = read_flv_tags(dechunk(split_response(get.received()).body, complete));
  EXPECT_TRUE(complete);
  ASSERT_EQ(got.size(), late.size());
  for (size_t i = 0; i < late.size(); ++i) {
    EXPECT_EQ(got[i].timestamp, late[i].timestamp) << i;
    EXPECT_TRUE(got[i].payload == late[i].payload) << i;
  }
}

// A late HTTP-FLV viewer gets the GOP cache like an RTMP player, after a file header that
// names the audio and video the stream carries.
TEST_F(FlvRelaySinkTest, LateHttpFlvViewerStartsAtTheLastKeyframe) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  p.push_header();
  p.push_tags(tags, 0, 101);
  ASSERT_TRUE(p.wait_stat("messages-in", 101));
  RawHttpClient get(http_port, "GET /live/show.flv?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(get.wait_for("FLV"));
  p.push_tags(tags, 101, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  p.end_of_stream();
  ASSERT_TRUE(get.wait_closed());
  bool complete = false;
  const Bytes flv = dechunk(split_response(get.received()).body, complete);
  EXPECT_TRUE(complete);
  ASSERT_GE(flv.size(), 13u);
  EXPECT_EQ(flv[4], 0x05);  // audio and video
  const auto got = read_flv_tags(flv);
  const auto want = join({0, 1, 2}, range(69, tags.size()));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].type, tags[want[i]].type) << i;
    EXPECT_EQ(got[i].timestamp, tags[want[i]].timestamp) << i;
    EXPECT_TRUE(got[i].payload == tags[want[i]].payload) << i;
  }
}

TEST_F(FlvRelaySinkTest, ViewersBeyondMaxViewersAreRefused) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("max-viewers=1 http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  auto first = player();
  RtmpPlayClient second(port);
  ASSERT_TRUE(second.connect());
  ASSERT_TRUE(second.play("show"));
  EXPECT_TRUE(second.wait_status("NetStream.Play.Failed"));
  EXPECT_TRUE(second.wait_closed());
  EXPECT_FALSE(second.has_status("NetStream.Play.Start"));
  RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(get.wait_closed());
  const auto r = split_response(get.received());
  EXPECT_TRUE(g_str_has_prefix(r.head.c_str(), "HTTP/1.1 503")) << r.head;
  EXPECT_EQ(p.stat("viewers-refused"), 2);
  EXPECT_EQ(p.stat("rtmp-viewers"), 1);
  EXPECT_EQ(p.stat("http-flv-viewers"), 0);
  // The first viewer plays on undisturbed.
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(first->wait_relayed(tags.size()));
  expect_tags(first->relayed(), tags, range(0, tags.size()), first->stream_id());
}

// Stopping the element ends its viewers (told, then closed); started again it serves anew.
TEST_F(FlvRelaySinkTest, StoppingEndsTheViewersAndARestartServesAgain) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  auto client = player();
  RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(get.wait_for("FLV"));
  p.push_header();
  p.push_tags(tags, 0, 50);
  ASSERT_TRUE(client->wait_relayed(50));
  ASSERT_EQ(gst_element_set_state(p.pipeline_, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  EXPECT_TRUE(client->wait_closed());
  EXPECT_TRUE(client->has_status("NetStream.Play.UnpublishNotify"));
  EXPECT_TRUE(get.wait_closed());
  EXPECT_TRUE(no_io_thread_within(500ms));
  ASSERT_TRUE(p.wait_message("rtmp-play-stop", 2));
  for (GstStructure* stop : p.messages_named("rtmp-play-stop"))
    EXPECT_NE(std::string(gst_structure_get_string(stop, "reason")).find("stopped"), std::string::npos)
        << gst_structure_get_string(stop, "reason");

  ASSERT_TRUE(p.play());
  auto again = player();
  p.push_header();
  p.push_tags(tags, 0, tags.size());
  ASSERT_TRUE(again->wait_relayed(tags.size()));
  expect_tags(again->relayed(), tags, range(0, tags.size()), again->stream_id());
  EXPECT_EQ(p.stat("viewers-total"), 1);  // counted anew
}

// Data after an end of stream (after a flush, as a seek in a file does; GstHarness plays the
// upstream): the players that stayed hear the stream is back, and get it.
TEST_F(FlvRelaySinkTest, DataAfterEndOfStreamIsAnnouncedWithPublishNotify) {
  GstHarness* h = gst_harness_new_parse(
      ("flvrelaysink address=127.0.0.1 stream-key=show port=" + std::to_string(port)).c_str());
  gst_harness_set_src_caps_str(h, "video/x-flv");
  auto client = player();
  auto push = [&](const Bytes& bytes) {
    EXPECT_EQ(gst_harness_push(h, gst_buffer_new_memdup(bytes.data(), bytes.size())), GST_FLOW_OK);
  };
  push(kFlvHeader);
  for (size_t i = 0; i < 50; ++i) push(tag_bytes(tags[i]));
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  ASSERT_TRUE(client->wait_status("NetStream.Play.UnpublishNotify"));
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  push(kFlvHeader);
  for (auto& t : tags) push(tag_bytes(t));
  EXPECT_TRUE(client->wait_relayed(50 + tags.size()));
  const auto labels = labels_from(client->messages(), "status:NetStream.Play.UnpublishNotify");
  gst_harness_teardown(h);
  ASSERT_GE(labels.size(), 4u);
  EXPECT_EQ(labels[1], "user:0");  // StreamBegin
  EXPECT_EQ(labels[2], "status:NetStream.Play.PublishNotify");
  EXPECT_EQ(labels[3], "data:onMetaData");
  auto relayed = client->relayed();
  ASSERT_GE(relayed.size(), 50u);
  relayed.erase(relayed.begin(), relayed.begin() + 50);
  expect_tags(relayed, tags, range(0, tags.size()), client->stream_id());
}

// Audio only: a late viewer gets the configuration and about the last second of audio.
TEST_F(FlvRelaySinkTest, AudioOnlyLateViewerGetsTheLastSecondOfAudio) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  std::vector<Tag> audio;
  for (auto& t : tags)
    if (t.type != 9) audio.push_back(t);
  ASSERT_GT(audio.back().timestamp, 2500u);
  const size_t half = audio.size() * 2 / 3;
  p.push_header();
  p.push_tags(audio, 0, half);
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(half)));
  auto client = player();
  p.push_tags(audio, half, audio.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(audio.size())));
  client->wait_relayed(audio.size(), 500ms);
  const auto got = client->relayed();
  // onMetaData, the AAC sequence header, then audio frames ending at the live edge of the
  // join, covering at most a second, then everything live.
  ASSERT_GE(got.size(), 4u);
  expect_tags(std::vector<ReceivedMessage>(got.begin(), got.begin() + 2), audio, {0, 1}, client->stream_id());
  const size_t cached = got.size() - 2 - (audio.size() - half);
  ASSERT_GT(cached, 0u);
  const auto want = join({0, 1}, range(half - cached, audio.size()));
  expect_tags(got, audio, want, client->stream_id());
  EXPECT_LE(audio[half - 1].timestamp - audio[half - cached].timestamp, 1000u);
  EXPECT_GT(audio[half - 1].timestamp - audio[half - cached - 1].timestamp, 1000u) << "less than a second cached";
}

TEST_F(FlvRelaySinkTest, ReceiveVideoTrueAgainResumesAtAKeyframe) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  ASSERT_TRUE(client->receive_video(false));
  ASSERT_TRUE(client->sync());
  p.push_header();
  p.push_tags(tags, 0, 101);
  ASSERT_TRUE(p.wait_stat("messages-in", 101));
  ASSERT_TRUE(client->receive_video(true));
  ASSERT_TRUE(client->sync());
  p.push_tags(tags, 101, tags.size());
  ASSERT_TRUE(p.wait_stat("messages-in", int64_t(tags.size())));
  client->wait_relayed(1000, 500ms);
  std::vector<size_t> want;
  for (size_t i = 0; i < 101; ++i)
    if (tags[i].type != 9) want.push_back(i);
  want = join(want, range(137, tags.size()));  // from the next keyframe on, audio too
  expect_tags(client->relayed(), tags, want, client->stream_id());
}

// Five seconds without any message: players get StreamDry (user control 2).
TEST_F(FlvRelaySinkTest, StreamDryAfterFiveSecondsWithoutData) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto client = player();
  p.push_header();
  p.push_tags(tags, 0, 20);
  ASSERT_TRUE(client->wait_relayed(20));
  const auto quiet_since = std::chrono::steady_clock::now();
  auto dry = [&](const std::vector<ReceivedMessage>& ms) {
    return std::any_of(ms.begin(), ms.end(), [&](auto& m) {
      return m.user_control == 2 && m.user_control_value == client->stream_id();
    });
  };
  EXPECT_FALSE(client->wait_until(dry, 4500ms));
  ASSERT_TRUE(client->wait_until(dry, 2500ms));
  EXPECT_GE(std::chrono::steady_clock::now() - quiet_since, 5000ms);
  EXPECT_FALSE(client->closed());
}

// Every viewer that started gets its rtmp-play-stop when the element stops, even when the
// application's handlers are slow (here a bus sync handler that takes 300 ms per start).
GstBusSyncReply slow_on_play_start(GstBus*, GstMessage* message, gpointer) {
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ELEMENT &&
      gst_structure_has_name(gst_message_get_structure(message), "rtmp-play-start"))
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return GST_BUS_PASS;
}

TEST_F(FlvRelaySinkTest, EveryStartedViewerGetsAStopMessageWhenTheElementStops) {
  Pipeline p(relay(""));
  gst_bus_set_sync_handler(p.bus_, slow_on_play_start, nullptr, nullptr);
  ASSERT_TRUE(p.play());
  auto one = player();
  auto two = player();
  ASSERT_EQ(p.stat_soon("rtmp-viewers", 2), 2);
  // READY (NULL would flush the bus): the element stops serving.
  ASSERT_EQ(gst_element_set_state(p.pipeline_, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  EXPECT_TRUE(one->wait_closed());
  EXPECT_TRUE(two->wait_closed());
  // The slow handler (300 ms per start) lets both starts and then both stops through.
  EXPECT_TRUE(p.wait_message("rtmp-play-stop", 2)) << p.messages_named("rtmp-play-stop").size() << " stop(s)";
  EXPECT_EQ(p.messages_named("rtmp-play-start").size(), 2u);
  EXPECT_EQ(p.messages_named("rtmp-play-stop").size(), 2u);
  gst_bus_set_sync_handler(p.bus_, nullptr, nullptr, nullptr);
}

// Players on different message streams (one created a stream before the one it plays) and one
// that goes away abruptly in the middle: each remaining one gets the stream on its own id.
TEST_F(FlvRelaySinkTest, PlayersOnOtherStreamIdsAndOneThatVanishes) {
  Pipeline p(relay(""));
  ASSERT_TRUE(p.play());
  auto first = player();
  auto second = std::make_unique<RtmpPlayClient>(port);
  ASSERT_TRUE(second->connect("live", 5000ms, /*streams=*/3));
  ASSERT_EQ(second->stream_id(), 3u);
  ASSERT_TRUE(second->play("show"));
  ASSERT_TRUE(second->wait_status("NetStream.Play.Start"));
  auto leaving = player();
  p.push_header();
  p.push_tags(tags, 0, 100);
  ASSERT_TRUE(leaving->wait_relayed(20));
  leaving.reset();  // closes its socket in the middle of the stream
  p.push_tags(tags, 100, tags.size());
  ASSERT_TRUE(first->wait_relayed(tags.size()));
  ASSERT_TRUE(second->wait_relayed(tags.size()));
  std::this_thread::sleep_for(200ms);
  expect_tags(first->relayed(), tags, range(0, tags.size()), first->stream_id());
  expect_tags(second->relayed(), tags, range(0, tags.size()), 3);
  ASSERT_TRUE(p.wait_message("rtmp-play-stop"));
  EXPECT_EQ(p.stat_soon("rtmp-viewers", 2), 2);
}

// RTMPS players (the TLS write path): large frames arrive whole and in order.
TEST_F(FlvRelaySinkTest, RtmpsPlayersGetEveryMessage) {
  gchar* dir = g_dir_make_tmp("flvrelaysink-tls-XXXXXX", nullptr);
  ASSERT_NE(dir, nullptr);
  const std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                          cert + " -subj /CN=localhost -days 2 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl must be installed";
  {
    // Lag rules out of the way (a loaded machine encrypts slowly): this is about the bytes.
    Pipeline p(relay("max-viewer-lag=60000 viewer-timeout=60000 tls-certificate=" + cert + " tls-key=" + key));
    ASSERT_TRUE(p.play());
    std::vector<std::unique_ptr<RtmpPlayClient>> players;
    for (int i = 0; i < 2; ++i) {
      players.push_back(std::make_unique<RtmpPlayClient>(port, 0, /*tls=*/true));
      ASSERT_TRUE(players.back()->connect());
      ASSERT_TRUE(players.back()->play("show"));
      ASSERT_TRUE(players.back()->wait_status("NetStream.Play.Start"));
    }
    // source.flv, then 40 frames of 300 KB (more than one TLS record and one write each; 12 MB
    // in all, below the 16 MiB a viewer may have queued).
    std::vector<Tag> stream = tags;
    for (size_t n = 0; n < 40; ++n) {
      Bytes payload(300 * 1024, uint8_t(n * 13));
      payload[0] = n % 25 == 0 ? 0x17 : 0x27;
      payload[1] = 1;
      payload[5] = uint8_t(n);
      stream.push_back(Tag{9, false, uint32_t(3000 + n * 40), 0, std::move(payload)});
    }
    p.push_header();
    p.push_tags(stream, 0, stream.size());
    for (auto& player : players) {
      ASSERT_TRUE(player->wait_relayed(stream.size(), 20000ms)) << "lag-skips " << p.stat("lag-skips");
      expect_tags(player->relayed(), stream, range(0, stream.size()), player->stream_id());
    }
    EXPECT_EQ(p.stat("lag-skips"), 0);
  }
  std::filesystem::remove_all(dir);
  g_free(dir);
}

// An HTTP-FLV viewer that goes away in the middle is noticed: it leaves the count, its
// rtmp-play-stop comes, and an RTMP player goes on.
TEST_F(FlvRelaySinkTest, HttpFlvViewerLeavingInTheMiddleIsNoticed) {
  const uint16_t http_port = free_port();
  Pipeline p(relay("http-address=127.0.0.1 http-port=" + std::to_string(http_port)));
  ASSERT_TRUE(p.play());
  auto rtmp = player();
  {
    RawHttpClient get(http_port, "GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(get.wait_for("FLV"));
    p.push_header();
    p.push_tags(tags, 0, 100);
    ASSERT_TRUE(rtmp->wait_relayed(100));
    EXPECT_EQ(p.stat_soon("http-flv-viewers", 1), 1);
  }
  ASSERT_TRUE(p.wait_message("rtmp-play-stop"));
  GstStructure* stop = p.messages_named("rtmp-play-stop")[0];
  EXPECT_STREQ(gst_structure_get_string(stop, "protocol"), "http-flv");
  EXPECT_EQ(p.stat_soon("http-flv-viewers", 0), 0);
  p.push_tags(tags, 100, tags.size());
  ASSERT_TRUE(rtmp->wait_relayed(tags.size()));
  expect_tags(rtmp->relayed(), tags, range(0, tags.size()), rtmp->stream_id());
}

}  // namespace
