// Recorder (see recorder.h).
//
// Threads: tracks_ready and the pad probes run on streaming threads, start_file / stop_file /
// teardown on the main loop, the bus sync handler on whichever thread posts. lock is recursive:
// a file bin's first state change (in a probe, lock held) may post an error to the sync handler
// on the same thread. It is never held while a bin goes to NULL (that joins streaming threads
// which may be waiting in the sync handler).
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace live_server {

namespace {

// How long a stopped publish's file waits for its last frames (still in the stream's queues)
// when no next publisher marks the end first.
constexpr guint kStopGraceMs = 1500;

struct File {
  std::string path;
  GstElement* bin = nullptr;                       // in the pipeline until teardown
  std::vector<std::pair<GstElement*, GstPad*>> tee_pads;  // (tee, request pad)
  std::vector<GstPad*> sink_pads;                  // the bin's ghost pads
  bool closed = false;      // no more buffers: EOS is on its way (or the file failed)
  bool failed = false;
  bool eos_written = false;  // the muxer finished: the moov is on disk
  bool torn_down = false;
  uint64_t frames = 0;
  GstClockTime first_pts = GST_CLOCK_TIME_NONE, last_pts = GST_CLOCK_TIME_NONE;

  ~File() {
    for (auto& [tee, pad] : tee_pads) gst_object_unref(pad);
    for (GstPad* pad : sink_pads) gst_object_unref(pad);
    if (bin) gst_object_unref(bin);
  }
  double seconds() const {
    if (!GST_CLOCK_TIME_IS_VALID(first_pts) || !GST_CLOCK_TIME_IS_VALID(last_pts)) return 0;
    return double(last_pts - first_pts) / GST_SECOND;
  }
};

// The recording never hands an error back to the stream's tees (a full disk must not stop the
// stream): whatever the bin returns, the tee hears OK.
GstFlowReturn chain_never_fails(GstPad* pad, GstObject* parent, GstBuffer* buffer) {
  gst_proxy_pad_chain_default(pad, parent, buffer);
  return GST_FLOW_OK;
}

GstFlowReturn chain_list_never_fails(GstPad* pad, GstObject* parent, GstBufferList* list) {
  gst_proxy_pad_chain_list_default(pad, parent, list);
  return GST_FLOW_OK;
}

// Nor does an event the bin refuses (its queue stopped by an error) come back as a failure.
gboolean event_never_fails(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto original = reinterpret_cast<GstPadEventFunction>(g_object_get_data(G_OBJECT(pad), "recorder-event"));
  original(pad, parent, event);
  return TRUE;
}

// Runs fn on the main loop (after `delay_ms`), unless the Recorder is gone by then.
template <typename Fn>
void on_main_loop(const std::weak_ptr<Recorder::Impl>& impl, guint delay_ms, Fn fn);

}  // namespace

struct Recorder::Impl : std::enable_shared_from_this<Recorder::Impl> {
  GstElement* pipeline = nullptr;
  std::string dir, name;

  mutable std::recursive_mutex lock;
  bool alive = true;
  GstElement* video_tee = nullptr;
  GstElement* audio_tee = nullptr;
  bool armed = false;           // a publish is on and has no file yet: open at a keyframe
  bool stop_requested = false;  // the current file's publish ended
  bool failed = false;          // recording failed in this publish: no new file before the next
  std::shared_ptr<File> current;
  std::vector<std::shared_ptr<File>> files;  // every bin in the pipeline (current and ending)

  static GstPadProbeReturn on_video_in(GstPad*, GstPadProbeInfo* info, gpointer data);
  std::shared_ptr<File> open_file();
  bool make_path(std::string& path);
  void close(const std::shared_ptr<File>& file);
  void detach(const std::shared_ptr<File>& file);
  void teardown(const std::shared_ptr<File>& file);
  static GstBusSyncReply on_bus_sync(GstBus*, GstMessage* message, gpointer data);
};

namespace {

template <typename Fn>
void on_main_loop(const std::weak_ptr<Recorder::Impl>& impl, guint delay_ms, Fn fn) {
  struct Call {
    std::weak_ptr<Recorder::Impl> impl;
    Fn fn;
  };
  auto run = [](gpointer data) -> gboolean {
    auto* call = static_cast<Call*>(data);
    if (auto impl = call->impl.lock()) {
      bool alive;
      {
        std::lock_guard lock(impl->lock);
        alive = impl->alive;
      }
      if (alive) call->fn(*impl);
    }
    return G_SOURCE_REMOVE;
  };
  auto destroy = [](gpointer data) { delete static_cast<Call*>(data); };
  g_timeout_add_full(G_PRIORITY_DEFAULT, delay_ms, run, new Call{impl, std::move(fn)}, destroy);
}

}  // namespace

Recorder::Recorder(GstElement* pipeline, std::string dir, std::string name)
    : impl_(std::make_shared<Impl>()) {
  impl_->pipeline = pipeline;
  impl_->dir = std::move(dir);
  impl_->name = std::move(name);
  GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline));
  gst_bus_set_sync_handler(bus, Impl::on_bus_sync, new std::weak_ptr<Impl>(impl_),
                           [](gpointer data) { delete static_cast<std::weak_ptr<Impl>*>(data); });
  gst_object_unref(bus);
}

