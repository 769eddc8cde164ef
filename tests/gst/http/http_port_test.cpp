// HttpPort: one server per (address, port) shared by HLS sites under URL prefixes and by
// stream routes (HTTP-FLV) whose connections are handed to their owner. Real sockets on
// 127.0.0.1; a raw HTTP client and python3's urllib as clients.
#include "http/http_port.h"
#include "http/hls_http_server.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "../../lib/subprocess.h"
#include "http_test_util.h"

using namespace live::http;
using namespace live::http::test;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

template <typename Predicate>
bool wait_until(Predicate done, int timeout_ms = 3000) {
  const auto t0 = Clock::now();
  while (!done()) {
    if (ms_since(t0) > timeout_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ---- HLS sites sharing a port ----

HlsHttpServerConfig site_config(const std::filesystem::path& root, const std::string& prefix) {
  HlsHttpServerConfig config;
  config.root_dir = root.string();
  config.url_prefix = prefix;
  return config;
}

TEST(SharedPortTest, HlsServersWithPrefixesShareOnePort) {
  TempDir dir;
  const auto a = dir.path() / "a", b = dir.path() / "b", c = dir.path() / "c";
  write_file(a / "master.m3u8", "master of a\n");
  write_file(a / "v0/index.m3u8", "playlist of a\n");
  write_file(a / "v0/seg1.ts", "segment of a");
  write_file(b / "master.m3u8", "master of b\n");
  write_file(b / "v0/index.m3u8", "playlist of b\n");
  write_file(c / "master.m3u8", "master of the root site\n");
  const uint16_t port = free_port();

  HlsHttpServer site_a(site_config(a, "/live/a"));
  HlsHttpServer site_b(site_config(b, "live/b/"));  // normalized to /live/b
  HlsHttpServer site_root(site_config(c, ""));
  for (HlsHttpServer* site : {&site_a, &site_b, &site_root}) {
    auto started = site->start("127.0.0.1", port);
    ASSERT_TRUE(started.ok()) << started.error().describe();
    EXPECT_EQ(started.value(), port);
  }
  struct Case {
    std::string target;
    int status;
    std::string body;
  } cases[] = {
      {"/live/a/master.m3u8", 200, "master of a\n"},
      {"/live/a/v0/index.m3u8", 200, "playlist of a\n"},
      {"/live/a/v0/seg1.ts", 200, "segment of a"},
      {"/live/b/master.m3u8", 200, "master of b\n"},
      {"/live/b/v0/index.m3u8", 200, "playlist of b\n"},
      {"/master.m3u8", 200, "master of the root site\n"},  // the "" site takes the rest
      {"/live/ab/master.m3u8", 404, ""},                    // whole segments only, then the root site
      // Dot segments are resolved (RFC 3986) before routing: never a way out of a site's root.
      {"/live/a/../b/master.m3u8", 200, "master of b\n"},
      {"/live/a/%2e%2e/b/master.m3u8", 200, "master of b\n"},
      {"/live/a/../../master.m3u8", 200, "master of the root site\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    RawResponse r = http_request(port, "GET", c.target);
    EXPECT_TRUE(r.status == c.status || (c.status == 404 && r.status == 400)) << r.status;
    if (c.status == 200) {
      EXPECT_EQ(r.body, c.body);
    }
  }
  EXPECT_EQ(site_a.stats().responses_2xx, 3u);
  EXPECT_EQ(site_b.stats().responses_2xx, 4u);

  // The same prefix twice on one port: refused, the first keeps serving.
  HlsHttpServer duplicate(site_config(c, "/live/a/"));
  auto refused = duplicate.start("127.0.0.1", port);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().describe().find("already served"), std::string::npos) << refused.error().describe();
  EXPECT_EQ(http_request(port, "GET", "/live/a/master.m3u8").body, "master of a\n");
  EXPECT_FALSE(HlsHttpServer(site_config(c, "/live/../x")).start("127.0.0.1", port).ok());  // bad prefix

  // Blocking reloads are per site: the same relative path on site b does not answer site a.
  site_a.notify_playlist("v0/index.m3u8", 5, 0);
  site_b.notify_playlist("v0/index.m3u8", 9, 3);
  auto held = std::async(std::launch::async, [port] {
    return http_request(port, "GET", "/live/a/v0/index.m3u8?_HLS_msn=5&_HLS_part=1");
  });
  ASSERT_TRUE(wait_until([&] { return site_a.stats().blocking_held == 1; }));
  site_b.notify_playlist("v0/index.m3u8", 10, 0);
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  write_file_atomic(a / "v0/index.m3u8", "playlist of a, part 5.1\n");
  site_a.notify_playlist("v0/index.m3u8", 5, 1);
  ASSERT_EQ(held.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(held.get().body, "playlist of a, part 5.1\n");
  // The server forgets a held request just after its answer is sent: wait for that, or the
  // count below could still be this request's and site a stop before the next one arrives.
  ASSERT_TRUE(wait_until([&] { return site_a.stats().blocking_held == 0; }));

  // Stopping site a answers its held requests with 503; the others keep serving.
  auto held_at_stop = std::async(std::launch::async, [port] {
    return http_request(port, "GET", "/live/a/v0/index.m3u8?_HLS_msn=6");
  });
  ASSERT_TRUE(wait_until([&] { return site_a.stats().blocking_held == 1; }));
  site_a.stop();
  ASSERT_EQ(held_at_stop.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(held_at_stop.get().status, 503);
  EXPECT_EQ(http_request(port, "GET", "/live/b/master.m3u8").body, "master of b\n");
  EXPECT_EQ(http_request(port, "GET", "/live/a/master.m3u8").status, 404);  // now the root site's: no such file

  // The port closes with its last user, and can be taken again at once.
  site_b.stop();
  EXPECT_EQ(http_request(port, "GET", "/master.m3u8").status, 200);
  site_root.stop();
  const int fd = connect_loopback(port);
  EXPECT_LT(fd, 0) << "port still open after its last user stopped";
  if (fd >= 0) close(fd);
  HlsHttpServer again(site_config(b, "/again"));
  auto restarted = again.start("127.0.0.1", port);
  ASSERT_TRUE(restarted.ok()) << restarted.error().describe();
  EXPECT_EQ(http_request(port, "GET", "/again/master.m3u8").body, "master of b\n");
}

TEST(SharedPortTest, IndexPageUnderAPrefix) {
  TempDir dir;
  write_file(dir.path() / "root/master.m3u8", "#EXTM3U\n");
  write_file(dir.path() / "player.html", "<html>player</html>");
  HlsHttpServerConfig config = site_config(dir.path() / "root", "/live/cam1");
  config.index_file = (dir.path() / "player.html").string();
  HlsHttpServer server(config);
  auto port = server.start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  RawResponse page = http_request(*port, "GET", "/live/cam1/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<html>player</html>");
  // Without the slash: redirected, so the page's relative links resolve under the prefix.
  RawResponse bare = http_request(*port, "GET", "/live/cam1");
  EXPECT_EQ(bare.status, 301);
  EXPECT_NE(bare.header("location").find("/live/cam1/"), std::string::npos) << bare.header("location");
  EXPECT_EQ(http_request(*port, "GET", "/").status, 404);  // no site at "/"
}

// ---- stream routes ----

// Stream requests handed to the test by a route handler.
class PendingQueue {
 public:
  StreamRouteHandler handler() {
    return [this](std::shared_ptr<PendingStream> request) {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(std::move(request));
      cv_.notify_all();
    };
  }
  std::shared_ptr<PendingStream> pop(int timeout_ms = 3000) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !requests_.empty(); })) return nullptr;
    auto request = std::move(requests_.front());
    requests_.pop_front();
    return request;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<PendingStream>> requests_;
};

// What an adopt callback got; the test thread takes it over.
struct Adopted {
  GIOStream* stream = nullptr;
  int fd = -1;
  bool on_server_thread = false;
};

const char kFlvHeaders[] = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::vector<std::string> kChunks = {std::string("FLV\x01\x05\0\0\0\x09", 9), "first tag bytes",
                                          std::string(3000, 'v'), "last"};

// One chunk of a chunked body: size in hex, CRLF, data, CRLF.
std::string chunk_bytes(const std::string& chunk) {
  char size[16];
  snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  return size + chunk + "\r\n";
}

std::string chunked(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& chunk : chunks) out += chunk_bytes(chunk);
  return out + "0\r\n\r\n";  // the last chunk
}

std::optional<std::string> decode_chunked(const std::string& body) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    const size_t line_end = body.find("\r\n", pos);
    if (line_end == std::string::npos) return std::nullopt;
    const size_t size = std::stoul(body.substr(pos, line_end - pos), nullptr, 16);
    pos = line_end + 2;
    if (size == 0) return body.compare(pos, std::string::npos, "\r\n") == 0 ? std::optional(out) : std::nullopt;
    if (body.size() < pos + size + 2 || body.compare(pos + size, 2, "\r\n") != 0) return std::nullopt;
    out += body.substr(pos, size);
    pos += size + 2;
  }
}

