#include "relay/viewer_queue.h"

#include <algorithm>
#include <utility>

namespace live::relay {

ViewerQueue::ViewerQueue(WireFormat format, uint32_t stream_id, uint32_t chunk_size, ViewerQueueLimits limits)
    : format_(format), stream_id_(stream_id), chunk_size_(chunk_size), limits_(limits) {}

std::span<const uint8_t> ViewerQueue::wire_of(const RelayMessage& message) const {
  switch (format_) {
    case WireFormat::rtmp: return message.rtmp_chunks(stream_id_, chunk_size_);
    case WireFormat::http_flv: return message.http_flv_chunk();
    case WireFormat::flv: return message.flv_tag();
  }
  return {};
}

std::span<const uint8_t> ViewerQueue::bytes_of(const Entry& entry) {
  return entry.message ? entry.wire : std::span<const uint8_t>(entry.owned);
}

bool ViewerQueue::passes_filters(const TagInfo& info) const {
  if (info.is_video() && !receive_video_) return false;
  if (info.is_audio() && !receive_audio_) return false;
  return true;
}

void ViewerQueue::append(Entry entry, int64_t now_us) {
  // Bytes start waiting now, unless the viewer is behind already (a skip emptied the queue:
  // it has not caught up, its clocks keep running).
  if (entries_.empty() && behind_since_us_ < 0) last_progress_us_ = now_us;
  queued_bytes_ += bytes_of(entry).size();
  entries_.push_back(std::move(entry));
}

bool ViewerQueue::push(const RelayMessagePtr& message, int64_t now_us, bool stream_has_video) {
  if (!message) return false;
  apply_lag(now_us);  // first, so a skip this causes can resume at this very message
  const TagInfo& info = message->info();
  if (paused_ || !passes_filters(info)) {
    ++messages_dropped_;
    return false;
  }
  if (waiting_for_keyframe_ && !info.is_config()) {
    const bool resume = (stream_has_video && receive_video_) ? info.kind == FrameKind::video_key
                                                             : info.kind == FrameKind::audio;
    if (!resume) {
      ++messages_dropped_;
      return false;
    }
    waiting_for_keyframe_ = false;
  }
  const auto wire = wire_of(*message);
  if (wire.empty()) {  // not expressible in this format (a payload above 16 MiB - 1)
    ++messages_dropped_;
    return false;
  }
  Entry entry;
  entry.message = message;
  entry.wire = wire;
  entry.queued_at_us = now_us;
  append(std::move(entry), now_us);
  return true;
}

void ViewerQueue::push_bytes(std::vector<uint8_t> bytes, int64_t now_us) {
  if (bytes.empty()) return;
  Entry entry;
  entry.owned = std::move(bytes);
  entry.queued_at_us = now_us;
  append(std::move(entry), now_us);
}

size_t ViewerQueue::gather(std::span<std::span<const uint8_t>> parts, size_t max_bytes) const {
  size_t filled = 0;
  size_t total = 0;
  size_t offset = front_offset_;
  for (const Entry& entry : entries_) {
    if (filled == parts.size() || total >= max_bytes) break;
    auto bytes = bytes_of(entry).subspan(offset);
    offset = 0;
    if (bytes.size() > max_bytes - total) bytes = bytes.first(max_bytes - total);
    parts[filled++] = bytes;
    total += bytes.size();
  }
  return filled;
}

void ViewerQueue::consume(size_t bytes, int64_t now_us) {
  if (bytes > 0) last_progress_us_ = now_us;
  while (bytes > 0 && !entries_.empty()) {
    const Entry& front = entries_.front();
    const size_t size = bytes_of(front).size();
    const size_t take = std::min(bytes, size - front_offset_);
    front_offset_ += take;
    bytes -= take;
    bytes_sent_ += take;
    queued_bytes_ -= take;
    if (front_offset_ == size) {
      if (front.message) ++messages_sent_;
      entries_.pop_front();
      front_offset_ = 0;
    }
  }
  // Caught up: everything written and nothing being skipped. A queue that empties while it
  // waits for a keyframe has only run out of what the skip left.
  if (entries_.empty() && !waiting_for_keyframe_) behind_since_us_ = -1;
}

bool ViewerQueue::lagging(int64_t now_us) const {
  if (queued_bytes_ > limits_.max_queued_bytes || entries_.size() > kMaxViewerQueueEntries) return true;
  // The oldest entry not yet started: the one after a partially written front entry.
  const size_t oldest = front_offset_ > 0 ? 1 : 0;
  return oldest < entries_.size() && now_us - entries_[oldest].queued_at_us > limits_.max_lag_us;
}

void ViewerQueue::apply_lag(int64_t now_us) {
  if (lagging(now_us)) skip_to_keyframe(now_us);
}

void ViewerQueue::skip_to_keyframe(int64_t now_us) {
  // Kept: the entry being written (its chunks must be finished), owned blocks, configuration
  // and metadata. Dropped: every other message not yet started.
  const size_t first_droppable = front_offset_ > 0 ? 1 : 0;
  size_t dropped = 0;
  std::deque<Entry> kept;
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (i < first_droppable || !e.message || e.message->info().is_config()) {
      kept.push_back(std::move(e));
    } else {
      queued_bytes_ -= e.wire.size();
      ++dropped;
    }
  }
  entries_ = std::move(kept);
  messages_dropped_ += dropped;
  // A queue already waiting with nothing left to drop is the same skip still going on.
  if (dropped > 0 || !waiting_for_keyframe_) ++skips_;
  waiting_for_keyframe_ = true;
  if (behind_since_us_ < 0) behind_since_us_ = now_us;
}

ViewerHealth ViewerQueue::check(int64_t now_us) {
  apply_lag(now_us);
  if (behind_since_us_ >= 0 && now_us - behind_since_us_ > limits_.timeout_us) return ViewerHealth::timed_out;
  if (!entries_.empty() && now_us - last_progress_us_ > limits_.timeout_us) return ViewerHealth::timed_out;
  return ViewerHealth::ok;
}

void ViewerQueue::set_receive_audio(bool on) { receive_audio_ = on; }

void ViewerQueue::set_receive_video(bool on, int64_t now_us) {
  if (on && !receive_video_) restart_at_keyframe(now_us);
  receive_video_ = on;
}

void ViewerQueue::set_paused(bool paused, int64_t now_us) {
  if (!paused && paused_) restart_at_keyframe(now_us);
  paused_ = paused;
}

void ViewerQueue::wait_for_keyframe() { waiting_for_keyframe_ = true; }

void ViewerQueue::restart_at_keyframe(int64_t now_us) {
  waiting_for_keyframe_ = true;
  // A viewer that drained its queue while paused starts afresh: no old clock runs against it.
  if (entries_.empty()) {
    behind_since_us_ = -1;
    last_progress_us_ = now_us;
  }
}

}  // namespace live::relay
