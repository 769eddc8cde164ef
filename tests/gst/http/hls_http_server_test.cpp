// HlsHttpServer against a raw HTTP client: files and headers, traversal refusal, CORS,
// and LL-HLS blocking playlist reload timing.
#include "http/hls_http_server.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "http_test_util.h"

using namespace live::http;
using namespace live::http::test;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

class HlsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = dir.path() / "root";
    std::filesystem::create_directories(root);
  }
  void start(HlsHttpServerConfig config = {}) {
    config.root_dir = root.string();
    server = std::make_unique<HlsHttpServer>(config);
    auto result = server->start("127.0.0.1", 0);
    ASSERT_TRUE(result.ok()) << result.error().describe();
    port = result.value();
    ASSERT_NE(port, 0);
  }
  TempDir dir;
  std::filesystem::path root;
  std::unique_ptr<HlsHttpServer> server;
  uint16_t port = 0;
};

TEST_F(HlsHttpServerTest, ServesFilesWithHlsTypesCacheAndCors) {
  const std::string playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n";
  const std::string ts = random_bytes(188 * 700, 1);
  const std::string part = random_bytes(5000, 2);
  const std::string init = random_bytes(700, 3);
  write_file(root / "v0/index.m3u8", playlist);
  write_file(root / "v0/seg0.ts", ts);
  write_file(root / "v1/part0.m4s", part);
  write_file(root / "v1/init.mp4", init);
  write_file(root / "key.key", "0123456789abcdef");
  write_file(root / "a.aac", "aac");
  start();
  struct Case {
    std::string target, body, type, cache;
  } cases[] = {
      {"/v0/index.m3u8", playlist, "application/vnd.apple.mpegurl", "no-cache"},
      {"/v0/seg0.ts", ts, "video/mp2t", "public, max-age=86400, immutable"},
      {"/v1/part0.m4s", part, "video/iso.segment", "public, max-age=86400, immutable"},
      {"/v1/init.mp4", init, "video/mp4", "max-age=10"},
      {"/key.key", "0123456789abcdef", "application/octet-stream", "max-age=10"},
      {"/a.aac", "aac", "audio/aac", "public, max-age=86400, immutable"},
      {"//v0//seg0.ts", ts, "video/mp2t", "public, max-age=86400, immutable"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    RawResponse r = http_request(port, "GET", c.target);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, c.body);
    EXPECT_EQ(r.header("content-type"), c.type);
    EXPECT_EQ(r.header("cache-control"), c.cache);
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    EXPECT_EQ(r.header("content-length"), std::to_string(c.body.size()));
  }
  EXPECT_EQ(server->stats().responses_2xx, std::size(cases));
  EXPECT_EQ(server->stats().bytes_sent, 2 * ts.size() + playlist.size() + part.size() + init.size() + 16 + 3);
}

// HLS players fetch playlists and parts back to back: one TCP connection must carry many
// requests (HTTP/1.1 keep-alive), not be closed after the first response.
TEST_F(HlsHttpServerTest, KeepsTheConnectionOpenBetweenRequests) {
  const std::string playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n";
  write_file(root / "v0/index.m3u8", playlist);
  start();
  int fd = connect_loopback(port);
  ASSERT_GE(fd, 0);
  const std::string request = "GET /v0/index.m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::string raw;
  char buffer[4096];
  for (int n = 0; n < 3; ++n) {
    SCOPED_TRACE(n);
    ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    raw.clear();
    // Read one whole response (headers + Content-Length bytes) without waiting for a close.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      const size_t end = raw.find("\r\n\r\n");
      if (end != std::string::npos && raw.size() >= end + 4 + playlist.size()) break;
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      ssize_t got = recv(fd, buffer, sizeof buffer, 0);
      ASSERT_GT(got, 0) << "the server closed the connection after " << n << " responses";
      raw.append(buffer, size_t(got));
    }
    RawResponse r = parse_response(raw, false);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, playlist);
  }
  close(fd);
}

TEST_F(HlsHttpServerTest, HeadGivesHeadersWithoutBody) {
  const std::string ts = random_bytes(10000, 4);
  write_file(root / "seg.ts", ts);
  start();
  RawResponse r = http_request(port, "HEAD", "/seg.ts");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "10000");
  EXPECT_EQ(r.header("content-type"), "video/mp2t");
  // The raw reader kept everything after the headers: nothing may follow for HEAD.
  RawResponse raw = http_request(port, "HEAD", "/seg.ts");
  EXPECT_TRUE(raw.body.empty());
}

