// rtmp_load_client: the publisher and the viewers of the RTMP fan-out benchmark
// (tests/bench/relay_bench.py). Loopback only, one process, no GStreamer.
//
//   rtmp_load_client publish --port P [--key bench] [--kbps 2700] [--gop-ms 2000] [--duration S]
//   rtmp_load_client play --port P [--key bench] --viewers N [--ramp-per-s R] [--duration S]
//                         [--warmup S] [--http --http-port H] [--json FILE]
//
// publish: one RTMP publisher (handshake, connect, releaseStream, FCPublish, createStream,
// publish, @setDataFrame onMetaData) of a synthetic H.264 + AAC stream paced in real time:
// an AVC and an AAC sequence header, then video at 30 fps with a keyframe every --gop-ms
// (keyframes 8x a delta frame) and AAC at 44100/1024 (~43) frames/s, sized to --kbps of
// payload. 4096-byte chunks, one write per message.
//
// Every audio and video frame carries a probe (16 bytes) at a fixed offset of its FLV payload:
//   video (AVC NALU, 0x17/0x27 01 000000): [5..8] NALU length, [9] NAL header (0x65 IDR /
//         0x41 slice), probe at [10..25]
//   audio (AAC raw, 0xAF 01):              probe at [2..17]
//   probe: "LVBP", send time (CLOCK_MONOTONIC, microseconds, big-endian 64 bits, taken just
//          before the write), sequence number (big-endian 32 bits, video and audio counted
//          separately from 0; sequence headers carry none).
// CLOCK_MONOTONIC is one clock for every process of the machine, so a viewer's latency is its
// arrival time minus the send time in the payload.
//
// play: N viewers in one epoll loop, started at --ramp-per-s. RTMP viewers do the handshake,
// connect, Window Ack Size, createStream, play + SetBufferLength, and send an Acknowledgement
// per window the server announces and a ping response per ping request. HTTP-FLV viewers GET
// http://127.0.0.1:H/APP/KEY.flv and read the FLV tags (chunked or plain body). Per frame:
// latency (arrival - send time) in the window [--warmup, --duration) for live frames only (a
// frame sent before the viewer's play request is a GOP cache replay and is counted apart);
// sequence gaps; per viewer the time to first frame (first video frame arrival - play request)
// and whether that frame was a keyframe. Prints one JSON object at the end (also to --json).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "rtmp/handshake.h"

namespace {

using namespace live;
using namespace live::rtmp;

// ---------------------------------------------------------------------------------------------
// Clocks, signals

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

double own_cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

// ---------------------------------------------------------------------------------------------
// The probe in every media payload

constexpr uint8_t kProbeMagic[4] = {'L', 'V', 'B', 'P'};
constexpr size_t kProbeSize = 16;
constexpr size_t kVideoProbeOffset = 10;
constexpr size_t kAudioProbeOffset = 2;
// Bytes of each media payload a viewer keeps: the FLV header bytes and the probe.
constexpr size_t kPrefixBytes = kVideoProbeOffset + kProbeSize;

void write_probe(uint8_t* p, int64_t send_us, uint32_t seq) {
  memcpy(p, kProbeMagic, 4);
  store_be64(p + 4, uint64_t(send_us));
  store_be32(p + 12, seq);
}

bool read_probe(const uint8_t* p, int64_t& send_us, uint32_t& seq) {
  if (memcmp(p, kProbeMagic, 4) != 0) return false;
  send_us = int64_t(load_be64(p + 4));
  seq = load_be32(p + 12);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: 10 us buckets below 1 s, 1 ms buckets up to 600 s, one overflow bucket.
// Exported as [lower edge us, count] pairs so relay_bench.py can merge several clients exactly.

class LatencyHistogram {
 public:
  static constexpr int64_t kFineStepUs = 10;
  static constexpr int64_t kFineLimitUs = 1'000'000;
  static constexpr int64_t kCoarseStepUs = 1000;
  static constexpr int64_t kCoarseLimitUs = 600'000'000;
  static constexpr size_t kFineBuckets = kFineLimitUs / kFineStepUs;
  static constexpr size_t kBuckets = kFineBuckets + (kCoarseLimitUs - kFineLimitUs) / kCoarseStepUs + 1;

  void add(int64_t us) {
    us = std::max<int64_t>(us, 0);
    size_t i = us < kFineLimitUs ? size_t(us / kFineStepUs)
               : us < kCoarseLimitUs ? kFineBuckets + size_t((us - kFineLimitUs) / kCoarseStepUs)
                                     : kBuckets - 1;
    ++buckets_[i];
    ++count_;
    max_us_ = std::max(max_us_, us);
  }
  uint64_t count() const { return count_; }
  int64_t max_us() const { return max_us_; }

  // The middle of the bucket that holds the q-quantile.
  double percentile_ms(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = uint64_t(std::ceil(q * double(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return double(lower_edge(i) + step(i) / 2) / 1000.0;
    }
    return double(max_us_) / 1000.0;
  }

  std::string pairs_json() const {
    std::string out = "[";
    for (size_t i = 0; i < kBuckets; ++i) {
      if (!buckets_[i]) continue;
      if (out.size() > 1) out += ",";
      out += "[" + std::to_string(lower_edge(i)) + "," + std::to_string(buckets_[i]) + "]";
    }
    return out + "]";
  }

 private:
  static int64_t lower_edge(size_t i) {
    return i < kFineBuckets ? int64_t(i) * kFineStepUs : kFineLimitUs + int64_t(i - kFineBuckets) * kCoarseStepUs;
  }
  static int64_t step(size_t i) { return i < kFineBuckets ? kFineStepUs : kCoarseStepUs; }

  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0;
  int64_t max_us_ = 0;
};

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (uint8_t(c) < 0x20) c = ' ';
    out += c;
  }
  return out;
}

std::string fmt_double(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string mode;
  int port = 0;
  std::string app = "live";
  std::string key = "bench";
  int kbps = 2700;
  int audio_kbps = -1;  // -1: 128 for streams of 1 Mbit/s and more, else 64
  int gop_ms = 2000;
  double duration_s = 30;  // publish: 0 = until SIGTERM
  int viewers = 10;
  double ramp_per_s = 200;  // 0: all at once
  double warmup_s = 5;
  double start_timeout_s = 15;  // a viewer without a first frame by then is counted as failed
  bool http = false;
  int http_port = 0;
  std::string http_path;  // default /APP/KEY.flv
  std::string json_path;
};

[[noreturn]] void usage(const char* msg) {
  fprintf(stderr,
          "%s\nusage: rtmp_load_client publish|play --port P [--app live] [--key bench] [--kbps 2700]\n"
          "  [--audio-kbps K] [--gop-ms 2000] [--duration S] [--viewers N] [--ramp-per-s R] [--warmup S]\n"
          "  [--start-timeout S] [--http --http-port H [--http-path /live/bench.flv]] [--json FILE]\n",
          msg);
  exit(2);
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "publish" && o.mode != "play") usage("mode must be publish or play");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--port") o.port = std::stoi(value());
    else if (a == "--app") o.app = value();
    else if (a == "--key") o.key = value();
    else if (a == "--kbps") o.kbps = std::stoi(value());
    else if (a == "--audio-kbps") o.audio_kbps = std::stoi(value());
    else if (a == "--gop-ms") o.gop_ms = std::stoi(value());
    else if (a == "--duration") o.duration_s = std::stod(value());
    else if (a == "--viewers") o.viewers = std::stoi(value());
    else if (a == "--ramp-per-s") o.ramp_per_s = std::stod(value());
    else if (a == "--warmup") o.warmup_s = std::stod(value());
    else if (a == "--start-timeout") o.start_timeout_s = std::stod(value());
    else if (a == "--http") o.http = true;
    else if (a == "--http-port") o.http_port = std::stoi(value());
    else if (a == "--http-path") o.http_path = value();
    else if (a == "--json") o.json_path = value();
    else usage(("unknown option " + a).c_str());
  }
  if (o.port <= 0 && !(o.mode == "play" && o.http)) usage("--port is required");
  if (o.http && o.http_port <= 0) usage("--http needs --http-port");
  if (o.http_path.empty()) o.http_path = "/" + o.app + "/" + o.key + ".flv";
  if (o.audio_kbps < 0) o.audio_kbps = o.kbps >= 1000 ? 128 : 64;
  if (o.kbps <= o.audio_kbps) usage("--kbps must exceed the audio bitrate");
  if (o.gop_ms < 100 || o.viewers < 1 || o.viewers > 100000) usage("bad --gop-ms or --viewers");
  return o;
}

