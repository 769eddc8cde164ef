// A minimal RTMP player for element tests, built on lib/rtmp: handshake (HandshakeInitiator),
// connect, createStream, play(key), and the player controls (pause, receiveAudio/Video,
// closeStream). A reader thread reassembles everything the server sends (ChunkReader) and
// keeps it in arrival order: messages with their type, timestamp, stream id and payload,
// onStatus codes, user control events. It can stop reading its socket on demand, to play a
// stalled viewer whose kernel buffers fill up. With `tls` it speaks RTMPS (any certificate
// accepted), reading with blocking TLS reads (set_reading has no effect then).
#pragma once

#include <gio/gio.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/command.h"
#include "rtmp/handshake.h"

namespace live::test {

// One message from the server, as the chunk layer delivered it, with what the client read
// out of it: the command name and onStatus code (type 20), the first AMF string (type 18),
// the user control event (type 4).
struct ReceivedMessage {
  uint8_t type = 0;
  uint32_t timestamp = 0;
  uint32_t stream_id = 0;
  uint32_t chunk_stream_id = 0;
  std::vector<uint8_t> payload;
  std::string command;      // type 20: command name
  double transaction = 0;   // type 20
  std::string status_code;  // onStatus: info.code
  std::string data_name;    // type 18: the first AMF0 string ("onMetaData", "|RtmpSampleAccess")
  int user_control = -1;    // type 4: event type
  uint32_t user_control_value = 0;
  std::chrono::steady_clock::time_point arrived_at;  // when the read that completed it returned

  bool is_media() const { return type == 8 || type == 9; }
  // What a relay forwards: audio, video and data other than the server's own |RtmpSampleAccess.
  bool is_relayed() const { return is_media() || (type == 18 && data_name != "|RtmpSampleAccess"); }
  // A short name for order checks: "status:NetStream.Play.Start", "data:onMetaData", "video",
  // "audio", "user:1", "_result", ...
  std::string label() const {
    if (!status_code.empty()) return "status:" + status_code;
    if (type == 20) return command;
    if (type == 18) return "data:" + data_name;
    if (type == 9) return "video";
    if (type == 8) return "audio";
    if (type == 4) return "user:" + std::to_string(user_control);
    return "type:" + std::to_string(type);
  }
};

class RtmpPlayClient {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects to 127.0.0.1:port. receive_buffer > 0 sets SO_RCVBUF before connecting (the
  // window the server may fill when we stop reading).
  explicit RtmpPlayClient(uint16_t port, int receive_buffer = 0, bool tls = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
      ADD_FAILURE() << "socket: " << strerror(errno);
      return;
    }
    if (receive_buffer > 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect to port " << port << ": " << strerror(errno);
      ::close(fd_);
      fd_ = -1;
      return;
    }
    if (tls) start_tls();
  }
  ~RtmpPlayClient() {
    stopping_ = true;
    if (cancellable_) g_cancellable_cancel(cancellable_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // ends a blocking TLS read
    if (reader_.joinable()) reader_.join();
    if (tls_) g_object_unref(tls_);
    if (cancellable_) g_object_unref(cancellable_);
    if (fd_ >= 0) ::close(fd_);
  }
  RtmpPlayClient(const RtmpPlayClient&) = delete;
  RtmpPlayClient& operator=(const RtmpPlayClient&) = delete;

  // Handshake, connect(app) and createStream (`streams` times: the last one is played);
  // true once the stream exists.
  bool connect(const std::string& app = "live", std::chrono::milliseconds timeout = std::chrono::seconds(5),
               int streams = 1) {
    if (fd_ < 0) return false;
    rtmp::HandshakeInitiator handshake(rtmp::HandshakeMode::digest);
    handshake.start();
    if (!send_raw(handshake.output())) return false;
    handshake.output().clear();
    std::vector<uint8_t> leftover;
    const auto until = Clock::now() + timeout;
    while (!handshake.done()) {
      uint8_t buffer[4096];
      if (!tls_) {
        pollfd p{fd_, POLLIN, 0};
        if (Clock::now() > until || ::poll(&p, 1, 100) < 0) return false;
        if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      }
      ssize_t n = read_blocking(buffer, sizeof buffer);
      if (n <= 0) return false;
      auto used = handshake.feed(std::span<const uint8_t>(buffer, size_t(n)));
      if (!used) return false;
      leftover.assign(buffer + used.value(), buffer + n);
    }
    if (!send_raw(handshake.output())) return false;  // C2
    reader_ = std::thread([this, leftover] { read_loop(leftover); });

    rtmp::AmfValue object = rtmp::AmfValue::make_object({
        {"app", rtmp::AmfValue::make_string(app)},
        {"flashVer", rtmp::AmfValue::make_string("LNX 9,0,124,2")},
        {"tcUrl", rtmp::AmfValue::make_string("rtmp://127.0.0.1/" + app)},
        {"fpad", rtmp::AmfValue::make_boolean(false)},
        {"capabilities", rtmp::AmfValue::make_number(15)},
        {"audioCodecs", rtmp::AmfValue::make_number(4071)},
        {"videoCodecs", rtmp::AmfValue::make_number(252)},
        {"videoFunction", rtmp::AmfValue::make_number(1)},
    });
    if (!send_command(3, 0, "connect", 1, std::move(object))) return false;
    if (!wait_result(1, timeout)) return false;
    for (int i = 0; i < streams; ++i) {
      const double txn = 2 + i;
      if (!send_command(3, 0, "createStream", txn, rtmp::AmfValue::make_null())) return false;
      const ReceivedMessage* created = nullptr;
      std::unique_lock lock(mutex_);
      if (!cv_.wait_for(lock, timeout, [&] { return (created = find_result_locked(txn)) != nullptr || closed_; }) ||
          !created)
        return false;
      auto command = rtmp::decode_command(created->payload);
      if (!command || command->arguments.empty() || command->arguments[0].type != rtmp::AmfType::number)
        return false;
      stream_id_ = uint32_t(command->arguments[0].number);
    }
    return stream_id_ != 0;
  }

  // play(key) on the created stream; the answer comes as onStatus.
  bool play(const std::string& key) {
    return send_command(8, stream_id_, "play", 0, rtmp::AmfValue::make_null(),
                        {rtmp::AmfValue::make_string(key), rtmp::AmfValue::make_number(-1000)});
  }
  bool pause(bool paused, double position_ms = 0) {
    return send_command(8, stream_id_, "pause", 0, rtmp::AmfValue::make_null(),
                        {rtmp::AmfValue::make_boolean(paused), rtmp::AmfValue::make_number(position_ms)});
  }
  bool receive_video(bool on) {
    return send_command(8, stream_id_, "receiveVideo", 0, rtmp::AmfValue::make_null(),
                        {rtmp::AmfValue::make_boolean(on)});
  }
  bool receive_audio(bool on) {
    return send_command(8, stream_id_, "receiveAudio", 0, rtmp::AmfValue::make_null(),
                        {rtmp::AmfValue::make_boolean(on)});
  }
  bool close_stream() {
    return send_command(8, stream_id_, "closeStream", 0, rtmp::AmfValue::make_null());
  }
  // A command the server answers with _result (getStreamLength): once the answer is here,
  // every command sent before it was handled.
  bool sync(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const double txn = next_transaction_++;
    if (!send_command(3, 0, "getStreamLength", txn, rtmp::AmfValue::make_null(),
                      {rtmp::AmfValue::make_string("x")}))
      return false;
    return wait_result(txn, timeout);
  }

  // Stops / restarts reading the socket (what the server sent stays in the kernel buffers).
  void set_reading(bool on) { reading_ = on; }

  uint32_t stream_id() const { return stream_id_; }

  std::vector<ReceivedMessage> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  // Relayed messages (audio, video, onMetaData...) in arrival order.
  std::vector<ReceivedMessage> relayed() {
    std::lock_guard lock(mutex_);
    std::vector<ReceivedMessage> out;
    for (auto& m : messages_)
      if (m.is_relayed()) out.push_back(m);
    return out;
  }
  size_t relayed_count() {
    std::lock_guard lock(mutex_);
    return size_t(std::count_if(messages_.begin(), messages_.end(), [](auto& m) { return m.is_relayed(); }));
  }
  std::vector<std::string> status_codes() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> codes;
    for (auto& m : messages_)
      if (!m.status_code.empty()) codes.push_back(m.status_code);
    return codes;
  }
  bool has_status(const std::string& code) {
    auto codes = status_codes();
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  }
  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  uint64_t bytes_received() {
    std::lock_guard lock(mutex_);
    return bytes_received_;
  }