TEST_F(HlsHttpServerTest, RangeRequestGivesPartialContent) {
  const std::string ts = random_bytes(20000, 5);
  write_file(root / "seg.ts", ts);
  start();
  RawResponse r = http_request(port, "GET", "/seg.ts", "Range: bytes=1000-1999\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, ts.substr(1000, 1000));
  EXPECT_EQ(r.header("content-range"), "bytes 1000-1999/20000");
  RawResponse tail = http_request(port, "GET", "/seg.ts", "Range: bytes=-500\r\n");
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, ts.substr(19500));
}

TEST_F(HlsHttpServerTest, RefusesEverythingOutsideRoot) {
  write_file(dir.path() / "secret.txt", "SECRET");
  write_file(root / "ok.m3u8", "#EXTM3U\n");
  write_file(root / ".index.m3u8.tmp", "half written");
  // hlsadaptivesink writes "<name>.tmp" and renames it: a half-written file is never served.
  write_file(root / "index.m3u8.tmp", "half written");
  write_file(root / "sub/seg1.ts.TMP", "half written");
  std::filesystem::create_directories(root / "sub");
  std::filesystem::create_symlink(dir.path() / "secret.txt", root / "link.txt");
  std::filesystem::create_directory_symlink(dir.path(), root / "up");
  start();
  const char* targets[] = {"/../secret.txt",        "/sub/../../secret.txt", "/%2e%2e/secret.txt",
                           "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2E%2E%2Fsecret.txt",
                           "/link.txt",             "/up/secret.txt",        "/.index.m3u8.tmp",
                           "/sub",                  "/sub/",                 "/ok.m3u8%00.ts",
                           "/..\\secret.txt",       "/nonexistent.ts",       "/index.m3u8.tmp",
                           "/sub/seg1.ts.TMP"};
  for (const char* target : targets) {
    SCOPED_TRACE(target);
    RawResponse r = http_request(port, "GET", target);
    EXPECT_TRUE(r.status == 404 || r.status == 400) << r.status;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos);
    EXPECT_EQ(r.body.find("half written"), std::string::npos);
  }
  EXPECT_EQ(http_request(port, "GET", "/ok.m3u8").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/").status, 404);  // no index page configured
}

TEST_F(HlsHttpServerTest, FileReplacedByRenameIsNeverServedTorn) {
  // The sink replaces playlists with rename(); every answer must be one whole version.
  auto version = [](int v) { return std::string(50000 + v % 7 * 1000, static_cast<char>('A' + v % 26)); };
  write_file_atomic(root / "index.m3u8", version(0));
  start();
  std::atomic<bool> stop_writer{false};
  std::atomic<int> versions_written{0};
  std::thread writer([&] {
    for (int v = 1; !stop_writer; v++) {
      write_file_atomic(root / "index.m3u8", version(v));
      versions_written = v;
    }
  });
  int checked = 0;
  const auto t0 = Clock::now();
  while ((checked < 200 || versions_written < 50) && ms_since(t0) < 10000) {
    RawResponse r = http_request(port, "GET", "/index.m3u8");
    ASSERT_EQ(r.status, 200);
    ASSERT_GE(r.body.size(), 50000u);
    ASSERT_EQ(r.body, std::string(r.body.size(), r.body[0])) << "torn response";
    ASSERT_EQ(r.header("content-length"), std::to_string(r.body.size()));
    checked++;
  }
  stop_writer = true;
  writer.join();
  printf("%d responses whole while %d versions were renamed in\n", checked, versions_written.load());
  EXPECT_GE(versions_written.load(), 50);
}

