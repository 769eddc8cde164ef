#include "rtmp/client_session.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "rtmp/message.h"
#include "rtmp/output_buffer.h"

namespace live::rtmp {

namespace {

// User control event types (RTMP spec 7.1.7).
constexpr uint16_t user_control_ping_request = 6;
constexpr uint16_t user_control_ping_response = 7;

// Data messages (onMetaData) get a chunk stream of their own, as ffmpeg does, so they never
// break the header compression of audio (6) and video (7).
constexpr uint32_t data_chunk_stream = 4;

// Room above max_pending_output for our replies (acks, ping responses) before feed() decides
// the server does not read what we send.
constexpr size_t reply_headroom = 64 * 1024;

// What connect announces beside app/type/flashVer/tcUrl: the usual Flash values, and the
// Enhanced RTMP codecs (servers that know fourCcList accept these in the extended tags).
constexpr double connect_capabilities = 15;
constexpr double connect_audio_codecs = 3191;  // every legacy codec flag ffmpeg announces
constexpr double connect_video_codecs = 252;
constexpr const char* enhanced_fourccs[] = {"av01", "vp09", "hvc1", "avc1"};

// A stream id sent as an AMF number; NaN, infinities, 0 and out-of-range values name no stream.
uint32_t stream_id_from(double v) {
  if (!(v >= 1 && v <= 4294967295.0)) return 0;
  return uint32_t(v);
}

// The info object of an onStatus/_result/_error: the first object-like argument.
const AmfValue* info_object(const Command& c) {
  for (const auto& a : c.arguments) {
    if (a.is_object_like()) return &a;
  }
  return c.command_object.is_object_like() ? &c.command_object : nullptr;
}

// AMF0 string "onMetaData" at the start of a data payload.
bool starts_with_on_metadata(std::span<const uint8_t> p) {
  static constexpr char name[] = "onMetaData";
  constexpr size_t len = sizeof(name) - 1;
  return p.size() >= 3 + len && p[0] == uint8_t(AmfType::string) && load_be16(p.data() + 1) == len &&
         std::memcmp(p.data() + 3, name, len) == 0;
}

}  // namespace

ClientSessionConfig client_config_for(const RtmpUrl& url) {
  ClientSessionConfig config;
  config.app = url.app;
  config.tc_url = url.tc_url;
  config.stream_name = url.stream_name;
  return config;
}

struct ClientSession::Impl {
  // Where the publish flow stands. unpublished: our unpublish() ran; ended: rejected or closed
  // was reported and nothing more will be.
  enum class State { idle, handshaking, connecting, creating_stream, publish_sent, publishing, unpublished, ended };

  explicit Impl(ClientSessionConfig c)
      : config(std::move(c)),
        handshake(config.handshake_mode, config.handshake_seed),
        reader(ChunkReaderLimits{config.limits.max_message_size, config.limits.max_chunk_streams,
                                 config.limits.max_incoming_chunk_size, partial_limit(config.limits)}) {}

  // Unfinished messages: room for a few interleaved ones (as ServerSession allows).
  static uint32_t partial_limit(const ClientSessionLimits& l) {
    return uint32_t(std::min<uint64_t>(uint64_t(l.max_message_size) * 4, 0xffffffffu));
  }

  ClientSessionConfig config;
  HandshakeInitiator handshake;
  ChunkReader reader;
  ChunkWriter writer{default_chunk_size};
  std::vector<Message> incoming;

  OutputBuffer output;
  std::deque<ClientEvent> events;
  bool failed = false;

  State state = State::idle;
  double next_transaction = 1;
  double connect_transaction = 0, create_stream_transaction = 0, publish_transaction = 0;
  bool fc_published = false;
  uint32_t stream_id = 0;

  uint32_t peer_window = 0;
  uint64_t chunk_bytes_in = 0;
  uint64_t acked_at = 0;
  uint64_t bytes_in = 0, media_dropped = 0;

  // ---- output helpers ----
  size_t pending() const { return output.size(); }

  double take_transaction(bool awaits_result) {
    if (!awaits_result && !config.number_every_command) return 0;
    return next_transaction++;
  }

