// rtmpserversrc: RTMP/RTMPS server endpoint for one stream, output as video/x-flv.
//
// Threads: the shared listener's I/O thread calls the PublishMount methods (media, start/stop);
// "authorize-publish" is emitted and element messages are posted from DecisionRunner threads,
// never from the I/O thread, so a handler may stop the pipeline; the streaming thread runs
// create(); the application thread changes state and properties.
// Locks: settings_lock (properties) and state_lock (queue, publisher state, stats) are never
// held together; no lock is held while calling into the listener, emitting a signal or posting
// a message. Streaming-thread-only state (timestamps) needs no lock.
#include "rtmpserversrc/rtmpserversrc.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "flv/flv_tag.h"
#include "rtmpserversrc/queued_tag.h"
#include "net/decision_runner.h"
#include "net/listener.h"
#include "net/mount.h"

GST_DEBUG_CATEGORY_STATIC(rtmp_server_src_debug);
#define GST_CAT_DEFAULT rtmp_server_src_debug

namespace {

constexpr const char* kDefaultAddress = "0.0.0.0";
constexpr guint kDefaultPort = 1935;
constexpr const char* kDefaultApplication = "live";
constexpr guint kDefaultChunkSize = 4096;
constexpr guint kMinChunkSize = 128;
constexpr guint kMaxChunkSize = 16 * 1024 * 1024;
constexpr guint kDefaultIdleTimeout = 0;
constexpr guint kDefaultMaxConnections = live::net::kDefaultMaxConnections;
constexpr guint kDefaultMaxConnectionsPerAddress = live::net::kDefaultMaxConnectionsPerAddress;
constexpr guint kDefaultReadInterval = live::net::kDefaultReadIntervalMs;
constexpr guint kMaxReadInterval = 1000;
// Messages waiting for the streaming thread. Above the pause mark the publisher's connection
// is not read any more (TCP pushes back to it) until the streaming thread has taken the queue
// (it takes all of it at once). The hard limit is a safety net only (one read burst cannot
// reach it): beyond it the oldest are dropped and the next buffer is marked DISCONT.
constexpr size_t kPauseReadingBytes = 8 * 1024 * 1024;
constexpr size_t kMaxQueuedBytes = 64 * 1024 * 1024;
constexpr int64_t kBitrateWindowMicros = 5 * G_USEC_PER_SEC;

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_APPLICATION,
  PROP_STREAM_KEY,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_CHUNK_SIZE,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_CONNECTIONS,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_PUBLISHER_TAKEOVER,
  PROP_READ_INTERVAL,
  PROP_STATS,
};

enum { SIGNAL_AUTHORIZE_PUBLISH, N_SIGNALS };
guint signals[N_SIGNALS];

GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-flv"));

// Stops the emission at the first handler that says no; no handler (or only TRUE) allows.
gboolean accumulate_all_true(GSignalInvocationHint*, GValue* return_accu,
                             const GValue* handler_return, gpointer) {
  gboolean allowed = g_value_get_boolean(handler_return);
  g_value_set_boolean(return_accu, allowed);
  return allowed;
}

gboolean default_authorize_publish(GstRtmpServerSrc*, const gchar*, const gchar*, const gchar*,
                                   const gchar*) {
  return TRUE;
}

bool contains(const std::vector<uint8_t>& haystack, const char* needle) {
  const size_t n = std::strlen(needle);
  return std::search(haystack.begin(), haystack.end(), needle, needle + n) != haystack.end();
}

}  // namespace

namespace live::gst {

class RtmpServerSrcImpl final : public net::PublishMount {
 public:
  explicit RtmpServerSrcImpl(GstRtmpServerSrc* element) : element_(element) {}
  ~RtmpServerSrcImpl() override = default;

  struct Settings {
    std::string address = kDefaultAddress;
    guint port = kDefaultPort;
    std::string application = kDefaultApplication;
    std::string stream_key;
    std::string tls_certificate;
    std::string tls_key;
    guint chunk_size = kDefaultChunkSize;
    guint idle_timeout = kDefaultIdleTimeout;
    guint max_connections = kDefaultMaxConnections;
    guint max_connections_per_address = kDefaultMaxConnectionsPerAddress;
    bool publisher_takeover = false;
    guint read_interval = kDefaultReadInterval;
  };

  std::mutex settings_lock;
  Settings settings;

  bool start();
  void stop();
  GstFlowReturn create(GstBuffer** out);
  bool begin_drain();
  GstClockTime latency();
  void set_flushing(bool flushing);
  GstStructure* stats();

