// HttpUploader: see the header. The queue (items) is shared with callers under queue_lock;
// libsoup objects live on the uploader thread only. Lock order: queue_lock only; the failure
// callback and libsoup calls run without it.
#include "http/http_uploader.h"

#include "http/hls_http_server.h"  // hls_content_type() for the PUT Content-Type
#include "http/quit_loop.h"

#include <gst/gst.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <thread>

GST_DEBUG_CATEGORY_STATIC(live_http_uploader_debug);
#define GST_CAT_DEFAULT live_http_uploader_debug

namespace live::http {

namespace {
constexpr uint32_t kMaxBackoffMs = 8000;
}

const char* upload_kind_name(UploadKind kind) {
  switch (kind) {
    case UploadKind::segment: return "segment";
    case UploadKind::playlist: return "playlist";
    case UploadKind::remove: return "remove";
  }
  return "?";
}

struct HttpUploader::Impl {
  struct Item {
    uint64_t id = 0;
    UploadKind kind = UploadKind::segment;
    std::string relative_path;
    std::string url;
    GBytes* body = nullptr;  // owned; null for DELETE
    uint32_t attempts = 0;
    int64_t first_attempt_us = 0;  // monotonic
    bool started = false;    // in flight or waiting for a retry
    unsigned last_status = 0;
    std::string last_error;
    ~Item() {
      if (body != nullptr) g_bytes_unref(body);
    }
  };

  HttpUploaderConfig config;
  FailureCallback on_failure;

  std::mutex queue_lock;
  std::condition_variable idle_cond;
  std::list<std::unique_ptr<Item>> items;  // under queue_lock; finished items are removed
  uint64_t next_id = 1;                    // under queue_lock
  uint32_t in_flight = 0;                  // under queue_lock
  uint64_t queued_bytes = 0;               // under queue_lock

  static uint64_t size_of(const Item& item) { return item.body ? g_bytes_get_size(item.body) : 0; }

  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  SoupSession* session = nullptr;   // uploader thread only
  GCancellable* cancellable = nullptr;
  std::thread thread;
  std::thread::id thread_id;  // of the uploader thread, set by it before start() returns
  std::atomic<bool> running{false};

  struct Counters {
    std::atomic<uint64_t> puts_ok{0}, deletes_ok{0}, failures{0}, retries{0}, bytes{0}, coalesced{0};
  } counters;

  void report(const UploadFailure& failure) {
    counters.failures++;
    GST_WARNING("upload of %s (%s) failed after %u attempts: %s", failure.relative_path.c_str(),
                upload_kind_name(failure.kind), failure.attempts, failure.reason.c_str());
    if (on_failure) on_failure(failure);
  }

  static UploadFailure failure_of(const Item& item, std::string reason) {
    return UploadFailure{item.kind, item.relative_path, item.url, item.attempts, item.last_status, std::move(reason)};
  }

  // Enqueue from any thread. Returns false (after reporting) when full or stopped.
  bool enqueue(std::unique_ptr<Item> item) {
    std::unique_ptr<Item> superseded;
    GMainContext* wake_context = nullptr;
    {
      std::lock_guard<std::mutex> lock(queue_lock);
      if (running) {
        if (item->kind == UploadKind::playlist) {
          // A newer version of a playlist that has not started makes the older one pointless;
          // the new one goes to the end so it still follows the segments queued since.
          for (auto it = items.begin(); it != items.end(); ++it) {
            if (!(*it)->started && (*it)->kind == UploadKind::playlist && (*it)->relative_path == item->relative_path) {
              superseded = std::move(*it);
              queued_bytes -= size_of(*superseded);
              items.erase(it);
              counters.coalesced++;
              break;
            }
          }
        }
        if (items.size() < config.max_queue && queued_bytes + size_of(*item) <= config.max_queue_bytes) {
          item->id = next_id++;
          queued_bytes += size_of(*item);
          items.push_back(std::move(item));
          wake_context = g_main_context_ref(context);  // stop() may drop its reference meanwhile
        }
      }
    }
    if (item) {
      report(failure_of(*item, running ? "upload queue full" : "uploader not running"));
      return false;
    }
    g_main_context_invoke_full(wake_context, G_PRIORITY_DEFAULT, pump_cb, this, nullptr);
    g_main_context_unref(wake_context);
    return true;
  }

