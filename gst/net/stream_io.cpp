#include "net/stream_io.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <span>

namespace live::net {

namespace {
constexpr size_t kMaxPartsPerWrite = 64;
constexpr size_t kMaxBytesPerWrite = 256 * 1024;
constexpr int kWriteRounds = 4;
}  // namespace

gssize read_nonblocking(GIOStream* stream, GCancellable* cancellable, uint8_t* data, size_t size,
                        std::string& error) {
  GPollableInputStream* in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream));
  GError* gerror = nullptr;
  gssize n = g_pollable_input_stream_read_nonblocking(in, data, size, cancellable, &gerror);
  if (n >= 0) return n;
  const bool would_block = g_error_matches(gerror, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  if (!would_block) error = gerror->message;
  g_clear_error(&gerror);
  return would_block ? -1 : -2;
}

gssize write_nonblocking(GIOStream* stream, GCancellable* cancellable,
                         std::span<const uint8_t> bytes, std::string& error) {
  GPollableOutputStream* out = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream));
  GError* gerror = nullptr;
  gssize n = g_pollable_output_stream_write_nonblocking(out, bytes.data(), bytes.size(),
                                                        cancellable, &gerror);
  if (n >= 0) return n;
  const bool would_block = g_error_matches(gerror, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  if (!would_block) error = gerror->message;
  g_clear_error(&gerror);
  return would_block ? -1 : -2;
}

WriteOutcome write_viewer_queue(relay::ViewerQueue& queue, int fd, GIOStream* tls_stream,
                                GCancellable* cancellable, int64_t now_us, std::string& error) {
  std::array<std::span<const uint8_t>, kMaxPartsPerWrite> parts;
  for (int round = 0; round < kWriteRounds; ++round) {
    if (queue.empty()) return WriteOutcome::drained;
    const size_t count = queue.gather(parts, kMaxBytesPerWrite);
    if (count == 0) return WriteOutcome::drained;
    size_t asked = 0;
    ssize_t written;
    if (tls_stream == nullptr) {
      std::array<iovec, kMaxPartsPerWrite> iov;
      for (size_t i = 0; i < count; ++i) {
        iov[i].iov_base = const_cast<uint8_t*>(parts[i].data());
        iov[i].iov_len = parts[i].size();
        asked += parts[i].size();
      }
      msghdr message{};
      message.msg_iov = iov.data();
      message.msg_iovlen = count;
      do {
        written = sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (written < 0 && errno == EINTR);
      if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteOutcome::blocked;
        error = g_strerror(errno);
        return WriteOutcome::failed;
      }
    } else {
      std::array<GOutputVector, kMaxPartsPerWrite> vectors;
      for (size_t i = 0; i < count; ++i) {
        vectors[i].buffer = parts[i].data();
        vectors[i].size = parts[i].size();
        asked += parts[i].size();
      }
      GPollableOutputStream* out =
          G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(tls_stream));
      gsize n = 0;
      GError* gerror = nullptr;
      GPollableReturn r = g_pollable_output_stream_writev_nonblocking(
          out, vectors.data(), count, &n, cancellable, &gerror);
      if (r == G_POLLABLE_RETURN_WOULD_BLOCK) return WriteOutcome::blocked;
      if (r == G_POLLABLE_RETURN_FAILED) {
        error = gerror ? gerror->message : "TLS write failed";
        g_clear_error(&gerror);
        return WriteOutcome::failed;
      }
      written = ssize_t(n);
    }
    queue.consume(size_t(written), now_us);
    if (size_t(written) < asked) return WriteOutcome::blocked;  // the socket buffer is full
  }
  return queue.empty() ? WriteOutcome::drained : WriteOutcome::blocked;
}

}  // namespace live::net