TEST_F(HlsHttpServerTest, CorsPreflightAndMethods) {
  write_file(root / "index.m3u8", "#EXTM3U\n");
  start();
  RawResponse r = http_request(port, "OPTIONS", "/index.m3u8",
                               "Origin: http://example.com\r\nAccess-Control-Request-Method: GET\r\n"
                               "Access-Control-Request-Headers: range\r\n");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-methods"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.header("access-control-allow-headers"), "range");
  EXPECT_FALSE(r.header("access-control-max-age").empty());
  RawResponse put = http_request(port, "PUT", "/index.m3u8", "", "#EXTM3U\nhacked\n");
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(read_file(root / "index.m3u8"), "#EXTM3U\n");
  // Another method on a path that does not exist: 404, as for GET (e.g. a WHEP POST to a stream
  // served without WebRTC).
  EXPECT_EQ(http_request(port, "POST", "/whep", "Content-Type: application/sdp\r\n", "v=0\r\n").status, 404);
  RawResponse big = http_request(port, "POST", "/index.m3u8", "", std::string(kMaxRequestBodyBytes + 1, 'x'));
  EXPECT_EQ(big.status, 413);
}

TEST_F(HlsHttpServerTest, ServesIndexPageAtRoot) {
  write_file(dir.path() / "player.html", "<html>player</html>");
  HlsHttpServerConfig config;
  config.index_file = (dir.path() / "player.html").string();
  start(config);
  RawResponse r = http_request(port, "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<html>player</html>");
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
}

// A blocking request in the background; the future gives the response and when it arrived.
struct Pending {
  std::future<std::pair<RawResponse, Clock::time_point>> result;
  bool done_within(int ms) { return result.wait_for(std::chrono::milliseconds(ms)) == std::future_status::ready; }
};
Pending request_async(uint16_t port, std::string target) {
  return Pending{std::async(std::launch::async, [port, target] {
    RawResponse r = http_request(port, "GET", target);
    return std::make_pair(r, Clock::now());
  })};
}

TEST_F(HlsHttpServerTest, BlockingReloadAnswersWhenPartIsAvailable) {
  write_file_atomic(root / "v0/index.m3u8", "playlist 5.2\n");
  HlsHttpServerConfig config;
  config.target_duration_ms = 2000;
  start(config);
  server->notify_playlist("v0/index.m3u8", 5, 2);

  // Available now: answered at once, cacheable for a second.
  auto t0 = Clock::now();
  RawResponse now = http_request(port, "GET", "/v0/index.m3u8?_HLS_msn=5&_HLS_part=2");
  EXPECT_EQ(now.status, 200);
  EXPECT_EQ(now.body, "playlist 5.2\n");
  EXPECT_EQ(now.header("cache-control"), "max-age=1");
  EXPECT_LT(ms_since(t0), 200);
  EXPECT_EQ(http_request(port, "GET", "/v0/index.m3u8?_HLS_msn=4").status, 200);

  // Part 3 of segment 5 and the whole of segment 5: held until the playlist has them.
  Pending part3 = request_async(port, "/v0/index.m3u8?_HLS_msn=5&_HLS_part=3");
  Pending whole5 = request_async(port, "/v0/index.m3u8?_HLS_msn=5");
  EXPECT_FALSE(part3.done_within(400));
  EXPECT_FALSE(whole5.done_within(0));
  EXPECT_EQ(server->stats().blocking_held, 2u);

  write_file_atomic(root / "v0/index.m3u8", "playlist 5.3\n");
  const auto notified = Clock::now();
  server->notify_playlist("v0/index.m3u8", 5, 3);
  ASSERT_TRUE(part3.done_within(2000));
  auto [r3, at3] = part3.result.get();
  const double latency_ms = std::chrono::duration<double, std::milli>(at3 - notified).count();
  printf("blocking reload answered %.2f ms after notify_playlist\n", latency_ms);
  EXPECT_LT(latency_ms, 50);
  EXPECT_EQ(r3.status, 200);
  EXPECT_EQ(r3.body, "playlist 5.3\n");
  EXPECT_FALSE(whole5.done_within(300));  // segment 5 still open

  // The segment completes: last_part -1 means segment 5 is whole.
  write_file_atomic(root / "v0/index.m3u8", "playlist 5 complete\n");
  server->notify_playlist("v0/index.m3u8", 5, -1);
  ASSERT_TRUE(whole5.done_within(2000));
  auto [r5, at5] = whole5.result.get();
  EXPECT_EQ(r5.status, 200);
  EXPECT_EQ(r5.body, "playlist 5 complete\n");

  // Next segment's part 0 requested before anything of segment 6 exists.
  Pending next = request_async(port, "/v0/index.m3u8?_HLS_msn=6&_HLS_part=0");
  EXPECT_FALSE(next.done_within(300));
  write_file_atomic(root / "v0/index.m3u8", "playlist 6.0\n");
  server->notify_playlist("v0/index.m3u8", 6, 0);
  ASSERT_TRUE(next.done_within(2000));
  EXPECT_EQ(next.result.get().first.body, "playlist 6.0\n");
  EXPECT_EQ(server->stats().blocking_held, 0u);
  EXPECT_EQ(server->stats().blocking_timeouts, 0u);
}

