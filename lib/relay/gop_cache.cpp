#include "relay/gop_cache.h"

#include <algorithm>

#include "common/byte_io.h"
#include "flv/audio_tag.h"
#include "flv/ex_tracks.h"
#include "flv/video_tag.h"

namespace live::relay {

namespace {

// Video that stopped this long ago (in message time) makes the stream audio-only for caching.
constexpr int64_t kVideoGoneMs = 5000;

// Signed difference of two 32-bit millisecond timestamps: right across the 2^32 wrap.
int64_t ts_diff(uint32_t later, uint32_t earlier) { return int64_t(int32_t(later - earlier)); }

// The track a configuration message configures: the first track of an E-RTMP multitrack tag,
// else 0 (legacy tags and single-track E-RTMP tags are the default track 0).
uint8_t config_track(const RelayMessage& m) {
  const auto payload = m.payload();
  ByteReader r(payload);
  uint8_t b0 = 0;
  if (!r.read_u8(b0)) return 0;
  uint8_t multitrack_type = 0;
  uint8_t mod_ex_type = 0;
  const char* media = nullptr;
  if (m.info().is_video()) {
    if (!(b0 & 0x80)) return 0;
    multitrack_type = uint8_t(flv::VideoPacketType::multitrack);
    mod_ex_type = uint8_t(flv::VideoPacketType::mod_ex);
    media = "video";
  } else {
    if ((b0 >> 4) != uint8_t(flv::SoundFormat::ex_header)) return 0;
    multitrack_type = uint8_t(flv::AudioPacketType::multitrack);
    mod_ex_type = uint8_t(flv::AudioPacketType::mod_ex);
    media = "audio";
  }
  uint32_t nanos = 0;
  auto packet_type = flv::read_mod_ex(r, b0 & 0x0F, mod_ex_type, nanos, media);
  if (!packet_type || *packet_type != multitrack_type) return 0;
  auto header = flv::read_ex_track_header(r, *packet_type, multitrack_type, mod_ex_type, media);
  if (!header) return 0;
  bool first = true;
  uint8_t track = 0;
  (void)flv::read_ex_tracks(r, *header, media, [&](const flv::ExTrack& t) -> Result<void> {
    if (first) track = t.track_id;
    first = false;
    return {};
  });
  return track;
}

bool same_config_slot(const RelayMessage& a, const RelayMessage& b) {
  return a.info().kind == b.info().kind && config_track(a) == config_track(b);
}

}  // namespace

GopCache::GopCache(GopCacheLimits limits) : limits_(limits) {}

bool GopCache::has_keyframe() const {
  return !frames_.empty() && frames_.front()->info().kind == FrameKind::video_key;
}

int64_t GopCache::duration_ms() const {
  if (frames_.size() < 2) return 0;
  return std::max<int64_t>(0, ts_diff(frames_.back()->timestamp(), frames_.front()->timestamp()));
}

void GopCache::clear() {
  metadata_.reset();
  configs_.clear();
  drop_frames();
  video_seen_ = false;
  last_video_ts_ = 0;
  dropping_until_keyframe_ = false;
}

void GopCache::set_limits(const GopCacheLimits& limits) {
  limits_ = limits;
  if (!limits_.enabled) {
    drop_frames();
  } else if (has_keyframe()) {
    enforce_gop_bounds();
  } else {
    trim_audio_only();
  }
}

std::vector<RelayMessagePtr> GopCache::snapshot() const {
  std::vector<RelayMessagePtr> out;
  out.reserve(1 + configs_.size() + frames_.size());
  if (metadata_) out.push_back(metadata_);
  out.insert(out.end(), configs_.begin(), configs_.end());
  out.insert(out.end(), frames_.begin(), frames_.end());
  return out;
}

void GopCache::drop_frames() {
  frames_.clear();
  frame_bytes_ = 0;
}

void GopCache::append(const RelayMessagePtr& message) {
  frames_.push_back(message);
  frame_bytes_ += message->payload().size();
}

void GopCache::pop_front() {
  frame_bytes_ -= frames_.front()->payload().size();
  frames_.pop_front();
}

void GopCache::enforce_gop_bounds() {
  if (duration_ms() <= limits_.max_duration_ms && frame_bytes_ <= limits_.max_bytes &&
      frames_.size() <= kMaxGopCacheFrames)
    return;
  drop_frames();
  ++gops_dropped_;
  dropping_until_keyframe_ = true;
}

void GopCache::trim_audio_only() {
  while (!frames_.empty() && (duration_ms() > limits_.audio_only_duration_ms || frame_bytes_ > limits_.max_bytes ||
                              frames_.size() > kMaxGopCacheFrames))
    pop_front();
}

void GopCache::push(const RelayMessagePtr& message) {
  if (!message) return;
  const TagInfo& info = message->info();
  if (info.kind == FrameKind::metadata) {
    metadata_ = message;
    return;
  }
  if (info.is_video()) {
    video_seen_ = true;
    last_video_ts_ = message->timestamp();
  }
  if (info.is_config()) {
    // The newest configuration of each kind/track, in arrival order (a viewer that replays
    // them ends with the newest one of every track).
    std::erase_if(configs_, [&](const RelayMessagePtr& c) { return same_config_slot(*c, *message); });
    if (configs_.size() >= kMaxConfigMessages) configs_.erase(configs_.begin());
    configs_.push_back(message);
    return;
  }
  if (!limits_.enabled) return;

  const bool audio_only = !video_seen_ || ts_diff(message->timestamp(), last_video_ts_) > kVideoGoneMs;
  if (audio_only) {
    // Recent audio (and data) only: a GOP left over from before the video stopped goes.
    if (has_keyframe()) drop_frames();
    dropping_until_keyframe_ = false;
    append(message);
    trim_audio_only();
    return;
  }
  // Frames cached while the stream was audio-only are stale once video is back.
  if (!has_keyframe()) drop_frames();

  if (info.kind == FrameKind::video_key) {
    drop_frames();  // a new GOP starts here
    dropping_until_keyframe_ = false;
    append(message);
    enforce_gop_bounds();
    return;
  }
  if (dropping_until_keyframe_ || !has_keyframe()) return;
  append(message);
  enforce_gop_bounds();
}

}  // namespace live::relay