  static gboolean pump_cb(gpointer data) {
    static_cast<Impl*>(data)->pump();
    return G_SOURCE_REMOVE;
  }

  // Uploader thread: start what the ordering rules allow.
  void pump() {
    // g_main_context_invoke runs the function in the caller's thread when no thread owns the
    // context (before the uploader thread started, after it ended): never touch libsoup there.
    if (std::this_thread::get_id() != thread_id) return;
    std::vector<Item*> to_start;
    {
      std::lock_guard<std::mutex> lock(queue_lock);
      size_t index = 0;
      uint32_t active = in_flight;
      for (auto& item : items) {
        if (item->kind == UploadKind::playlist) {
          // A barrier: only when everything before it has finished; nothing after it until done.
          if (!item->started && index == 0) {
            item->started = true;
            active++;
            to_start.push_back(item.get());
          }
          break;
        }
        if (!item->started) {
          if (active >= config.max_in_flight) break;
          item->started = true;
          active++;
          to_start.push_back(item.get());
        }
        index++;
      }
      in_flight = active;
    }
    for (Item* item : to_start) send(item);
  }

  struct Attempt {
    Impl* impl;
    Item* item;
    SoupMessage* msg;
  };

  void send(Item* item) {
    if (item->attempts++ == 0) item->first_attempt_us = g_get_monotonic_time();
    const bool is_delete = item->kind == UploadKind::remove;
    SoupMessage* msg = soup_message_new(is_delete ? SOUP_METHOD_DELETE : SOUP_METHOD_PUT, item->url.c_str());
    if (msg == nullptr) {  // cannot happen for URLs made from a checked base, but never drop silently
      item->last_error = "invalid URL";
      finish(item, false);
      return;
    }
    if (!is_delete) soup_message_set_request_body_from_bytes(msg, hls_content_type(item->relative_path), item->body);
    GST_LOG("%s %s (attempt %u)", is_delete ? "DELETE" : "PUT", item->url.c_str(), item->attempts);
    auto* attempt = new Attempt{this, item, msg};
    soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, cancellable, on_sent, attempt);
  }