TEST_F(HlsHttpServerTest, BlockingReloadTimesOutWith503After3TargetDurations) {
  write_file(root / "index.m3u8", "playlist\n");
  HlsHttpServerConfig config;
  config.target_duration_ms = 200;
  start(config);
  server->notify_playlist("index.m3u8", 10, -1);
  auto t0 = Clock::now();
  RawResponse r = http_request(port, "GET", "/index.m3u8?_HLS_msn=11");
  const double waited = ms_since(t0);
  printf("blocking request timed out after %.0f ms (3 x 200 ms)\n", waited);
  EXPECT_EQ(r.status, 503);
  EXPECT_GE(waited, 590);
  EXPECT_LT(waited, 1500);
  EXPECT_EQ(server->stats().blocking_timeouts, 1u);
}

TEST_F(HlsHttpServerTest, BlockingReloadRefusesFarAheadAndBadParameters) {
  write_file(root / "index.m3u8", "playlist\n");
  write_file(root / "other.m3u8", "other\n");
  start();
  server->notify_playlist("index.m3u8", 5, 1);
  auto t0 = Clock::now();
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=8").status, 400);          // > last + 2
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=5&_HLS_part=5").status, 400);  // > last part + 3
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=abc").status, 400);
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=-1").status, 400);
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_part=1").status, 400);  // part without msn
  EXPECT_LT(ms_since(t0), 1000);
  // A playlist the sink never reported (not LL-HLS): served at once.
  RawResponse other = http_request(port, "GET", "/other.m3u8?_HLS_msn=100");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, "other\n");
  // _HLS_skip alone is not a blocking request.
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_skip=YES").status, 200);
}

TEST_F(HlsHttpServerTest, PartPastTheEndOfACompleteSegmentWaitsForTheNextSegment) {
  write_file_atomic(root / "index.m3u8", "segment 7 complete with 4 parts\n");
  HlsHttpServerConfig config;
  config.target_duration_ms = 2000;
  start(config);
  server->set_part_target_ms(250);
  server->notify_playlist("index.m3u8", 7, -1, 4);
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=7&_HLS_part=3").status, 200);  // last part of 7
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=7").status, 200);
  // Part 4 of a 4-part segment is part 0 of segment 8: held until it is listed.
  Pending past_end = request_async(port, "/index.m3u8?_HLS_msn=7&_HLS_part=4");
  // Two segments past the last complete one: allowed (held), three: 400.
  Pending two_ahead = request_async(port, "/index.m3u8?_HLS_msn=9");
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=10").status, 400);
  EXPECT_FALSE(past_end.done_within(300));
  write_file_atomic(root / "index.m3u8", "segment 8 part 0\n");
  server->notify_playlist("index.m3u8", 8, 0);
  ASSERT_TRUE(past_end.done_within(1000));
  EXPECT_EQ(past_end.result.get().first.body, "segment 8 part 0\n");
  // Advance Part Limit with PART-TARGET 0.25 s is 3 / 0.25 = 12 parts beyond the last one.
  Pending within_limit = request_async(port, "/index.m3u8?_HLS_msn=8&_HLS_part=12");
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=8&_HLS_part=13").status, 400);
  EXPECT_FALSE(within_limit.done_within(200));
  EXPECT_FALSE(two_ahead.done_within(0));
  EXPECT_EQ(server->stats().blocking_held, 2u);
  server->notify_playlist("index.m3u8", 10, 0);  // segment 9 complete, part 0 of 10 listed
  ASSERT_TRUE(within_limit.done_within(1000));
  ASSERT_TRUE(two_ahead.done_within(1000));
  EXPECT_EQ(two_ahead.result.get().first.status, 200);
}