  // net::PublishMount (I/O thread)
  std::shared_ptr<void> keep_alive() override {
    return std::shared_ptr<void>(gst_object_ref(element_), gst_object_unref);
  }
  bool authorize_publish(const net::StreamRequest& request) override;
  bool allows_takeover() const override;
  void publish_started(const net::StreamRequest& request) override;
  bool media(rtmp::Message&& message) override;
  void drop_oldest_media();  // state_lock_ held
  uint32_t bytes_received(uint64_t count) override;
  void publish_stopped(const std::string& reason) override;

 private:
  GstBuffer* make_output_buffer(QueuedTag&& tag, bool discont);
  GstBuffer* make_header_buffer(const QueuedTag& first);
  GstBuffer* make_tag_buffer(QueuedTag&& tag);
  GstClockTime running_time_now();
  void wake_consumer() {  // under state_lock_
    if (consumer_wakeup_) consumer_wakeup_->wake(wake_bit_);
  }
  void post_publish_message(const char* name, const net::StreamRequest& request,
                            const std::string* reason);

  GstRtmpServerSrc* element_;
  // Set in start(), cleared in stop(); under state_lock_ (stats read it from any thread).
  std::shared_ptr<net::Listener> listener_;

  // --- under state_lock ---
  std::mutex state_lock_;
  // create() sleeps on the listener's BatchWakeup while a publisher sends (one wakeup per read
  // batch for all streams), else on own_wakeup_; consumer_wakeup_ is the one it sleeps on now
  // (null when it does not; create() holds a reference while it sleeps).
  std::shared_ptr<net::BatchWakeup> own_wakeup_ = std::make_shared<net::BatchWakeup>();
  net::BatchWakeup* consumer_wakeup_ = nullptr;
  const uint32_t wake_bit_ = net::BatchWakeup::next_bit();  // this source's bit on either
  std::deque<QueuedTag> queue_;
  size_t queued_bytes_ = 0;
  bool flushing_ = false;
  bool draining_ = false;      // end-of-stream asked: output what was received, then EOS
  bool drain_read_ = false;    // ... and the publisher's unread input was fetched for it
  bool publishing_ = false;
  bool ever_published_ = false;
  bool dropped_since_output_ = false;
  bool reading_paused_ = false;  // media() asked the listener to stop reading
  bool consumer_waiting_ = false;  // create() waits for the queue
  uint64_t pauses_ = 0;
  int64_t publish_ended_at_ = 0;  // monotonic us
  uint64_t publish_serial_ = 0;
  net::StreamRequest current_;  // the current or last publisher
  // stats
  uint64_t bytes_in_ = 0;
  uint64_t messages_ = 0;
  uint64_t publishes_ = 0;
  uint64_t dropped_messages_ = 0;
  uint64_t refused_ = 0;
  std::deque<std::pair<int64_t, uint64_t>> recent_bytes_;  // (monotonic us, bytes)

  // --- streaming thread only ---
  bool header_sent_ = false;
  uint64_t output_serial_ = 0;     // publish_serial of the session being output
  int64_t session_base_ms_ = 0;    // output time of the session's first tag
  int64_t session_first_ts_ = 0;   // the publisher's (unwrapped) first timestamp
  int64_t unwrapped_ts_ = 0;
  uint32_t last_raw_ts_ = 0;
  int64_t last_output_ms_ = -1;
};

bool RtmpServerSrcImpl::start() {
  Settings s;
  {
    std::lock_guard lock(settings_lock);
    s = settings;
  }
  net::ListenerConfig config;
  config.address = s.address;
  config.port = static_cast<uint16_t>(s.port);
  config.tls_certificate = s.tls_certificate;
  config.tls_key = s.tls_key;
  config.max_connections = s.max_connections;
  config.max_connections_per_address = s.max_connections_per_address;
  config.session.outgoing_chunk_size = s.chunk_size;
  config.read_interval_ms = s.read_interval;
  auto acquired = net::Listener::acquire(config);
  if (!acquired) {
    GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_READ, ("Cannot start the RTMP server"),
                      ("%s", acquired.error().describe().c_str()));
    return false;
  }
  {
    std::lock_guard lock(state_lock_);
    queue_.clear();
    queued_bytes_ = 0;
    publishing_ = ever_published_ = dropped_since_output_ = false;
    draining_ = drain_read_ = false;
    publish_serial_ = 0;
    current_ = {};
    bytes_in_ = messages_ = publishes_ = dropped_messages_ = refused_ = pauses_ = 0;
    reading_paused_ = false;
    recent_bytes_.clear();
  }
  header_sent_ = false;
  output_serial_ = 0;
  last_output_ms_ = -1;
  {
    std::lock_guard lock(state_lock_);
    listener_ = acquired.value();
  }
  auto added = acquired.value()->add_publish_mount(s.application, s.stream_key, this);
  if (!added) {
    GST_ELEMENT_ERROR(element_, RESOURCE, BUSY, ("Stream already served"),
                      ("%s", added.error().describe().c_str()));
    std::lock_guard lock(state_lock_);
    listener_.reset();
    return false;
  }
  GST_INFO_OBJECT(element_, "serving application '%s' (%s) on %s:%u%s", s.application.c_str(),
                  s.stream_key.empty() ? "any stream key" : "one stream key", s.address.c_str(),
                  acquired.value()->port(), acquired.value()->uses_tls() ? " with TLS" : "");
  return true;
}

