// StreamRequests: the requests for stream routes of one HttpPort that wait for their owner's
// decision (PendingStream): paused libsoup messages with a decision timeout and a watch for a
// client that leaves. Accepting steals the connection from libsoup for the owner.
//
// Threading: everything here runs on the port's server thread, except PendingStream's
// refuse()/accept()/destructor, which only post to the port's TaskQueue.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "http/http_port.h"
#include "http/task_queue.h"

namespace live::http {

class StreamRequests {
 public:
  struct Counters {
    std::atomic<uint64_t> requests{0}, adopted{0}, refused{0}, unanswered{0};
  };

  // socket_of: the client's GSocket of a message (to watch it), or nullptr.
  StreamRequests(GMainContext* context, std::shared_ptr<TaskQueue> queue, const HttpPortConfig& config,
                 std::function<GSocket*(SoupServerMessage*)> socket_of);
  ~StreamRequests();  // once the server thread is gone

  // A GET or HEAD for a stream route: paused and handed to handler as a PendingStream.
  void start(SoupServerMessage* msg, const std::string& path, const std::string& client_address,
             const StreamRouteHandler& handler);
  // libsoup gave up on msg: true if it was one of ours (now forgotten).
  bool aborted(SoupServerMessage* msg);
  // The port stops: every waiting request is answered with 503.
  void refuse_all();

  const Counters& counters() const { return counters_; }

 private:
  class Handle;  // the PendingStream handed out
  struct Request {
    StreamRequests* owner = nullptr;
    uint64_t id = 0;
    SoupServerMessage* msg = nullptr;  // a reference we own; paused
    GSource* timeout = nullptr;
    GSource* watch = nullptr;  // client socket: EOF while waiting means the client left
  };

  Request* find(uint64_t id);
  void release(Request* request, bool unpause);
  void refuse(uint64_t id, unsigned status, const std::string& reason, bool decided);
  void accept(uint64_t id, const std::function<void(GIOStream*, int)>& adopt);
  static gboolean on_timeout(gpointer data);
  static gboolean on_socket_event(GSocket* socket, GIOCondition, gpointer data);

  GMainContext* context_;
  std::shared_ptr<TaskQueue> queue_;
  bool cors_;
  uint32_t decision_timeout_ms_;
  std::function<GSocket*(SoupServerMessage*)> socket_of_;
  std::map<uint64_t, std::unique_ptr<Request>> waiting_;
  uint64_t next_id_ = 1;
  Counters counters_;
};

}  // namespace live::http
