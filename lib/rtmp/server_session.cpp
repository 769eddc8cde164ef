#include "rtmp/server_session.h"

#include <algorithm>
#include <optional>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "rtmp/handshake.h"
#include "rtmp/output_buffer.h"

namespace live::rtmp {

namespace {

// User control event types (RTMP spec 7.1.7).
constexpr uint16_t user_control_stream_begin = 0;
constexpr uint16_t user_control_stream_eof = 1;
constexpr uint16_t user_control_stream_dry = 2;
constexpr uint16_t user_control_ping_request = 6;
constexpr uint16_t user_control_ping_response = 7;

constexpr uint8_t peer_bandwidth_dynamic = 2;

// Message streams one connection may create; real clients create one or two.
constexpr uint32_t max_message_streams = 16;

// A stream id sent as an AMF number; NaN, infinities and out-of-range values name no stream.
uint32_t stream_id_from(double v) {
  if (!(v >= 0 && v <= 4294967295.0)) return 0;
  return uint32_t(v);
}

std::pair<std::string, std::string> split_query(const std::string& s) {
  const auto q = s.find('?');
  if (q == std::string::npos) return {s, {}};
  return {s.substr(0, q), s.substr(q + 1)};
}

}  // namespace

struct ServerSession::Impl {
  static constexpr size_t kAnonymousFeedStep = 4096;
  enum class Role { none, publish_pending, publishing, play_pending, playing };

  explicit Impl(ServerSessionConfig c)
      : config(c),
        reader(ChunkReaderLimits{c.limits.max_message_size, c.limits.max_chunk_streams,
                                 c.limits.max_incoming_chunk_size, partial_limit(c.limits)}) {}

  // Unfinished messages: room for a few interleaved ones (audio, video, data, command).
  static uint32_t partial_limit(const ServerSessionLimits& l) {
    return uint32_t(std::min<uint64_t>(uint64_t(l.max_message_size) * 4, 0xffffffffu));
  }

  ServerSessionConfig config;
  HandshakeResponder handshake;
  ChunkReader reader;
  ChunkWriter writer{default_chunk_size};
  std::vector<Message> incoming;

  OutputBuffer output;
  std::deque<SessionEvent> events;
  bool failed = false;

  bool connected = false;
  std::string app, tc_url, connect_query;
  uint32_t next_stream_id = 1;
  uint32_t streams_created = 0;

  Role role = Role::none;
  uint32_t active_stream_id = 0;
  double request_transaction = 0;
  std::string stream_key;
  std::vector<Message> held;  // input that arrived while a decision was pending
  size_t held_bytes = 0;
  std::optional<Error> deferred_error;  // from held input handled inside accept/reject

  uint32_t peer_window = 0;
  uint64_t chunk_bytes_in = 0;
  uint64_t acked_at = 0;
  uint64_t bytes_in = 0, messages_in = 0, media_dropped = 0;

  // ---- output helpers ----
  size_t pending() const { return output.size(); }

  void send(uint32_t csid, uint8_t type, uint32_t stream_id, std::span<const uint8_t> payload, uint32_t ts = 0) {
    writer.write(csid, ts, type, stream_id, payload, output.back());
  }
  void send_control_u32(MessageType type, uint32_t value) {
    uint8_t p[4];
    store_be32(p, value);
    send(control_chunk_stream, uint8_t(type), 0, p);
  }
  void send_user_control(uint16_t event, uint32_t value) {
    uint8_t p[6];
    store_be16(p, event);
    store_be32(p + 2, value);
    send(control_chunk_stream, uint8_t(MessageType::user_control), 0, p);
  }
  void send_command(uint32_t csid, uint32_t stream_id, const std::string& name, double txn, AmfValue object,
                    std::vector<AmfValue> args = {}) {
    const auto payload = encode_command(Command{name, txn, std::move(object), std::move(args)});
    send(csid, uint8_t(MessageType::command_amf0), stream_id, payload);
  }
  void send_status(uint32_t stream_id, const std::string& level, const std::string& code, const std::string& desc) {
    send_command(status_chunk_stream, stream_id, "onStatus", 0, AmfValue::make_null(),
                 {status_object(level, code, desc)});
  }
  void send_result(double txn, AmfValue object, std::vector<AmfValue> args = {}) {
    send_command(command_chunk_stream, 0, "_result", txn, std::move(object), std::move(args));
  }
  void send_error(double txn, const std::string& code, const std::string& desc) {
    send_command(command_chunk_stream, 0, "_error", txn, AmfValue::make_null(), {status_object("error", code, desc)});
  }

