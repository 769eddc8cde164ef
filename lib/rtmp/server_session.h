// ServerSession: the server side of one RTMP connection as a sans-I/O state machine.
// Bytes from the socket go in (starting with C0), events and bytes for the socket come out.
// It owns the handshake, the chunk layer, acknowledgements, commands and the publish flow; it
// knows nothing of sockets, threads, clocks or GStreamer.
//
// This header is the contract between lib/rtmp and gst/ (rtmpserversrc, flvrelaysink): change
// it only by adding to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "rtmp/message.h"

namespace live::rtmp {

// Limits on what a peer controls. Each is documented in docs/ and exposed where it matters.
struct ServerSessionLimits {
  uint32_t max_message_size = 8 * 1024 * 1024;     // largest message we reassemble
  uint32_t max_chunk_streams = 64;                 // distinct chunk stream ids per connection
  uint32_t max_incoming_chunk_size = 16 * 1024 * 1024;  // largest Set Chunk Size we honour
  uint32_t max_amf_depth = 32;                     // nesting of objects/arrays in commands
  uint32_t max_pending_output = 4 * 1024 * 1024;   // bytes queued towards the peer
  uint32_t max_held_media = 4 * 1024 * 1024;       // media bytes held while a publish awaits its decision
  // Until a publish or play names a stream the peer is anonymous and sends only small
  // commands: a completed message above the first, or unfinished messages above the second,
  // fail the session. From then on (media may come before the decision) the limits above
  // apply, and the listener's budget bounds what all undecided connections hold together.
  uint32_t max_message_size_before_accept = 1024 * 1024;
  uint32_t max_partial_bytes_before_accept = 2 * 1024 * 1024;
};

struct ServerSessionConfig {
  ServerSessionLimits limits;
  uint32_t outgoing_chunk_size = 4096;  // announced with Set Chunk Size after connect
  uint32_t window_ack_size = 2500000;   // announced Window Acknowledgement Size
  uint32_t peer_bandwidth = 2500000;    // Set Peer Bandwidth (dynamic)
};

enum class SessionEventKind {
  handshake_done,     // C0/C1/C2 complete
  connect,            // "connect" command accepted (app, tc_url filled); _result already queued
  publish_requested,  // "publish": call accept_publish() or reject_publish()
  play_requested,     // "play": call accept_play() or reject_play() (for flvrelaysink)
  media,              // audio (8), video (9) or data (18: @setDataFrame stripped to onMetaData ...)
  unpublished,        // FCUnpublish / deleteStream / closeStream ended the publish
  closed,             // the peer will send nothing more that matters (e.g. after deleteStream)
  // Player controls while playing (flag carries the new state); the session has answered the
  // peer already (NetStream.Pause.Notify / NetStream.Unpause.Notify for pause).
  play_paused,        // "pause": flag = true paused, false resumed
  receive_audio,      // "receiveAudio": flag = wanted
  receive_video,      // "receiveVideo": flag = wanted
  play_stopped,       // "closeStream" on the playing stream: the play ended, the connection stays
};

struct SessionEvent {
  SessionEventKind kind;
  // connect / publish_requested / play_requested
  std::string app;          // application name from connect, without query string
  std::string tc_url;       // tcUrl from connect
  std::string stream_key;   // stream name from publish/play, without query string (not on media)
  std::string query;        // query string of the stream name (after '?'), or of tcUrl/app
  std::string publish_type; // "live", "record", "append"
  uint32_t stream_id = 0;   // message stream id of the publish/play
  bool flag = false;        // play_paused / receive_audio / receive_video: the new state
  // media: one complete audio, video or data message; for data messages the @setDataFrame
  // wrapper is removed so the payload starts with the "onMetaData" string, as in an FLV file.
  Message message;
};

class ServerSession {
 public:
  explicit ServerSession(ServerSessionConfig config = {});
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Consumes all of `in`. An error means the connection must be closed (a log line, not a
  // crash); output queued before the error (e.g. an _error reply) should still be flushed.
  Result<void> feed(std::span<const uint8_t> in);

  // Events in the order they happened.
  bool next_event(SessionEvent& out);

  // Bytes to write to the socket. pending_output() shows them; consume_output(n) drops the
  // first n after they were written.
  std::span<const uint8_t> pending_output() const;
  void consume_output(size_t n);

  // Decisions on publish_requested: accept sends StreamBegin + NetStream.Publish.Start;
  // reject sends onStatus with `code` (e.g. "NetStream.Publish.BadName") and `description`.
  void accept_publish();
  void reject_publish(const std::string& code, const std::string& description);

  // Decisions on play_requested (for flvrelaysink). accept sends StreamBegin, Play.Reset and
  // Play.Start; the caller then sends media with send_media().
  void accept_play();
  void reject_play(const std::string& code, const std::string& description);
  // Queue one audio/video/data message towards a player on the accepted play stream.
  void send_media(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload);

  // While playing: the message stream id media must be sent on (0 when not playing), and the
  // chunk size announced to the peer (for media chunked elsewhere and shared among players).
  uint32_t play_stream_id() const;
  uint32_t outgoing_chunk_size() const;
  // While playing: an onStatus on the play stream (e.g. NetStream.Play.PublishNotify /
  // UnpublishNotify when the source starts or stops), and the StreamBegin / StreamDry user
  // control events (source back, source has no data).
  void send_play_status(const std::string& code, const std::string& description);
  void send_stream_begin();
  void send_stream_eof();
  void send_stream_dry();

  // Server-initiated end, e.g. publisher takeover or shutdown: sends onStatus
  // NetStream.Publish.Unpublish... / NetStream.Play.UnpublishNotify as appropriate.
  void close(const std::string& code, const std::string& description);

  // Input held in memory now: unfinished messages plus media held during a decision (what a
  // listener counts against its budget for connections not yet publishing or playing).
  size_t buffered_input_bytes() const;

  // Counters for stats.
  uint64_t bytes_in() const;
  uint64_t bytes_out() const;
  uint64_t messages_in() const;
  // Media not delivered: sent outside a publish, or dropped by send_media() when the
  // output queue was over max_pending_output.
  uint64_t media_dropped() const;
  // Whether the client used the digest ("FP9") handshake; false until the handshake is done.
  bool handshake_used_digest() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace live::rtmp