void RtmpServerSrcImpl::stop() {
  std::shared_ptr<net::Listener> listener;
  {
    std::lock_guard lock(state_lock_);
    listener = std::move(listener_);
  }
  if (listener) {
    listener->remove_publish_mount(this);  // waits: no callback runs after this
    listener.reset();                       // the last user closes the port and its thread
  }
  std::lock_guard lock(state_lock_);
  queue_.clear();
  queued_bytes_ = 0;
  publishing_ = false;
}

void RtmpServerSrcImpl::set_flushing(bool flushing) {
  std::lock_guard lock(state_lock_);
  flushing_ = flushing;
  wake_consumer();
}

GstClockTime RtmpServerSrcImpl::running_time_now() {
  GstClock* clock = gst_element_get_clock(GST_ELEMENT(element_));
  if (!clock) return 0;
  GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  GstClockTime base = gst_element_get_base_time(GST_ELEMENT(element_));
  return now > base ? now - base : 0;
}

// Input reaches create() up to one read interval after it arrived (the I/O thread reads in
// batches), so buffers stamped with their arrival time can be that late.
GstClockTime RtmpServerSrcImpl::latency() {
  {
    std::lock_guard lock(state_lock_);
    if (listener_) return listener_->read_interval_ms() * GST_MSECOND;  // the one in use
  }
  std::lock_guard lock(settings_lock);
  return settings.read_interval * GST_MSECOND;
}

GstFlowReturn RtmpServerSrcImpl::create(GstBuffer** out) {
  guint idle_timeout;
  {
    std::lock_guard lock(settings_lock);
    idle_timeout = settings.idle_timeout;
  }
  // Everything queued goes out in one buffer list: one wakeup and one push per read batch of
  // the I/O thread, not one per message.
  std::deque<QueuedTag> tags;
  bool discont = false;
  std::shared_ptr<net::Listener> resume_via;
  {
    std::unique_lock lock(state_lock_);
    for (;;) {
      if (flushing_) return GST_FLOW_FLUSHING;
      if (draining_ && !drain_read_ && listener_) {
        // Input that arrived but waits for the next batched read goes out before EOS too.
        drain_read_ = true;
        std::shared_ptr<net::Listener> listener = listener_;
        lock.unlock();
        listener->read_publisher_now(this);
        lock.lock();
        continue;
      }
      if (!queue_.empty()) break;
      if (draining_) {
        GST_INFO_OBJECT(element_, "end of stream asked: everything received went out");
        return GST_FLOW_EOS;
      }
      int64_t timeout_us = -1;
      if (idle_timeout > 0 && ever_published_ && !publishing_) {
        int64_t deadline = publish_ended_at_ + int64_t(idle_timeout) * G_USEC_PER_SEC;
        timeout_us = deadline - g_get_monotonic_time();
        if (timeout_us <= 0) {
          GST_INFO_OBJECT(element_, "no publisher for %u s: end of stream", idle_timeout);
          return GST_FLOW_EOS;
        }
      }
      // Only a publishing source shares the listener's wakeup: an idle one (no publisher yet,
      // or one that left) would otherwise wake with every other stream's read batch.
      // publish_started() wakes it here, and its media comes after that.
      std::shared_ptr<net::BatchWakeup> wakeup =
          (listener_ && publishing_) ? listener_->source_wakeup() : own_wakeup_;
      const net::BatchWakeup::Ticket ticket = wakeup->ticket();  // under the lock: no wakeup missed
      consumer_waiting_ = true;
      consumer_wakeup_ = wakeup.get();
      lock.unlock();
      wakeup->wait(ticket, wake_bit_, timeout_us);
      lock.lock();
      consumer_waiting_ = false;
      consumer_wakeup_ = nullptr;
    }
    tags.swap(queue_);
    queued_bytes_ = 0;
    discont = dropped_since_output_;
    dropped_since_output_ = false;
    if (reading_paused_) {
      reading_paused_ = false;
      resume_via = listener_;
    }
  }
  if (resume_via) resume_via->resume_publisher(this);

  GstBufferList* list = gst_buffer_list_new_sized(tags.size() + 1);
  for (auto& tag : tags) {
    GstBuffer* header = header_sent_ ? nullptr : make_header_buffer(tag);
    GstBuffer* buffer = make_output_buffer(std::move(tag), discont);
    if (!buffer) {
      if (header) gst_buffer_unref(header);
      gst_buffer_list_unref(list);
      return GST_FLOW_ERROR;
    }
    discont = false;
    if (header) {
      // The FLV header goes first, stamped like the first tag.
      header_sent_ = true;
      GST_BUFFER_PTS(header) = GST_BUFFER_DTS(header) = GST_BUFFER_PTS(buffer);
      gst_buffer_list_add(list, header);
    }
    gst_buffer_list_add(list, buffer);
  }
  if (gst_buffer_list_length(list) == 1) {
    *out = gst_buffer_ref(gst_buffer_list_get(list, 0));
    gst_buffer_list_unref(list);
    return GST_FLOW_OK;
  }
  gst_base_src_submit_buffer_list(GST_BASE_SRC(element_), list);  // takes the list
  *out = nullptr;
  return GST_FLOW_OK;
}