  void send(uint32_t csid, uint8_t type, uint32_t msg_stream, std::span<const uint8_t> payload, uint32_t ts = 0) {
    writer.write(csid, ts, type, msg_stream, payload, output.back());
  }
  void send_control_u32(MessageType type, uint32_t value) {
    uint8_t p[4];
    store_be32(p, value);
    send(control_chunk_stream, uint8_t(type), 0, p);
  }
  void send_command(uint32_t csid, uint32_t msg_stream, const std::string& name, double txn, AmfValue object,
                    std::vector<AmfValue> args = {}) {
    const auto payload = encode_command(Command{name, txn, std::move(object), std::move(args)});
    send(csid, uint8_t(MessageType::command_amf0), msg_stream, payload);
  }
  void send_stream_name_command(const std::string& name, double txn) {
    send_command(command_chunk_stream, 0, name, txn, AmfValue::make_null(), {AmfValue::make_string(config.stream_name)});
  }

  void emit(ClientEventKind kind, std::string code = {}, std::string description = {}) {
    events.push_back(ClientEvent{kind, std::move(code), std::move(description)});
  }
  // rejected/closed: reported once, then the session ignores the server's commands.
  void end(ClientEventKind kind, const AmfValue* info, const char* fallback_code) {
    std::string code = info ? info->string_property("code") : std::string();
    emit(kind, code.empty() ? fallback_code : std::move(code), info ? info->string_property("description") : "");
    state = State::ended;
  }

  // ---- the publish flow ----
  void on_handshake_done() {
    emit(ClientEventKind::handshake_done);
    if (state != State::handshaking) return;  // unpublish() came first: nothing to ask for
    writer.set_chunk_size(config.outgoing_chunk_size, output.back());
    AmfValue fourccs;
    fourccs.type = AmfType::strict_array;
    for (const char* f : enhanced_fourccs) fourccs.elements.push_back(AmfValue::make_string(f));
    AmfValue object = AmfValue::make_object({
        {"app", AmfValue::make_string(config.app)},
        {"type", AmfValue::make_string("nonprivate")},
        {"flashVer", AmfValue::make_string(config.flash_ver)},
        {"tcUrl", AmfValue::make_string(config.tc_url)},
        {"fpad", AmfValue::make_boolean(false)},
        {"capabilities", AmfValue::make_number(connect_capabilities)},
        {"audioCodecs", AmfValue::make_number(connect_audio_codecs)},
        {"videoCodecs", AmfValue::make_number(connect_video_codecs)},
        {"videoFunction", AmfValue::make_number(1)},
        {"fourCcList", std::move(fourccs)},
    });
    connect_transaction = take_transaction(true);
    send_command(command_chunk_stream, 0, "connect", connect_transaction, std::move(object));
    send_control_u32(MessageType::window_ack_size, config.window_ack_size);
    state = State::connecting;
  }

  void on_connected(const Command& c) {
    const AmfValue* info = info_object(c);
    const std::string code = info ? info->string_property("code") : std::string();
    emit(ClientEventKind::connected, code.empty() ? "NetConnection.Connect.Success" : code,
         info ? info->string_property("description") : "");
    send_stream_name_command("releaseStream", take_transaction(false));
    send_stream_name_command("FCPublish", take_transaction(false));
    fc_published = true;
    create_stream_transaction = take_transaction(true);
    send_command(command_chunk_stream, 0, "createStream", create_stream_transaction, AmfValue::make_null());
    state = State::creating_stream;
  }

  Result<void> on_stream_created(const Command& c) {
    uint32_t id = 0;
    if (c.command_object.type == AmfType::number) id = stream_id_from(c.command_object.number);
    for (size_t i = 0; id == 0 && i < c.arguments.size(); ++i) {
      if (c.arguments[i].type == AmfType::number) id = stream_id_from(c.arguments[i].number);
    }
    if (id == 0) return make_error(Errc::protocol_violation, "createStream answered without a stream id");
    stream_id = id;
    publish_transaction = take_transaction(false);
    send_command(status_chunk_stream, stream_id, "publish", publish_transaction, AmfValue::make_null(),
                 {AmfValue::make_string(config.stream_name), AmfValue::make_string("live")});
    state = State::publish_sent;
    return {};
  }