void emit_json(const Options& o, const std::string& json) {
  printf("%s\n", json.c_str());
  fflush(stdout);
  if (!o.json_path.empty()) {
    if (FILE* f = fopen(o.json_path.c_str(), "w")) {
      fprintf(f, "%s\n", json.c_str());
      fclose(f);
    }
  }
}

void raise_fd_limit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

sockaddr_in loopback(int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

std::string tc_url(const Options& o) { return "rtmp://127.0.0.1:" + std::to_string(o.port) + "/" + o.app; }

// ---------------------------------------------------------------------------------------------
// The synthetic stream

// avcC of a real 1280x720 High profile x264 stream (decoders never run; servers may parse it).
constexpr uint8_t kAvcSequenceHeader[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1f, 0xac,
    0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1,
    0x83, 0x19, 0x60, 0x01, 0x00, 0x04, 0x68, 0xef, 0x8f, 0xcb, 0xfd, 0xf8, 0xf8, 0x00};
// AAC, 44 kHz, 16-bit, stereo; AudioSpecificConfig AAC-LC 44100 Hz stereo.
constexpr uint8_t kAacSequenceHeader[] = {0xaf, 0x00, 0x12, 0x10};
constexpr int kVideoFps = 30;
constexpr int kAudioRate = 44100;
constexpr int kAacFrameSamples = 1024;
constexpr uint32_t kPublishChunkSize = 4096;

struct StreamShape {
  size_t key_bytes, delta_bytes, audio_bytes;
  int frames_per_gop;
};

StreamShape shape_for(const Options& o) {
  StreamShape s;
  s.frames_per_gop = std::max(1, int(std::lround(o.gop_ms * kVideoFps / 1000.0)));
  double gop_video_bytes = (o.kbps - o.audio_kbps) * 1000.0 / 8 * s.frames_per_gop / kVideoFps;
  // A keyframe weighs 8 delta frames.
  double delta = gop_video_bytes / (8 + s.frames_per_gop - 1);
  s.delta_bytes = std::max<size_t>(kVideoProbeOffset + kProbeSize, size_t(delta));
  s.key_bytes = std::max<size_t>(kVideoProbeOffset + kProbeSize, size_t(8 * delta));
  double audio = o.audio_kbps * 1000.0 / 8 * kAacFrameSamples / kAudioRate;
  s.audio_bytes = std::max<size_t>(kAudioProbeOffset + kProbeSize, size_t(audio));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Publisher: blocking socket, one thread

class Publisher {
 public:
  explicit Publisher(const Options& o) : o_(o), shape_(shape_for(o)), writer_(128) {}
  int run();

 private:
  bool fail(const std::string& why) {
    error_ = why;
    return false;
  }
  bool send_all(const std::vector<uint8_t>& bytes);
  bool handshake();
  bool send_command(uint32_t csid, uint32_t stream_id, const Command& c);
  // Reads (up to timeout) until a command the predicate accepts arrives.
  std::optional<Command> wait_command(const std::function<bool(const Command&)>& accept, int timeout_ms);
  bool pump(int timeout_ms);  // reads what is there; false on EOF/error
  bool setup();
  std::string report(double cpu0) const;

  const Options& o_;
  StreamShape shape_;
  int fd_ = -1;
  ChunkWriter writer_;
  ChunkReader reader_;
  std::vector<Message> inbox_;
  std::vector<uint8_t> pending_input_;  // bytes after S2
  uint32_t stream_id_ = 0;
  std::string error_;
  uint64_t video_sent_ = 0, audio_sent_ = 0, bytes_sent_ = 0;
  int64_t max_lag_us_ = 0;
  uint64_t late_50ms_ = 0;
  double wall_s_ = 0;
};

bool Publisher::send_all(const std::vector<uint8_t>& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(std::string("send: ") + strerror(errno));
    off += size_t(n);
  }
  bytes_sent_ += bytes.size();
  return true;
}

bool Publisher::pump(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r <= 0) return r == 0 || errno == EINTR;
  uint8_t buf[16384];
  ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0) return fail("server closed the connection");
  if (n < 0) return errno == EAGAIN || errno == EINTR ? true : fail(std::string("recv: ") + strerror(errno));
  auto fed = reader_.feed(std::span<const uint8_t>(buf, size_t(n)), inbox_);
  if (!fed) return fail("bad chunk stream from server: " + fed.error().describe());
  return true;
}

bool Publisher::handshake() {
  HandshakeInitiator hs(HandshakeMode::plain);
  hs.start();
  if (!send_all(hs.output())) return false;
  hs.output().clear();
  int64_t deadline = now_us() + 10'000'000;
  uint8_t buf[4096];
  while (!hs.done()) {
    if (now_us() > deadline) return fail("handshake timed out");
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return fail("server closed during the handshake");
    auto used = hs.feed(std::span<const uint8_t>(buf, size_t(n)));
    if (!used) return fail("handshake: " + used.error().describe());
    if (!hs.output().empty()) {
      if (!send_all(hs.output())) return false;
      hs.output().clear();
    }
    pending_input_.assign(buf + *used, buf + n);
  }
  if (!pending_input_.empty()) {
    auto fed = reader_.feed(pending_input_, inbox_);
    if (!fed) return fail("bad chunk stream from server: " + fed.error().describe());
  }
  return true;
}

bool Publisher::send_command(uint32_t csid, uint32_t stream_id, const Command& c) {
  std::vector<uint8_t> out;
  writer_.write(csid, 0, uint8_t(MessageType::command_amf0), stream_id, encode_command(c), out);
  return send_all(out);
}

