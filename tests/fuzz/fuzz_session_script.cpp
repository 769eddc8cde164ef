// Fuzz target: a whole ServerSession driven by a script. The input is not the wire bytes but
// a sequence of operations a client (and the application above the session) performs, so the
// fuzzer gets past the handshake and connect into the publishing and playing states:
//
//   byte 0: options (handshake mode, how input is split into feed() calls, outgoing chunk size)
//   then ops, each an opcode byte and its operands (missing operands read as 0):
//     well-framed messages of any type on any chunk stream with fuzzed payloads, Set Chunk
//     Size, connect/createStream/publish/play/deleteStream/... commands built with the AMF0
//     encoder from fuzzed values, FLV audio/video/data payloads, aggregates, acknowledgements,
//     window sizes, user control, abort, truncated messages and raw bytes; and the
//     application's side: accept/reject decisions, send_media and status calls, reading the
//     output, close().
//
// A proper handshake (plain or digest, with HandshakeInitiator) comes first. Invariants checked
// after every step (a broken one traps):
//   - the server's output is a valid RTMP chunk stream and every command in it decodes;
//   - media events only while the application has accepted a publish, on its stream id, and
//     (while the script sent only well-framed messages) each equals a media message the
//     script sent, in order, with its timestamp (@setDataFrame removed);
//   - play_stream_id() is non-zero only for an accepted play;
//   - after a successful feed: queued output within max_pending_output, buffered input within
//     the reader's and held-media limits, and within the anonymous limit before any
//     publish/play;
//   - after feed() fails: every later feed fails with no new output and no events;
//   - close() on a connection that neither publishes nor plays queues nothing;
//   - the session's byte counters match what went in and what was read.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "rtmp/handshake.h"
#include "rtmp/server_session.h"