std::string joined(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& chunk : chunks) out += chunk;
  return out;
}

bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += size_t(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
    } else {
      return false;
    }
  }
  return true;
}

class StreamRouteTest : public ::testing::Test {
 protected:
  void start(HttpPortConfig config = {}) {
    auto acquired = HttpPort::acquire("127.0.0.1", 0, config);
    ASSERT_TRUE(acquired.ok()) << acquired.error().describe();
    port = *acquired;
    number = port->port();
    ASSERT_NE(number, 0);
  }
  // Accepts request from another thread after delay_ms; the adopt callback's arguments come back.
  std::future<Adopted> accept_later(std::shared_ptr<PendingStream> request, int delay_ms) {
    auto adopted = std::make_shared<std::promise<Adopted>>();
    auto future = adopted->get_future();
    HttpPort* raw = port.get();
    deciders.emplace_back([request = std::move(request), adopted, delay_ms, raw]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      request->accept([adopted, raw](GIOStream* stream, int fd) {
        adopted->set_value(Adopted{stream, fd, raw->on_server_thread()});
      });
      request.reset();
    });
    return future;
  }
  void TearDown() override {
    for (auto& t : deciders) t.join();
  }
  std::shared_ptr<HttpPort> port;
  uint16_t number = 0;
  PendingQueue pending;
  std::vector<std::thread> deciders;
};

