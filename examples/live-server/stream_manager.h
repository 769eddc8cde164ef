// StreamManager: the live streams of the server, one StreamPipeline each, created on demand
// when GstLiveServer asks for a publish no element serves ("mount-needed") and the Policy
// allows it; ended when the publisher has been gone for idle-timeout (rtmpserversrc's EOS) or
// the pipeline fails (that stream only). Logs one line per publish, unpublish, viewer change.
//
// Threads: provide() runs on decision threads; bus messages, status lines and shutdown on the
// main loop; snapshots() on any thread (the HTTP thread). lock_ guards streams_ and is never
// held while a pipeline changes state.
#pragma once

#include <gst/gst.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "config.h"
#include "policy.h"
#include "stream_pipeline.h"

namespace live_server {

class StreamManager {
 public:
  StreamManager(const Config& config, const Policy& policy) : config_(config), policy_(policy) {}
  ~StreamManager();

  // The "mount-needed" answer (decision thread): builds the stream's pipeline for an allowed
  // publish; plays of streams that are not live are refused.
  bool provide(const GstStructure* request);
  // Every live stream, for the API, the metrics and the status line.
  std::vector<StreamSnapshot> snapshots() const;
  uint64_t streams_started() const;
  // Ends every stream with EOS (playlists get ENDLIST, viewers StreamEOF, recordings are
  // finalised) and calls `done` on the main loop once all ended or after `timeout_s`.
  void shutdown(unsigned timeout_s, std::function<void()> done);
  void log_status() const;
  // Ends streams whose publisher never arrived within idle-timeout (it left while its pipeline
  // was being built): rtmpserversrc's idle timeout only counts after a first publish. Main loop.
  void end_abandoned();

 private:
  struct Stream {
    std::shared_ptr<StreamPipeline> pipeline;
    guint bus_watch = 0;
    bool ending = false;  // EOS sent or seen: publishes to it are refused until it is gone
    int rtmp_viewers = 0, http_flv_viewers = 0;  // from the play start/stop messages, for the log
    bool published = false;  // its publisher arrived (rtmp-publish-start)
    int64_t created_us = 0;  // monotonic
  };
  static gboolean on_bus_message(GstBus*, GstMessage* message, gpointer data);
  bool handle_message(const std::string& name, GstMessage* message);  // false: stream gone
  void remove(const std::string& name);
  static gboolean on_authorize_publish(GstElement*, const gchar* client, const gchar* app,
                                       const gchar* key, const gchar* query, gpointer data);
  static gboolean on_authorize_play(GstElement*, const gchar* client, const gchar* app,
                                    const gchar* key, const gchar* query, gpointer data);

  const Config& config_;
  const Policy& policy_;
  std::mutex create_lock_;  // one stream built at a time
  mutable std::mutex lock_;
  // Held (shared) while snapshots() holds copies of pipelines; remove() waits for them so that a
  // pipeline is never destroyed on the HTTP server thread (its sinks' HTTP sites then go before
  // the work they had posted to that thread has run).
  mutable std::shared_mutex snapshots_lock_;
  std::condition_variable removed_;
  std::map<std::string, Stream> streams_;  // by public name
  uint64_t started_ = 0;
  std::function<void()> shutdown_done_;
  guint shutdown_timer_ = 0;
};

}  // namespace live_server
