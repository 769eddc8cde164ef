// Nonblocking socket I/O shared by the listener's connections, viewers and push clients:
// reads and writes through a GIOStream (plain TCP or TLS), and writing a ViewerQueue with
// vectored writes (sendmsg) of the shared, already-encoded messages on plain TCP, writev
// through the TLS stream on RTMPS. All on the listener's I/O thread.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <span>
#include <string>

#include "relay/viewer_queue.h"

namespace live::net {

// One nonblocking read / write through `stream`: bytes moved, 0 at the end of the stream (read
// only), -1 would block, -2 error (`error` says what).
gssize read_nonblocking(GIOStream* stream, GCancellable* cancellable, uint8_t* data, size_t size,
                        std::string& error);
gssize write_nonblocking(GIOStream* stream, GCancellable* cancellable,
                         std::span<const uint8_t> bytes, std::string& error);

enum class WriteOutcome { drained, blocked, failed };

// Writes as much of `queue` as the socket takes now (a bounded number of rounds, so one fast
// viewer does not hold the thread). `tls_stream`: null for plain TCP (written to `fd`).
WriteOutcome write_viewer_queue(relay::ViewerQueue& queue, int fd, GIOStream* tls_stream,
                                GCancellable* cancellable, int64_t now_us, std::string& error);

}  // namespace live::net