  // ---- input ----
  Result<void> feed(std::span<const uint8_t> in) {
    bytes_in += in.size();
    if (state == State::idle) return make_error(Errc::protocol_violation, "ClientSession fed before start()");
    if (!handshake.done()) {
      auto used = handshake.feed(in);
      if (!used) return used.error();
      move_handshake_output();
      in = in.subspan(used.value());
      if (!handshake.done()) return {};
      on_handshake_done();
    }
    if (in.empty()) return {};
    chunk_bytes_in += in.size();
    incoming.clear();
    auto used = reader.feed(in, incoming);
    // Messages completed before an error are still handled.
    for (auto& m : incoming) {
      auto handled = handle(m);
      if (!handled) return handled;
    }
    incoming.clear();
    if (!used) return used.error();
    // Acknowledge chunk-stream bytes (not the handshake), as nginx-rtmp and ffmpeg count.
    if (peer_window > 0 && chunk_bytes_in - acked_at >= peer_window) {
      send_control_u32(MessageType::acknowledgement, uint32_t(chunk_bytes_in));
      acked_at = chunk_bytes_in;
    }
    if (pending() > size_t(config.limits.max_pending_output) + reply_headroom) {
      return make_error(Errc::limit_exceeded, "server does not read what we send");
    }
    return {};
  }

  void move_handshake_output() {
    auto& hs = handshake.output();
    output.back().insert(output.back().end(), hs.begin(), hs.end());
    hs.clear();
  }

  Result<void> handle(const Message& m) {
    switch (m.message_type()) {
      case MessageType::window_ack_size:
        if (m.payload.size() < 4) return make_error(Errc::malformed, "Window Acknowledgement Size shorter than 4 bytes");
        peer_window = load_be32(m.payload.data());
        return {};
      case MessageType::user_control:
        return handle_user_control(m);
      case MessageType::command_amf3:
        if (m.payload.empty()) return make_error(Errc::malformed, "empty AMF3 command");
        return handle_command(std::span<const uint8_t>(m.payload).subspan(1));
      case MessageType::command_amf0:
        return handle_command(m.payload);
      default:
        // Set Chunk Size and Abort were applied by the reader. Set Peer Bandwidth limits what
        // the server would like us to send unacknowledged; like ffmpeg we neither answer nor
        // throttle (the caller's queue limit does that). Acks, media, data: nothing to do.
        return {};
    }
  }

  Result<void> handle_user_control(const Message& m) {
    if (m.payload.size() < 2) return make_error(Errc::malformed, "user control message shorter than 2 bytes");
    if (load_be16(m.payload.data()) == user_control_ping_request) {
      if (m.payload.size() < 6) return make_error(Errc::malformed, "ping request shorter than 6 bytes");
      uint8_t p[6];
      store_be16(p, user_control_ping_response);
      std::memcpy(p + 2, m.payload.data() + 2, 4);
      send(control_chunk_stream, uint8_t(MessageType::user_control), 0, p);
    }
    return {};
  }

  Result<void> handle_command(std::span<const uint8_t> payload) {
    auto decoded = decode_command(payload, config.limits.max_amf_depth);
    if (!decoded) return decoded.error();
    const Command& c = decoded.value();
    const double txn = c.transaction_id;
    if (c.name == "_result") {
      if (state == State::connecting && txn == connect_transaction) on_connected(c);
      else if (state == State::creating_stream && txn == create_stream_transaction) return on_stream_created(c);
      return {};  // releaseStream, FCPublish, publish and unknown transactions need nothing
    }
    if (c.name == "_error") {
      // Refusals of connect, createStream or publish end the attempt; an _error to
      // releaseStream or FCPublish only says the server does not know them (ffmpeg goes on too).
      const bool fatal = (state == State::connecting && txn == connect_transaction) ||
                         (state == State::creating_stream && txn == create_stream_transaction) ||
                         (state == State::publish_sent && publish_transaction != 0 && txn == publish_transaction);
      if (fatal) end(ClientEventKind::rejected, info_object(c), "NetConnection.Call.Failed");
      return {};
    }
    if (c.name == "onStatus") return on_status(c);
    if (c.name == "close") {  // FMS/Wowza end a connection this way
      if (state != State::ended && state != State::idle) end(ClientEventKind::closed, nullptr, "NetConnection.Connect.Closed");
      return {};
    }
    if (c.name == "_checkbw") {
      if (txn != 0) send_command(command_chunk_stream, 0, "_result", txn, AmfValue::make_null(), {AmfValue::make_undefined()});
      return {};
    }
    return {};  // onBWDone, onFCPublish, onFCUnpublish, |RtmpSampleAccess ...: informational
  }