TEST_F(StreamRouteTest, AcceptedFromAnotherThreadTheOwnerWritesTheWholeResponse) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  auto response = std::async(std::launch::async, [this] {
    return http_request(number, "GET", "/live/show.flv?token=abc&x=1", "Origin: http://player.example\r\n");
  });
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->info().path, "/live/show.flv");
  EXPECT_EQ(request->info().query, "token=abc&x=1");
  EXPECT_EQ(request->info().origin, "http://player.example");
  EXPECT_EQ(request->info().client_address.rfind("127.0.0.1:", 0), 0u) << request->info().client_address;
  EXPECT_FALSE(request->info().head);
  auto adopted_future = accept_later(request, 150);
  request.reset();
  ASSERT_EQ(adopted_future.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  Adopted adopted = adopted_future.get();
  ASSERT_NE(adopted.stream, nullptr);
  ASSERT_GE(adopted.fd, 0);
  EXPECT_TRUE(adopted.on_server_thread);
  // Nothing was written by the server: the first bytes the client sees are ours.
  EXPECT_EQ(response.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  // The adopted connection still counts as open.
  EXPECT_EQ(port->stats().connections, 1u);
  ASSERT_TRUE(send_all(adopted.fd, kFlvHeaders));
  for (const auto& chunk : kChunks) {
    ASSERT_TRUE(send_all(adopted.fd, chunk_bytes(chunk)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ASSERT_TRUE(send_all(adopted.fd, "0\r\n\r\n"));
  g_io_stream_close(adopted.stream, nullptr, nullptr);
  g_object_unref(adopted.stream);
  RawResponse r = response.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "video/x-flv");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.body, chunked(kChunks));  // byte for byte what the owner wrote
  auto decoded = decode_chunked(r.body);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, joined(kChunks));
  EXPECT_TRUE(wait_until([&] { return port->stats().connections == 0; }));
  EXPECT_EQ(port->stats().streams_adopted, 1u);
}

// A real HTTP client: python3's urllib decodes the chunked body itself.
TEST_F(StreamRouteTest, PythonUrllibReadsTheAdoptedStream) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/py.flv", pending.handler()).ok());
  const std::string script =
      "import sys, urllib.request\n"
      "r = urllib.request.urlopen(sys.argv[1], timeout=10)\n"
      "sys.stdout.buffer.write((r.headers['Content-Type'] + '|').encode() + r.read())\n";
  const std::string url = "http://127.0.0.1:" + std::to_string(number) + "/live/py.flv";
  auto client = std::async(std::launch::async, [&] {
    return live::test_util::run_command({PYTHON3_PATH, "-c", script, url});
  });
  auto request = pending.pop(10000);
  ASSERT_NE(request, nullptr) << "python3 did not connect";
  auto adopted_future = accept_later(request, 50);
  request.reset();
  ASSERT_EQ(adopted_future.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  Adopted adopted = adopted_future.get();
  ASSERT_NE(adopted.stream, nullptr);
  // Through the GIOStream this time.
  GOutputStream* out = g_io_stream_get_output_stream(adopted.stream);
  const std::string bytes = std::string(kFlvHeaders) + chunked(kChunks);
  for (size_t pos = 0; pos < bytes.size(); pos += 1000) {
    const std::string piece = bytes.substr(pos, 1000);
    ASSERT_TRUE(g_output_stream_write_all(out, piece.data(), piece.size(), nullptr, nullptr, nullptr));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  g_io_stream_close(adopted.stream, nullptr, nullptr);
  g_object_unref(adopted.stream);
  auto result = client.get();
  ASSERT_TRUE(result.started) << "cannot run " << PYTHON3_PATH;
  ASSERT_TRUE(result.ok()) << result.err;
  EXPECT_EQ(result.out, "video/x-flv|" + joined(kChunks));
}

TEST_F(StreamRouteTest, HeadIsHandedOverToo) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  auto response = std::async(std::launch::async, [this] { return http_request(number, "HEAD", "/live/show.flv"); });
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  EXPECT_TRUE(request->info().head);
  auto adopted_future = accept_later(request, 20);
  request.reset();
  Adopted adopted = adopted_future.get();
  ASSERT_NE(adopted.stream, nullptr);
  ASSERT_TRUE(send_all(adopted.fd, "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\n"));
  g_object_unref(adopted.stream);  // dropping the last reference closes the connection too
  RawResponse r = response.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "video/x-flv");
  EXPECT_TRUE(r.body.empty());
}

