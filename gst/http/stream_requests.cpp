// StreamRequests: see the header.
#include "http/stream_requests.h"

#include <gst/gst.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <utility>

GST_DEBUG_CATEGORY_EXTERN(live_http_port_debug);
#define GST_CAT_DEFAULT live_http_port_debug

namespace live::http {

namespace {

void drop_source(GSource** source) {
  if (*source != nullptr) {
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = nullptr;
  }
}

}  // namespace

// The PendingStream handed to a route handler. Decisions go through the task queue to the
// server thread, which may be gone by then (the queue then drops them).
class StreamRequests::Handle final : public PendingStream {
 public:
  Handle(std::shared_ptr<TaskQueue> queue, StreamRequests* owner, uint64_t id, StreamRequestInfo info)
      : queue_(std::move(queue)), owner_(owner), id_(id), info_(std::move(info)) {}
  ~Handle() override {
    if (decided_) return;  // the last reference: nobody else can decide now
    StreamRequests* owner = owner_;
    const uint64_t id = id_;
    queue_->post([owner, id] { owner->refuse(id, SOUP_STATUS_SERVICE_UNAVAILABLE, "stream not available", false); });
  }
  const StreamRequestInfo& info() const override { return info_; }
  void refuse(unsigned status, const std::string& reason) override {
    if (!decide()) return;
    if (status < 300 || status > 599) status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
    StreamRequests* owner = owner_;
    const uint64_t id = id_;
    queue_->post([owner, id, status, reason] { owner->refuse(id, status, reason, true); });
  }
  void accept(std::function<void(GIOStream*, int)> adopt) override {
    if (!decide()) return;
    StreamRequests* owner = owner_;
    const uint64_t id = id_;
    queue_->post([owner, id, adopt = std::move(adopt)] { owner->accept(id, adopt); });
  }

