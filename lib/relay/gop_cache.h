// GopCache: what a new viewer needs to start at once: the latest metadata, the latest video
// and audio configuration (sequence headers), and every message since the last video keyframe,
// so its first video frame is a keyframe. Bounded in duration and bytes: a GOP that outgrows a
// bound is dropped (new viewers then get the configuration only and wait for the next
// keyframe), so a stream that never sends a keyframe does not grow memory. An audio-only
// stream (no video seen for a while) keeps only its most recent audio_only_duration_ms.
// Single-threaded, no clock: time is the messages' own timestamps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "relay/relay_message.h"

namespace live::relay {

inline constexpr int64_t kDefaultGopCacheDurationMs = 10000;
inline constexpr size_t kDefaultGopCacheBytes = 8 * 1024 * 1024;
inline constexpr int64_t kDefaultAudioOnlyCacheMs = 1000;
// Configuration messages kept (video, audio, per E-RTMP track): one per distinct kind/track.
inline constexpr size_t kMaxConfigMessages = 16;
// Frames cached at most, whatever their size: empty payloads at one timestamp would pass the
// duration and byte bounds.
inline constexpr size_t kMaxGopCacheFrames = 32768;

struct GopCacheLimits {
  bool enabled = true;  // false: configuration and metadata only, no frames
  int64_t max_duration_ms = kDefaultGopCacheDurationMs;
  size_t max_bytes = kDefaultGopCacheBytes;  // payload bytes of the cached frames
  int64_t audio_only_duration_ms = kDefaultAudioOnlyCacheMs;
};

class GopCache {
 public:
  explicit GopCache(GopCacheLimits limits = {});

  void push(const RelayMessagePtr& message);
  // Everything a new viewer gets first, in sending order: metadata, configuration messages,
  // then the cached frames (the first video frame among them is a keyframe).
  std::vector<RelayMessagePtr> snapshot() const;

  void clear();  // a new stream starts (e.g. after a discontinuity)
  void set_limits(const GopCacheLimits& limits);

  size_t frame_count() const { return frames_.size(); }
  size_t frame_bytes() const { return frame_bytes_; }
  bool has_keyframe() const;  // frames_ starts with a video keyframe
  // Cached duration in ms: newest minus oldest frame timestamp (0 with fewer than 2 frames).
  int64_t duration_ms() const;
  uint64_t gops_dropped() const { return gops_dropped_; }  // GOPs that outgrew a bound

 private:
  void append(const RelayMessagePtr& message);
  void pop_front();
  void drop_frames();
  // A GOP that outgrew a bound is dropped whole; caching resumes at the next keyframe.
  void enforce_gop_bounds();
  // Audio-only: oldest frames go until the cache fits audio_only_duration_ms and the bounds.
  void trim_audio_only();

  GopCacheLimits limits_;
  RelayMessagePtr metadata_;
  std::vector<RelayMessagePtr> configs_;
  std::deque<RelayMessagePtr> frames_;
  size_t frame_bytes_ = 0;
  bool video_seen_ = false;
  uint32_t last_video_ts_ = 0;
  bool dropping_until_keyframe_ = false;
  uint64_t gops_dropped_ = 0;
};

}  // namespace live::relay