  static void on_sent(GObject* source, GAsyncResult* result, gpointer data) {
    std::unique_ptr<Attempt> attempt(static_cast<Attempt*>(data));
    Impl* impl = attempt->impl;
    Item* item = attempt->item;
    GError* error = nullptr;
    GBytes* response = soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);
    if (response != nullptr) g_bytes_unref(response);
    const unsigned status = soup_message_get_status(attempt->msg);
    g_object_unref(attempt->msg);
    bool ok = false;
    if (error != nullptr) {
      item->last_status = 0;
      item->last_error = error->message;
      const bool cancelled = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_error_free(error);
      if (cancelled) return;  // stop() reports what is left
    } else {
      item->last_status = status;
      ok = SOUP_STATUS_IS_SUCCESSFUL(status) || (item->kind == UploadKind::remove && status == SOUP_STATUS_NOT_FOUND);
      if (!ok) item->last_error = "HTTP " + std::to_string(status) + " " + soup_status_get_phrase(status);
    }
    if (ok) {
      if (item->kind == UploadKind::remove) {
        impl->counters.deletes_ok++;
      } else {
        impl->counters.puts_ok++;
        impl->counters.bytes += g_bytes_get_size(item->body);
      }
      impl->finish(item, true);
      return;
    }
    const unsigned st = item->last_status;
    const bool transient = st == 0 || st >= 500 || st == 408 || st == 429;
    const bool in_window =
        g_get_monotonic_time() - item->first_attempt_us < int64_t(impl->config.retry_window_ms) * 1000;
    if (item->attempts < impl->config.max_attempts || (transient && in_window)) {
      impl->counters.retries++;
      uint64_t backoff = impl->config.initial_backoff_ms;
      for (uint32_t i = 1; i < item->attempts && backoff < kMaxBackoffMs; i++) backoff *= 2;
      backoff = std::min<uint64_t>(backoff, kMaxBackoffMs);
      GST_DEBUG("%s: %s; retry in %" G_GUINT64_FORMAT " ms", item->url.c_str(), item->last_error.c_str(), backoff);
      GSource* timer = g_timeout_source_new(static_cast<guint>(backoff));
      g_source_set_callback(timer, on_retry, new Attempt{impl, item, nullptr},
                            [](gpointer d) { delete static_cast<Attempt*>(d); });
      g_source_attach(timer, impl->context);
      g_source_unref(timer);
      return;
    }
    impl->finish(item, false);
  }

  static gboolean on_retry(gpointer data) {
    auto* attempt = static_cast<Attempt*>(data);
    attempt->impl->send(attempt->item);
    return G_SOURCE_REMOVE;
  }

  void finish(Item* item, bool ok) {
    // Report before the item leaves the queue, so wait_idle() returning means reported too.
    if (!ok) report(failure_of(*item, item->last_error));
    std::unique_ptr<Item> done;
    {
      std::lock_guard<std::mutex> lock(queue_lock);
      for (auto it = items.begin(); it != items.end(); ++it) {
        if (it->get() == item) {
          done = std::move(*it);
          queued_bytes -= size_of(*done);
          items.erase(it);
          break;
        }
      }
      in_flight--;
      if (items.empty()) idle_cond.notify_all();
    }
    pump();
  }

  void thread_main(std::promise<void> started) {
    thread_id = std::this_thread::get_id();
    g_main_context_push_thread_default(context);
    session = soup_session_new_with_options("timeout", config.timeout_s, "idle-timeout", 60u,
                                            "max-conns-per-host", std::max(2u, config.max_in_flight),
                                            "user-agent", "gst-live-server ", nullptr);
    started.set_value();
    pump();  // anything queued before the thread got here
    g_main_loop_run(loop);
    soup_session_abort(session);
    while (g_main_context_iteration(context, FALSE)) {
    }
    g_object_unref(session);
    session = nullptr;
    g_main_context_pop_thread_default(context);
  }
};

HttpUploader::HttpUploader(HttpUploaderConfig config, FailureCallback on_failure)
    : impl_(std::make_unique<Impl>()) {
  static std::once_flag debug_once;
  std::call_once(debug_once, [] {
    GST_DEBUG_CATEGORY_INIT(live_http_uploader_debug, "livehttpuploader", 0, "HLS upload by HTTP PUT/DELETE");
  });
  impl_->config = std::move(config);
  if (impl_->config.max_in_flight == 0) impl_->config.max_in_flight = 1;
  if (impl_->config.max_attempts == 0) impl_->config.max_attempts = 1;
  impl_->on_failure = std::move(on_failure);
}

HttpUploader::~HttpUploader() { stop(false); }

Result<void> HttpUploader::start() {
  if (impl_->running) return make_error(Errc::protocol_violation, "uploader already running");
  std::string& base = impl_->config.base_url;
  GUri* uri = g_uri_parse(base.c_str(), G_URI_FLAGS_ENCODED, nullptr);
  const char* scheme = uri ? g_uri_get_scheme(uri) : nullptr;
  const bool http = scheme && (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "https") == 0) &&
                    g_uri_get_host(uri) != nullptr;
  if (uri) g_uri_unref(uri);
  if (!http) return make_error(Errc::malformed, "upload location is not an http(s) URL: " + base);
  if (base.back() != '/') base += '/';
  impl_->context = g_main_context_new();
  impl_->loop = g_main_loop_new(impl_->context, FALSE);
  impl_->cancellable = g_cancellable_new();
  std::promise<void> started;
  auto started_future = started.get_future();
  impl_->running = true;
  impl_->thread = std::thread(&Impl::thread_main, impl_.get(), std::move(started));
  started_future.wait();
  return {};
}