// An application's end-of-stream (gst_element_send_event(pipeline, eos), gst-launch -e): the
// streaming thread outputs everything received so far, then returns EOS. False when it does
// not run (not PLAYING): the base class handles the event then.
bool RtmpServerSrcImpl::begin_drain() {
  std::lock_guard lock(state_lock_);
  if (flushing_ || !listener_) return false;
  draining_ = true;
  wake_consumer();
  return true;
}

GstBuffer* RtmpServerSrcImpl::make_output_buffer(QueuedTag&& tag, bool discont) {
  if (tag.publish_serial != output_serial_) {
    // A new publisher (first one or a reconnect): start its timeline at the current running
    // time, and never before what was already output.
    const int64_t now_ms = static_cast<int64_t>(running_time_now() / GST_MSECOND);
    session_base_ms_ = last_output_ms_ < 0 ? now_ms : std::max(last_output_ms_ + 1, now_ms);
    if (output_serial_ != 0) discont = true;
    output_serial_ = tag.publish_serial;
    session_first_ts_ = unwrapped_ts_ = tag.timestamp;
    last_raw_ts_ = tag.timestamp;
    GST_DEBUG_OBJECT(element_, "publish session %" G_GUINT64_FORMAT " starts at %" G_GINT64_FORMAT
                     " ms (publisher time %u ms)", output_serial_, session_base_ms_, tag.timestamp);
  } else {
    // RTMP timestamps wrap at 2^32 ms; small steps back (A/V interleaving) are kept.
    unwrapped_ts_ += static_cast<int32_t>(tag.timestamp - last_raw_ts_);
    last_raw_ts_ = tag.timestamp;
  }
  const int64_t out_ms = std::max<int64_t>(0, session_base_ms_ + unwrapped_ts_ - session_first_ts_);
  last_output_ms_ = std::max(last_output_ms_, out_ms);

  const uint8_t type = tag.type;
  const bool delta = type == 9 && !tag.payload.empty() && ((tag.payload[0] >> 4) & 0x07) != 1;
  // FLV time = buffer time in ms, except script data (onMetaData), which keeps 0 as in FLV
  // files: ffmpeg reads script data at another time as a data stream, not as metadata.
  tag.timestamp = type == 18 ? 0 : static_cast<uint32_t>(out_ms);
  GstBuffer* buffer = make_tag_buffer(std::move(tag));
  if (!buffer) return nullptr;
  GST_BUFFER_PTS(buffer) = GST_BUFFER_DTS(buffer) = out_ms * GST_MSECOND;
  if (delta) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  if (discont) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  return buffer;
}

GstBuffer* RtmpServerSrcImpl::make_header_buffer(const QueuedTag& first) {
  flv::FileHeader header;
  header.has_audio = header.has_video = true;
  if (first.type == 18 && contains(first.payload, "onMetaData")) {
    // Declare what the metadata announces; without metadata, declare both.
    header.has_video = contains(first.payload, "videocodecid");
    header.has_audio = contains(first.payload, "audiocodecid");
    if (!header.has_video && !header.has_audio) header.has_audio = header.has_video = true;
  }
  std::vector<uint8_t> bytes;
  flv::write_file_header(bytes, header);
  GstBuffer* buffer = gst_buffer_new_memdup(bytes.data(), bytes.size());
  GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_HEADER);
  return buffer;
}

