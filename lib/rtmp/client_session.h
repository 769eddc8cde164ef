// ClientSession: the publishing client side of one RTMP connection as a sans-I/O state machine,
// for pushing a stream to another RTMP server (flvrelaysink's push-locations). Bytes from the
// server go in (starting with S0), events and bytes for the socket come out; no sockets, TLS,
// threads, clocks or reconnects here (gst/net owns those).
//
// What it sends, as ffmpeg and OBS (librtmp) do against nginx-rtmp: C0 C1, C2; Set Chunk Size,
// connect, Window Acknowledgement Size; after connect's _result: releaseStream, FCPublish,
// createStream; after createStream's _result: publish(stream_name, "live") on the new stream;
// NetStream.Publish.Start makes it publishing. Transaction ids: connect 1, releaseStream 2,
// FCPublish 3, createStream 4, publish 5, then on (ffmpeg's numbering; servers echo them).
// It answers ping requests, acknowledges received bytes when the server set a window, and
// answers a server's _checkbw with _result.
//
// This header is the contract between lib/rtmp and gst/ (flvrelaysink): change it only by
// adding to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "rtmp/handshake.h"
#include "rtmp/rtmp_url.h"

namespace live::rtmp {

// Limits on what the server controls, and on what we queue towards it.
struct ClientSessionLimits {
  uint32_t max_message_size = 8 * 1024 * 1024;          // largest message we reassemble
  uint32_t max_chunk_streams = 64;                      // distinct chunk stream ids from the server
  uint32_t max_incoming_chunk_size = 16 * 1024 * 1024;  // largest Set Chunk Size we honour
  uint32_t max_amf_depth = 32;                          // nesting of objects/arrays in commands
  // Bytes queued towards the server: send_media() refuses media that would go over it; feed()
  // fails when replies (acks, pings) pile up 64 KiB beyond it (the server does not read).
  uint32_t max_pending_output = 8 * 1024 * 1024;
};

struct ClientSessionConfig {
  std::string app;          // connect's "app" (may be "app/instance", may carry a ?query)
  std::string tc_url;       // connect's "tcUrl"
  std::string stream_name;  // releaseStream/FCPublish/publish name: the key, with its ?query
  std::string flash_ver = "FMLE/3.0 (compatible; gst-live-server)";
  uint32_t outgoing_chunk_size = 4096;  // announced with Set Chunk Size before connect
  ClientSessionLimits limits;
  uint32_t window_ack_size = 2500000;   // announced Window Acknowledgement Size
  // Digest ("FP9") handshake as ffmpeg and OBS send it; servers that answer plainly are
  // accepted either way. The seed fills C1's random bytes (sans-I/O: the caller brings entropy).
  HandshakeMode handshake_mode = HandshakeMode::digest;
  uint64_t handshake_seed = 0xc11e47;
  // true: every command carries the next transaction id (ffmpeg, librtmp/OBS). false: only
  // connect and createStream do (1, 2), the others carry 0, as GStreamer's rtmp2sink sends them.
  bool number_every_command = true;
};

// Config for a parsed push URL (app, tcUrl, stream name); the rest stays at its defaults.
ClientSessionConfig client_config_for(const RtmpUrl& url);

enum class ClientEventKind {
  handshake_done,  // S0 S1 S2 in, C2 queued
  connected,       // connect's _result (code: NetConnection.Connect.Success)
  publishing,      // onStatus NetStream.Publish.Start: send_media() from now on
  // The server refused: _error to connect, createStream or publish, or an onStatus of level
  // "error" before publishing (code e.g. NetConnection.Connect.Rejected,
  // NetStream.Publish.BadName). Nothing more happens on this connection; close it.
  rejected,
  // The server ended the stream: onStatus NetStream.Unpublish.* or NetConnection.Connect.Closed,
  // or one of level "error" while publishing (also the answer to our own unpublish()).
  // StreamEOF is not taken for an end: servers send it on play streams.
  closed,
};

struct ClientEvent {
  ClientEventKind kind;
  std::string code;         // status code of connected/publishing/rejected/closed
  std::string description;  // the server's description
};

class ClientSession {
 public:
  explicit ClientSession(ClientSessionConfig config);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Queues C0 C1. Call once, when the connection is up, before feed().
  void start();

  // Consumes all of `in` (bytes from the server). An error means the connection must be closed
  // (a log line, not a crash): malformed chunks or AMF, a limit exceeded, feed before start().
  // Every later feed() fails too.
  Result<void> feed(std::span<const uint8_t> in);

  // Events in the order they happened.
  bool next_event(ClientEvent& out);

  // Bytes to write to the socket. pending_output() shows them; consume_output(n) drops the
  // first n after they were written.
  std::span<const uint8_t> pending_output() const;
  void consume_output(size_t n);
  size_t pending_output_size() const;

  // Whether Publish.Start came and neither unpublish() nor the server ended it since.
  bool publishing() const;

  // Queues one message on the publish stream: audio (8, chunk stream 6), video (9, chunk
  // stream 7) or data (18, chunk stream 4); a data payload that starts with the AMF0 string
  // "onMetaData" goes out wrapped as "@setDataFrame", "onMetaData", ... as publishers send it.
  // Returns false, and counts a drop, when not publishing or when the message would take the
  // output queue over max_pending_output (resuming, e.g. at the next keyframe, is the caller's
  // policy); returns false without counting for other message types.
  bool send_media(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload);

  // Queues FCUnpublish(stream_name) and deleteStream(stream id) (what exists of them so far);
  // publishing() is false from now on. Flush pending_output(), then close.
  void unpublish();

  // Counters for stats: bytes fed, bytes consumed from the output, media refused.
  uint64_t bytes_in() const;
  uint64_t bytes_out() const;
  uint64_t media_dropped() const;
  // Message stream id the server gave with createStream's _result; 0 before.
  uint32_t stream_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace live::rtmp