void HttpUploader::stop(bool flush, uint32_t flush_timeout_ms) {
  if (!impl_->running) return;
  if (flush) wait_idle(flush_timeout_ms);
  {
    std::lock_guard<std::mutex> lock(impl_->queue_lock);
    impl_->running = false;
  }
  g_cancellable_cancel(impl_->cancellable);
  quit_loop_from_inside(impl_->context, impl_->loop);
  impl_->thread.join();
  std::list<std::unique_ptr<Impl::Item>> left;
  {
    std::lock_guard<std::mutex> lock(impl_->queue_lock);
    left.swap(impl_->items);
    impl_->in_flight = 0;
    impl_->queued_bytes = 0;
    impl_->idle_cond.notify_all();
  }
  for (auto& item : left) impl_->report(Impl::failure_of(*item, "uploader stopped before the upload finished"));
  g_object_unref(impl_->cancellable);
  g_main_loop_unref(impl_->loop);
  g_main_context_unref(impl_->context);
  impl_->cancellable = nullptr;
  impl_->loop = nullptr;
  impl_->context = nullptr;
}

namespace {
std::string join_url(const std::string& base, const std::string& relative) {
  size_t start = 0;
  while (start < relative.size() && relative[start] == '/') start++;
  // Escape each path segment but keep the slashes.
  char* escaped = g_uri_escape_string(relative.c_str() + start, "/", FALSE);
  std::string url = base + escaped;
  g_free(escaped);
  return url;
}
}  // namespace

bool HttpUploader::put_file(const std::string& relative_path, const std::string& local_path, UploadKind kind) {
  GError* error = nullptr;
  // A mapping keeps the bytes even when the sink renames over or deletes the file later.
  GMappedFile* mapped = g_mapped_file_new(local_path.c_str(), FALSE, &error);
  if (mapped == nullptr) {
    UploadFailure failure{kind, relative_path, join_url(impl_->config.base_url, relative_path), 0, 0,
                          std::string("cannot read ") + local_path + ": " + error->message};
    g_error_free(error);
    impl_->report(failure);
    return false;
  }
  auto item = std::make_unique<Impl::Item>();
  item->body = g_mapped_file_get_bytes(mapped);
  g_mapped_file_unref(mapped);
  item->kind = kind == UploadKind::remove ? UploadKind::segment : kind;
  item->relative_path = relative_path;
  item->url = join_url(impl_->config.base_url, relative_path);
  return impl_->enqueue(std::move(item));
}

bool HttpUploader::put_bytes(const std::string& relative_path, std::vector<uint8_t> bytes, UploadKind kind) {
  auto item = std::make_unique<Impl::Item>();
  item->body = g_bytes_new(bytes.data(), bytes.size());
  item->kind = kind == UploadKind::remove ? UploadKind::segment : kind;
  item->relative_path = relative_path;
  item->url = join_url(impl_->config.base_url, relative_path);
  return impl_->enqueue(std::move(item));
}

bool HttpUploader::remove(const std::string& relative_path) {
  auto item = std::make_unique<Impl::Item>();
  item->kind = UploadKind::remove;
  item->relative_path = relative_path;
  item->url = join_url(impl_->config.base_url, relative_path);
  return impl_->enqueue(std::move(item));
}

bool HttpUploader::wait_idle(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(impl_->queue_lock);
  return impl_->idle_cond.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return impl_->items.empty(); });
}

HttpUploaderStats HttpUploader::stats() const {
  HttpUploaderStats s;
  {
    std::lock_guard<std::mutex> lock(impl_->queue_lock);
    s.queued = impl_->items.size();
    s.in_flight = impl_->in_flight;
    s.queued_bytes = impl_->queued_bytes;
  }
  const auto& c = impl_->counters;
  s.puts_ok = c.puts_ok;
  s.deletes_ok = c.deletes_ok;
  s.failures = c.failures;
  s.retries = c.retries;
  s.bytes_uploaded = c.bytes;
  s.coalesced = c.coalesced;
  return s;
}

}  // namespace live::http