std::optional<Command> Publisher::wait_command(const std::function<bool(const Command&)>& accept, int timeout_ms) {
  int64_t deadline = now_us() + int64_t(timeout_ms) * 1000;
  while (now_us() < deadline) {
    for (size_t i = 0; i < inbox_.size(); ++i) {
      const Message& m = inbox_[i];
      if (m.type != uint8_t(MessageType::command_amf0) && m.type != uint8_t(MessageType::command_amf3)) continue;
      std::span<const uint8_t> body(m.payload);
      if (m.type == uint8_t(MessageType::command_amf3) && !body.empty()) body = body.subspan(1);
      auto c = decode_command(body);
      if (!c) continue;
      if (c->name == "_error" || (c->name == "onStatus" && !c->arguments.empty() &&
                                  c->arguments[0].string_property("level") == "error")) {
        fail("server refused: " + c->name + " " +
             (c->arguments.empty() ? std::string() : c->arguments[0].string_property("code")));
        return std::nullopt;
      }
      if (accept(*c)) {
        inbox_.erase(inbox_.begin(), inbox_.begin() + long(i) + 1);
        return std::move(c.value());
      }
    }
    inbox_.clear();
    if (!pump(100)) return std::nullopt;
  }
  fail("no reply from the server in time");
  return std::nullopt;
}

bool Publisher::setup() {
  sockaddr_in sa = loopback(o_.port);
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return fail(std::string("connect: ") + strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!handshake()) return false;

  std::vector<uint8_t> out;
  writer_.set_chunk_size(kPublishChunkSize, out);
  if (!send_all(out)) return false;
  auto is_result = [](double tx) {
    return [tx](const Command& c) { return c.name == "_result" && c.transaction_id == tx; };
  };
  Command connect{"connect", 1,
                  AmfValue::make_object({{"app", AmfValue::make_string(o_.app)},
                                         {"type", AmfValue::make_string("nonprivate")},
                                         {"flashVer", AmfValue::make_string("FMLE/3.0 (compatible; FMSc/1.0)")},
                                         {"tcUrl", AmfValue::make_string(tc_url(o_))}}),
                  {}};
  if (!send_command(command_chunk_stream, 0, connect) || !wait_command(is_result(1), 10000)) return false;
  auto key = AmfValue::make_string(o_.key);
  if (!send_command(command_chunk_stream, 0, {"releaseStream", 2, AmfValue::make_null(), {key}}) ||
      !send_command(command_chunk_stream, 0, {"FCPublish", 3, AmfValue::make_null(), {key}}) ||
      !send_command(command_chunk_stream, 0, {"createStream", 4, AmfValue::make_null(), {}}))
    return false;
  auto created = wait_command(is_result(4), 10000);
  if (!created) return false;
  if (created->arguments.empty() || created->arguments[0].type != AmfType::number)
    return fail("createStream result without a stream id");
  stream_id_ = uint32_t(created->arguments[0].number);
  if (!send_command(status_chunk_stream, stream_id_,
                    {"publish", 5, AmfValue::make_null(), {key, AmfValue::make_string("live")}}))
    return false;
  auto started = wait_command(
      [](const Command& c) {
        return c.name == "onStatus" && !c.arguments.empty() &&
               c.arguments[0].string_property("code") == "NetStream.Publish.Start";
      },
      10000);
  if (!started) return false;

  double video_kbps = o_.kbps - o_.audio_kbps;
  std::vector<uint8_t> meta;
  amf0_encode(AmfValue::make_string("@setDataFrame"), meta);
  amf0_encode(AmfValue::make_string("onMetaData"), meta);
  amf0_encode(AmfValue::make_ecma_array({{"width", AmfValue::make_number(1280)},
                                          {"height", AmfValue::make_number(720)},
                                          {"framerate", AmfValue::make_number(kVideoFps)},
                                          {"videocodecid", AmfValue::make_number(7)},
                                          {"videodatarate", AmfValue::make_number(video_kbps)},
                                          {"audiocodecid", AmfValue::make_number(10)},
                                          {"audiodatarate", AmfValue::make_number(o_.audio_kbps)},
                                          {"audiosamplerate", AmfValue::make_number(kAudioRate)},
                                          {"audiosamplesize", AmfValue::make_number(16)},
                                          {"stereo", AmfValue::make_boolean(true)},
                                          {"encoder", AmfValue::make_string("rtmp_load_client")}}),
              meta);
  out.clear();
  writer_.write(status_chunk_stream, 0, uint8_t(MessageType::data_amf0), stream_id_, meta, out);
  writer_.write(video_chunk_stream, 0, uint8_t(MessageType::video), stream_id_, kAvcSequenceHeader, out);
  writer_.write(audio_chunk_stream, 0, uint8_t(MessageType::audio), stream_id_, kAacSequenceHeader, out);
  return send_all(out);
}

