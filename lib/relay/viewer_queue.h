// ViewerQueue: what is waiting to be written to one viewer (RTMP player or HTTP-FLV client),
// and the rules that keep one slow viewer from hurting anyone: the queue holds references to
// shared RelayMessages (no copies) plus a few owned byte blocks (RTMP control and status
// messages, the HTTP response head, the FLV file header), in order.
//
// Lag: when the oldest message not yet started has waited longer than max_lag_us, or the
// queued bytes pass max_queued_bytes, every whole message not yet started is dropped (never
// configuration or metadata, never owned blocks, never the message being written: its chunks
// must be finished), and the queue waits for the next video keyframe (audio-only streams: the
// next audio frame). A viewer that stays behind (no moment with an empty queue, other than
// one emptied by skipping) for timeout_us after its first skip, or makes no write progress at all for timeout_us while bytes wait,
// is reported as timed out: the caller disconnects it.
//
// Single-threaded, sans-I/O: the caller passes the time and does the writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "relay/relay_message.h"

namespace live::relay {

inline constexpr int64_t kDefaultMaxViewerLagUs = 2'000'000;
inline constexpr int64_t kDefaultViewerTimeoutUs = 10'000'000;
inline constexpr size_t kDefaultMaxViewerQueuedBytes = 16 * 1024 * 1024;  // > the GOP cache: a new viewer takes it whole
inline constexpr size_t kMaxViewerQueueEntries = 8192;

// rtmp: RTMP chunks; http_flv: FLV tags as HTTP/1.1 chunks; flv: plain FLV tags (HTTP/1.0).
enum class WireFormat : uint8_t { rtmp, http_flv, flv };

struct ViewerQueueLimits {
  int64_t max_lag_us = kDefaultMaxViewerLagUs;
  int64_t timeout_us = kDefaultViewerTimeoutUs;
  size_t max_queued_bytes = kDefaultMaxViewerQueuedBytes;  // wire bytes referenced
};

enum class ViewerHealth { ok, timed_out };

class ViewerQueue {
 public:
  // rtmp: messages are written as rtmp_chunks(stream_id, chunk_size); http_flv: as
  // http_flv_chunk().
  ViewerQueue(WireFormat format, uint32_t stream_id, uint32_t chunk_size, ViewerQueueLimits limits);

  // Queues one relayed message (subject to the filters and to waiting for a keyframe).
  // stream_has_video: the stream carries video (else audio frames are the resume points).
  // Returns whether it was queued.
  bool push(const RelayMessagePtr& message, int64_t now_us, bool stream_has_video);
  // Queues owned bytes (never dropped), after what is queued already.
  void push_bytes(std::vector<uint8_t> bytes, int64_t now_us);

  // The next bytes to write, from the first unsent byte: up to parts.size() spans and about
  // max_bytes in all. Returns how many spans were filled.
  size_t gather(std::span<std::span<const uint8_t>> parts, size_t max_bytes) const;
  // `bytes` of what gather() returned were written.
  void consume(size_t bytes, int64_t now_us);

  // Applies the lag rule; says whether the viewer must be disconnected. Call after pushes and
  // on a timer.
  ViewerHealth check(int64_t now_us);

  // Player controls: receiveAudio / receiveVideo false drop that kind (configuration too);
  // while paused nothing is queued; after unpause or receiveVideo true the queue waits for a
  // keyframe. wait_for_keyframe() does the same on demand (e.g. a viewer that joins without a
  // GOP cache).
  void set_receive_audio(bool on);
  void set_receive_video(bool on, int64_t now_us);
  void set_paused(bool paused, int64_t now_us);
  void wait_for_keyframe();

  bool empty() const { return entries_.empty(); }
  size_t queued_bytes() const { return queued_bytes_; }  // wire bytes not yet written
  size_t entry_count() const { return entries_.size(); }
  bool waiting_for_keyframe() const { return waiting_for_keyframe_; }

  // Counters for stats.
  uint64_t messages_sent() const { return messages_sent_; }
  uint64_t messages_dropped() const { return messages_dropped_; }  // by lag, filters, pause
  uint64_t skips() const { return skips_; }                        // times the lag rule fired
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Entry {
    RelayMessagePtr message;      // null for owned bytes
    std::vector<uint8_t> owned;   // owned bytes when message is null
    std::span<const uint8_t> wire;  // what is written for this entry
    int64_t queued_at_us = 0;
  };

  std::span<const uint8_t> wire_of(const RelayMessage& message) const;
  static std::span<const uint8_t> bytes_of(const Entry& entry);  // wire, or the owned bytes
  bool passes_filters(const TagInfo& info) const;
  void append(Entry entry, int64_t now_us);
  bool lagging(int64_t now_us) const;
  void apply_lag(int64_t now_us);
  void skip_to_keyframe(int64_t now_us);
  void restart_at_keyframe(int64_t now_us);  // unpause, receiveVideo true

  WireFormat format_;
  uint32_t stream_id_;
  uint32_t chunk_size_;
  ViewerQueueLimits limits_;
  std::deque<Entry> entries_;
  size_t front_offset_ = 0;  // bytes of entries_.front() already written
  size_t queued_bytes_ = 0;
  bool receive_audio_ = true;
  bool receive_video_ = true;
  bool paused_ = false;
  bool waiting_for_keyframe_ = false;
  int64_t behind_since_us_ = -1;  // first skip since the viewer last caught up
  int64_t last_progress_us_ = 0;
  uint64_t messages_sent_ = 0;
  uint64_t messages_dropped_ = 0;
  uint64_t skips_ = 0;
  uint64_t bytes_sent_ = 0;
};

}  // namespace live::relay