  void emit(SessionEvent e) { events.push_back(std::move(e)); }
  SessionEvent event(SessionEventKind kind) {
    SessionEvent e{kind};
    e.app = app;
    e.tc_url = tc_url;
    e.query = connect_query;
    return e;
  }

  // ---- input ----
  Result<void> feed(std::span<const uint8_t> in) {
    bytes_in += in.size();
    if (!handshake.done()) {
      auto used = handshake.feed(in);
      if (!used) return used.error();
      if (!handshake.output().empty()) {
        output.back().insert(output.back().end(), handshake.output().begin(), handshake.output().end());
        handshake.output().clear();
      }
      in = in.subspan(used.value());
      if (!handshake.done()) return {};
      emit(SessionEvent{SessionEventKind::handshake_done});
    }
    if (in.empty()) return {};
    chunk_bytes_in += in.size();
    // An anonymous peer's input goes to the reader in small steps, checked against the lower
    // limits after each, until a command names a stream (the bytes after it may be media).
    while (!in.empty()) {
      const bool anonymous = role == Role::none;
      const size_t step = anonymous ? std::min<size_t>(in.size(), kAnonymousFeedStep) : in.size();
      incoming.clear();
      auto used = reader.feed(in.first(step), incoming);
      // Messages completed before an error are still handled (their replies get flushed).
      for (auto& m : incoming) {
        ++messages_in;
        if (role == Role::none && m.payload.size() > config.limits.max_message_size_before_accept)
          return make_error(Errc::limit_exceeded, "message of " + std::to_string(m.payload.size()) +
                                                      " bytes before a publish or play");
        auto handled = hold_or_handle(std::move(m));
        if (!handled) return handled;
      }
      incoming.clear();
      if (!used) return used.error();
      if (role == Role::none && reader.partial_bytes() > config.limits.max_partial_bytes_before_accept)
        return make_error(Errc::limit_exceeded, std::to_string(reader.partial_bytes()) +
                                                    " bytes of unfinished messages before a publish or play");
      in = in.subspan(step);
    }
    // Acknowledge chunk-stream bytes (not the handshake), as nginx-rtmp and ffmpeg count.
    if (peer_window > 0 && chunk_bytes_in - acked_at >= peer_window) {
      send_control_u32(MessageType::acknowledgement, uint32_t(chunk_bytes_in));
      acked_at = chunk_bytes_in;
    }
    if (pending() > config.limits.max_pending_output) {
      return make_error(Errc::limit_exceeded, "peer does not read what we send");
    }
    return {};
  }

  bool awaiting_decision() const { return role == Role::publish_pending || role == Role::play_pending; }

  // While the application decides on a publish or play, later messages wait in order (the
  // decision may come after the whole input was fed, e.g. media sent before Publish.Start).
  Result<void> hold_or_handle(Message m) {
    if (!awaiting_decision()) return handle(std::move(m));
    held_bytes += m.payload.size() + 32;
    if (held_bytes > config.limits.max_held_media) {
      return make_error(Errc::limit_exceeded, "input while a publish/play decision is pending exceeds the limit");
    }
    held.push_back(std::move(m));
    return {};
  }

  // The application refused the pending publish or play: error status and _error, then on.
  void refuse_pending(Role pending, const std::string& code, const std::string& description) {
    if (role != pending) return;
    role = Role::none;
    send_status(active_stream_id, "error", code, description);
    if (request_transaction != 0) send_error(request_transaction, code, description);
    drain_held();  // media of a refused publish is dropped; commands still get answers
  }

  // Runs held messages after a decision, until another decision is needed.
  void drain_held() {
    size_t i = 0;
    for (; i < held.size() && !awaiting_decision() && !deferred_error; ++i) {
      held_bytes -= held[i].payload.size() + 32;
      auto handled = handle(std::move(held[i]));
      if (!handled) deferred_error = handled.error();
    }
    held.erase(held.begin(), held.begin() + long(i));
    if (held.empty()) held_bytes = 0;
  }