using namespace live;
using namespace live::rtmp;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// The script: reads past the end give zeros, so every input is a valid script.
class Script {
 public:
  Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Operands are read in order (one statement each: argument order is unspecified in C++).
  uint16_t u16() {
    const uint16_t high = u8();
    return uint16_t(high << 8 | u8());
  }
  uint32_t u32() {
    const uint32_t high = u16();
    return high << 16 | u16();
  }
  std::vector<uint8_t> bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::vector<uint8_t> out(data_ + pos_, data_ + pos_ + n);
    pos_ += n;
    return out;
  }
  std::string text(size_t max) {
    auto b = bytes(u8() % (max + 1));
    return std::string(b.begin(), b.end());
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum class Role { none, publish_pending, publishing, play_pending, playing };

struct SentMedia {
  uint8_t type;
  uint32_t timestamp;
  std::vector<uint8_t> payload;
};

class Harness {
 public:
  Harness(Script& s, uint8_t options) : s_(s) {
    config_.limits.max_message_size = 64 * 1024;
    config_.limits.max_chunk_streams = 16;
    config_.limits.max_incoming_chunk_size = 64 * 1024;
    config_.limits.max_amf_depth = 16;
    config_.limits.max_pending_output = 128 * 1024;
    config_.limits.max_held_media = 64 * 1024;
    config_.limits.max_message_size_before_accept = 16 * 1024;
    config_.limits.max_partial_bytes_before_accept = 32 * 1024;
    config_.outgoing_chunk_size = options & 0x10 ? 128 : 4096;
    static constexpr size_t kPieces[] = {0, 1, 3, 17, 128, 1000, 4097, 0};
    piece_ = kPieces[(options >> 1) & 7];
    digest_ = options & 1;
    eager_read_ = options & 0x20;
    session_ = std::make_unique<ServerSession>(config_);
  }

  bool handshake() {
    HandshakeInitiator client(digest_ ? HandshakeMode::digest : HandshakeMode::plain, 7);
    client.start();
    feed(client.output());
    client.output().clear();
    auto server = session_->pending_output();
    check(server.size() == 1 + 2 * handshake_block_size);
    auto used = client.feed(server);
    check(used.ok() && client.done() && used.value() == server.size());
    read_output(server.size(), /*chunks=*/false);
    check(!handshake_done_);
    feed(client.output());
    check(handshake_done_);
    return !failed_;
  }

  void run() {
    for (int steps = 0; !s_.done() && !failed_ && steps < 4000; ++steps) step(s_.u8());
    if (failed_) return;
    const size_t before = session_->pending_output().size();
    const bool idle = role_ == Role::none;
    session_->close("NetStream.Publish.Unpublish", "script end");
    if (idle) check(session_->pending_output().size() == before);
    drain_events();
    read_output(session_->pending_output().size(), true);
  }

 private:
  // ---- the client's side ----
  void step(uint8_t op) {
    switch (op % 24) {
      case 0: message(s_.u8()); break;
      case 1: set_chunk_size(); break;
      case 2: connect(); break;
      case 3: command("createStream", {}); break;
      case 4: publish(); break;
      case 5: play(); break;
      case 6: delete_stream(); break;
      case 7: other_command(); break;
      case 8: audio(); break;
      case 9: video(); break;
      case 10: metadata(); break;
      case 11: control(); break;
      case 12: aggregate(); break;
      case 13: truncated_message(); break;
      case 14: abort(); break;
      case 15: raw(); break;
      case 16: decide(s_.u8()); break;
      case 17: server_media(); break;
      case 18: server_status(s_.u8()); break;
      case 19: read_output(s_.u16(), true); break;
      case 20: close(); break;
      case 21: big_media(); break;
      case 22: deep_command(); break;
      case 23: command_amf3(); break;
    }
    if (eager_read_) read_output(session_->pending_output().size(), true);
  }

  uint32_t csid() {
    const uint8_t b = s_.u8();
    if (b < 0xf0) return 3 + b % 8;  // the ids real clients use
    if (b < 0xf8) return 64 + s_.u8();  // two-byte basic header
    return 320 + s_.u16() % (max_chunk_stream_id - 319);  // three-byte basic header, up to 65599
  }

  uint32_t next_timestamp() {
    const uint8_t b = s_.u8();
    if (b == 0xff) timestamp_ = s_.u32();  // jumps, backwards, extended timestamps
    else timestamp_ += b;
    return timestamp_;
  }

  uint32_t stream_id() {
    const uint8_t b = s_.u8();
    if (b < 0xc0) return last_stream_id_;
    if (b < 0xf0) return b & 3;
    return s_.u32();
  }

  void write(uint32_t cs, uint8_t type, uint32_t sid, std::span<const uint8_t> payload, uint32_t ts) {
    std::vector<uint8_t> out;
    writer_.write(cs, ts, type, sid, payload, out);
    feed(out);
  }

  void message(uint8_t type) {
    const std::vector<uint8_t> payload = s_.bytes(s_.u16() % 2048);
    // Set Chunk Size and Abort with fuzzed payloads change the reader's state behind the
    // writer's back: the stream is no longer known to be well framed.
    if (type == 1 || type == 2 || type == 22) clean_ = false;
    if (type == 15 || type == 18) clean_ = false;  // data: compared only when built by metadata()
    const uint32_t ts = next_timestamp();
    const uint32_t sid = stream_id();
    if (type == 8 || type == 9) expect_media(sid, type, ts, payload);
    write(csid(), type, sid, payload, ts);
  }

  void set_chunk_size() {
    static constexpr uint32_t kSizes[] = {1, 2, 127, 128, 129, 4096, 65536, 65537, 0x7fffffff, 0};
    uint32_t size = kSizes[s_.u8() % 10];
    if (size == 0) size = s_.u32();
    std::vector<uint8_t> out;
    writer_.set_chunk_size(size, out);
    // Over the session's limit the session fails; if it somehow did not, the framing differs.
    if (writer_.chunk_size() > config_.limits.max_incoming_chunk_size) clean_ = false;
    feed(out);
  }

  AmfValue value(int depth) {
    const uint8_t t = s_.u8();
    switch (t % 10) {
      case 0: return AmfValue::make_number(double(int32_t(s_.u32())));
      case 1: {
        double d;
        auto b = s_.bytes(8);
        b.resize(8);
        std::memcpy(&d, b.data(), 8);
        return AmfValue::make_number(d);  // NaN, infinities, huge values
      }
      case 2: return AmfValue::make_boolean(s_.u8() & 1);
      case 3: return AmfValue::make_string(s_.text(40));
      case 4: return AmfValue::make_null();
      case 5: return AmfValue::make_undefined();
      case 6:
      case 7: {
        std::vector<AmfProperty> props;
        const int n = depth > 0 ? s_.u8() % 5 : 0;
        for (int i = 0; i < n; ++i) props.push_back({s_.text(12), value(depth - 1)});
        return t % 10 == 6 ? AmfValue::make_object(std::move(props)) : AmfValue::make_ecma_array(std::move(props));
      }
      case 8: {
        AmfValue v;
        v.type = AmfType::strict_array;
        const int n = depth > 0 ? s_.u8() % 5 : 0;
        for (int i = 0; i < n; ++i) v.elements.push_back(value(depth - 1));
        return v;
      }
      default: {
        AmfValue v;
        v.type = AmfType::date;
        v.number = double(s_.u32());
        v.timezone = int16_t(s_.u16());
        return v;
      }
    }
  }

  std::string stream_name() {
    static const char* const kNames[] = {"key", "key?token=abc", "", "?only=query", "a/b", "key?"};
    const uint8_t b = s_.u8();
    if (b < 0xc0) return kNames[b % 6];
    return s_.text(64);
  }

  double transaction() {
    const uint8_t b = s_.u8();
    if (b == 0xff) return value(0).number;
    return b;  // 0 = no answer wanted
  }

  void send_command(uint32_t cs, uint32_t sid, const Command& c) {
    auto payload = encode_command(c);
    write(cs, uint8_t(MessageType::command_amf0), sid, payload, next_timestamp());
  }

  void command(const char* name, std::vector<AmfValue> args) {
    send_command(3, 0, Command{name, transaction(), AmfValue::make_null(), std::move(args)});
  }

  void connect() {
    static const char* const kApps[] = {"live", "live/", "live?key=1", "", "a/b/c"};
    const uint8_t b = s_.u8();
    std::string app = b < 0xc0 ? kApps[b % 5] : s_.text(40);
    std::vector<AmfProperty> props = {
        {"app", AmfValue::make_string(app)},
        {"type", AmfValue::make_string("nonprivate")},
        {"tcUrl", AmfValue::make_string(s_.u8() & 1 ? "rtmp://127.0.0.1/" + app : s_.text(40))},
        {"objectEncoding", AmfValue::make_number(s_.u8() & 1 ? 0 : 3)},
    };
    if (s_.u8() & 1) props.push_back({s_.text(12), value(2)});
    AmfValue object = s_.u8() == 0xff ? value(2) : AmfValue::make_object(std::move(props));
    send_command(3, 0, Command{"connect", 1, std::move(object), {}});
  }

  void publish() {
    const uint32_t cs = 3 + s_.u8() % 6;
    const uint32_t sid = stream_id();
    static const char* const kTypes[] = {"live", "record", "append"};
    std::vector<AmfValue> args = {AmfValue::make_string(stream_name())};
    const uint8_t t = s_.u8();
    if (t < 0xf0) args.push_back(AmfValue::make_string(kTypes[t % 3]));
    else args.push_back(value(1));
    send_command(cs, sid, Command{"publish", transaction(), AmfValue::make_null(), std::move(args)});
  }

  void play() {
    const uint32_t cs = 3 + s_.u8() % 6;
    const uint32_t sid = stream_id();
    std::vector<AmfValue> args = {AmfValue::make_string(stream_name())};
    if (s_.u8() & 1) args.push_back(AmfValue::make_number(-1000.0 * (s_.u8() % 3)));
    send_command(cs, sid, Command{"play", transaction(), AmfValue::make_null(), std::move(args)});
  }

  void delete_stream() {
    std::vector<AmfValue> args;
    const uint8_t b = s_.u8();
    if (b < 0x80) args.push_back(AmfValue::make_number(last_stream_id_));
    else if (b < 0xc0) args.push_back(value(1));
    const uint32_t cs = 3 + s_.u8() % 6;
    const uint32_t sid = stream_id();
    send_command(cs, sid, Command{"deleteStream", 0, AmfValue::make_null(), std::move(args)});
  }

  void other_command() {
    static const char* const kNames[] = {"releaseStream", "FCPublish", "FCUnpublish", "closeStream",
                                         "getStreamLength", "_checkbw", "receiveAudio", "receiveVideo",
                                         "pause", "seek", "_result", "onStatus", "onBWDone", "noSuchCommand",
                                         "connect", "createStream"};
    const uint8_t b = s_.u8();
    std::string name = b < 0xf0 ? kNames[b % 16] : s_.text(20);
    std::vector<AmfValue> args;
    const int n = s_.u8() % 4;
    for (int i = 0; i < n; ++i) args.push_back(s_.u8() & 1 ? AmfValue::make_boolean(s_.u8() & 1) : value(2));
    AmfValue object = s_.u8() < 0xf0 ? AmfValue::make_null() : value(2);
    const uint32_t cs = 3 + s_.u8() % 6;
    const uint32_t sid = stream_id();
    send_command(cs, sid, Command{name, transaction(), std::move(object), std::move(args)});
  }

  void command_amf3() {
    const uint8_t b = s_.u8();
    std::vector<AmfValue> args = {AmfValue::make_string(stream_name())};
    auto payload = encode_command(Command{b & 1 ? "publish" : "createStream", transaction(), AmfValue::make_null(), args});
    payload.insert(payload.begin(), b & 2 ? 0 : 1);
    const uint32_t sid = stream_id();
    write(3, uint8_t(MessageType::command_amf3), sid, payload, next_timestamp());
  }

  // Nesting beyond max_amf_depth (the session must refuse, not recurse without bound).
  void deep_command() {
    const int depth = s_.u8() % 48;
    AmfValue v = AmfValue::make_number(1);
    for (int i = 0; i < depth; ++i) v = AmfValue::make_object({{"x", std::move(v)}});
    send_command(3, 0, Command{s_.u8() & 1 ? "connect" : "publish", 1, std::move(v), {}});
  }

  void audio() {
    std::vector<uint8_t> p;
    switch (s_.u8() % 4) {
      case 0: p = {0xaf, 0x00, 0x12, 0x10}; break;              // AAC sequence header
      case 1: p = {0xaf, 0x01}; break;                          // AAC frame
      case 2: p = {0x9f, 0x00, 'O', 'p', 'u', 's'}; break;      // E-RTMP Opus sequence start
      default: p = {0x2f}; break;                               // MP3
    }
    auto tail = s_.bytes(s_.u8());
    p.insert(p.end(), tail.begin(), tail.end());
    media(8, p);
  }

  void video() {
    std::vector<uint8_t> p;
    switch (s_.u8() % 4) {
      case 0:  // AVC sequence header, x264 High 3.1 avcC
        p = {0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f,
             0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0xb0};
        break;
      case 1: p = {uint8_t(s_.u8() & 1 ? 0x17 : 0x27), 0x01, 0, 0, 0x21, 0, 0, 0, 2, 0x65, 0x88}; break;
      case 2: p = {0x91, 'h', 'v', 'c', '1', 0, 0, 0}; break;  // E-RTMP HEVC coded frames
      default: p = {0x17, 0x02, 0, 0, 0}; break;               // end of sequence
    }
    auto tail = s_.bytes(s_.u16() % 4096);
    p.insert(p.end(), tail.begin(), tail.end());
    media(9, p);
  }

  // Media larger than the chunk size, the held-media limit or the message limit.
  void big_media() {
    static constexpr size_t kSizes[] = {4097, 16 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 200000};
    const size_t size = kSizes[s_.u8() % 5];
    std::vector<uint8_t> p(size, s_.u8());
    p[0] = 0x27;
    media(s_.u8() & 1 ? 9 : 8, p);
  }

  void media(uint8_t type, const std::vector<uint8_t>& payload) {
    const uint32_t ts = next_timestamp();
    const uint32_t sid = stream_id();
    expect_media(sid, type, ts, payload);
    write(type == 8 ? 4 : 6, type, sid, payload, ts);
  }

  void metadata() {
    std::vector<AmfValue> values;
    if (s_.u8() & 1) values.push_back(AmfValue::make_string("@setDataFrame"));
    values.push_back(AmfValue::make_string("onMetaData"));
    values.push_back(AmfValue::make_ecma_array({{"width", AmfValue::make_number(1280)},
                                                {"videocodecid", AmfValue::make_number(7)},
                                                {s_.text(12), value(2)}}));
    auto payload = amf0_encode_all(values);
    const uint32_t ts = next_timestamp();
    const uint32_t sid = stream_id();
    std::vector<uint8_t> expected = payload;
    if (values[0].string == "@setDataFrame") {
      const size_t prefix = 3 + std::strlen("@setDataFrame");
      expected.erase(expected.begin(), expected.begin() + prefix);
    }
    expect_media(sid, 18, ts, expected);
    MessageType type = MessageType::data_amf0;
    if (s_.u8() & 1) {  // AMF3 data message carrying AMF0: one format byte first
      type = MessageType::data_amf3;
      payload.insert(payload.begin(), 0);
    }
    write(5, uint8_t(type), sid, payload, ts);
  }

  void control() {
    uint8_t p[6] = {};
    switch (s_.u8() % 6) {
      case 0:  // Window Acknowledgement Size: small windows make the session acknowledge often
        store_be32(p, s_.u8() == 0xff ? s_.u32() : 1 + s_.u16());
        write(2, uint8_t(MessageType::window_ack_size), 0, std::span(p, 4), 0);
        break;
      case 1:
        store_be32(p, s_.u32());
        write(2, uint8_t(MessageType::acknowledgement), 0, std::span(p, 4), 0);
        break;
      case 2:
        store_be32(p, s_.u32());
        p[4] = s_.u8();
        write(2, uint8_t(MessageType::set_peer_bandwidth), 0, std::span(p, 5), 0);
        break;
      case 3:  // ping request, or a short one
        store_be16(p, 6);
        store_be32(p + 2, s_.u32());
        write(2, uint8_t(MessageType::user_control), 0, std::span(p, s_.u8() & 1 ? 6 : 2 + s_.u8() % 4), 0);
        break;
      case 4:  // other user control events (buffer length, stream begin...)
        store_be16(p, s_.u8() % 8);
        store_be32(p + 2, s_.u32());
        write(2, uint8_t(MessageType::user_control), 0, std::span(p, 6), 0);
        break;
      default: {  // too short: malformed
        const uint8_t type = s_.u8() & 1 ? uint8_t(MessageType::window_ack_size) : uint8_t(MessageType::user_control);
        write(2, type, 0, std::span(p, s_.u8() % 2), 0);
        break;
      }
    }
  }

  void aggregate() {
    std::vector<uint8_t> payload;
    const int n = 1 + s_.u8() % 4;
    const uint32_t agg_ts = next_timestamp();
    const uint32_t sid = stream_id();
    uint32_t base = 0;
    for (int i = 0; i < n; ++i) {
      static constexpr uint8_t kTypes[] = {8, 9, 18, 20};
      const uint8_t type = kTypes[s_.u8() % 4];
      const uint32_t ts = s_.u32();
      if (i == 0) base = ts;
      std::vector<uint8_t> data = s_.bytes(s_.u8());
      uint8_t h[11];
      h[0] = type;
      store_be24(h + 1, uint32_t(data.size()));
      store_be24(h + 4, ts & 0xffffff);
      h[7] = uint8_t(ts >> 24);
      store_be24(h + 8, 0);
      payload.insert(payload.end(), h, h + 11);
      payload.insert(payload.end(), data.begin(), data.end());
      uint8_t back[4];
      store_be32(back, uint32_t(11 + data.size()));
      payload.insert(payload.end(), back, back + 4);
      if (type == 8 || type == 9) expect_media(sid, type, agg_ts + (ts - base), data);
      if (type == 18) clean_ = false;  // the data payload's own @setDataFrame rules apply
    }
    if (s_.u8() == 0xff) {  // a truncated sub-message: malformed
      payload.resize(payload.size() - 1 - s_.u8() % 4);
      clean_ = false;
    }
    write(3 + s_.u8() % 6, uint8_t(MessageType::aggregate), sid, payload, agg_ts);
  }

  // The start of a message whose rest never comes (the peer stalls, or aborts it next).
  void truncated_message() {
    std::vector<uint8_t> payload(1 + s_.u16() % 8192, 0x27);
    std::vector<uint8_t> out;
    const uint32_t cs = csid();
    const uint32_t ts = next_timestamp();
    const uint8_t type = s_.u8() & 1 ? 9 : 8;
    const uint32_t sid = stream_id();
    writer_.write(cs, ts, type, sid, payload, out);
    out.resize(out.size() * (1 + s_.u8() % 15) / 16);
    last_truncated_csid_ = cs;
    clean_ = false;
    feed(out);
  }

  void abort() {
    uint8_t p[4];
    store_be32(p, s_.u8() & 1 ? last_truncated_csid_ : s_.u32());
    write(2, uint8_t(MessageType::abort), 0, p, 0);
  }

  void raw() {
    clean_ = false;
    auto b = s_.bytes(s_.u8());
    feed(b);
  }

  // ---- the application's side ----
  void decide(uint8_t how) {
    if (role_ == Role::publish_pending) {
      if (how & 1) {
        session_->accept_publish();
        role_ = Role::publishing;
      } else {
        session_->reject_publish("NetStream.Publish.BadName", "refused");
        role_ = Role::none;
      }
    } else if (role_ == Role::play_pending) {
      if (how & 1) {
        session_->accept_play();
        role_ = Role::playing;
      } else {
        session_->reject_play("NetStream.Play.StreamNotFound", "refused");
        role_ = Role::none;
      }
    }
    drain_events();
  }

  void server_media() {
    const uint8_t type = s_.u8() % 3 == 0 ? 8 : s_.u8() & 1 ? 9 : 18;
    std::vector<uint8_t> payload(s_.u16() % 70000, 0x17);
    const size_t before = session_->pending_output().size();
    session_->send_media(type, s_.u32(), payload);
    const size_t after = session_->pending_output().size();
    if (role_ != Role::playing) check(after == before);
    // Sent only when the payload fits under the output limit.
    if (after > before) check(before + payload.size() <= config_.limits.max_pending_output);
  }

  void server_status(uint8_t which) {
    const size_t before = session_->pending_output().size();
    switch (which % 4) {
      case 0: session_->send_play_status("NetStream.Play.PublishNotify", s_.text(40)); break;
      case 1: session_->send_stream_begin(); break;
      case 2: session_->send_stream_eof(); break;
      default: session_->send_stream_dry(); break;
    }
    if (role_ == Role::none) check(session_->pending_output().size() == before);
  }

  void close() {
    const size_t before = session_->pending_output().size();
    const bool idle = role_ == Role::none;
    session_->close("NetStream.Publish.Unpublish", "closed by the script");
    role_ = Role::none;
    if (idle) check(session_->pending_output().size() == before);
    check(session_->play_stream_id() == 0);
    drain_events();
  }

  // ---- feeding and checking ----
  void feed(std::span<const uint8_t> bytes) {
    if (failed_ || bytes.empty()) return;
    fed_ += bytes.size();
    bool ok = true;
    const size_t piece = piece_ ? piece_ : std::max<size_t>(bytes.size(), 1);
    for (size_t pos = 0; pos < bytes.size() && ok; pos += piece)
      ok = session_->feed(bytes.subspan(pos, std::min(piece, bytes.size() - pos))).ok();
    check(session_->bytes_in() <= fed_);
    drain_events();
    if (!ok) {
      failed_ = true;
      // Closed for good: nothing more goes in, comes out or happens.
      const size_t out = session_->pending_output().size();
      const uint8_t more[] = {0x03, 0, 0, 0, 0, 0, 4, 9, 1, 0, 0, 0, 0x17, 0x01, 0, 0};
      check(!session_->feed(more).ok());
      check(session_->pending_output().size() == out);
      SessionEvent e;
      check(!session_->next_event(e));
      read_output(out, true);  // what was queued before the error is still a valid stream
      return;
    }
    check(session_->bytes_in() == fed_);
    const auto& limits = config_.limits;
    check(session_->pending_output().size() <= limits.max_pending_output);
    const size_t partial_limit = size_t(limits.max_message_size) * 4;
    check(session_->buffered_input_bytes() <= partial_limit + limits.max_held_media);
    if (role_ == Role::none) check(session_->buffered_input_bytes() <= limits.max_partial_bytes_before_accept);
  }

  void drain_events() {
    SessionEvent e;
    while (session_->next_event(e)) {
      switch (e.kind) {
        case SessionEventKind::handshake_done:  // once, after C2, before anything else
          check(!handshake_done_ && !connected_);
          handshake_done_ = true;
          break;
        case SessionEventKind::connect:
          check(!connected_);
          connected_ = true;
          break;
        case SessionEventKind::publish_requested:
        case SessionEventKind::play_requested:
          check(connected_ && role_ == Role::none);
          check(!e.stream_key.empty() && e.stream_key.find('?') == std::string::npos);
          role_ = e.kind == SessionEventKind::publish_requested ? Role::publish_pending : Role::play_pending;
          active_stream_id_ = e.stream_id;
          break;
        case SessionEventKind::media:
          check(role_ == Role::publishing && e.stream_id == active_stream_id_);
          check(e.message.type == 8 || e.message.type == 9 || e.message.type == 18);
          check_media(e.message);
          break;
        case SessionEventKind::unpublished:
          check(role_ == Role::publishing);
          role_ = Role::none;
          break;
        case SessionEventKind::closed:
        case SessionEventKind::play_stopped:
          role_ = Role::none;
          break;
        case SessionEventKind::play_paused:
        case SessionEventKind::receive_audio:
        case SessionEventKind::receive_video:
          check(role_ == Role::playing);
          break;
      }
    }
    if (session_->play_stream_id() != 0) check(role_ == Role::playing && session_->play_stream_id() == active_stream_id_);
  }

  void expect_media(uint32_t sid, uint8_t type, uint32_t ts, const std::vector<uint8_t>& payload) {
    (void)sid;
    if (!clean_) return;
    sent_bytes_ += payload.size();
    if (sent_bytes_ > kMaxSentBytes) {  // too much history to keep: stop comparing
      clean_ = false;
      sent_.clear();
      return;
    }
    sent_.push_back(SentMedia{type, ts, payload});
  }

  // While the stream is well framed, each media event is one of the messages sent, in order.
  void check_media(const Message& m) {
    if (!clean_) return;
    while (!sent_.empty()) {
      SentMedia s = std::move(sent_.front());
      sent_.pop_front();
      sent_bytes_ -= s.payload.size();
      if (s.type == m.type && s.timestamp == m.timestamp && s.payload == m.payload) return;
    }
    check(false);
  }

  // Takes n bytes of the server's output as a client would: after the handshake they must
  // parse as chunks, and every AMF0 command in them must decode.
  void read_output(size_t n, bool chunks) {
    auto out = session_->pending_output();
    n = std::min(n, out.size());
    if (chunks) {
      std::vector<Message> messages;
      auto used = client_reader_.feed(out.first(n), messages);
      check(used.ok());
      for (const auto& m : messages) {
        if (m.type == uint8_t(MessageType::command_amf0)) check(decode_command(m.payload).ok());
      }
    }
    const uint64_t out_before = session_->bytes_out();
    session_->consume_output(n);
    check(session_->bytes_out() == out_before + n);
  }

  Script& s_;
  ServerSessionConfig config_;
  std::unique_ptr<ServerSession> session_;
  ChunkWriter writer_{128};
  ChunkReader client_reader_;
  size_t piece_ = 0;
  bool digest_ = false;
  bool eager_read_ = false;

  uint64_t fed_ = 0;
  bool failed_ = false;
  bool clean_ = true;
  bool handshake_done_ = false;
  bool connected_ = false;
  Role role_ = Role::none;
  uint32_t active_stream_id_ = 0;
  uint32_t last_stream_id_ = 1;
  uint32_t last_truncated_csid_ = 3;
  uint32_t timestamp_ = 0;
  static constexpr size_t kMaxSentBytes = 4 * 1024 * 1024;
  std::deque<SentMedia> sent_;
  size_t sent_bytes_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Script script(data + 1, size - 1);
  Harness harness(script, data[0]);
  if (harness.handshake()) harness.run();
  return 0;
}
