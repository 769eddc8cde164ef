// Recorder: records one stream's source (parsed video and AAC audio, as published) to MP4, a new
// file per publish: <dir>/<name>-<UTC yyyymmdd-hhmmss>.mp4, starting at a video keyframe and
// finalised (playable, moov written) when the publish ends, when the stream ends or when the
// server stops. A recording that fails (unwritable folder, full disk) is logged and dropped;
// the stream goes on.
//
// Each file is a bin (queue ! mp4mux ! filesink, a queue per track) on request pads of the
// stream's "video-tee" and "audio-tee". Where one publish ends and the next begins is decided
// in the streaming thread, in the order of the media: the main-loop messages (start_file,
// stop_file) can come before or after the publish's first and last frames. rtmpserversrc marks
// a new publisher's first buffer DISCONT; the parsers carry the flag to the tees. A file asked
// to stop ends at the next DISCONT (the next publisher) or kStopGraceMs after stop_file.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>

namespace live_server {

class Recorder {
 public:
  Recorder(GstElement* pipeline, std::string dir, std::string name);
  ~Recorder();  // the pipeline is in NULL by now

  // The stream's parsed tracks exist (streaming thread; audio_tee may be null). May come
  // before or after start_file().
  void tracks_ready(GstElement* video_tee, GstElement* audio_tee);
  // A publish started (main thread): a new file, from the next video keyframe.
  void start_file();
  // The publish ended (main thread): the file is finalised.
  void stop_file();
  std::string current_file() const;  // "" when not recording

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with main-loop callbacks that may outlive the Recorder
};

}  // namespace live_server