int Publisher::run() {
  double cpu0 = own_cpu_seconds();
  bool ok = setup();
  if (ok) {
    // Two payload templates, patched per frame: the header bytes and the probe.
    std::vector<uint8_t> video(shape_.key_bytes, 0x5a), audio(shape_.audio_bytes, 0xa5);
    audio[0] = 0xaf;
    audio[1] = 0x01;
    std::vector<uint8_t> out;
    out.reserve(shape_.key_bytes + shape_.key_bytes / kPublishChunkSize + 64);
    int64_t start = now_us();
    int64_t end = o_.duration_s > 0 ? start + int64_t(o_.duration_s * 1e6) : INT64_MAX;
    while (!g_stop) {
      int64_t video_at = start + int64_t(video_sent_) * 1000000 / kVideoFps;
      int64_t audio_at = start + int64_t(audio_sent_) * kAacFrameSamples * 1000000 / kAudioRate;
      bool is_video = video_at <= audio_at;
      int64_t due = std::min(video_at, audio_at);
      if (due >= end) break;
      // Sleep until due, reading the server's acknowledgements meanwhile.
      for (int64_t t = now_us(); t < due && !g_stop; t = now_us()) {
        if (!pump(int(std::min<int64_t>((due - t + 999) / 1000, 100)))) {
          ok = false;
          break;
        }
        inbox_.clear();
      }
      if (!ok || g_stop) break;
      int64_t lag = now_us() - due;
      max_lag_us_ = std::max(max_lag_us_, lag);
      if (lag > 50'000) ++late_50ms_;
      out.clear();
      int64_t send_us = now_us();
      if (is_video) {
        bool key = video_sent_ % uint64_t(shape_.frames_per_gop) == 0;
        size_t size = key ? shape_.key_bytes : shape_.delta_bytes;
        video[0] = key ? 0x17 : 0x27;
        video[1] = 0x01;
        video[2] = video[3] = video[4] = 0;
        store_be32(&video[5], uint32_t(size - 9));
        video[9] = key ? 0x65 : 0x41;
        write_probe(&video[kVideoProbeOffset], send_us, uint32_t(video_sent_));
        uint32_t ts = uint32_t(video_sent_ * 1000 / kVideoFps);
        writer_.write(video_chunk_stream, ts, uint8_t(MessageType::video), stream_id_,
                      std::span<const uint8_t>(video.data(), size), out);
        ++video_sent_;
      } else {
        write_probe(&audio[kAudioProbeOffset], send_us, uint32_t(audio_sent_));
        uint32_t ts = uint32_t(audio_sent_ * kAacFrameSamples * 1000 / kAudioRate);
        writer_.write(audio_chunk_stream, ts, uint8_t(MessageType::audio), stream_id_, audio, out);
        ++audio_sent_;
      }
      if (!send_all(out)) {
        ok = false;
        break;
      }
    }
    wall_s_ = double(now_us() - start) / 1e6;
  }
  emit_json(o_, report(cpu0));
  if (fd_ >= 0) close(fd_);
  return ok ? 0 : 1;
}

std::string Publisher::report(double cpu0) const {
  std::string j = "{\"mode\":\"publish\"";
  j += ",\"ok\":" + std::string(error_.empty() ? "true" : "false");
  j += ",\"error\":\"" + json_escape(error_) + "\"";
  j += ",\"kbps\":" + std::to_string(o_.kbps) + ",\"audio_kbps\":" + std::to_string(o_.audio_kbps);
  j += ",\"gop_ms\":" + std::to_string(o_.gop_ms);
  j += ",\"key_bytes\":" + std::to_string(shape_.key_bytes) + ",\"delta_bytes\":" + std::to_string(shape_.delta_bytes);
  j += ",\"audio_bytes\":" + std::to_string(shape_.audio_bytes);
  j += ",\"video_frames\":" + std::to_string(video_sent_) + ",\"audio_frames\":" + std::to_string(audio_sent_);
  j += ",\"bytes_sent\":" + std::to_string(bytes_sent_) + ",\"wall_s\":" + fmt_double(wall_s_);
  j += ",\"max_lag_ms\":" + fmt_double(double(max_lag_us_) / 1000) + ",\"late_50ms\":" + std::to_string(late_50ms_);
  j += ",\"cpu_s\":" + fmt_double(own_cpu_seconds() - cpu0) + "}";
  return j;
}

// ---------------------------------------------------------------------------------------------
// Viewer-side parsers. They keep only what the benchmark looks at: the first kPrefixBytes of
// each audio/video payload (where the probe is) and whole payloads of the other, small, messages.
// A real player copies every byte too; this keeps the load client's cost near one recv() per
// readable event.

struct ScannedMessage {
  uint8_t type;
  uint32_t length;
  const uint8_t* prefix;  // audio/video: the first min(length, kPrefixBytes) bytes
  size_t prefix_len;
  const std::vector<uint8_t>* whole;  // other types: the whole payload
};

bool is_media(uint8_t type) { return type == uint8_t(MessageType::audio) || type == uint8_t(MessageType::video); }

// RTMP chunk stream (after the handshake) to messages.
class ChunkStreamScanner {
 public:
  static constexpr uint32_t kMaxChunkStreams = 64;
  static constexpr uint32_t kMaxMessageBytes = 16 * 1024 * 1024;
  static constexpr uint32_t kMaxWholeBytes = 1024 * 1024;  // commands and data messages

  // Calls on_message(const ScannedMessage&) per completed message; false on a protocol error.
  template <typename OnMessage>
  bool feed(const uint8_t* data, size_t n, OnMessage&& on_message);
  void set_chunk_size(uint32_t size) { chunk_size_ = std::clamp<uint32_t>(size, 1, kMaxMessageBytes); }
  const std::string& error() const { return error_; }

 private:
  struct Stream {
    uint32_t csid = 0;
    uint32_t timestamp = 0, delta = 0, length = 0, stream_id = 0;
    uint8_t type = 0;
    bool has_header = false, extended = false, in_message = false;
    uint32_t received = 0;
    uint8_t prefix[kPrefixBytes] = {};
    std::vector<uint8_t> whole;
  };

  size_t header_needed() const;
  bool finish_header();
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  uint32_t chunk_size_ = default_chunk_size;
  std::vector<Stream> streams_;
  uint8_t header_[18] = {};
  size_t header_len_ = 0;
  bool in_payload_ = false;
  size_t current_ = 0;  // index in streams_ of the chunk being read
  uint32_t chunk_left_ = 0;
  std::string error_;
};

size_t ChunkStreamScanner::header_needed() const {
  if (header_len_ == 0) return 1;
  uint8_t fmt = header_[0] >> 6, low = header_[0] & 0x3f;
  size_t basic = low == 0 ? 2 : low == 1 ? 3 : 1;
  if (header_len_ < basic) return basic;
  static constexpr size_t kMessageHeader[4] = {11, 7, 3, 0};
  size_t base = basic + kMessageHeader[fmt];
  if (header_len_ < base) return base;
  bool extended;
  if (fmt < 3) {
    extended = load_be24(header_ + basic) == 0xffffff;
  } else {
    uint32_t csid = low == 0 ? 64 + header_[1] : low == 1 ? 64 + header_[1] + 256u * header_[2] : low;
    auto it = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.csid == csid; });
    extended = it != streams_.end() && it->extended;
  }
  return base + (extended ? 4 : 0);
}

bool ChunkStreamScanner::finish_header() {
  uint8_t fmt = header_[0] >> 6, low = header_[0] & 0x3f;
  size_t basic = low == 0 ? 2 : low == 1 ? 3 : 1;
  uint32_t csid = low == 0 ? 64 + header_[1] : low == 1 ? 64 + header_[1] + 256u * header_[2] : low;
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.csid == csid; });
  if (it == streams_.end()) {
    if (streams_.size() >= kMaxChunkStreams) return fail("too many chunk streams");
    streams_.push_back(Stream{});
    streams_.back().csid = csid;
    it = streams_.end() - 1;
  }
  Stream& s = *it;
  current_ = size_t(it - streams_.begin());
  const uint8_t* h = header_ + basic;
  if (fmt < 3) {
    if (s.in_message) return fail("new message header inside a message on chunk stream " + std::to_string(csid));
    if (fmt > 0 && !s.has_header) return fail("compressed header on a new chunk stream");
    uint32_t field = load_be24(h);
    s.extended = field == 0xffffff;
    if (s.extended) field = load_be32(header_ + header_len_ - 4);
    if (fmt <= 1) {
      s.length = load_be24(h + 3);
      s.type = h[6];
    }
    if (fmt == 0) {
      s.stream_id = load_le32(h + 7);
      s.timestamp = field;
      s.delta = 0;
    } else {
      s.delta = field;
      s.timestamp += field;
    }
    s.has_header = true;
  } else if (!s.in_message) {
    if (!s.has_header) return fail("fmt 3 header on a new chunk stream");
    s.timestamp += s.delta;
  }
  if (!s.in_message) {
    if (s.length > kMaxMessageBytes) return fail("message of " + std::to_string(s.length) + " bytes");
    if (!is_media(s.type) && s.length > kMaxWholeBytes) return fail("control message too large");
    s.in_message = true;
    s.received = 0;
    s.whole.clear();
  }
  chunk_left_ = std::min(chunk_size_, s.length - s.received);
  return true;
}