Recorder::~Recorder() {
  GstBus* bus = gst_pipeline_get_bus(GST_PIPELINE(impl_->pipeline));
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  gst_object_unref(bus);
  std::lock_guard lock(impl_->lock);
  impl_->alive = false;
  for (const auto& file : impl_->files) {
    if (file->failed || file->torn_down) continue;
    if (file->eos_written)
      g_print("live-server: stream %s: recorded %s (%.1f s, %" G_GUINT64_FORMAT " video frames)\n",
              impl_->name.c_str(), file->path.c_str(), file->seconds(), file->frames);
    else
      g_printerr("live-server: stream %s: recording %s was cut off before its end: it may not play\n",
                 impl_->name.c_str(), file->path.c_str());
  }
  impl_->files.clear();
  impl_->current.reset();
  if (impl_->video_tee) gst_object_unref(impl_->video_tee);
  if (impl_->audio_tee) gst_object_unref(impl_->audio_tee);
  impl_->video_tee = impl_->audio_tee = nullptr;
}

void Recorder::tracks_ready(GstElement* video_tee, GstElement* audio_tee) {
  std::lock_guard lock(impl_->lock);
  if (impl_->video_tee || !video_tee) return;
  impl_->video_tee = GST_ELEMENT(gst_object_ref(video_tee));
  impl_->audio_tee = audio_tee ? GST_ELEMENT(gst_object_ref(audio_tee)) : nullptr;
  GstPad* sink = gst_element_get_static_pad(video_tee, "sink");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, Impl::on_video_in, new std::weak_ptr<Impl>(impl_),
                    [](gpointer data) { delete static_cast<std::weak_ptr<Impl>*>(data); });
  gst_object_unref(sink);
}

void Recorder::start_file() {
  std::lock_guard lock(impl_->lock);
  impl_->failed = false;
  // A file still open for the previous publish ends at this publish's first (DISCONT) frame.
  impl_->armed = true;
}

void Recorder::stop_file() {
  std::lock_guard lock(impl_->lock);
  impl_->armed = false;
  if (!impl_->current || impl_->stop_requested) return;
  impl_->stop_requested = true;
  on_main_loop(impl_, kStopGraceMs, [file = impl_->current](Impl& impl) {
    std::lock_guard lock(impl.lock);
    if (impl.current != file || !impl.stop_requested) return;
    impl.current.reset();
    impl.stop_requested = false;
    impl.close(file);
  });
}

std::string Recorder::current_file() const {
  std::lock_guard lock(impl_->lock);
  return impl_->current ? impl_->current->path : "";
}

