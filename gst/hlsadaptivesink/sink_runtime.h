// hlsadaptivesink's running state and the glue between its parts: frames from the pads go to
// the SegmentAligner (lib/hls) and are queued per track; the aligner's decisions move them to
// each track's RenditionWriter, which writes segments, parts and playlists through the
// Presentation's OutputStore. Called with the element's state lock held.
#pragma once

#include <gst/gst.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hls/segment_aligner.h"
#include "media_frame.h"
#include "presentation.h"
#include "rendition_writer.h"
#include "sink_settings.h"

namespace live::hlssink {

// Limits on what upstream controls (see docs/elements/hlsadaptivesink.md).
inline constexpr size_t kMaxHeldFramesPerPad = 20000;        // frames held waiting for a boundary
inline constexpr uint64_t kMaxSegmentBytes = 128ull << 20;    // segment in progress of a variant
inline constexpr int64_t kMinKeyframeInterval = 30 * kSecond;  // longest GOP: max(this, 4 x target-duration)
inline constexpr size_t kMaxFrameBytes = 64 * 1024 * 1024;
inline constexpr unsigned kMaxVideoPads = 16;
inline constexpr unsigned kMaxAudioPads = 1;
// How long a variant may wait for the other video pads' caps before naming itself anyway.
inline constexpr int64_t kNamingWait = 3 * kSecond;

struct VideoTrack {
  GstPad* pad = nullptr;  // not owned (owned by the element); nullptr once released
  std::string pad_name;
  std::shared_ptr<const StreamConfig> config;
  GstSegment segment;
  std::deque<Frame> held;  // frames the aligner holds, oldest first
  bool discont_pending = false;  // caps changed: the next keyframe starts after a discontinuity
  bool eos = false;
  std::unique_ptr<RenditionWriter> writer;
};

struct AudioTrack {
  GstPad* pad = nullptr;
  std::shared_ptr<const StreamConfig> config;
  GstSegment segment;
  std::deque<Frame> held;  // fMP4: frames the aligner holds (MPEG-TS: Presentation::ts_audio)
  bool eos = false;
  std::unique_ptr<RenditionWriter> writer;  // fMP4: the audio rendition
};

struct Runtime {
  Settings cfg;
  bool running = false;
  bool failed = false;
  bool eos_posted = false;
  std::vector<std::unique_ptr<VideoTrack>> videos;  // the reference (lowest pad number) first
  std::unique_ptr<AudioTrack> audio;
  std::unique_ptr<Presentation> out;
  std::unique_ptr<hls::SegmentAligner> aligner;
  std::vector<std::pair<GstPad*, GstEvent*>> events;  // upstream events to send after the lock

  size_t track_of(const VideoTrack& t) const;
  size_t audio_index() const { return aligner->audio_track(); }
};

// Makes the presentation, the aligner and the writers from r.cfg (pads already there).
Result<void> start_runtime(Runtime& r);
// A frame of a video track (index) or of the audio track (audio_index()).
Result<void> push_frame(Runtime& r, size_t track, Frame frame, bool discont);
void end_of_stream(Runtime& r, size_t track);
// Drops what a track holds and abandons its segment in progress.
Result<void> flush_track(Runtime& r, size_t track);
// Applies the aligner's decisions, writes what is complete; at the end of every input, ends
// every playlist. Returns true when the presentation has just ended.
Result<bool> process(Runtime& r);
GstStructure* make_stats(const Runtime& r);

}  // namespace live::hlssink