  Result<void> handle(Message m) {
    switch (m.message_type()) {
      case MessageType::set_chunk_size:
      case MessageType::abort:
      case MessageType::acknowledgement:
      case MessageType::set_peer_bandwidth:
        return {};  // the chunk reader applied the first two already
      case MessageType::window_ack_size:
        if (m.payload.size() < 4) return make_error(Errc::malformed, "Window Acknowledgement Size shorter than 4 bytes");
        peer_window = load_be32(m.payload.data());
        return {};
      case MessageType::user_control:
        return handle_user_control(m);
      case MessageType::audio:
      case MessageType::video:
        return handle_media(std::move(m));
      case MessageType::data_amf3:
        if (m.payload.empty() || m.payload[0] != 0) return {};  // real AMF3 data: nothing we use
        m.payload.erase(m.payload.begin());
        m.type = uint8_t(MessageType::data_amf0);
        return handle_data(std::move(m));
      case MessageType::data_amf0:
        return handle_data(std::move(m));
      case MessageType::command_amf3:
        if (m.payload.empty()) return make_error(Errc::malformed, "empty AMF3 command");
        return handle_command(m, std::span<const uint8_t>(m.payload).subspan(1));
      case MessageType::command_amf0:
        return handle_command(m, m.payload);
      case MessageType::aggregate:
        return handle_aggregate(m);
      default:
        return {};  // shared objects and unknown types: nothing to do
    }
  }

  Result<void> handle_user_control(const Message& m) {
    if (m.payload.size() < 2) return make_error(Errc::malformed, "user control message shorter than 2 bytes");
    const uint16_t event_type = load_be16(m.payload.data());
    if (event_type == user_control_ping_request) {
      if (m.payload.size() < 6) return make_error(Errc::malformed, "ping request shorter than 6 bytes");
      send_user_control(user_control_ping_response, load_be32(m.payload.data() + 2));
    }
    return {};
  }

  Result<void> handle_media(Message m) {
    if (role == Role::publishing) {
      SessionEvent e{SessionEventKind::media};
      e.stream_id = active_stream_id;
      e.message = std::move(m);
      emit(std::move(e));
    } else {
      ++media_dropped;
    }
    return {};
  }

  Result<void> handle_data(Message m) {
    // "@setDataFrame" "onMetaData" {...} -> "onMetaData" {...}, as an FLV script tag.
    ByteReader r(m.payload);
    auto first = amf0_decode(r, config.limits.max_amf_depth);
    if (first && first->is_string() && first->string == "@setDataFrame") {
      m.payload.erase(m.payload.begin(), m.payload.begin() + long(r.position()));
    }
    return handle_media(std::move(m));
  }

  Result<void> handle_aggregate(const Message& m) {
    // A run of FLV tags (11-byte header, data, 4-byte back pointer); timestamps relative to
    // the first tag, rebased on the aggregate's own.
    ByteReader r(m.payload);
    bool first = true;
    uint32_t base = 0;
    while (!r.empty()) {
      uint8_t type, ts_ext;
      uint32_t size, ts, sid, back;
      std::span<const uint8_t> data;
      if (!r.read_u8(type) || !r.read_be24(size) || !r.read_be24(ts) || !r.read_u8(ts_ext) || !r.read_be24(sid) ||
          !r.read_bytes(size, data) || !r.read_be32(back)) {
        return make_error(Errc::malformed, "aggregate message with a truncated sub-message");
      }
      ts |= uint32_t(ts_ext) << 24;
      if (first) base = ts;
      first = false;
      Message sub;
      sub.chunk_stream_id = m.chunk_stream_id;
      sub.timestamp = m.timestamp + (ts - base);
      sub.type = type;
      sub.stream_id = m.stream_id;
      sub.payload.assign(data.begin(), data.end());
      if (type == uint8_t(MessageType::audio) || type == uint8_t(MessageType::video)) {
        auto handled = handle_media(std::move(sub));
        if (!handled) return handled;
      } else if (type == uint8_t(MessageType::data_amf0)) {
        auto handled = handle_data(std::move(sub));
        if (!handled) return handled;
      }
    }
    return {};
  }

  static std::string string_argument(const Command& c, size_t index) {
    return index < c.arguments.size() && c.arguments[index].is_string() ? c.arguments[index].string : std::string();
  }

