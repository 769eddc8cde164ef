// SegmentCutter: when to end a segment and a part. Pure decision logic; the sink feeds it
// the timing of each buffer it is about to write, in order.
//
// Rules:
// - A segment ends before a keyframe once it has lasted at least `segment_duration`, so every
//   segment starts with a keyframe (EXT-X-INDEPENDENT-SEGMENTS holds) and segments are as close
//   to the target as the keyframe spacing allows. For audio-only streams every frame counts as
//   a keyframe.
// - A part (LL-HLS) ends before a buffer when adding that buffer would make the part longer
//   than `part_duration`, so parts never exceed it: use part_duration as PART-TARGET.
// - A new segment always starts a new part.
#pragma once

#include <cstdint>
#include <optional>

namespace live::hls {

struct SegmentCutterConfig {
  int64_t segment_duration = 2'000'000'000;  // ns; cut at the first keyframe at or after this
  int64_t part_duration = 0;                 // ns; 0 = no parts
};

enum class CutDecision {
  none,         // append the buffer to the current part/segment
  new_part,     // close the current part, start a new part in the same segment
  new_segment,  // close the current part and segment, start a new segment with this keyframe
};

class SegmentCutter {
 public:
  explicit SegmentCutter(SegmentCutterConfig config) : config_(config) {}

  // Decide for the next buffer: timestamp (ns, any monotonic timeline such as the running
  // time of its DTS), its duration (ns, 0 if unknown) and whether it is a keyframe. The very
  // first buffer opens the first segment and part and returns `none`.
  CutDecision push(int64_t timestamp_ns, int64_t duration_ns, bool keyframe);

  // Earliest timestamp at which the current segment may end (for requesting a key unit
  // upstream in time); nullopt before the first buffer.
  std::optional<int64_t> next_segment_boundary() const;

  // Start of the current segment / part (nullopt before the first buffer).
  std::optional<int64_t> segment_start() const { return segment_start_; }
  std::optional<int64_t> part_start() const { return part_start_; }

  // Forget the current segment (e.g. after a flush or a discontinuity).
  void reset() {
    segment_start_.reset();
    part_start_.reset();
  }

 private:
  SegmentCutterConfig config_;
  std::optional<int64_t> segment_start_;
  std::optional<int64_t> part_start_;
};

}  // namespace live::hls
