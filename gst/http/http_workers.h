// HttpWorkers: the threads of an HttpPort that answer plain GET/HEAD requests (see
// plain_request.h) for files a site has in memory, straight on the socket, next to the libsoup
// server thread. A new connection goes to a worker first (round robin). The worker peeks at the
// next request without consuming it: if it is plain and the site answers it (answer() true),
// the worker consumes the request and writes the response; otherwise it hands the connection,
// with that request still unread in the socket, to libsoup for good (hand_over), so libsoup
// sees exactly the bytes the client sent. LL-HLS players' blocking reloads, HTTP-FLV stream
// routes, Range, OPTIONS, errors and every other site are libsoup's, as before.
//
// Why: libsoup costs tens of microseconds per request on one thread; the workers answer a
// cached file with a few syscalls (peek, read, stat, send) on every core.
//
// Threading: answer() and hand_over() run on the worker threads, concurrently. The workers
// close connections idle for idle_timeout_s (no request, no send progress).
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/http_port.h"
#include "http/plain_request.h"

namespace live::http {

// Requests answered for one connection before the worker serves the others (pipelining).
inline constexpr int kMaxPlainRequestsPerTurn = 32;

class HttpWorkers {
 public:
  // True: answer with *response, or later through the reply hold() made (the connection stays
  // parked till then). False: hand the connection to libsoup.
  using Hold = std::function<std::shared_ptr<PlainReply>()>;
  using Answer = std::function<bool(const PlainRequestHead& request, const Hold& hold, PlainResponse* response)>;
  // Takes the connection's reference (its next request is unread).
  using HandOver = std::function<void(GSocketConnection* connection)>;
  // The connection's first complete request head arrived (called once, on a worker thread).
  using FirstRequest = std::function<void(GSocketConnection* connection)>;

  // server_header: the value of the Server header libsoup sends. A connection whose first
  // request head is not complete within kFirstRequestTimeoutS is closed.
  HttpWorkers(unsigned threads, uint32_t idle_timeout_s, std::string server_header, Answer answer,
              HandOver hand_over, FirstRequest first_request = nullptr);
  ~HttpWorkers();  // joins the threads; closes the connections they still hold
  HttpWorkers(const HttpWorkers&) = delete;
  HttpWorkers& operator=(const HttpWorkers&) = delete;

  // Takes a reference to connection; any thread.
  void add(GSocketConnection* connection);

  uint64_t answered() const { return answered_; }
  uint64_t handed_over() const { return handed_over_; }

 private:
  class Worker;
  friend class Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<unsigned> next_{0};
  uint32_t idle_timeout_s_;
  std::string server_line_;  // "Server: ...\r\n"
  Answer answer_;
  HandOver hand_over_;
  FirstRequest first_request_;
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> handed_over_{0};
};

}  // namespace live::http