TEST_F(StreamRouteTest, RefusedWithStatusAndReason) {
  start();
  // Refused at once, on the server thread, inside the handler.
  ASSERT_TRUE(port->add_stream_route("/live/forbidden.flv", [](std::shared_ptr<PendingStream> request) {
    request->refuse(403, "stream key not allowed");
    request->refuse(404, "ignored: decided already");
  }).ok());
  RawResponse forbidden = http_request(number, "GET", "/live/forbidden.flv");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.body, "stream key not allowed\n");
  EXPECT_EQ(forbidden.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(forbidden.header("access-control-allow-origin"), "*");
  // Refused later from another thread; an accept after that is ignored (no adopt call).
  ASSERT_TRUE(port->add_stream_route("/live/later.flv", pending.handler()).ok());
  auto response = std::async(std::launch::async, [this] { return http_request(number, "GET", "/live/later.flv"); });
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  std::atomic<bool> adopt_called{false};
  std::thread([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    request->refuse(404, "no such stream");
    request->accept([&](GIOStream*, int) { adopt_called = true; });
  }).join();
  RawResponse r = response.get();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no such stream\n");
  request.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(adopt_called);
  EXPECT_EQ(port->stats().streams_refused, 2u);
}

TEST_F(StreamRouteTest, NoDecisionIs503AfterTheTimeout) {
  HttpPortConfig config;
  config.stream_decision_timeout_ms = 300;
  start(config);
  ASSERT_TRUE(port->add_stream_route("/live/slow.flv", pending.handler()).ok());
  const auto t0 = Clock::now();
  RawResponse r = http_request(number, "GET", "/live/slow.flv");
  const double waited = ms_since(t0);
  printf("undecided stream request answered after %.0f ms (timeout 300 ms)\n", waited);
  EXPECT_EQ(r.status, 503);
  EXPECT_GE(waited, 280);
  EXPECT_LT(waited, 2000);
  // A decision after the 503: adopt is still called once, without a connection.
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  auto adopted = accept_later(request, 0);
  request.reset();
  ASSERT_EQ(adopted.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  Adopted late = adopted.get();
  EXPECT_EQ(late.stream, nullptr);
  EXPECT_EQ(late.fd, -1);
  EXPECT_TRUE(late.on_server_thread);
  EXPECT_EQ(port->stats().streams_unanswered, 1u);
}

TEST_F(StreamRouteTest, DroppingTheRequestWithoutDecisionIs503AtOnce) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/ignored.flv", [](std::shared_ptr<PendingStream>) {}).ok());
  const auto t0 = Clock::now();
  RawResponse r = http_request(number, "GET", "/live/ignored.flv");
  EXPECT_EQ(r.status, 503);
  EXPECT_LT(ms_since(t0), 1000);  // not the 5 s decision timeout
}