GstBuffer* RtmpServerSrcImpl::make_tag_buffer(QueuedTag&& tag) {
  // The RTMP reader left room after the payload: the tag is framed around it in its own memory,
  // which the buffer then owns (no allocation and copy of the payload per message). Not for a
  // vector with more spare room (one that grew past 1 MiB): the buffer would hold it all.
  const size_t spare = tag.payload.capacity() - tag.payload.size();
  if (spare >= flv::kTagHeaderSize + flv::kPreviousTagSizeSize && spare <= rtmp::kPayloadFramingRoom &&
      flv::frame_tag_in_place(tag.payload, tag.type, tag.timestamp)) {
    auto* owned = new std::vector<uint8_t>(std::move(tag.payload));
    return gst_buffer_new_wrapped_full(GstMemoryFlags(0), owned->data(), owned->size(), 0, owned->size(), owned,
                                       [](gpointer data) { delete static_cast<std::vector<uint8_t>*>(data); });
  }
  // Otherwise one allocation for the buffer's memory, written in place.
  const size_t size = flv::kTagHeaderSize + tag.payload.size() + flv::kPreviousTagSizeSize;
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  if (!buffer || !gst_buffer_map(buffer, &map, GST_MAP_WRITE)) {
    if (buffer) gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(element_, RESOURCE, FAILED, ("Cannot allocate a buffer of %zu bytes", size),
                      (nullptr));
    return nullptr;
  }
  auto written = flv::write_tag(std::span<uint8_t>(map.data, map.size), tag.type, tag.timestamp,
                                tag.payload);
  gst_buffer_unmap(buffer, &map);
  if (!written) {
    gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(element_, STREAM, FAILED, ("Cannot write FLV tag"),
                      ("%s", written.error().describe().c_str()));
    return nullptr;
  }
  return buffer;
}

bool RtmpServerSrcImpl::authorize_publish(const net::StreamRequest& request) {
  gboolean allowed = TRUE;
  g_signal_emit(element_, signals[SIGNAL_AUTHORIZE_PUBLISH], 0, request.client_address.c_str(),
                request.application.c_str(), request.stream_key.c_str(), request.query.c_str(),
                &allowed);
  if (!allowed) {
    GST_INFO_OBJECT(element_, "publisher %s not authorized", request.client_address.c_str());
    std::lock_guard lock(state_lock_);
    ++refused_;
  }
  return allowed;
}

bool RtmpServerSrcImpl::allows_takeover() const {
  auto* self = const_cast<RtmpServerSrcImpl*>(this);
  std::lock_guard lock(self->settings_lock);
  return settings.publisher_takeover;
}

void RtmpServerSrcImpl::publish_started(const net::StreamRequest& request) {
  {
    std::lock_guard lock(state_lock_);
    publishing_ = true;
    ever_published_ = true;
    reading_paused_ = false;  // a new connection reads until media() says otherwise
    ++publish_serial_;
    ++publishes_;
    current_ = request;
    recent_bytes_.clear();
    wake_consumer();
  }
  GST_INFO_OBJECT(element_, "publisher %s started", request.client_address.c_str());
  GST_DEBUG_OBJECT(element_, "stream key '%s'", request.stream_key.c_str());
  post_publish_message("rtmp-publish-start", request, nullptr);
}

bool RtmpServerSrcImpl::media(rtmp::Message&& message) {
  if (message.type != 8 && message.type != 9 && message.type != 18) {
    GST_LOG_OBJECT(element_, "ignoring message type %u", message.type);
    return true;
  }
  std::lock_guard lock(state_lock_);
  ++messages_;
  if (queued_bytes_ + message.payload.size() > kMaxQueuedBytes) drop_oldest_media();
  queued_bytes_ += message.payload.size();
  queue_.push_back(QueuedTag{message.type, message.timestamp, publish_serial_,
                             std::move(message.payload)});
  // No wakeup here: bytes_received() follows each read's messages, and the listener wakes the
  // streaming thread once for all of them.
  if (queued_bytes_ >= kPauseReadingBytes) {
    if (!reading_paused_) {
      ++pauses_;
      GST_DEBUG_OBJECT(element_, "%zu bytes queued: pausing the publisher", queued_bytes_);
    }
    reading_paused_ = true;
    return false;
  }
  return true;
}

// Downstream does not keep up: drop the oldest frame rather than block the shared I/O thread.
void RtmpServerSrcImpl::drop_oldest_media() {
  const size_t removed = drop_oldest_frame(queue_);
  if (removed == 0) return;
  ++dropped_messages_;
  queued_bytes_ -= removed;
  dropped_since_output_ = true;
  GST_WARNING_OBJECT(element_, "output queue full (%zu bytes): dropping a frame", queued_bytes_);
}