template <typename OnMessage>
bool ChunkStreamScanner::feed(const uint8_t* data, size_t n, OnMessage&& on_message) {
  size_t pos = 0;
  while (true) {
    if (!in_payload_) {
      for (size_t need = header_needed(); header_len_ < need; need = header_needed()) {
        if (pos == n) return true;
        size_t take = std::min(need - header_len_, n - pos);
        memcpy(header_ + header_len_, data + pos, take);
        header_len_ += take;
        pos += take;
      }
      if (!finish_header()) return false;
      in_payload_ = true;
    }
    Stream& s = streams_[current_];
    size_t take = std::min<size_t>(chunk_left_, n - pos);
    if (is_media(s.type)) {
      if (s.received < kPrefixBytes) {
        size_t keep = std::min<size_t>(take, kPrefixBytes - s.received);
        memcpy(s.prefix + s.received, data + pos, keep);
      }
    } else {
      s.whole.insert(s.whole.end(), data + pos, data + pos + take);
    }
    s.received += uint32_t(take);
    chunk_left_ -= uint32_t(take);
    pos += take;
    if (chunk_left_ > 0) return true;  // input ended inside the chunk
    in_payload_ = false;
    header_len_ = 0;
    if (s.received == s.length) {
      s.in_message = false;
      ScannedMessage m{s.type, s.length, s.prefix, std::min<size_t>(s.length, kPrefixBytes), &s.whole};
      on_message(m);
    }
    if (pos == n) return true;
  }
}

// HTTP chunked transfer coding to body bytes.
class ChunkedBodyDecoder {
 public:
  template <typename OnBytes>
  bool feed(const uint8_t* data, size_t n, OnBytes&& on_bytes);
  bool finished() const { return phase_ == Phase::done; }

 private:
  enum class Phase { size_line, data, data_end, done };
  Phase phase_ = Phase::size_line;
  std::string line_;
  uint64_t left_ = 0;
};

template <typename OnBytes>
bool ChunkedBodyDecoder::feed(const uint8_t* data, size_t n, OnBytes&& on_bytes) {
  size_t pos = 0;
  while (pos < n) {
    switch (phase_) {
      case Phase::size_line: {
        uint8_t c = data[pos++];
        if (c != '\n') {
          if (line_.size() > 256) return false;
          line_ += char(c);
          break;
        }
        char* end = nullptr;
        left_ = strtoull(line_.c_str(), &end, 16);
        if (end == line_.c_str()) return false;
        line_.clear();
        phase_ = left_ == 0 ? Phase::done : Phase::data;
        break;
      }
      case Phase::data: {
        size_t take = size_t(std::min<uint64_t>(left_, n - pos));
        if (!on_bytes(data + pos, take)) return false;
        pos += take;
        left_ -= take;
        if (left_ == 0) phase_ = Phase::data_end;
        break;
      }
      case Phase::data_end:  // the CRLF after the chunk data
        if (data[pos++] == '\n') phase_ = Phase::size_line;
        break;
      case Phase::done:
        return true;
    }
  }
  return true;
}

// FLV file bytes (header, then tags with their PreviousTagSize) to tags.
class FlvTagScanner {
 public:
  template <typename OnMessage>
  bool feed(const uint8_t* data, size_t n, OnMessage&& on_message);

 private:
  enum class Phase { file_header, skip, tag_header, payload };
  Phase phase_ = Phase::file_header;
  uint8_t header_[15] = {};  // file header (9), or PreviousTagSize (4) + tag header (11)
  size_t header_len_ = 0;
  uint32_t skip_ = 0;
  uint8_t type_ = 0;
  uint32_t length_ = 0, received_ = 0;
  uint8_t prefix_[kPrefixBytes] = {};
  std::vector<uint8_t> empty_;
};