TEST_F(StreamRouteTest, RoutesAreExactWinOverSitesAndGoAwayWhenRemoved) {
  TempDir dir;
  write_file(dir.path() / "live/show.flv", "a file under the site's root");
  const uint16_t shared_port = free_port();
  HlsHttpServer site(site_config(dir.path(), ""));
  ASSERT_TRUE(site.start("127.0.0.1", shared_port).ok());
  auto acquired = HttpPort::acquire("127.0.0.1", shared_port, {});
  ASSERT_TRUE(acquired.ok());
  port = *acquired;
  EXPECT_EQ(port->port(), shared_port);
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", [](std::shared_ptr<PendingStream> request) {
    request->refuse(409, "the stream route answered");
  }).ok());
  EXPECT_FALSE(port->add_stream_route("/live/show.flv", [](std::shared_ptr<PendingStream>) {}).ok());
  EXPECT_FALSE(port->add_stream_route("live/no-slash.flv", [](std::shared_ptr<PendingStream>) {}).ok());
  EXPECT_EQ(http_request(shared_port, "GET", "/live/show.flv").status, 409);
  EXPECT_EQ(http_request(shared_port, "GET", "/live/show.flv?x=1").status, 409);
  EXPECT_EQ(http_request(shared_port, "GET", "/live/show.flv/more").status, 404);  // exact paths only
  RawResponse post = http_request(shared_port, "POST", "/live/show.flv", "", "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(http_request(shared_port, "OPTIONS", "/live/show.flv", "Origin: http://x\r\n").status, 204);
  port->remove_stream_route("/live/show.flv");
  RawResponse file = http_request(shared_port, "GET", "/live/show.flv");
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, "a file under the site's root");
  // On a port of stream routes only, a removed route is 404.
  ASSERT_TRUE(port->add_stream_route("/only.flv", pending.handler()).ok());
  port->remove_stream_route("/only.flv");
  site.stop();
  EXPECT_EQ(http_request(shared_port, "GET", "/only.flv").status, 404);
  EXPECT_EQ(pending.size(), 0u);  // the handler was never called
}

// A player may reuse a keep-alive connection: the stream request is its second request.
bool closed_by_server(int fd, int timeout_ms);

TEST_F(StreamRouteTest, AdoptsAKeepAliveConnectionAfterAnEarlierResponse) {
  start();
  ASSERT_TRUE(port->add_stream_route("/missing.flv", [](std::shared_ptr<PendingStream> request) {
    request->refuse(404, "no such stream");
  }).ok());
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  int fd = connect_loopback(number);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /missing.flv HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw;
  char buffer[4096];
  while (raw.find("no such stream\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 3000), 0) << raw;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "connection closed after the first response";
    raw.append(buffer, size_t(n));
  }
  EXPECT_EQ(parse_response(raw, false).status, 404);
  if (raw.find("Connection: close\r\n") != std::string::npos) {
    // libsoup before 3.3 (http_port.cpp, on_early_request): its answers close the connection,
    // and the client asks again on a new one, as browsers do.
    EXPECT_TRUE(closed_by_server(fd, 3000));
    close(fd);
    fd = connect_loopback(number);
  }
  ASSERT_TRUE(send_all(fd, "GET /live/show.flv HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  auto adopted_future = accept_later(request, 10);
  request.reset();
  Adopted adopted = adopted_future.get();
  ASSERT_NE(adopted.stream, nullptr);
  ASSERT_TRUE(send_all(adopted.fd, kFlvHeaders + chunked(kChunks)));
  g_object_unref(adopted.stream);
  raw.clear();
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) break;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, size_t(n));
  }
  close(fd);
  EXPECT_EQ(raw, kFlvHeaders + chunked(kChunks));
}