uint32_t RtmpServerSrcImpl::bytes_received(uint64_t count) {
  const int64_t now = g_get_monotonic_time();
  std::lock_guard lock(state_lock_);
  if (count > 0) {
    bytes_in_ += count;
    recent_bytes_.emplace_back(now, count);
    while (!recent_bytes_.empty() && now - recent_bytes_.front().first > kBitrateWindowMicros)
      recent_bytes_.pop_front();
  }
  // The listener wakes the streaming thread (with every other stream's) after its read batch.
  return consumer_waiting_ && !queue_.empty() ? wake_bit_ : 0;
}

void RtmpServerSrcImpl::publish_stopped(const std::string& reason) {
  net::StreamRequest request;
  {
    std::lock_guard lock(state_lock_);
    publishing_ = false;
    publish_ended_at_ = g_get_monotonic_time();
    request = current_;
    wake_consumer();
  }
  GST_INFO_OBJECT(element_, "publisher %s stopped: %s", request.client_address.c_str(),
                  reason.c_str());
  post_publish_message("rtmp-publish-stop", request, &reason);
}

void RtmpServerSrcImpl::post_publish_message(const char* name, const net::StreamRequest& request,
                                             const std::string* reason) {
  GstStructure* s = gst_structure_new(name, "client-address", G_TYPE_STRING,
                                      request.client_address.c_str(), "application", G_TYPE_STRING,
                                      request.application.c_str(), "stream-key", G_TYPE_STRING,
                                      request.stream_key.c_str(), nullptr);
  if (reason) gst_structure_set(s, "reason", G_TYPE_STRING, reason->c_str(), nullptr);
  // Off the I/O thread: a bus sync handler may act on it (even stop this pipeline).
  GstRtmpServerSrc* element = element_;
  std::shared_ptr<GstStructure> fields(s, gst_structure_free);
  net::DecisionRunner::get().notify([element, alive = keep_alive(), fields] {
    gst_element_post_message(GST_ELEMENT(element),
                             gst_message_new_element(GST_OBJECT(element), gst_structure_copy(fields.get())));
  });
}

GstStructure* RtmpServerSrcImpl::stats() {
  const int64_t now = g_get_monotonic_time();
  std::lock_guard lock(state_lock_);
  uint64_t window_bytes = 0;
  for (auto& [when, count] : recent_bytes_)
    if (now - when <= kBitrateWindowMicros) window_bytes += count;
  uint64_t bitrate = publishing_ ? window_bytes * 8 * G_USEC_PER_SEC / kBitrateWindowMicros : 0;
  return gst_structure_new(
      "rtmp-server-src-stats", "bytes-in", G_TYPE_UINT64, bytes_in_, "messages", G_TYPE_UINT64,
      messages_, "publisher-address", G_TYPE_STRING, current_.client_address.c_str(), "bitrate",
      G_TYPE_UINT64, bitrate, "publishing", G_TYPE_BOOLEAN, publishing_, "publishes",
      G_TYPE_UINT64, publishes_, "reconnects", G_TYPE_UINT64,
      publishes_ > 0 ? publishes_ - 1 : 0, "refused", G_TYPE_UINT64, refused_,
      "dropped-messages", G_TYPE_UINT64, dropped_messages_, "flow-control-pauses",
      G_TYPE_UINT64, pauses_, "queued-bytes", G_TYPE_UINT64,
      static_cast<guint64>(queued_bytes_), "connections", G_TYPE_UINT,
      listener_ ? listener_->connection_count() : 0u, nullptr);
}

}  // namespace live::gst

using live::gst::RtmpServerSrcImpl;

G_DEFINE_TYPE(GstRtmpServerSrc, gst_rtmp_server_src, GST_TYPE_PUSH_SRC)

static RtmpServerSrcImpl& impl_of(gpointer object) {
  return *GST_RTMP_SERVER_SRC(object)->impl;
}