  // Waits until `done(messages)` holds (checked on every message), the connection closes, or
  // the time runs out; returns done's last answer.
  bool wait_until(const std::function<bool(const std::vector<ReceivedMessage>&)>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return done(messages_) || closed_; });
    return done(messages_);
  }
  bool wait_status(const std::string& code, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return wait_until([&](const auto& ms) {
      return std::any_of(ms.begin(), ms.end(), [&](auto& m) { return m.status_code == code; });
    }, timeout);
  }
  bool wait_relayed(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return wait_until([&](const auto& ms) {
      return size_t(std::count_if(ms.begin(), ms.end(), [](auto& m) { return m.is_relayed(); })) >= count;
    }, timeout);
  }
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return closed_; });
  }

  // Bytes exactly as given (after connect(): raw chunks, hostile input).
  bool send_bytes(std::span<const uint8_t> bytes) { return send_raw(bytes); }

 private:
  void start_tls() {
    GError* error = nullptr;
    GSocket* socket = g_socket_new_from_fd(::dup(fd_), &error);
    if (!socket) {
      ADD_FAILURE() << "socket: " << error->message;
      g_clear_error(&error);
      return;
    }
    GSocketConnection* connection = g_socket_connection_factory_create_connection(socket);
    g_object_unref(socket);
    tls_ = g_tls_client_connection_new(G_IO_STREAM(connection), nullptr, &error);
    g_object_unref(connection);
    if (!tls_) {
      ADD_FAILURE() << "TLS: " << error->message;
      g_clear_error(&error);
      return;
    }
    g_signal_connect(tls_, "accept-certificate",
                     G_CALLBACK(+[](GTlsConnection*, GTlsCertificate*, GTlsCertificateFlags, gpointer)
                                    -> gboolean { return TRUE; }),
                     nullptr);
    cancellable_ = g_cancellable_new();
    if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls_), nullptr, &error)) {
      ADD_FAILURE() << "TLS handshake: " << error->message;
      g_clear_error(&error);
    }
  }
  // One read, waiting for data: bytes read, 0 at the end, < 0 on error.
  ssize_t read_blocking(uint8_t* data, size_t size) {
    if (tls_)
      return g_input_stream_read(g_io_stream_get_input_stream(tls_), data, size, cancellable_, nullptr);
    ssize_t n;
    do {
      n = ::recv(fd_, data, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  bool send_raw(std::span<const uint8_t> bytes) {
    if (tls_) {
      gsize written = 0;
      return g_output_stream_write_all(g_io_stream_get_output_stream(tls_), bytes.data(), bytes.size(),
                                       &written, nullptr, nullptr);
    }
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes = bytes.subspan(size_t(n));
    }
    return true;
  }
  bool send_command(uint32_t chunk_stream, uint32_t stream_id, const std::string& name, double txn,
                    rtmp::AmfValue object, std::vector<rtmp::AmfValue> args = {}) {
    if (fd_ < 0) return false;
    const auto payload = rtmp::encode_command(rtmp::Command{name, txn, std::move(object), std::move(args)});
    std::vector<uint8_t> out;
    std::lock_guard lock(write_mutex_);
    writer_.write(chunk_stream, 0, 20, stream_id, payload, out);
    return send_raw(out);
  }
  const ReceivedMessage* find_result_locked(double txn) const {
    for (auto& m : messages_)
      if ((m.command == "_result" || m.command == "_error") && m.transaction == txn) return &m;
    return nullptr;
  }
  bool wait_result(double txn, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return find_result_locked(txn) != nullptr || closed_; });
    const ReceivedMessage* found = find_result_locked(txn);
    return found && found->command == "_result";
  }

  void read_loop(std::vector<uint8_t> leftover) {
    rtmp::ChunkReaderLimits limits;
    limits.max_message_size = 16 * 1024 * 1024;
    rtmp::ChunkReader reader(limits);
    std::vector<uint8_t> buffer(256 * 1024);
    auto take = [&](std::span<const uint8_t> bytes) -> bool {
      std::vector<rtmp::Message> out;
      auto used = reader.feed(bytes, out);
      std::lock_guard lock(mutex_);
      bytes_received_ += bytes.size();
      const auto now = std::chrono::steady_clock::now();
      for (auto& m : out) {
        messages_.push_back(describe(std::move(m)));
        messages_.back().arrived_at = now;
      }
      if (!used) {
        ADD_FAILURE() << "RTMP client: bad chunk stream: " << used.error().describe();
        closed_ = true;
      }
      cv_.notify_all();
      return bool(used);
    };
    if (!leftover.empty() && !take(leftover)) return;
    while (!stopping_) {
      if (tls_) {
        const ssize_t n = read_blocking(buffer.data(), buffer.size());
        if (n <= 0) {
          std::lock_guard lock(mutex_);
          closed_ = true;
          cv_.notify_all();
          return;
        }
        if (!take(std::span<const uint8_t>(buffer.data(), size_t(n)))) return;
        continue;
      }
      if (!reading_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        std::lock_guard lock(mutex_);
        closed_ = true;
        cv_.notify_all();
        return;
      }
      if (!take(std::span<const uint8_t>(buffer.data(), size_t(n)))) return;
    }
  }

  static ReceivedMessage describe(rtmp::Message&& m) {
    ReceivedMessage r;
    r.type = m.type;
    r.timestamp = m.timestamp;
    r.stream_id = m.stream_id;
    r.chunk_stream_id = m.chunk_stream_id;
    r.payload = std::move(m.payload);
    if (r.type == 20) {
      if (auto command = rtmp::decode_command(r.payload)) {
        r.command = command->name;
        r.transaction = command->transaction_id;
        if (command->name == "onStatus" && !command->arguments.empty())
          r.status_code = command->arguments[0].string_property("code");
      }
    } else if (r.type == 18) {
      ByteReader reader(r.payload);
      if (auto value = rtmp::amf0_decode(reader); value && value->is_string()) r.data_name = value->string;
    } else if (r.type == 4 && r.payload.size() >= 6) {
      r.user_control = load_be16(r.payload.data());
      r.user_control_value = load_be32(r.payload.data() + 2);
    }
    return r;
  }

  int fd_ = -1;
  GIOStream* tls_ = nullptr;  // RTMPS: the TLS connection over a dup of fd_
  GCancellable* cancellable_ = nullptr;
  uint32_t stream_id_ = 0;
  double next_transaction_ = 10;
  std::thread reader_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reading_{true};
  std::mutex write_mutex_;
  rtmp::ChunkWriter writer_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ReceivedMessage> messages_;
  uint64_t bytes_received_ = 0;
  bool closed_ = false;
};

}  // namespace live::test