  Result<void> handle_command(const Message& m, std::span<const uint8_t> payload) {
    auto decoded = decode_command(payload, config.limits.max_amf_depth);
    if (!decoded) return decoded.error();
    const Command& c = decoded.value();
    const double txn = c.transaction_id;

    if (c.name == "connect") return on_connect(c);
    if (c.name == "_result" || c.name == "_error" || c.name == "onStatus" || c.name == "onBWDone") return {};
    if (!connected) {
      return make_error(Errc::protocol_violation, "command '" + c.name + "' before connect");
    }
    if (c.name == "releaseStream") {
      if (txn != 0) send_result(txn, AmfValue::make_null(), {AmfValue::make_undefined()});
      return {};
    }
    if (c.name == "FCPublish") {
      const std::string name = string_argument(c, 0);
      send_command(command_chunk_stream, 0, "onFCPublish", 0, AmfValue::make_null(),
                   {status_object("status", "NetStream.Publish.Start", name)});
      if (txn != 0) send_result(txn, AmfValue::make_null(), {AmfValue::make_undefined()});
      return {};
    }
    if (c.name == "FCUnpublish") {
      const std::string name = string_argument(c, 0);
      end_publish();
      send_command(command_chunk_stream, 0, "onFCUnpublish", 0, AmfValue::make_null(),
                   {status_object("status", "NetStream.Unpublish.Success", name)});
      if (txn != 0) send_result(txn, AmfValue::make_null(), {AmfValue::make_undefined()});
      return {};
    }
    if (c.name == "createStream") {
      if (streams_created >= max_message_streams) {
        if (txn != 0) send_error(txn, "NetConnection.Call.Failed", "too many streams");
        return {};
      }
      ++streams_created;
      send_result(txn, AmfValue::make_null(), {AmfValue::make_number(next_stream_id++)});
      return {};
    }
    if (c.name == "publish") return on_publish(m, c);
    if (c.name == "play") return on_play(m, c);
    if (c.name == "deleteStream") {
      uint32_t id = m.stream_id;
      if (!c.arguments.empty() && c.arguments[0].type == AmfType::number) id = stream_id_from(c.arguments[0].number);
      if (active_stream_id != 0 && id == active_stream_id) {
        end_publish();
        role = Role::none;
        active_stream_id = 0;
        emit(event(SessionEventKind::closed));
      }
      return {};
    }
    if (c.name == "closeStream") {
      if (role == Role::playing || role == Role::play_pending) {
        const bool was_playing = role == Role::playing;
        role = Role::none;
        if (was_playing) emit_play_event(SessionEventKind::play_stopped, false);
      }
      end_publish();
      return {};
    }
    if (c.name == "getStreamLength" || c.name == "_checkbw") {
      if (txn != 0) send_result(txn, AmfValue::make_null(), {AmfValue::make_number(0)});
      return {};
    }
    if (c.name == "receiveAudio" || c.name == "receiveVideo") {
      // receiveAudio(flag) / receiveVideo(flag): the first argument after the null object.
      if (role == Role::playing && !c.arguments.empty() && c.arguments[0].type == AmfType::boolean) {
        emit_play_event(c.name == "receiveAudio" ? SessionEventKind::receive_audio : SessionEventKind::receive_video,
                        c.arguments[0].boolean);
      }
      return {};
    }
    if (c.name == "pause") {
      // pause(flag, milliseconds): live streams cannot seek, so the position is only echoed.
      if (role == Role::playing && !c.arguments.empty() && c.arguments[0].type == AmfType::boolean) {
        const bool paused = c.arguments[0].boolean;
        send_status(active_stream_id, "status", paused ? "NetStream.Pause.Notify" : "NetStream.Unpause.Notify",
                    paused ? "Paused live stream." : "Unpaused live stream.");
        emit_play_event(SessionEventKind::play_paused, paused);
      }
      return {};
    }
    if (c.name == "seek") {
      // Live: seeking is not possible; say so instead of leaving the player waiting.
      if (role == Role::playing) send_status(active_stream_id, "error", "NetStream.Seek.Failed", "Live streams cannot seek.");
      return {};
    }
    if (txn != 0) send_error(txn, "NetConnection.Call.Failed", "Method not found (" + c.name + ")");
    return {};
  }