  Result<void> on_status(const Command& c) {
    if (state == State::ended) return {};
    const AmfValue* info = info_object(c);
    if (!info) return {};
    const std::string level = info->string_property("level");
    const std::string code = info->string_property("code");
    if (state == State::publish_sent && code == "NetStream.Publish.Start") {
      state = State::publishing;
      emit(ClientEventKind::publishing, code, info->string_property("description"));
      return {};
    }
    const bool before_publishing = state == State::handshaking || state == State::connecting ||
                                   state == State::creating_stream || state == State::publish_sent;
    if (level == "error") {
      end(before_publishing ? ClientEventKind::rejected : ClientEventKind::closed, info, "");
    } else if (code.rfind("NetStream.Unpublish.", 0) == 0 || code == "NetConnection.Connect.Closed") {
      end(ClientEventKind::closed, info, "");
    }
    return {};
  }
};

ClientSession::ClientSession(ClientSessionConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
ClientSession::~ClientSession() = default;

void ClientSession::start() {
  auto& d = *impl_;
  if (d.state != Impl::State::idle) return;
  d.handshake.start();
  d.move_handshake_output();
  d.state = Impl::State::handshaking;
}

Result<void> ClientSession::feed(std::span<const uint8_t> in) {
  if (impl_->failed) return make_error(Errc::closed, "session already failed");
  auto r = impl_->feed(in);
  if (!r) impl_->failed = true;
  return r;
}

bool ClientSession::next_event(ClientEvent& out) {
  if (impl_->events.empty()) return false;
  out = std::move(impl_->events.front());
  impl_->events.pop_front();
  return true;
}

std::span<const uint8_t> ClientSession::pending_output() const {
  return impl_->output.pending();
}

void ClientSession::consume_output(size_t n) {
  impl_->output.consume(n);
}

size_t ClientSession::pending_output_size() const { return impl_->pending(); }

bool ClientSession::publishing() const { return impl_->state == Impl::State::publishing; }

bool ClientSession::send_media(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload) {
  auto& d = *impl_;
  uint32_t csid;
  switch (MessageType(type)) {
    case MessageType::audio: csid = audio_chunk_stream; break;
    case MessageType::video: csid = video_chunk_stream; break;
    case MessageType::data_amf0: csid = data_chunk_stream; break;
    default: return false;
  }
  if (d.state != Impl::State::publishing || d.pending() + payload.size() > d.config.limits.max_pending_output) {
    ++d.media_dropped;
    return false;
  }
  if (csid == data_chunk_stream && starts_with_on_metadata(payload)) {
    std::vector<uint8_t> wrapped;
    wrapped.reserve(16 + payload.size());
    amf0_encode(AmfValue::make_string("@setDataFrame"), wrapped);
    wrapped.insert(wrapped.end(), payload.begin(), payload.end());
    d.send(csid, type, d.stream_id, wrapped, timestamp);
  } else {
    d.send(csid, type, d.stream_id, payload, timestamp);
  }
  return true;
}

void ClientSession::unpublish() {
  auto& d = *impl_;
  if (d.state == Impl::State::unpublished || d.state == Impl::State::ended) return;
  if (d.fc_published) d.send_stream_name_command("FCUnpublish", d.take_transaction(false));
  if (d.stream_id != 0) {
    d.send_command(command_chunk_stream, 0, "deleteStream", d.take_transaction(false), AmfValue::make_null(),
                   {AmfValue::make_number(d.stream_id)});
  }
  d.state = Impl::State::unpublished;
}

uint64_t ClientSession::bytes_in() const { return impl_->bytes_in; }
uint64_t ClientSession::bytes_out() const { return impl_->output.consumed(); }
uint64_t ClientSession::media_dropped() const { return impl_->media_dropped; }
uint32_t ClientSession::stream_id() const { return impl_->stream_id; }

}  // namespace live::rtmp