// A client that leaves while its request waits: the connection is freed, and an accept after
// that gets adopt(nullptr, -1); an accept racing with the close gets one or the other.
TEST_F(StreamRouteTest, ClientGoneWhilePending) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  const std::string get = "GET /live/show.flv HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int round = 0; round < 10; round++) {
    SCOPED_TRACE(round);
    const bool wait_for_server_to_notice = round % 2 == 0;
    int fd = connect_loopback(number);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, get));
    auto request = pending.pop();
    ASSERT_NE(request, nullptr);
    const uint64_t unanswered_before = port->stats().streams_unanswered;
    close(fd);
    if (wait_for_server_to_notice) {
      ASSERT_TRUE(wait_until([&] { return port->stats().streams_unanswered == unanswered_before + 1; }));
    }
    auto adopted_future = accept_later(request, 0);
    request.reset();
    ASSERT_EQ(adopted_future.wait_for(std::chrono::seconds(3)), std::future_status::ready);
    Adopted adopted = adopted_future.get();
    if (wait_for_server_to_notice) {
      EXPECT_EQ(adopted.stream, nullptr);
      EXPECT_EQ(adopted.fd, -1);
    }
    if (adopted.stream != nullptr) {
      send_all(adopted.fd, kFlvHeaders);  // to a closed peer: an error, not a signal
      g_object_unref(adopted.stream);
    }
  }
  EXPECT_TRUE(wait_until([&] { return port->stats().connections == 0; }));
}

// An adopted connection counts toward max_connections until its owner drops it, and is never
// evicted to make room (it has sent its request): with two of them the port is full.
TEST_F(StreamRouteTest, AdoptedConnectionsCountTowardTheLimit) {
  HttpPortConfig config;
  config.max_connections = 2;
  start(config);
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  std::vector<int> clients;
  std::vector<Adopted> adopted;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(connect_loopback(number));
    ASSERT_TRUE(send_all(clients.back(), "GET /live/show.flv HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto request = pending.pop();
    ASSERT_NE(request, nullptr);
    auto adopted_future = accept_later(request, 0);
    request.reset();
    adopted.push_back(adopted_future.get());
    ASSERT_NE(adopted.back().stream, nullptr);
  }
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 2; }));
  int third = connect_loopback(number);  // closed at accept
  ASSERT_TRUE(wait_until([&] { return port->stats().connections_refused == 1; }));
  EXPECT_TRUE(closed_by_server(third, 3000));
  EXPECT_EQ(port->stats().connections_evicted, 0u);
  close(third);
  g_object_unref(adopted[0].stream);
  close(clients[0]);
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 1; }));
  g_object_unref(adopted[1].stream);
  close(clients[1]);
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 0; }));
  EXPECT_EQ(http_request(number, "GET", "/nothing").status, 404);
}

// libsoup 3.2 (Debian 12) never freed a keep-alive connection that the client closed while idle:
// 20 such clients left 20 connections counted (and their memory) for the life of the process.
// Connections libsoup answers now close after the response; the count goes back to zero.
TEST_F(StreamRouteTest, ConnectionsAnsweredByLibsoupAreFreedAfterTheClientLeaves) {
  start();
  for (int i = 0; i < 20; ++i) {
    int fd = connect_loopback(number);
    ASSERT_TRUE(send_all(fd, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));  // keep-alive
    pollfd p{fd, POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 3000), 0);
    char answer[512] = {};
    ASSERT_GT(recv(fd, answer, sizeof answer - 1, 0), 0);
    EXPECT_EQ(std::string(answer).rfind("HTTP/1.1 404", 0), 0u) << answer;
    close(fd);
  }
  EXPECT_TRUE(wait_until([&] { return port->stats().connections == 0; }, 5000))
      << port->stats().connections << " connections still counted";
}