  Result<void> on_connect(const Command& c) {
    if (connected) return make_error(Errc::protocol_violation, "second connect on one connection");
    if (!c.command_object.is_object_like()) return make_error(Errc::malformed, "connect without a command object");
    auto [app_name, app_query] = split_query(c.command_object.string_property("app"));
    tc_url = c.command_object.string_property("tcUrl");
    // Some clients end the app with '/', some put the stream key query on it.
    while (!app_name.empty() && app_name.back() == '/') app_name.pop_back();
    app = app_name;
    connect_query = app_query.empty() ? split_query(tc_url).second : app_query;
    const double object_encoding = c.command_object.number_property("objectEncoding").value_or(0);
    connected = true;

    send_control_u32(MessageType::window_ack_size, config.window_ack_size);
    uint8_t bw[5];
    store_be32(bw, config.peer_bandwidth);
    bw[4] = peer_bandwidth_dynamic;
    send(control_chunk_stream, uint8_t(MessageType::set_peer_bandwidth), 0, bw);
    writer.set_chunk_size(config.outgoing_chunk_size, output.back());

    AmfValue info = status_object("status", "NetConnection.Connect.Success", "Connection succeeded.");
    info.properties.push_back({"objectEncoding", AmfValue::make_number(object_encoding)});
    send_result(c.transaction_id,
                AmfValue::make_object({{"fmsVer", AmfValue::make_string("FMS/3,0,1,123")},
                                       {"capabilities", AmfValue::make_number(31)}}),
                {std::move(info)});
    emit(event(SessionEventKind::connect));
    return {};
  }

  void fill_stream_request(SessionEvent& e, const std::string& name) {
    auto [key, query] = split_query(name);
    e.stream_key = key;
    if (!query.empty()) e.query = query;
  }

  Result<void> on_publish(const Message& m, const Command& c) {
    const std::string name = string_argument(c, 0);
    const uint32_t sid = m.stream_id;
    if (role != Role::none) {
      send_status(sid, "error", "NetStream.Publish.BadConnection", "this connection already publishes or plays");
      if (c.transaction_id != 0) send_error(c.transaction_id, "NetStream.Publish.BadConnection", "already active");
      return {};
    }
    if (split_query(name).first.empty()) {
      send_status(sid, "error", "NetStream.Publish.BadName", "empty stream name");
      if (c.transaction_id != 0) send_error(c.transaction_id, "NetStream.Publish.BadName", "empty stream name");
      return {};
    }
    role = Role::publish_pending;
    active_stream_id = sid;
    request_transaction = c.transaction_id;
    SessionEvent e = event(SessionEventKind::publish_requested);
    fill_stream_request(e, name);
    stream_key = e.stream_key;
    const std::string type = string_argument(c, 1);
    e.publish_type = type.empty() ? "live" : type;
    e.stream_id = sid;
    emit(std::move(e));
    return {};
  }

  Result<void> on_play(const Message& m, const Command& c) {
    const std::string name = string_argument(c, 0);
    const uint32_t sid = m.stream_id;
    if (role != Role::none || split_query(name).first.empty()) {
      const char* code = role != Role::none ? "NetStream.Play.Failed" : "NetStream.Play.StreamNotFound";
      send_status(sid, "error", code, "cannot play");
      if (c.transaction_id != 0) send_error(c.transaction_id, code, "cannot play");
      return {};
    }
    role = Role::play_pending;
    active_stream_id = sid;
    request_transaction = c.transaction_id;
    SessionEvent e = event(SessionEventKind::play_requested);
    fill_stream_request(e, name);
    stream_key = e.stream_key;
    e.stream_id = sid;
    emit(std::move(e));
    return {};
  }

  void emit_play_event(SessionEventKind kind, bool flag) {
    SessionEvent e = event(kind);
    e.stream_key = stream_key;
    e.stream_id = active_stream_id;
    e.flag = flag;
    emit(std::move(e));
  }