// Every parsed video buffer, before the tee hands it on: where files end and begin.
GstPadProbeReturn Recorder::Impl::on_video_in(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto impl = static_cast<std::weak_ptr<Impl>*>(data)->lock();
  if (!impl) return GST_PAD_PROBE_OK;
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  const bool discont = GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  const bool key = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  std::lock_guard lock(impl->lock);
  if (!impl->alive) return GST_PAD_PROBE_OK;
  if (discont && impl->current && impl->stop_requested) {
    // The next publisher's first frame: the previous publish's file ends here.
    impl->close(impl->current);
    impl->current.reset();
    impl->stop_requested = false;
    impl->armed = !impl->failed;
  } else if (discont && !impl->current && !impl->failed) {
    impl->armed = true;  // a publish whose start_file() is still on its way
  }
  if (!impl->current && impl->armed && key) {
    impl->armed = false;
    impl->current = impl->open_file();
  }
  return GST_PAD_PROBE_OK;
}

bool Recorder::Impl::make_path(std::string& path) {
  if (g_mkdir_with_parents(dir.c_str(), 0755) != 0) {
    const int err = errno;
    g_printerr("live-server: stream %s: cannot record: cannot create folder %s: %s (the stream goes "
               "on without recording)\n", name.c_str(), dir.c_str(), g_strerror(err));
    return false;
  }
  std::string safe = name;
  std::replace_if(safe.begin(), safe.end(), [](char c) { return c == '/' || c == '\\'; }, '_');
  if (!safe.empty() && safe[0] == '.') safe[0] = '_';
  GDateTime* now = g_date_time_new_now_utc();
  gchar* stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_date_time_unref(now);
  const std::string base = dir + "/" + safe + "-" + stamp;
  g_free(stamp);
  for (int n = 1; n < 100; ++n) {
    path = base + (n == 1 ? "" : "-" + std::to_string(n)) + ".mp4";
    // Created here, so a folder we cannot write to is found now, with its reason.
    const int fd = g_open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (errno == EEXIST) continue;
    const int err = errno;
    g_printerr("live-server: stream %s: cannot record to %s: %s (the stream goes on without "
               "recording)\n", name.c_str(), path.c_str(), g_strerror(err));
    return false;
  }
  g_printerr("live-server: stream %s: cannot record: too many files named %s*.mp4\n", name.c_str(),
             base.c_str());
  return false;
}