TEST_F(HlsHttpServerTest, ManyHeldRequestsAreAnsweredTogether) {
  constexpr int kClients = 300;  // each held without a thread of its own on the server
  write_file_atomic(root / "index.m3u8", "old\n");
  HlsHttpServerConfig config;
  config.target_duration_ms = 5000;
  start(config);
  server->notify_playlist("index.m3u8", 20, 0);
  std::vector<int> fds;
  const std::string request = "GET /index.m3u8?_HLS_msn=20&_HLS_part=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < kClients; i++) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    fds.push_back(fd);
  }
  for (int i = 0; i < 300 && server->stats().blocking_held < kClients; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(server->stats().blocking_held, uint64_t(kClients));
  write_file_atomic(root / "index.m3u8", "new\n");
  const auto notified = Clock::now();
  server->notify_playlist("index.m3u8", 20, 1);
  // Read every response to the end (the server closes each connection).
  std::vector<std::string> raw(kClients);
  std::vector<bool> open(kClients, true);
  int remaining = kClients;
  char buffer[4096];
  while (remaining > 0 && ms_since(notified) < 5000) {
    std::vector<pollfd> polls;
    std::vector<int> index;
    for (int i = 0; i < kClients; i++)
      if (open[i]) {
        polls.push_back(pollfd{fds[i], POLLIN, 0});
        index.push_back(i);
      }
    if (poll(polls.data(), polls.size(), 100) <= 0) continue;
    for (size_t k = 0; k < polls.size(); k++) {
      if (!(polls[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = index[k];
      ssize_t n = recv(fds[i], buffer, sizeof buffer, 0);
      if (n > 0) {
        raw[i].append(buffer, size_t(n));
      } else {
        open[i] = false;
        remaining--;
      }
    }
  }
  const double all_ms = ms_since(notified);
  printf("%d held requests answered %.1f ms after notify_playlist\n", kClients, all_ms);
  EXPECT_EQ(remaining, 0);
  EXPECT_LT(all_ms, 2000);
  for (int i = 0; i < kClients; i++) {
    RawResponse r = parse_response(raw[i], false);
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, "new\n") << i;
    close(fds[i]);
  }
  EXPECT_EQ(server->stats().blocking_held, 0u);
}

TEST_F(HlsHttpServerTest, PreloadHintedFileIsHeldUntilWritten) {
  write_file(root / "v0/index.m3u8", "playlist\n");
  HlsHttpServerConfig config;
  config.target_duration_ms = 300;
  start(config);
  server->notify_playlist("v0/index.m3u8", 3, 1);
  server->expect_file("v0/part3.2.m4s");
  EXPECT_EQ(http_request(port, "GET", "/v0/part3.3.m4s").status, 404);  // not hinted: 404 at once
  Pending hinted = request_async(port, "/v0/part3.2.m4s");
  EXPECT_FALSE(hinted.done_within(200));
  const std::string part = random_bytes(3000, 7);
  write_file_atomic(root / "v0/part3.2.m4s", part);
  const auto notified = Clock::now();
  server->notify_playlist("v0/index.m3u8", 3, 2);
  ASSERT_TRUE(hinted.done_within(1000));
  auto [r, at] = hinted.result.get();
  const double wait_ms = std::chrono::duration<double, std::milli>(at - notified).count();
  EXPECT_LT(wait_ms, 50);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, part);
  EXPECT_EQ(r.header("content-type"), "video/iso.segment");
  // A hint that is never written: 404 after 3 x target duration.
  server->expect_file("v0/part3.3.m4s");
  auto t0 = Clock::now();
  EXPECT_EQ(http_request(port, "GET", "/v0/part3.3.m4s").status, 404);
  EXPECT_GE(ms_since(t0), 850);
}

TEST_F(HlsHttpServerTest, HeldRequestLimitAndStopAndClientGone) {
  write_file(root / "index.m3u8", "playlist\n");
  HlsHttpServerConfig config;
  config.max_held_requests = 2;
  config.target_duration_ms = 10000;
  start(config);
  server->notify_playlist("index.m3u8", 1, 0);
  // A client that gives up while held must be forgotten.
  {
    int fd = connect_loopback(port);
    std::string request = "GET /index.m3u8?_HLS_msn=2 HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    for (int i = 0; i < 100 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(server->stats().blocking_held, 1u);
    close(fd);
    for (int i = 0; i < 100 && server->stats().blocking_held > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(server->stats().blocking_held, 0u);
  }
  Pending a = request_async(port, "/index.m3u8?_HLS_msn=2");
  Pending b = request_async(port, "/index.m3u8?_HLS_msn=1&_HLS_part=1");
  for (int i = 0; i < 100 && server->stats().blocking_held < 2; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server->stats().blocking_held, 2u);
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8?_HLS_msn=2").status, 503);  // over the limit
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8").status, 200);            // plain reload still fine
  auto t0 = Clock::now();
  server->stop();
  EXPECT_LT(ms_since(t0), 2000);
  ASSERT_TRUE(a.done_within(2000));
  ASSERT_TRUE(b.done_within(2000));
  EXPECT_EQ(a.result.get().first.status, 503);
  EXPECT_EQ(b.result.get().first.status, 503);
  EXPECT_FALSE(server->running());
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8").status, 0);  // listener closed
}

// Reads until the server closes the connection; returns how long that took (ms), or -1.
double wait_closed(int fd, int timeout_ms) {
  const auto t0 = Clock::now();
  char buffer[1024];
  while (ms_since(t0) < timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0 && recv(fd, buffer, sizeof buffer, 0) <= 0) return ms_since(t0);
  }
  return -1;
}

TEST_F(HlsHttpServerTest, ConnectionLimitAndIdleTimeout) {
  write_file(root / "index.m3u8", "#EXTM3U\n");
  HlsHttpServerConfig config;
  config.max_connections = 3;
  config.idle_timeout_s = 1;
  start(config);
  // Three keep-alive clients that have been answered (a connection that never sent a request
  // would be evicted to make room instead: http_port's WhenFull... test).
  std::vector<int> idle;
  for (int i = 0; i < 3; i++) {
    idle.push_back(connect_loopback(port));
    const std::string get = "GET /index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(idle.back(), get.data(), get.size(), MSG_NOSIGNAL), ssize_t(get.size()));
    char answer[512];
    pollfd p{idle.back(), POLLIN, 0};
    ASSERT_GT(poll(&p, 1, 3000), 0);
    ASSERT_GT(recv(idle.back(), answer, sizeof answer, 0), 0);
  }
  for (int i = 0; i < 100 && server->stats().connections < 3; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server->stats().connections, 3u);
  // The fourth is closed at once, without an answer.
  int extra = connect_loopback(port);
  ASSERT_GE(extra, 0);
  const double refused_after = wait_closed(extra, 500);
  EXPECT_GE(refused_after, 0);
  EXPECT_LT(refused_after, 400);
  close(extra);
  EXPECT_EQ(server->stats().connections_refused, 1u);
  // The idle ones are closed after idle_timeout_s; then the server takes new clients again.
  const double idle_closed_after = wait_closed(idle[0], 3000);
  printf("idle connection closed after %.0f ms (idle timeout 1 s)\n", idle_closed_after);
  EXPECT_GE(idle_closed_after, 700);
  for (int fd : idle) close(fd);
  for (int i = 0; i < 200 && server->stats().connections > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server->stats().connections, 0u);
  EXPECT_EQ(http_request(port, "GET", "/index.m3u8").status, 200);
}

TEST_F(HlsHttpServerTest, ForgetPlaylistReleasesHeldRequests) {
  write_file(root / "index.m3u8", "final\n");
  start();
  server->notify_playlist("index.m3u8", 3, -1);
  Pending held = request_async(port, "/index.m3u8?_HLS_msn=4");
  EXPECT_FALSE(held.done_within(300));
  server->forget_playlist("index.m3u8");
  ASSERT_TRUE(held.done_within(1000));
  auto r = held.result.get().first;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "final\n");
}

TEST_F(HlsHttpServerTest, StartFailsOnBusyPortAndBadAddress) {
  start();
  HlsHttpServerConfig config;
  config.root_dir = root.string();
  HlsHttpServer second(config);
  EXPECT_FALSE(second.start("127.0.0.1", port).ok());
  EXPECT_FALSE(second.start("not-an-address", 0).ok());
  config.root_dir = (dir.path() / "missing").string();
  HlsHttpServer third(config);
  EXPECT_FALSE(third.start("127.0.0.1", 0).ok());
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