static void gst_rtmp_server_src_set_property(GObject* object, guint id, const GValue* value,
                                             GParamSpec* pspec) {
  auto& impl = impl_of(object);
  std::lock_guard lock(impl.settings_lock);
  auto& s = impl.settings;
  auto str = [&] { const gchar* v = g_value_get_string(value); return std::string(v ? v : ""); };
  switch (id) {
    case PROP_ADDRESS: s.address = str(); break;
    case PROP_PORT: s.port = g_value_get_uint(value); break;
    case PROP_APPLICATION: s.application = str(); break;
    case PROP_STREAM_KEY: s.stream_key = str(); break;
    case PROP_TLS_CERTIFICATE: s.tls_certificate = str(); break;
    case PROP_TLS_KEY: s.tls_key = str(); break;
    case PROP_CHUNK_SIZE: s.chunk_size = g_value_get_uint(value); break;
    case PROP_IDLE_TIMEOUT: s.idle_timeout = g_value_get_uint(value); break;
    case PROP_MAX_CONNECTIONS: s.max_connections = g_value_get_uint(value); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: s.max_connections_per_address = g_value_get_uint(value); break;
    case PROP_PUBLISHER_TAKEOVER: s.publisher_takeover = g_value_get_boolean(value); break;
    case PROP_READ_INTERVAL: s.read_interval = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

static void gst_rtmp_server_src_get_property(GObject* object, guint id, GValue* value,
                                             GParamSpec* pspec) {
  auto& impl = impl_of(object);
  if (id == PROP_STATS) {
    g_value_take_boxed(value, impl.stats());
    return;
  }
  std::lock_guard lock(impl.settings_lock);
  auto& s = impl.settings;
  switch (id) {
    case PROP_ADDRESS: g_value_set_string(value, s.address.c_str()); break;
    case PROP_PORT: g_value_set_uint(value, s.port); break;
    case PROP_APPLICATION: g_value_set_string(value, s.application.c_str()); break;
    case PROP_STREAM_KEY: g_value_set_string(value, s.stream_key.c_str()); break;
    case PROP_TLS_CERTIFICATE: g_value_set_string(value, s.tls_certificate.c_str()); break;
    case PROP_TLS_KEY: g_value_set_string(value, s.tls_key.c_str()); break;
    case PROP_CHUNK_SIZE: g_value_set_uint(value, s.chunk_size); break;
    case PROP_IDLE_TIMEOUT: g_value_set_uint(value, s.idle_timeout); break;
    case PROP_MAX_CONNECTIONS: g_value_set_uint(value, s.max_connections); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: g_value_set_uint(value, s.max_connections_per_address); break;
    case PROP_PUBLISHER_TAKEOVER: g_value_set_boolean(value, s.publisher_takeover); break;
    case PROP_READ_INTERVAL: g_value_set_uint(value, s.read_interval); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

static gboolean gst_rtmp_server_src_start(GstBaseSrc* src) { return impl_of(src).start(); }
static gboolean gst_rtmp_server_src_stop(GstBaseSrc* src) {
  impl_of(src).stop();
  return TRUE;
}
static gboolean gst_rtmp_server_src_unlock(GstBaseSrc* src) {
  impl_of(src).set_flushing(true);
  return TRUE;
}
static gboolean gst_rtmp_server_src_unlock_stop(GstBaseSrc* src) {
  impl_of(src).set_flushing(false);
  return TRUE;
}
static gboolean gst_rtmp_server_src_send_event(GstElement* element, GstEvent* event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS && GST_STATE(element) == GST_STATE_PLAYING &&
      impl_of(element).begin_drain()) {
    gst_event_unref(event);
    return TRUE;
  }
  return GST_ELEMENT_CLASS(gst_rtmp_server_src_parent_class)->send_event(element, event);
}

static gboolean gst_rtmp_server_src_query(GstBaseSrc* src, GstQuery* query) {
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    // Live: buffers can be up to one read interval late; no upper bound on how long they may
    // be held downstream.
    gst_query_set_latency(query, TRUE, impl_of(src).latency(), GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS(gst_rtmp_server_src_parent_class)->query(src, query);
}
static GstFlowReturn gst_rtmp_server_src_create(GstPushSrc* src, GstBuffer** out) {
  return impl_of(src).create(out);
}

static void gst_rtmp_server_src_finalize(GObject* object) {
  GST_RTMP_SERVER_SRC(object)->impl.~unique_ptr();
  G_OBJECT_CLASS(gst_rtmp_server_src_parent_class)->finalize(object);
}

static void gst_rtmp_server_src_init(GstRtmpServerSrc* self) {
  new (&self->impl) std::unique_ptr<RtmpServerSrcImpl>(std::make_unique<RtmpServerSrcImpl>(self));
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
  gst_base_src_set_do_timestamp(GST_BASE_SRC(self), FALSE);
}

static void gst_rtmp_server_src_class_init(GstRtmpServerSrcClass* klass) {
  GST_DEBUG_CATEGORY_INIT(rtmp_server_src_debug, "rtmpserversrc", 0, "RTMP server source");
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  auto* basesrc_class = GST_BASE_SRC_CLASS(klass);
  auto* pushsrc_class = GST_PUSH_SRC_CLASS(klass);

  gobject_class->set_property = gst_rtmp_server_src_set_property;
  gobject_class->get_property = gst_rtmp_server_src_get_property;
  gobject_class->finalize = gst_rtmp_server_src_finalize;

  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  const auto live_rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address",
                          "Local address to listen on (shared by every element naming the same "
                          "address and port)", kDefaultAddress, ready));
  g_object_class_install_property(gobject_class, PROP_PORT,
      g_param_spec_uint("port", "Port", "TCP port to listen on (0 = any free port, not shared)",
                        0, 65535, kDefaultPort, ready));
  g_object_class_install_property(gobject_class, PROP_APPLICATION,
      g_param_spec_string("application", "Application",
                          "RTMP application name publishers connect to (rtmp://host/APP/key)",
                          kDefaultApplication, ready));
  g_object_class_install_property(gobject_class, PROP_STREAM_KEY,
      g_param_spec_string("stream-key", "Stream key",
                          "Stream key (stream name) to accept; empty accepts any key of the "
                          "application", "", ready));
  g_object_class_install_property(gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM certificate (chain) file; with tls-key the port speaks RTMPS",
                          nullptr, ready));
  g_object_class_install_property(gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key", "PEM private key file for tls-certificate",
                          nullptr, ready));
  g_object_class_install_property(gobject_class, PROP_CHUNK_SIZE,
      g_param_spec_uint("chunk-size", "Chunk size",
                        "Outgoing RTMP chunk size announced to clients (per listener: the first "
                        "element on a port decides)", kMinChunkSize, kMaxChunkSize,
                        kDefaultChunkSize, ready));
  g_object_class_install_property(gobject_class, PROP_IDLE_TIMEOUT,
      g_param_spec_uint("idle-timeout", "Idle timeout",
                        "Seconds without a publisher, after the first publish ended, before "
                        "end-of-stream (0 = wait forever)", 0, G_MAXUINT, kDefaultIdleTimeout,
                        live_rw));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Max connections",
                        "Most simultaneous connections on the listener (per listener: the "
                        "first element on a port decides)", 1, 65535, kDefaultMaxConnections,
                        ready));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS_PER_ADDRESS,
      g_param_spec_uint("max-connections-per-address", "Max connections per address",
                        "Most simultaneous connections from one client IP address, refused at "
                        "accept beyond it (0 = unlimited; per listener: the first element on a "
                        "port decides)", 0, 65535, kDefaultMaxConnectionsPerAddress, ready));
  g_object_class_install_property(gobject_class, PROP_PUBLISHER_TAKEOVER,
      g_param_spec_boolean("publisher-takeover", "Publisher takeover",
                           "A new publisher for a busy stream replaces the current one (FALSE: "
                           "it is refused with NetStream.Publish.BadName)", FALSE, live_rw));
  g_object_class_install_property(gobject_class, PROP_READ_INTERVAL,
      g_param_spec_uint("read-interval", "Read interval",
                        "Milliseconds input from busy connections gathers between reads: fewer, "
                        "larger batches cost less CPU with many publishers, for up to this much "
                        "added latency, reported in the latency query (0 = read at once; per "
                        "listener: the first element on a port decides)", 0, kMaxReadInterval,
                        kDefaultReadInterval, ready));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "rtmp-server-src-stats: bytes-in, messages, publisher-address, bitrate "
                         "(bit/s over 5 s), publishing, publishes, reconnects, refused, "
                         "dropped-messages, flow-control-pauses, queued-bytes, connections",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  // gboolean authorize-publish(client-address, application, stream-key, query): emitted on the
  // listener's I/O thread for each publish request to this element's stream; a handler that
  // returns FALSE refuses it (the client receives NetStream.Publish.BadName).
  signals[SIGNAL_AUTHORIZE_PUBLISH] = g_signal_new_class_handler(
      "authorize-publish", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
      G_CALLBACK(default_authorize_publish), accumulate_all_true, nullptr, nullptr,
      G_TYPE_BOOLEAN, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "RTMP server source",
      "Source/Network", "Receives a stream published over RTMP or RTMPS and outputs it as FLV",
      "gst-live-server");

  element_class->send_event = gst_rtmp_server_src_send_event;
  basesrc_class->start = gst_rtmp_server_src_start;
  basesrc_class->stop = gst_rtmp_server_src_stop;
  basesrc_class->unlock = gst_rtmp_server_src_unlock;
  basesrc_class->unlock_stop = gst_rtmp_server_src_unlock_stop;
  basesrc_class->query = gst_rtmp_server_src_query;
  pushsrc_class->create = gst_rtmp_server_src_create;
}

GST_ELEMENT_REGISTER_DEFINE(rtmpserversrc, "rtmpserversrc", GST_RANK_NONE,
                            GST_TYPE_RTMP_SERVER_SRC);