// Connections that send no complete request head (tests/hostile: 4200 of them made every
// client of the port wait): at most max_waiting_per_address per client IP, each closed
// kFirstRequestTimeoutS after accept; other addresses are served meanwhile.
int connect_from(const char* ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool closed_by_server(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char byte;
  return recv(fd, &byte, 1, 0) <= 0;
}

TEST_F(StreamRouteTest, ConnectionsWithoutARequestAreLimitedPerAddressAndClosedAfterTheFirstRequestTimeout) {
  HttpPortConfig config;
  config.max_waiting_per_address = 3;
  start(config);
  const auto t0 = Clock::now();
  std::vector<int> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(connect_from("127.0.0.2", number));
  ASSERT_TRUE(send_all(waiting[0], "GET /nothing HTTP/1.1\r\nHost: x\r\nX-Slow: "));  // half a head
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 3; }));
  int fourth = connect_from("127.0.0.2", number);
  ASSERT_GE(fourth, 0);
  EXPECT_TRUE(closed_by_server(fourth, 3000)) << "a 4th connection without a request from one address";
  EXPECT_EQ(port->stats().connections_refused, 1u);
  close(fourth);
  // another address is served meanwhile, and so is one of the same address that asks
  EXPECT_EQ(http_request(number, "GET", "/nothing").status, 404);
  // the three are closed by the first-request timeout, not the 60 s idle timeout
  for (int fd : waiting) {
    EXPECT_TRUE(closed_by_server(fd, int(kFirstRequestTimeoutS + 3) * 1000));
    close(fd);
  }
  const double waited_s = ms_since(t0) / 1000;
  EXPECT_GE(waited_s, kFirstRequestTimeoutS - 1);
  EXPECT_LT(waited_s, kFirstRequestTimeoutS + 3);
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 0; }));
  int again = connect_from("127.0.0.2", number);
  ASSERT_TRUE(send_all(again, "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  char head[16] = {};
  pollfd p{again, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 3000), 0);
  ASSERT_GT(recv(again, head, sizeof head - 1, MSG_WAITALL), 0);
  EXPECT_EQ(std::string(head).rfind("HTTP/1.1 404", 0), 0u) << head;
  close(again);
}

// The port is full of connections that never send a request (from several addresses, so the
// per-address cap does not stop them): a real client still gets in, because the oldest idle
// connection is closed to make room (AdoptedConnectionsCountTowardTheLimit: connections that did
// send a request are never evicted).
TEST_F(StreamRouteTest, WhenFullTheOldestConnectionWithoutARequestMakesRoom) {
  HttpPortConfig config;
  config.max_connections = 8;
  config.max_waiting_per_address = 0;
  start(config);
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(connect_from(i % 2 ? "127.0.0.4" : "127.0.0.5", number));
    ASSERT_TRUE(wait_until([&] { return port->stats().connections == uint64_t(1 + i); }));
  }
  // Full: a real request gets its answer; the oldest idle connection was closed for it.
  EXPECT_EQ(http_request(number, "GET", "/nothing").status, 404);
  EXPECT_TRUE(closed_by_server(idle[0], 3000)) << "the oldest idle connection was not evicted";
  EXPECT_EQ(port->stats().connections_evicted, 1u);
  EXPECT_EQ(port->stats().connections_refused, 0u);
  for (size_t i = 1; i < idle.size(); ++i) EXPECT_FALSE(closed_by_server(idle[i], 0)) << "idle " << i;
  // Evictions follow accept order: full again (one more idle connection), the next oldest goes.
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 7; }));
  idle.push_back(connect_from("127.0.0.6", number));
  ASSERT_TRUE(wait_until([&] { return port->stats().connections == 8; }));
  EXPECT_EQ(http_request(number, "GET", "/nothing").status, 404);
  EXPECT_TRUE(closed_by_server(idle[1], 3000));
  EXPECT_FALSE(closed_by_server(idle[2], 0));
  EXPECT_EQ(port->stats().connections_evicted, 2u);
  for (int fd : idle) close(fd);
}

// The port stops (last reference dropped) while a request waits: the client gets 503, and a
// later accept destroys its adopt callback without calling it.
TEST_F(StreamRouteTest, PortStopsWhileARequestWaits) {
  start();
  ASSERT_TRUE(port->add_stream_route("/live/show.flv", pending.handler()).ok());
  auto response = std::async(std::launch::async, [this] { return http_request(number, "GET", "/live/show.flv"); });
  auto request = pending.pop();
  ASSERT_NE(request, nullptr);
  port.reset();
  RawResponse r = response.get();
  EXPECT_EQ(r.status, 503);
  auto called = std::make_shared<std::atomic<bool>>(false);
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  request->accept([called, token](GIOStream*, int) { *called = true; });
  token.reset();
  request.reset();
  EXPECT_FALSE(*called);
  EXPECT_TRUE(watch.expired()) << "the adopt callback was kept";
  EXPECT_EQ(connect_loopback(number), -1);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