// Streaming thread, lock held, at the video keyframe the file starts with.
std::shared_ptr<File> Recorder::Impl::open_file() {
  auto file = std::make_shared<File>();
  if (!make_path(file->path)) {
    failed = true;
    return nullptr;
  }
  GstElement* bin = gst_bin_new(nullptr);
  GstElement* mux = gst_element_factory_make("mp4mux", nullptr);
  GstElement* sink = gst_element_factory_make("filesink", nullptr);
  if (!mux || !sink) {
    g_printerr("live-server: stream %s: cannot record: GStreamer element %s is missing\n", name.c_str(),
               mux ? "filesink" : "mp4mux (gst-plugins-good)");
    for (GstElement* e : {bin, mux, sink})
      if (e) gst_object_unref(gst_object_ref_sink(e));
    g_unlink(file->path.c_str());
    failed = true;
    return nullptr;
  }
  file->bin = GST_ELEMENT(gst_object_ref(bin));
  g_object_set(sink, "location", file->path.c_str(), "async", FALSE, nullptr);
  gst_bin_add_many(GST_BIN(bin), mux, sink, nullptr);
  gst_element_link(mux, sink);
  std::vector<std::pair<GstElement*, const char*>> tracks = {{video_tee, "video_%u"}};
  if (audio_tee) tracks.push_back({audio_tee, "audio_%u"});
  for (auto& [tee, mux_pad] : tracks) {
    GstElement* queue = gst_element_factory_make("queue", nullptr);
    // A slow disk drops the file's oldest frames; it never holds the stream back. A byte limit:
    // a time limit would count from running time 0 until the first buffer leaves the queue and
    // drop the keyframe a file starts with when the stream has run for longer than the limit.
    g_object_set(queue, "max-size-time", guint64(0), "max-size-buffers", 0u, "max-size-bytes",
                 guint(32 << 20), "leaky", 2, nullptr);
    gst_bin_add(GST_BIN(bin), queue);
    GstPad* queue_src = gst_element_get_static_pad(queue, "src");
    GstPad* mux_sink = gst_element_request_pad_simple(mux, mux_pad);
    if (mux_sink) gst_pad_link(queue_src, mux_sink);
    gst_object_unref(queue_src);
    if (mux_sink) gst_object_unref(mux_sink);
    GstPad* queue_sink = gst_element_get_static_pad(queue, "sink");
    GstPad* ghost = gst_ghost_pad_new(tee == video_tee ? "video" : "audio", queue_sink);
    gst_object_unref(queue_sink);
    gst_pad_set_chain_function(ghost, chain_never_fails);
    gst_pad_set_chain_list_function(ghost, chain_list_never_fails);
    g_object_set_data(G_OBJECT(ghost), "recorder-event", reinterpret_cast<gpointer>(GST_PAD_EVENTFUNC(ghost)));
    gst_pad_set_event_function(ghost, event_never_fails);
    gst_element_add_pad(bin, ghost);
    file->sink_pads.push_back(GST_PAD(gst_object_ref(ghost)));
  }
  GstPad* sink_pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(sink_pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, [](GstPad*, GstPadProbeInfo* info, gpointer data) {
    if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) != GST_EVENT_EOS) return GST_PAD_PROBE_OK;
    auto* ctx = static_cast<std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>*>(data);
    auto impl = ctx->first.lock();
    auto file = ctx->second.lock();
    if (!impl || !file) return GST_PAD_PROBE_OK;
    std::lock_guard lock(impl->lock);
    file->eos_written = true;
    // Off the streaming thread: the bin goes to NULL on the main loop.
    on_main_loop(impl, 0, [file](Impl& impl) { impl.teardown(file); });
    return GST_PAD_PROBE_OK;
  }, new std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>(shared_from_this(), file),
     [](gpointer data) { delete static_cast<std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>*>(data); });
  gst_object_unref(sink_pad);
  files.push_back(file);
  gst_bin_add(GST_BIN(pipeline), bin);
  // Running before the tee links to it: a tee pad whose peer is flushing would fail the stream.
  if (!gst_element_sync_state_with_parent(bin) || file->failed) {
    if (!file->failed)
      g_printerr("live-server: stream %s: cannot record to %s: the recording did not start "
                 "(the stream goes on without recording)\n", name.c_str(), file->path.c_str());
    file->failed = file->closed = true;
    failed = true;
    on_main_loop(shared_from_this(), 0, [file](Impl& impl) { impl.teardown(file); });
    return nullptr;
  }
  for (size_t i = 0; i < tracks.size(); ++i) {
    GstElement* tee = tracks[i].first;
    GstPad* tee_pad = gst_element_request_pad_simple(tee, "src_%u");
    const bool video = tee == video_tee;
    gst_pad_add_probe(tee_pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      [](GstPad*, GstPadProbeInfo*, gpointer data) {
      auto* ctx = static_cast<std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>*>(data);
      auto impl = ctx->first.lock();
      auto file = ctx->second.lock();
      if (!impl || !file) return GST_PAD_PROBE_DROP;
      std::lock_guard lock(impl->lock);
      if (file->closed) return GST_PAD_PROBE_DROP;
      return GST_PAD_PROBE_OK;
    }, new std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>(shared_from_this(), file),
       [](gpointer data) { delete static_cast<std::pair<std::weak_ptr<Impl>, std::weak_ptr<File>>*>(data); });
    if (video) {
      gst_pad_add_probe(tee_pad, GST_PAD_PROBE_TYPE_BUFFER, [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        auto file = static_cast<std::weak_ptr<File>*>(data)->lock();
        GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
        if (file && GST_BUFFER_PTS_IS_VALID(buffer)) {  // this pad's thread only: no lock
          if (!GST_CLOCK_TIME_IS_VALID(file->first_pts)) file->first_pts = GST_BUFFER_PTS(buffer);
          file->last_pts = std::max(GST_BUFFER_PTS(buffer),
                                    GST_CLOCK_TIME_IS_VALID(file->last_pts) ? file->last_pts : 0);
          ++file->frames;
        }
        return GST_PAD_PROBE_OK;
      }, new std::weak_ptr<File>(file), [](gpointer data) { delete static_cast<std::weak_ptr<File>*>(data); });
    }
    gst_pad_link(tee_pad, file->sink_pads[i]);
    file->tee_pads.emplace_back(tee, tee_pad);
  }
  g_print("live-server: stream %s: recording to %s\n", name.c_str(), file->path.c_str());
  return file;
}