template <typename OnMessage>
bool FlvTagScanner::feed(const uint8_t* data, size_t n, OnMessage&& on_message) {
  size_t pos = 0;
  while (pos < n) {
    switch (phase_) {
      case Phase::file_header:
      case Phase::tag_header: {
        size_t need = phase_ == Phase::file_header ? 9 : 15;
        size_t take = std::min(need - header_len_, n - pos);
        memcpy(header_ + header_len_, data + pos, take);
        header_len_ += take;
        pos += take;
        if (header_len_ < need) break;
        header_len_ = 0;
        if (phase_ == Phase::file_header) {
          if (memcmp(header_, "FLV", 3) != 0) return false;
          uint32_t offset = load_be32(header_ + 5);
          if (offset < 9 || offset > 1024) return false;
          skip_ = offset - 9;
          phase_ = Phase::skip;
        } else {
          type_ = header_[4] & 0x1f;
          length_ = load_be24(header_ + 5);
          if (length_ > ChunkStreamScanner::kMaxMessageBytes) return false;
          received_ = 0;
          phase_ = Phase::payload;
          if (length_ == 0) {
            on_message(ScannedMessage{type_, 0, prefix_, 0, &empty_});
            phase_ = Phase::tag_header;
          }
        }
        break;
      }
      case Phase::skip: {
        size_t take = std::min<size_t>(skip_, n - pos);
        skip_ -= uint32_t(take);
        pos += take;
        if (skip_ == 0) phase_ = Phase::tag_header;
        break;
      }
      case Phase::payload: {
        size_t take = std::min<size_t>(length_ - received_, n - pos);
        if (received_ < kPrefixBytes) memcpy(prefix_ + received_, data + pos, std::min(take, kPrefixBytes - received_));
        received_ += uint32_t(take);
        pos += take;
        if (received_ == length_) {
          on_message(ScannedMessage{type_, length_, prefix_, std::min<size_t>(length_, kPrefixBytes), &empty_});
          phase_ = Phase::tag_header;
        }
        break;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Viewers

struct Viewer {
  enum class Phase { connecting, handshake, rtmp, http_headers, http_body, closed };

  int fd = -1;
  Phase phase = Phase::connecting;
  bool http = false;
  int64_t started_us = 0;
  int64_t play_sent_us = 0;      // RTMP play command or HTTP request written
  int64_t first_video_us = -1;
  int64_t last_media_us = 0;
  bool first_video_key = false;
  bool play_started = false;     // NetStream.Play.Start or HTTP 200
  bool closed_by_us = false;
  std::string close_reason;

  std::unique_ptr<HandshakeInitiator> handshake;
  ChunkWriter writer{128};
  ChunkStreamScanner chunks;
  uint32_t stream_id = 0;
  uint64_t bytes_in = 0;
  uint64_t ack_window = 0, acked_at = 0;

  std::string http_head;
  bool http_chunked = false;
  ChunkedBodyDecoder chunked;
  FlvTagScanner flv;

  std::vector<uint8_t> out;
  size_t out_off = 0;

  bool have_video_seq = false, have_audio_seq = false;
  uint32_t last_video_seq = 0, last_audio_seq = 0;
  uint64_t missing = 0;
};

class LoadClient {
 public:
  explicit LoadClient(const Options& o) : o_(o), viewers_(size_t(o.viewers)) {}
  int run();

 private:
  void start_viewer(Viewer& v, uint32_t index);
  void on_event(uint32_t index, uint32_t events);
  void on_connected(Viewer& v);
  void on_readable(Viewer& v);
  bool on_rtmp_bytes(Viewer& v, const uint8_t* data, size_t n);
  bool on_http_bytes(Viewer& v, const uint8_t* data, size_t n);
  bool on_body_bytes(Viewer& v, const uint8_t* data, size_t n);
  void on_rtmp_message(Viewer& v, const ScannedMessage& m);
  void on_command(Viewer& v, const Command& c);
  void on_media(Viewer& v, const ScannedMessage& m);
  void send_message(Viewer& v, uint32_t csid, uint8_t type, uint32_t stream_id, std::span<const uint8_t> payload);
  void send_command(Viewer& v, uint32_t csid, uint32_t stream_id, const Command& c);
  void queue(Viewer& v, const uint8_t* data, size_t n);
  void flush(Viewer& v);
  void close_viewer(Viewer& v, const std::string& reason, bool by_server);
  bool in_window() const { return now_ >= window_start_ && now_ < window_end_; }
  std::string report() const;

  const Options& o_;
  std::vector<Viewer> viewers_;
  int epoll_fd_ = -1;
  int64_t now_ = 0, t0_ = 0, window_start_ = 0, window_end_ = 0;
  double cpu_at_window_start_ = 0, cpu_at_window_end_ = 0, cpu0_ = 0;
  std::vector<uint8_t> read_buffer_ = std::vector<uint8_t>(256 * 1024);

  uint32_t started_ = 0, connected_ = 0, closed_by_server_ = 0, failed_ = 0;
  std::map<std::string, uint32_t> close_reasons_;
  uint64_t bytes_ = 0, bytes_in_window_ = 0, media_messages_ = 0, media_in_window_ = 0;
  uint64_t replayed_ = 0, live_ = 0, sequence_headers_ = 0, unstamped_ = 0, out_of_order_ = 0;
  uint64_t missing_video_ = 0, missing_audio_ = 0;
  LatencyHistogram latency_, video_latency_;
};

void LoadClient::start_viewer(Viewer& v, uint32_t index) {
  v.http = o_.http;
  v.started_us = now_;
  v.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (v.fd < 0) {
    close_viewer(v, std::string("socket: ") + strerror(errno), false);
    return;
  }
  int one = 1;
  setsockopt(v.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa = loopback(v.http ? o_.http_port : o_.port);
  if (connect(v.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    close_viewer(v, std::string("connect: ") + strerror(errno), false);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.u32 = index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, v.fd, &ev);
}

void LoadClient::queue(Viewer& v, const uint8_t* data, size_t n) {
  if (v.out_off == v.out.size()) {
    v.out.clear();
    v.out_off = 0;
  }
  v.out.insert(v.out.end(), data, data + n);
}

void LoadClient::flush(Viewer& v) {
  while (v.fd >= 0 && v.out_off < v.out.size()) {
    ssize_t n = send(v.fd, v.out.data() + v.out_off, v.out.size() - v.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      v.out_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    close_viewer(v, std::string("send: ") + strerror(errno), true);
    return;
  }
  if (v.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (v.out_off < v.out.size() ? uint32_t(EPOLLOUT) : 0u);
  ev.data.u32 = uint32_t(&v - viewers_.data());
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, v.fd, &ev);
}

void LoadClient::send_message(Viewer& v, uint32_t csid, uint8_t type, uint32_t stream_id,
                              std::span<const uint8_t> payload) {
  std::vector<uint8_t> bytes;
  v.writer.write(csid, 0, type, stream_id, payload, bytes);
  queue(v, bytes.data(), bytes.size());
}

void LoadClient::send_command(Viewer& v, uint32_t csid, uint32_t stream_id, const Command& c) {
  send_message(v, csid, uint8_t(MessageType::command_amf0), stream_id, encode_command(c));
}

void LoadClient::close_viewer(Viewer& v, const std::string& reason, bool by_server) {
  if (v.phase == Viewer::Phase::closed) return;
  if (v.fd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, v.fd, nullptr);
    close(v.fd);
    v.fd = -1;
  }
  v.phase = Viewer::Phase::closed;
  v.close_reason = reason;
  v.handshake.reset();
  if (by_server) ++closed_by_server_;
  else ++failed_;
  ++close_reasons_[reason];
}

void LoadClient::on_connected(Viewer& v) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(v.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close_viewer(v, std::string("connect: ") + strerror(err), false);
    return;
  }
  ++connected_;
  if (v.http) {
    std::string req = "GET " + o_.http_path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o_.http_port) +
                      "\r\nUser-Agent: rtmp_load_client\r\nAccept: */*\r\n\r\n";
    queue(v, reinterpret_cast<const uint8_t*>(req.data()), req.size());
    v.play_sent_us = now_;
    v.phase = Viewer::Phase::http_headers;
  } else {
    v.handshake = std::make_unique<HandshakeInitiator>(HandshakeMode::plain, uint64_t(v.fd) * 7919 + 1);
    v.handshake->start();
    queue(v, v.handshake->output().data(), v.handshake->output().size());
    v.handshake->output().clear();
    v.phase = Viewer::Phase::handshake;
  }
  flush(v);
}

void LoadClient::on_event(uint32_t index, uint32_t events) {
  Viewer& v = viewers_[index];
  if (v.phase == Viewer::Phase::closed) return;
  if (v.phase == Viewer::Phase::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(v);
    return;
  }
  if (events & EPOLLOUT) flush(v);
  if (v.phase != Viewer::Phase::closed && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(v);
}

void LoadClient::on_readable(Viewer& v) {
  ssize_t n = recv(v.fd, read_buffer_.data(), read_buffer_.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    close_viewer(v, std::string("recv: ") + strerror(errno), true);
    return;
  }
  if (n == 0) {
    close_viewer(v, "closed by server", true);
    return;
  }
  now_ = now_us();
  bytes_ += uint64_t(n);
  if (in_window()) bytes_in_window_ += uint64_t(n);
  v.bytes_in += uint64_t(n);
  const uint8_t* data = read_buffer_.data();
  bool ok = v.http ? on_http_bytes(v, data, size_t(n)) : on_rtmp_bytes(v, data, size_t(n));
  if (!ok || v.phase == Viewer::Phase::closed) return;
  if (!v.http && v.ack_window > 0 && v.bytes_in - v.acked_at >= v.ack_window) {
    uint8_t seq[4];
    store_be32(seq, uint32_t(v.bytes_in));
    send_message(v, control_chunk_stream, uint8_t(MessageType::acknowledgement), 0, seq);
    v.acked_at = v.bytes_in;
  }
  if (v.out_off < v.out.size()) flush(v);
}

bool LoadClient::on_rtmp_bytes(Viewer& v, const uint8_t* data, size_t n) {
  if (v.phase == Viewer::Phase::handshake) {
    auto used = v.handshake->feed(std::span<const uint8_t>(data, n));
    if (!used) {
      close_viewer(v, "handshake: " + used.error().describe(), true);
      return false;
    }
    if (!v.handshake->output().empty()) {
      queue(v, v.handshake->output().data(), v.handshake->output().size());
      v.handshake->output().clear();
    }
    if (!v.handshake->done()) return true;
    v.handshake.reset();
    v.phase = Viewer::Phase::rtmp;
    Command connect{"connect", 1,
                    AmfValue::make_object({{"app", AmfValue::make_string(o_.app)},
                                           {"flashVer", AmfValue::make_string("LNX 9,0,124,2")},
                                           {"tcUrl", AmfValue::make_string(tc_url(o_))},
                                           {"fpad", AmfValue::make_boolean(false)},
                                           {"capabilities", AmfValue::make_number(15)},
                                           {"audioCodecs", AmfValue::make_number(4071)},
                                           {"videoCodecs", AmfValue::make_number(252)},
                                           {"videoFunction", AmfValue::make_number(1)}}),
                    {}};
    send_command(v, command_chunk_stream, 0, connect);
    data += *used;
    n -= *used;
    if (n == 0) return true;
  }
  bool ok = v.chunks.feed(data, n, [&](const ScannedMessage& m) {
    if (v.phase != Viewer::Phase::closed) on_rtmp_message(v, m);
  });
  if (!ok) {
    close_viewer(v, "bad chunk stream: " + v.chunks.error(), true);
    return false;
  }
  return v.phase != Viewer::Phase::closed;
}

void LoadClient::on_rtmp_message(Viewer& v, const ScannedMessage& m) {
  const std::vector<uint8_t>& body = *m.whole;
  switch (MessageType(m.type)) {
    case MessageType::set_chunk_size:
      if (body.size() >= 4) v.chunks.set_chunk_size(load_be32(body.data()) & 0x7fffffff);
      break;
    case MessageType::window_ack_size:
      if (body.size() >= 4) v.ack_window = load_be32(body.data());
      break;
    case MessageType::user_control:
      // Ping request (6) -> ping response (7) with the same timestamp.
      if (body.size() >= 6 && load_be16(body.data()) == 6) {
        uint8_t pong[6];
        store_be16(pong, 7);
        memcpy(pong + 2, body.data() + 2, 4);
        send_message(v, control_chunk_stream, uint8_t(MessageType::user_control), 0, pong);
      }
      break;
    case MessageType::command_amf0:
    case MessageType::command_amf3: {
      std::span<const uint8_t> payload(body);
      if (m.type == uint8_t(MessageType::command_amf3) && !payload.empty()) payload = payload.subspan(1);
      auto c = decode_command(payload);
      if (!c) {
        close_viewer(v, "undecodable command", true);
        return;
      }
      on_command(v, *c);
      break;
    }
    case MessageType::audio:
    case MessageType::video:
      on_media(v, m);
      break;
    default:
      break;  // acknowledgements, data messages (onMetaData, |RtmpSampleAccess), peer bandwidth
  }
}

void LoadClient::on_command(Viewer& v, const Command& c) {
  if (c.name == "_error") {
    close_viewer(v, "server _error", true);
  } else if (c.name == "_result" && c.transaction_id == 1) {
    uint8_t window[4];
    store_be32(window, 2500000);
    send_message(v, control_chunk_stream, uint8_t(MessageType::window_ack_size), 0, window);
    send_command(v, command_chunk_stream, 0, {"createStream", 2, AmfValue::make_null(), {}});
  } else if (c.name == "_result" && c.transaction_id == 2) {
    if (c.arguments.empty() || c.arguments[0].type != AmfType::number) {
      close_viewer(v, "createStream result without a stream id", true);
      return;
    }
    v.stream_id = uint32_t(c.arguments[0].number);
    // start -1000: live or recorded, as ffmpeg asks by default.
    send_command(v, status_chunk_stream, v.stream_id,
                 {"play", 0, AmfValue::make_null(), {AmfValue::make_string(o_.key), AmfValue::make_number(-1000)}});
    uint8_t buffer_length[10];
    store_be16(buffer_length, 3);
    store_be32(buffer_length + 2, v.stream_id);
    store_be32(buffer_length + 6, 3000);
    send_message(v, control_chunk_stream, uint8_t(MessageType::user_control), 0, buffer_length);
    v.play_sent_us = now_us();
  } else if (c.name == "onStatus" && !c.arguments.empty()) {
    std::string code = c.arguments[0].string_property("code");
    if (code == "NetStream.Play.Start") v.play_started = true;
    else if (c.arguments[0].string_property("level") == "error" || code == "NetStream.Play.StreamNotFound" ||
             code == "NetStream.Play.Failed")
      close_viewer(v, "onStatus " + code, true);
  }
}

bool LoadClient::on_http_bytes(Viewer& v, const uint8_t* data, size_t n) {
  if (v.phase == Viewer::Phase::http_headers) {
    size_t before = v.http_head.size();
    v.http_head.append(reinterpret_cast<const char*>(data), n);
    size_t end = v.http_head.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (v.http_head.size() > 16384) close_viewer(v, "HTTP response head too long", true);
      return v.phase != Viewer::Phase::closed;
    }
    std::string head = v.http_head.substr(0, end + 2);
    std::string status = head.substr(0, head.find("\r\n"));
    if (status.size() < 12 || status.compare(9, 3, "200") != 0) {
      close_viewer(v, "HTTP " + status.substr(std::min<size_t>(9, status.size())), true);
      return false;
    }
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    v.http_chunked = head.find("transfer-encoding: chunked") != std::string::npos;
    v.play_started = true;
    v.phase = Viewer::Phase::http_body;
    size_t body_at = end + 4 - before;  // offset in this read where the body starts
    v.http_head.clear();
    v.http_head.shrink_to_fit();
    data += body_at;
    n -= body_at;
  }
  if (v.http_chunked) {
    bool ok = v.chunked.feed(data, n, [&](const uint8_t* d, size_t len) { return on_body_bytes(v, d, len); });
    if (!ok && v.phase != Viewer::Phase::closed) close_viewer(v, "bad chunked body", true);
    else if (v.chunked.finished()) close_viewer(v, "HTTP body ended", true);
    return v.phase != Viewer::Phase::closed;
  }
  return on_body_bytes(v, data, n);
}

bool LoadClient::on_body_bytes(Viewer& v, const uint8_t* data, size_t n) {
  bool ok = v.flv.feed(data, n, [&](const ScannedMessage& m) {
    if (is_media(m.type) && v.phase != Viewer::Phase::closed) on_media(v, m);
  });
  if (!ok) close_viewer(v, "bad FLV body", true);
  return ok;
}

void LoadClient::on_media(Viewer& v, const ScannedMessage& m) {
  ++media_messages_;
  v.last_media_us = now_;
  bool video = m.type == uint8_t(MessageType::video);
  if (m.prefix_len >= 2 && m.prefix[1] == 0) {  // AVC / AAC sequence header
    ++sequence_headers_;
    return;
  }
  size_t probe_at = video ? kVideoProbeOffset : kAudioProbeOffset;
  int64_t send_us = 0;
  uint32_t seq = 0;
  if (m.prefix_len < probe_at + kProbeSize || !read_probe(m.prefix + probe_at, send_us, seq)) {
    ++unstamped_;
    return;
  }
  if (video && v.first_video_us < 0) {
    v.first_video_us = now_;
    v.first_video_key = (m.prefix[0] >> 4) == 1;
  }
  bool& have = video ? v.have_video_seq : v.have_audio_seq;
  uint32_t& last = video ? v.last_video_seq : v.last_audio_seq;
  if (have) {
    if (seq > last + 1) {
      (video ? missing_video_ : missing_audio_) += seq - last - 1;
      v.missing += seq - last - 1;
    } else if (seq <= last) {
      ++out_of_order_;
    }
  }
  if (!have || seq > last) last = seq;
  have = true;
  if (send_us < v.play_sent_us) {
    ++replayed_;  // a GOP cache replay: its latency says nothing about the live path
    return;
  }
  ++live_;
  if (in_window()) {
    ++media_in_window_;
    latency_.add(now_ - send_us);
    if (video) video_latency_.add(now_ - send_us);
  }
}

int LoadClient::run() {
  raise_fd_limit();
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    perror("epoll_create1");
    return 1;
  }
  cpu0_ = own_cpu_seconds();
  t0_ = now_ = now_us();
  window_start_ = t0_ + int64_t(o_.warmup_s * 1e6);
  window_end_ = t0_ + int64_t(o_.duration_s * 1e6);
  if (window_end_ <= window_start_) window_end_ = window_start_ + 1;
  bool window_started = false, window_ended = false;
  int64_t next_check = now_ + 200'000;
  std::vector<epoll_event> events(1024);
  while (!g_stop && now_ < window_end_) {
    uint32_t target = o_.ramp_per_s <= 0 ? uint32_t(o_.viewers)
                                          : uint32_t(std::min<double>(o_.viewers, 1 + double(now_ - t0_) / 1e6 * o_.ramp_per_s));
    while (started_ < target) {
      start_viewer(viewers_[started_], started_);
      ++started_;
    }
    int n = epoll_wait(epoll_fd_, events.data(), int(events.size()), 5);
    now_ = now_us();
    if (!window_started && now_ >= window_start_) {
      window_started = true;
      cpu_at_window_start_ = own_cpu_seconds();
    }
    for (int i = 0; i < n; ++i) on_event(events[size_t(i)].data.u32, events[size_t(i)].events);
    now_ = now_us();
    if (now_ >= next_check) {
      next_check = now_ + 200'000;
      int64_t limit = int64_t(o_.start_timeout_s * 1e6);
      for (uint32_t i = 0; i < started_; ++i) {
        Viewer& v = viewers_[i];
        if (v.phase != Viewer::Phase::closed && v.first_video_us < 0 && now_ - v.started_us > limit)
          close_viewer(v, "no video frame within the start timeout", false);
      }
    }
  }
  window_ended = now_ >= window_end_;
  cpu_at_window_end_ = own_cpu_seconds();
  if (!window_started) cpu_at_window_start_ = cpu_at_window_end_;
  (void)window_ended;
  std::string json = report();
  for (Viewer& v : viewers_) {
    if (v.fd >= 0) close(v.fd);
    v.fd = -1;
  }
  close(epoll_fd_);
  emit_json(o_, json);
  return 0;
}

std::string LoadClient::report() const {
  std::vector<double> ttff_ms;
  uint32_t key_first = 0, playing = 0, healthy = 0, with_gaps = 0;
  for (uint32_t i = 0; i < started_; ++i) {
    const Viewer& v = viewers_[i];
    if (v.first_video_us >= 0) {
      ++playing;
      ttff_ms.push_back(double(v.first_video_us - v.play_sent_us) / 1000.0);
      if (v.first_video_key) ++key_first;
    }
    if (v.missing) ++with_gaps;
    // Still open and fed in the last 3 s of the run.
    if (v.phase != Viewer::Phase::closed && v.first_video_us >= 0 && now_ - v.last_media_us < 3'000'000) ++healthy;
  }
  std::vector<double> sorted = ttff_ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) {
    if (sorted.empty()) return 0.0;
    size_t rank = std::clamp<size_t>(size_t(std::ceil(q * double(sorted.size()))), 1, sorted.size());
    return sorted[rank - 1];
  };
  auto latency_json = [](const LatencyHistogram& h) {
    return "{\"count\":" + std::to_string(h.count()) + ",\"p50\":" + fmt_double(h.percentile_ms(0.50)) +
           ",\"p90\":" + fmt_double(h.percentile_ms(0.90)) + ",\"p99\":" + fmt_double(h.percentile_ms(0.99)) +
           ",\"p999\":" + fmt_double(h.percentile_ms(0.999)) + ",\"max\":" + fmt_double(double(h.max_us()) / 1000) + "}";
  };
  double window_s = double(std::min(now_, window_end_) - window_start_) / 1e6;
  std::string j = "{\"mode\":\"play\",\"protocol\":\"" + std::string(o_.http ? "http-flv" : "rtmp") + "\"";
  j += ",\"viewers\":" + std::to_string(o_.viewers) + ",\"viewers_started\":" + std::to_string(started_);
  j += ",\"viewers_connected\":" + std::to_string(connected_) + ",\"viewers_playing\":" + std::to_string(playing);
  j += ",\"viewers_healthy_at_end\":" + std::to_string(healthy);
  j += ",\"viewers_closed_by_server\":" + std::to_string(closed_by_server_);
  j += ",\"viewers_failed\":" + std::to_string(failed_);
  j += ",\"close_reasons\":{";
  bool first = true;
  for (const auto& [reason, count] : close_reasons_) {
    j += std::string(first ? "" : ",") + "\"" + json_escape(reason) + "\":" + std::to_string(count);
    first = false;
  }
  j += "}";
  j += ",\"duration_s\":" + fmt_double(double(now_ - t0_) / 1e6) + ",\"window_s\":" + fmt_double(std::max(0.0, window_s));
  j += ",\"bytes_received\":" + std::to_string(bytes_) + ",\"bytes_in_window\":" + std::to_string(bytes_in_window_);
  j += ",\"media_messages\":" + std::to_string(media_messages_) + ",\"media_messages_in_window\":" + std::to_string(media_in_window_);
  j += ",\"sequence_headers\":" + std::to_string(sequence_headers_);
  j += ",\"gop_replay_messages\":" + std::to_string(replayed_) + ",\"live_messages\":" + std::to_string(live_);
  j += ",\"unstamped_messages\":" + std::to_string(unstamped_);
  j += ",\"missing_video\":" + std::to_string(missing_video_) + ",\"missing_audio\":" + std::to_string(missing_audio_);
  j += ",\"out_of_order\":" + std::to_string(out_of_order_) + ",\"viewers_with_gaps\":" + std::to_string(with_gaps);
  j += ",\"latency_ms\":" + latency_json(latency_) + ",\"video_latency_ms\":" + latency_json(video_latency_);
  j += ",\"ttff_ms\":{\"count\":" + std::to_string(sorted.size()) + ",\"p50\":" + fmt_double(pct(0.5)) +
       ",\"p99\":" + fmt_double(pct(0.99)) + ",\"max\":" + fmt_double(sorted.empty() ? 0 : sorted.back()) + "}";
  j += ",\"first_frame_key_ratio\":" + fmt_double(playing ? double(key_first) / playing : 0);
  j += ",\"cpu_s\":" + fmt_double(own_cpu_seconds() - cpu0_);
  j += ",\"cpu_s_window\":" + fmt_double(cpu_at_window_end_ - cpu_at_window_start_);
  j += ",\"ttff_values_ms\":[";
  for (size_t i = 0; i < ttff_ms.size(); ++i) j += (i ? "," : "") + fmt_double(ttff_ms[i]);
  j += "],\"latency_hist_us\":" + latency_.pairs_json() + "}";
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (o.mode == "publish") return Publisher(o).run();
  return LoadClient(o).run();
}