 private:
  bool decide() {
    std::lock_guard<std::mutex> lock(lock_);
    if (decided_) return false;
    decided_ = true;
    return true;
  }
  std::shared_ptr<TaskQueue> queue_;
  StreamRequests* owner_;  // used only by posted tasks, which run only while the port runs
  uint64_t id_;
  StreamRequestInfo info_;
  std::mutex lock_;
  bool decided_ = false;  // under lock_
};

StreamRequests::StreamRequests(GMainContext* context, std::shared_ptr<TaskQueue> queue, const HttpPortConfig& config,
                               std::function<GSocket*(SoupServerMessage*)> socket_of)
    : context_(context),
      queue_(std::move(queue)),
      cors_(config.cors),
      decision_timeout_ms_(std::max<uint32_t>(config.stream_decision_timeout_ms, 1)),
      socket_of_(std::move(socket_of)) {}

StreamRequests::~StreamRequests() {
  while (!waiting_.empty()) release(waiting_.begin()->second.get(), false);
}

void StreamRequests::start(SoupServerMessage* msg, const std::string& path, const std::string& client_address,
                           const StreamRouteHandler& handler) {
  counters_.requests++;
  auto request = std::make_unique<Request>();
  request->owner = this;
  request->id = next_id_++;
  request->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  request->timeout = g_timeout_source_new(decision_timeout_ms_);
  g_source_set_callback(request->timeout, on_timeout, request.get(), nullptr);
  g_source_attach(request->timeout, context_);
  // libsoup does not read a paused connection, so watch it ourselves: EOF means the client left.
  if (GSocket* socket = socket_of_(msg)) {
    request->watch = g_socket_create_source(socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
    g_source_set_callback(request->watch, G_SOURCE_FUNC(on_socket_event), request.get(), nullptr);
    g_source_attach(request->watch, context_);
  }
  soup_server_message_pause(msg);

  StreamRequestInfo info;
  info.path = path;
  GUri* uri = soup_server_message_get_uri(msg);
  if (const char* query = uri ? g_uri_get_query(uri) : nullptr) info.query = query;
  info.client_address = client_address;
  if (const char* origin = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Origin"))
    info.origin = origin;
  info.head = soup_server_message_get_method(msg) == SOUP_METHOD_HEAD;
  info.http_1_0 = soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0;
  const uint64_t id = request->id;
  waiting_.emplace(id, std::move(request));
  GST_DEBUG("stream request %" G_GUINT64_FORMAT " %s %s from %s", id, info.head ? "HEAD" : "GET", path.c_str(),
            client_address.c_str());
  handler(std::make_shared<Handle>(queue_, this, id, std::move(info)));
}

bool StreamRequests::aborted(SoupServerMessage* msg) {
  for (auto& [id, request] : waiting_) {
    if (request->msg == msg) {
      counters_.unanswered++;
      release(request.get(), false);
      return true;
    }
  }
  return false;
}

void StreamRequests::refuse_all() {
  while (!waiting_.empty())
    refuse(waiting_.begin()->first, SOUP_STATUS_SERVICE_UNAVAILABLE, "server stopping", false);
}

StreamRequests::Request* StreamRequests::find(uint64_t id) {
  auto it = waiting_.find(id);
  return it == waiting_.end() ? nullptr : it->second.get();
}

// Forgets the request; unpauses its message when a response was set on it.
void StreamRequests::release(Request* request, bool unpause) {
  drop_source(&request->timeout);
  drop_source(&request->watch);
  SoupServerMessage* msg = request->msg;
  waiting_.erase(request->id);
  if (unpause) soup_server_message_unpause(msg);
  g_object_unref(msg);
}

void StreamRequests::refuse(uint64_t id, unsigned status, const std::string& reason, bool decided) {
  Request* request = find(id);
  if (request == nullptr) return;
  if (decided) counters_.refused++;
  else counters_.unanswered++;
  respond_text(request->msg, status, reason, cors_);
  release(request, true);
}

void StreamRequests::accept(uint64_t id, const std::function<void(GIOStream*, int)>& adopt) {
  Request* request = find(id);
  if (request == nullptr) {
    adopt(nullptr, -1);  // answered meanwhile (timeout, client gone)
    return;
  }
  drop_source(&request->timeout);
  drop_source(&request->watch);
  SoupServerMessage* msg = request->msg;
  GSocket* socket = socket_of_(msg);
  // Still paused, so libsoup is not inside this message: its I/O state is dropped and the
  // connection is no longer libsoup's (it emits "disconnected" for it, without closing it).
  GIOStream* stream = soup_server_message_steal_connection(msg);
  waiting_.erase(id);
  g_object_unref(msg);
  int fd = -1;
  if (stream != nullptr) {
    // libsoup's stream wraps our GSocketConnection (SoupIOStream "base-iostream").
    GIOStream* base = nullptr;
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-iostream") != nullptr)
      g_object_get(stream, "base-iostream", &base, nullptr);
    if (base != nullptr && G_IS_SOCKET_CONNECTION(base))
      socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(base));
    else if (G_IS_SOCKET_CONNECTION(stream))
      socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
    if (base != nullptr) g_object_unref(base);
    if (socket != nullptr) fd = g_socket_get_fd(socket);
    counters_.adopted++;
  }
  adopt(stream, fd);
}

gboolean StreamRequests::on_timeout(gpointer data) {
  auto* request = static_cast<Request*>(data);
  GST_DEBUG("stream request %" G_GUINT64_FORMAT ": no decision in time", request->id);
  g_source_unref(request->timeout);
  request->timeout = nullptr;  // returning REMOVE destroys it
  request->owner->refuse(request->id, SOUP_STATUS_SERVICE_UNAVAILABLE, "stream not available", false);
  return G_SOURCE_REMOVE;
}

// The socket of a waiting request became readable: EOF or error means the client is gone
// (answered with a 503 nobody reads, which frees the connection). Anything else (a pipelined
// request) is left alone; we stop watching.
gboolean StreamRequests::on_socket_event(GSocket* socket, GIOCondition, gpointer data) {
  auto* request = static_cast<Request*>(data);
  char byte;
  const ssize_t n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  g_source_unref(request->watch);
  request->watch = nullptr;  // returning REMOVE destroys it
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return G_SOURCE_REMOVE;
  GST_DEBUG("stream request %" G_GUINT64_FORMAT ": client went away", request->id);
  StreamRequests* owner = request->owner;
  owner->counters_.unanswered++;
  respond_text(request->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "client gone", false);
  owner->release(request, true);
  return G_SOURCE_REMOVE;
}

}  // namespace live::http
