// Recorder: records one stream's source (parsed video and AAC audio, as published) to MP4, a new
// file per publish: <dir>/<name>-<UTC date and time>.mp4, finalised (playable) when the
// publish ends, when the stream ends or when the server stops.
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
  std::unique_ptr<Impl> impl_;
};

}  // namespace live_server
