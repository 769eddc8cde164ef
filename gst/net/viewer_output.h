// Writing a ViewerQueue to a socket without blocking: vectored writes (sendmsg) of the shared,
// already-encoded messages on plain TCP, writev through the TLS stream on RTMPS. Used by RTMP
// players (Connection) and HTTP-FLV viewers alike, on the listener's I/O thread.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <string>

#include "relay/viewer_queue.h"

namespace live::net {

enum class WriteOutcome { drained, blocked, failed };

// Writes as much of `queue` as the socket takes now (a bounded number of rounds, so one fast
// viewer does not hold the thread). `tls_stream`: null for plain TCP (written to `fd`).
WriteOutcome write_viewer_queue(relay::ViewerQueue& queue, int fd, GIOStream* tls_stream,
                                GCancellable* cancellable, int64_t now_us, std::string& error);

}  // namespace live::net