  // Ends a running publish (FCUnpublish, closeStream, deleteStream); idempotent.
  void end_publish() {
    if (role == Role::publishing || role == Role::publish_pending) {
      const bool was_publishing = role == Role::publishing;
      role = Role::none;
      if (was_publishing) {
        SessionEvent e = event(SessionEventKind::unpublished);
        e.stream_key = stream_key;
        e.stream_id = active_stream_id;
        emit(std::move(e));
      }
    }
  }
};

ServerSession::ServerSession(ServerSessionConfig config) : impl_(std::make_unique<Impl>(config)) {}
ServerSession::~ServerSession() = default;

Result<void> ServerSession::feed(std::span<const uint8_t> in) {
  if (impl_->failed) return make_error(Errc::closed, "session already failed");
  if (impl_->deferred_error) {
    impl_->failed = true;
    return *impl_->deferred_error;
  }
  auto r = impl_->feed(in);
  if (!r) impl_->failed = true;
  return r;
}

bool ServerSession::next_event(SessionEvent& out) {
  if (impl_->events.empty()) return false;
  out = std::move(impl_->events.front());
  impl_->events.pop_front();
  return true;
}

std::span<const uint8_t> ServerSession::pending_output() const {
  return impl_->output.pending();
}

void ServerSession::consume_output(size_t n) {
  impl_->output.consume(n);
}

size_t ServerSession::buffered_input_bytes() const {
  return impl_->reader.partial_bytes() + impl_->held_bytes;
}

void ServerSession::accept_publish() {
  auto& d = *impl_;
  if (d.role != Impl::Role::publish_pending) return;
  d.role = Impl::Role::publishing;
  d.send_user_control(user_control_stream_begin, d.active_stream_id);
  d.send_status(d.active_stream_id, "status", "NetStream.Publish.Start", d.stream_key + " is now published.");
  d.drain_held();
}

void ServerSession::reject_publish(const std::string& code, const std::string& description) {
  impl_->refuse_pending(Impl::Role::publish_pending, code, description);
}

void ServerSession::accept_play() {
  auto& d = *impl_;
  if (d.role != Impl::Role::play_pending) return;
  d.role = Impl::Role::playing;
  d.send_user_control(user_control_stream_begin, d.active_stream_id);
  d.send_status(d.active_stream_id, "status", "NetStream.Play.Reset", "Playing and resetting " + d.stream_key + ".");
  d.send_status(d.active_stream_id, "status", "NetStream.Play.Start", "Started playing " + d.stream_key + ".");
  const auto access = amf0_encode_all(std::vector<AmfValue>{AmfValue::make_string("|RtmpSampleAccess"),
                                                            AmfValue::make_boolean(true), AmfValue::make_boolean(true)});
  d.send(status_chunk_stream, uint8_t(MessageType::data_amf0), d.active_stream_id, access);
  d.drain_held();
}

void ServerSession::reject_play(const std::string& code, const std::string& description) {
  impl_->refuse_pending(Impl::Role::play_pending, code, description);
}

void ServerSession::send_media(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload) {
  auto& d = *impl_;
  if (d.role != Impl::Role::playing) return;
  if (d.pending() + payload.size() > d.config.limits.max_pending_output) {
    ++d.media_dropped;
    return;
  }
  const uint32_t csid = type == uint8_t(MessageType::audio)   ? audio_chunk_stream
                        : type == uint8_t(MessageType::video) ? video_chunk_stream
                                                              : status_chunk_stream;
  d.send(csid, type, d.active_stream_id, payload, timestamp);
}

uint32_t ServerSession::play_stream_id() const {
  return impl_->role == Impl::Role::playing ? impl_->active_stream_id : 0;
}

uint32_t ServerSession::outgoing_chunk_size() const { return impl_->writer.chunk_size(); }

void ServerSession::send_play_status(const std::string& code, const std::string& description) {
  auto& d = *impl_;
  if (d.role == Impl::Role::playing) d.send_status(d.active_stream_id, "status", code, description);
}

void ServerSession::send_stream_begin() {
  auto& d = *impl_;
  if (d.role == Impl::Role::playing) d.send_user_control(user_control_stream_begin, d.active_stream_id);
}

void ServerSession::send_stream_eof() {
  auto& d = *impl_;
  if (d.role == Impl::Role::playing) d.send_user_control(user_control_stream_eof, d.active_stream_id);
}

void ServerSession::send_stream_dry() {
  auto& d = *impl_;
  if (d.role == Impl::Role::playing) d.send_user_control(user_control_stream_dry, d.active_stream_id);
}

void ServerSession::close(const std::string& code, const std::string& description) {
  auto& d = *impl_;
  if (d.role == Impl::Role::publishing || d.role == Impl::Role::publish_pending) {
    d.send_status(d.active_stream_id, "status", code, description);
    d.role = Impl::Role::none;
  } else if (d.role == Impl::Role::playing || d.role == Impl::Role::play_pending) {
    d.send_user_control(user_control_stream_eof, d.active_stream_id);
    d.send_status(d.active_stream_id, "status", code, description);
    d.role = Impl::Role::none;
  }
  // Input held for a pending decision belongs to the request just ended, publish or play:
  // kept, it would still count as buffered and run after a later accept.
  d.held.clear();
  d.held_bytes = 0;
}

uint64_t ServerSession::bytes_in() const { return impl_->bytes_in; }
uint64_t ServerSession::bytes_out() const { return impl_->output.consumed(); }
uint64_t ServerSession::messages_in() const { return impl_->messages_in; }
uint64_t ServerSession::media_dropped() const { return impl_->media_dropped; }
bool ServerSession::handshake_used_digest() const {
  return impl_->handshake.done() && impl_->handshake.mode() == HandshakeMode::digest;
}

}  // namespace live::rtmp