// Lock held. The file takes no more buffers; on the main loop its tee pads go, then its tracks
// get EOS. Sent from a streaming thread, EOS could wait on the other track's thread, itself
// waiting for this one; and a tee pad still linked to a bin at EOS would hand the tee EOS for
// the next sticky event it forwards (the stream would end).
void Recorder::Impl::close(const std::shared_ptr<File>& file) {
  if (file->closed) return;
  file->closed = true;
  on_main_loop(shared_from_this(), 0, [file](Impl& impl) {
    impl.detach(file);
    for (GstPad* pad : file->sink_pads) gst_pad_send_event(pad, gst_event_new_eos());
  });
}

// Main loop: the file's tee pads are unlinked and released (the bin stays).
void Recorder::Impl::detach(const std::shared_ptr<File>& file) {
  std::vector<std::pair<GstElement*, GstPad*>> pads;
  {
    std::lock_guard guard(lock);
    pads.swap(file->tee_pads);
  }
  for (size_t i = 0; i < pads.size(); ++i) {
    auto& [tee, pad] = pads[i];
    gst_pad_unlink(pad, file->sink_pads[i]);
    gst_element_release_request_pad(tee, pad);
    gst_object_unref(pad);
  }
}

// Main loop, lock not held: stops the bin and takes it out of the pipeline.
void Recorder::Impl::teardown(const std::shared_ptr<File>& file) {
  {
    std::lock_guard guard(lock);
    if (file->torn_down) return;
    file->torn_down = true;
    file->closed = true;
  }
  detach(file);
  gst_element_set_state(file->bin, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline), file->bin);
  if (file->eos_written && !file->failed)
    g_print("live-server: stream %s: recorded %s (%.1f s, %" G_GUINT64_FORMAT " video frames)\n",
            name.c_str(), file->path.c_str(), file->seconds(), file->frames);
  if (file->failed && file->frames == 0) g_unlink(file->path.c_str());
  std::lock_guard guard(lock);
  files.erase(std::remove(files.begin(), files.end(), file), files.end());
}

// Errors of a file's bin are the recording's, not the stream's: logged here and dropped before
// the stream's bus watch would end the stream for them.
GstBusSyncReply Recorder::Impl::on_bus_sync(GstBus*, GstMessage* message, gpointer data) {
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ERROR) return GST_BUS_PASS;
  auto impl = static_cast<std::weak_ptr<Impl>*>(data)->lock();
  if (!impl) return GST_BUS_PASS;
  std::lock_guard lock(impl->lock);
  for (const auto& file : impl->files) {
    if (!gst_object_has_as_ancestor(GST_MESSAGE_SRC(message), GST_OBJECT(file->bin))) continue;
    if (!file->failed) {
      GError* err = nullptr;
      gst_message_parse_error(message, &err, nullptr);
      g_printerr("live-server: stream %s: recording to %s failed: %s (the stream goes on without "
                 "recording until its next publish)\n", impl->name.c_str(), file->path.c_str(),
                 err ? err->message : "unknown error");
      g_clear_error(&err);
      file->failed = file->closed = true;
      impl->failed = true;
      if (impl->current == file) impl->current.reset();
      on_main_loop(impl, 0, [file](Impl& i) { i.teardown(file); });
    }
    return GST_BUS_DROP;
  }
  return GST_BUS_PASS;
}

}  // namespace live_server
