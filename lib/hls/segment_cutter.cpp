#include "hls/segment_cutter.h"

namespace live::hls {

CutDecision SegmentCutter::push(int64_t timestamp_ns, int64_t duration_ns, bool keyframe) {
  if (!segment_start_) {
    segment_start_ = timestamp_ns;
    part_start_ = timestamp_ns;
    return CutDecision::none;
  }
  if (keyframe && timestamp_ns - *segment_start_ >= config_.segment_duration) {
    segment_start_ = timestamp_ns;
    part_start_ = timestamp_ns;
    return CutDecision::new_segment;
  }
  if (config_.part_duration > 0 && timestamp_ns > *part_start_ &&
      timestamp_ns - *part_start_ + duration_ns > config_.part_duration) {
    part_start_ = timestamp_ns;
    return CutDecision::new_part;
  }
  return CutDecision::none;
}

std::optional<int64_t> SegmentCutter::next_segment_boundary() const {
  if (!segment_start_) return std::nullopt;
  return *segment_start_ + config_.segment_duration;
}

}  // namespace live::hls
