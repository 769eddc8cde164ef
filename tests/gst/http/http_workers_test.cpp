// The worker threads of an HttpPort (plain GET/HEAD of cached HLS files, answered next to
// libsoup) and their parts: the plain-request parser and the bounded file cache. What a client
// sees must be what libsoup answers: same bytes and headers, keep-alive, pipelining, and every
// request the workers do not take (Range, blocking reloads, stream routes...) still answered.
#include "http/file_cache.h"
#include "http/hls_http_server.h"
#include "http/memory_files.h"
#include "http/http_port.h"
#include "http/plain_request.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "http_test_util.h"

using namespace live::http;
using namespace live::http::test;

namespace {

// ---- PlainRequest parser ----

TEST(PlainRequestTest, PlainGetAndHead) {
  PlainRequestHead head;
  const std::string get = "GET /v0/part12.m4s?t=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nConnection: keep-alive\r\n\r\nGET";
  ASSERT_EQ(parse_plain_request(get, &head), PlainParse::plain);
  EXPECT_FALSE(head.head);
  EXPECT_EQ(head.path, "/v0/part12.m4s");
  EXPECT_EQ(head.query, "t=1");
  EXPECT_EQ(head.length, get.size() - 3);
  EXPECT_FALSE(head.close);
  ASSERT_EQ(parse_plain_request("HEAD /a.ts HTTP/1.1\r\nhost: a\r\nconnection: Close\r\n\r\n", &head), PlainParse::plain);
  EXPECT_TRUE(head.head);
  EXPECT_TRUE(head.close);
}

TEST(PlainRequestTest, IncompleteUntilTheEndOfTheHead) {
  PlainRequestHead head;
  EXPECT_EQ(parse_plain_request("GET /a.ts HTTP/1.1\r\nHost: a\r\n", &head), PlainParse::incomplete);
  EXPECT_EQ(parse_plain_request("", &head), PlainParse::incomplete);
  EXPECT_EQ(parse_plain_request(std::string(kMaxPlainRequestHeadBytes, 'a'), &head), PlainParse::not_plain);
}

TEST(PlainRequestTest, EverythingElseIsLibsoups) {
  PlainRequestHead head;
  for (const char* request : {
           "POST /a HTTP/1.1\r\nHost: a\r\n\r\n",
           "OPTIONS /a HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.0\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1\r\n\r\n",                                  // no Host
           "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",               // absolute-form
           "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a?x=%41 HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nIf-Range: x\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
           "GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: a\r\nX: folded\r\n  more\r\n\r\n",  // obs-fold
           "GET /a HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
           "GET /a HTTP/1.1\nHost: a\r\n\r\n",                           // bare LF
           "GET /a HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
       }) {
    SCOPED_TRACE(request);
    EXPECT_EQ(parse_plain_request(request, &head), PlainParse::not_plain);
  }
}

// ---- FileCache ----

// Files younger than kMinAgeToCacheNs are not kept: back-date everything in dir by a second.
void age_files(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file())
      std::filesystem::last_write_time(entry.path(), std::filesystem::last_write_time(entry.path()) - std::chrono::seconds(1));
}

TEST(FileCacheTest, ValidWhileTheSameFileAndBounded) {
  TempDir dir;
  const auto a = dir.path() / "a.m4s";
  write_file(a, random_bytes(1000, 1));
  FileCache cache(2500, 1200);
  FileIdentity id;
  // Just written: served, not kept (timestamps are too coarse to tell it from a quick rewrite).
  ASSERT_TRUE(regular_file_identity(a.string(), &id));
  EXPECT_NE(cache.load("a", a.string()), nullptr);
  EXPECT_EQ(cache.find("a", id), nullptr);
  age_files(dir.path());
  ASSERT_TRUE(regular_file_identity(a.string(), &id));
  EXPECT_EQ(cache.find("a", id), nullptr);
  auto bytes = cache.load("a", a.string());
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(*bytes, random_bytes(1000, 1));
  EXPECT_EQ(cache.find("a", id), bytes);
  // Replaced by rename: another inode, the entry no longer matches.
  write_file_atomic(a, random_bytes(1000, 2));
  age_files(dir.path());
  ASSERT_TRUE(regular_file_identity(a.string(), &id));
  EXPECT_EQ(cache.find("a", id), nullptr);
  EXPECT_EQ(*cache.load("a", a.string()), random_bytes(1000, 2));
  EXPECT_EQ(cache.bytes(), 1000u);
  // Deleted: no identity at all; forget() gives its bytes back at once (a deleted segment is
  // never asked for again, so nothing else would).
  std::filesystem::remove(a);
  EXPECT_FALSE(regular_file_identity(a.string(), &id));
  const size_t process_before_forget = FileCache::process_bytes();
  cache.forget("a");
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(FileCache::process_bytes(), process_before_forget - 1000);
  cache.forget("a");  // twice, or a key never cached: nothing happens
  cache.forget("never");
  EXPECT_EQ(cache.bytes(), 0u);
  // Over the per-file limit: not cached. Over the total: the least recently used go.
  write_file(dir.path() / "big", std::string(1201, 'x'));
  EXPECT_EQ(cache.load("big", (dir.path() / "big").string()), nullptr);
  for (int i = 0; i < 5; ++i) {
    write_file(dir.path() / std::to_string(i), std::string(1000, char('0' + i)));
    age_files(dir.path());
    ASSERT_NE(cache.load(std::to_string(i), (dir.path() / std::to_string(i)).string()), nullptr);
    EXPECT_LE(cache.bytes(), 2500u);
  }
  ASSERT_TRUE(regular_file_identity((dir.path() / "4").string(), &id));
  EXPECT_NE(cache.find("4", id), nullptr);
  ASSERT_TRUE(regular_file_identity((dir.path() / "0").string(), &id));
  EXPECT_EQ(cache.find("0", id), nullptr);
  EXPECT_FALSE(regular_file_identity(dir.path().string(), &id));  // a directory
  // Every cache counts toward the process-wide budget; a cache gone gives its bytes back.
  const size_t before = FileCache::process_bytes();
  {
    FileCache other;
    ASSERT_NE(other.load("4", (dir.path() / "4").string()), nullptr);
    write_file(dir.path() / "empty", "");
    age_files(dir.path());
    ASSERT_NE(other.load("empty", (dir.path() / "empty").string()), nullptr);
    EXPECT_EQ(FileCache::process_bytes(), before + 1000);
  }
  EXPECT_EQ(FileCache::process_bytes(), before);
  cache.clear();
  EXPECT_EQ(cache.bytes(), 0u);
}

// ---- the workers on a port ----

// One keep-alive connection; reads responses one by one (Content-Length framed).
class KeepAlive {
 public:
  explicit KeepAlive(uint16_t port) : fd_(connect_loopback(port)) {}
  ~KeepAlive() {
    if (fd_ >= 0) close(fd_);
  }
  bool send_raw(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }
  RawResponse get(const std::string& target, const std::string& extra = "", const std::string& method = "GET") {
    send_raw(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n");
    return read(method == "HEAD");
  }
  // The next response on the connection; status 0 if none within 5 s or the server closed.
  RawResponse read(bool head = false) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      const size_t end = buffered_.find("\r\n\r\n");
      if (end != std::string::npos) {
        RawResponse r = parse_response(buffered_.substr(0, end + 4), true);
        const size_t length = head ? 0 : std::stoul(r.header("content-length").empty() ? "0" : r.header("content-length"));
        if (buffered_.size() >= end + 4 + length) {
          r.body = buffered_.substr(end + 4, length);
          buffered_.erase(0, end + 4 + length);
          return r;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) return {};
      char chunk[65536];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return {};
      buffered_.append(chunk, size_t(n));
    }
  }
  bool closed_by_server(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char byte;
    return recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  int fd_;
  std::string buffered_;
};

class HttpWorkersTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(root); }
  // The port with `workers` worker threads, then the HLS site on it (in_memory: served from
  // put_file(), root_dir not used).
  void start(uint32_t workers = kDefaultWorkerThreads, bool in_memory = false) {
    HttpPortConfig config;
    config.worker_threads = workers;
    const uint16_t wanted = free_port();
    auto acquired = HttpPort::acquire("127.0.0.1", wanted, config);
    ASSERT_TRUE(acquired.ok()) << acquired.error().describe();
    port_ref = *acquired;
    HlsHttpServerConfig site;
    site.root_dir = root.string();
    site.in_memory = in_memory;
    server = std::make_unique<HlsHttpServer>(site);
    auto started = server->start("127.0.0.1", wanted);
    ASSERT_TRUE(started.ok()) << started.error().describe();
    port = *started;
  }
  void TearDown() override {
    server.reset();
    port_ref.reset();
  }
  TempDir dir;
  std::filesystem::path root = dir.path() / "root";
  std::shared_ptr<HttpPort> port_ref;
  std::unique_ptr<HlsHttpServer> server;
  uint16_t port = 0;
};

TEST_F(HttpWorkersTest, AnswersLikeLibsoupOnBothPaths) {
  const std::string playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.m4s\n";
  const std::string part = random_bytes(50000, 3);
  write_file(root / "v0/index.m3u8", playlist);
  write_file(root / "v0/seg0.m4s", part);
  std::map<std::string, RawResponse> by_path[2];
  for (uint32_t workers : {0u, 2u}) {
    SCOPED_TRACE(workers);
    start(workers);
    // A connection per request: libsoup before 3.3 closes the connections it answers
    // (http_port.cpp, on_early_request), the workers keep theirs alive.
    for (const char* path : {"/v0/index.m3u8", "/v0/seg0.m4s"}) by_path[workers ? 1 : 0][path] = KeepAlive(port).get(path);
    const HttpPortStats stats = port_ref->stats();
    EXPECT_EQ(stats.worker_answers, workers ? 2u : 0u);
    EXPECT_EQ(stats.worker_hand_overs, 0u);
    TearDown();
  }
  for (const char* path : {"/v0/index.m3u8", "/v0/seg0.m4s"}) {
    SCOPED_TRACE(path);
    RawResponse& soup = by_path[0][path];
    RawResponse& worker = by_path[1][path];
    EXPECT_EQ(soup.status, 200);
    EXPECT_EQ(worker.status, 200);
    EXPECT_EQ(worker.body, soup.body);
    soup.headers.erase("date");
    worker.headers.erase("date");
    soup.headers.erase("connection");  // "close" from libsoup before 3.3 (see above)
    EXPECT_EQ(worker.headers, soup.headers);
  }
  EXPECT_EQ(by_path[1]["/v0/seg0.m4s"].body, part);
  EXPECT_EQ(by_path[1]["/v0/index.m3u8"].header("cache-control"), "no-cache");
  EXPECT_EQ(by_path[1]["/v0/seg0.m4s"].header("access-control-allow-origin"), "*");
}

TEST_F(HttpWorkersTest, OtherRequestsOnTheSameConnectionGoToLibsoup) {
  const std::string ts = random_bytes(20000, 5);
  write_file(root / "seg.ts", ts);
  start();
  KeepAlive client(port);
  EXPECT_EQ(client.get("/seg.ts").body, ts);
  RawResponse head = client.get("/seg.ts", "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "20000");
  EXPECT_EQ(port_ref->stats().worker_answers, 2u);
  RawResponse range = client.get("/seg.ts", "Range: bytes=1000-1999\r\n");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, ts.substr(1000, 1000));
  EXPECT_EQ(port_ref->stats().worker_hand_overs, 1u);
  if (range.header("connection") == "close") {
    // libsoup before 3.3 closes the connections it answers (http_port.cpp, on_early_request:
    // it leaked keep-alive connections the client closed).
    EXPECT_TRUE(client.closed_by_server(3000));
    return;
  }
  // The connection stays with libsoup, still keep-alive.
  EXPECT_EQ(client.get("/seg.ts").body, ts);
  EXPECT_EQ(client.get("/missing.ts").status, 404);
  EXPECT_EQ(port_ref->stats().worker_answers, 2u);
}

TEST_F(HttpWorkersTest, PipelinedRequestsAnsweredInOrder) {
  write_file(root / "a.m4s", "AAAA");
  write_file(root / "b.m4s", "BBBBBB");
  start();
  KeepAlive client(port);
  const std::string get_a = "GET /a.m4s HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string get_b = "GET /b.m4s HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string batch;
  for (int i = 0; i < 40; ++i) batch += i % 2 ? get_b : get_a;  // more than one worker turn
  batch += "GET /b.m4s HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n\r\n" + get_a;
  ASSERT_TRUE(client.send_raw(batch));
  for (int i = 0; i < 40; ++i) {
    SCOPED_TRACE(i);
    RawResponse r = client.read();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, i % 2 ? "BBBBBB" : "AAAA");
  }
  RawResponse range = client.read();
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, "BB");
  // libsoup before 3.3 answers the range request with Connection: close (http_port.cpp): the
  // request pipelined after it is not answered then.
  if (range.header("connection") != "close") {
    EXPECT_EQ(client.read().body, "AAAA");
  }
  EXPECT_EQ(port_ref->stats().worker_answers, 40u);
}

TEST_F(HttpWorkersTest, ReplacedDeletedAndTempFiles) {
  write_file(root / "v/index.m3u8", "one");
  start();
  KeepAlive client(port);
  EXPECT_EQ(client.get("/v/index.m3u8").body, "one");
  write_file_atomic(root / "v/index.m3u8", "two");
  EXPECT_EQ(client.get("/v/index.m3u8").body, "two");
  write_file(root / "v/seg9.m4s.tmp", "half");
  write_file(root / "v/seg9.m4s", "whole");
  EXPECT_EQ(client.get("/v/seg9.m4s").body, "whole");
  std::filesystem::remove(root / "v/seg9.m4s");
  // A connection each: 404s come from libsoup, which closes its connections before 3.3.
  EXPECT_EQ(KeepAlive(port).get("/v/seg9.m4s.tmp").status, 404);
  EXPECT_EQ(KeepAlive(port).get("/v/seg9.m4s").status, 404);
  std::filesystem::create_symlink("/etc/hostname", root / "v/link.m4s");
  EXPECT_EQ(KeepAlive(port).get("/v/link.m4s").status, 404);
}

TEST_F(HttpWorkersTest, FilesOverTheCacheLimitAreStillServed) {
  const std::string big = random_bytes(kMaxCachedFileBytes + 1, 7);
  write_file(root / "big.ts", big);
  start();
  KeepAlive client(port);
  EXPECT_EQ(client.get("/big.ts").body, big);
  EXPECT_EQ(port_ref->stats().worker_hand_overs, 1u);
}

TEST_F(HttpWorkersTest, ConnectionCloseAndIdleTimeout) {
  write_file(root / "a.m4s", "AAAA");
  HttpPortConfig config;
  config.idle_timeout_s = 1;
  const uint16_t wanted = free_port();
  port_ref = *HttpPort::acquire("127.0.0.1", wanted, config);
  HlsHttpServerConfig site;
  site.root_dir = root.string();
  server = std::make_unique<HlsHttpServer>(site);
  port = *server->start("127.0.0.1", wanted);
  KeepAlive closing(port);
  EXPECT_EQ(closing.get("/a.m4s", "Connection: close\r\n").body, "AAAA");
  EXPECT_TRUE(closing.closed_by_server(1000));
  KeepAlive idle(port);
  EXPECT_EQ(idle.get("/a.m4s").body, "AAAA");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.closed_by_server(3000));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 700);
  EXPECT_EQ(port_ref->stats().worker_answers, 2u);
  for (int i = 0; i < 200 && port_ref->stats().connections > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(port_ref->stats().connections, 0u);
}

TEST_F(HttpWorkersTest, BlockingReloadsAreHeldOnTheWorkers) {
  write_file_atomic(root / "v/index.m3u8", "msn 5 part 0\n");
  start();
  server->set_target_duration_ms(200);  // held requests time out after 600 ms
  server->notify_playlist("v/index.m3u8", 5, 0);
  KeepAlive client(port);
  // Available now: answered at once, max-age=1.
  RawResponse now = client.get("/v/index.m3u8?_HLS_msn=5&_HLS_part=0");
  EXPECT_EQ(now.status, 200);
  EXPECT_EQ(now.header("cache-control"), "max-age=1");
  // Held; a pipelined request behind it waits for it.
  ASSERT_TRUE(client.send_raw("GET /v/index.m3u8?_HLS_msn=5&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /v/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 100 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server->stats().blocking_held, 1u);
  write_file_atomic(root / "v/index.m3u8", "msn 5 part 1\n");
  server->notify_playlist("v/index.m3u8", 5, 1);
  RawResponse held = client.read();
  EXPECT_EQ(held.status, 200);
  EXPECT_EQ(held.body, "msn 5 part 1\n");
  EXPECT_EQ(held.header("cache-control"), "max-age=1");
  RawResponse after = client.read();
  EXPECT_EQ(after.body, "msn 5 part 1\n");
  EXPECT_EQ(after.header("cache-control"), "no-cache");
  // Errors as libsoup words them.
  RawResponse bad = client.get("/v/index.m3u8?_HLS_part=1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "bad _HLS_msn/_HLS_part\n");
  EXPECT_EQ(bad.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(client.get("/v/index.m3u8?_HLS_msn=9").status, 400);  // too far ahead
  const auto t0 = std::chrono::steady_clock::now();
  RawResponse late = client.get("/v/index.m3u8?_HLS_msn=6");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(late.status, 503);
  EXPECT_GE(ms, 500);
  // A preload-hinted part: held until written.
  server->expect_file("v/part7.m4s");
  ASSERT_TRUE(client.send_raw("GET /v/part7.m4s HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 500 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(server->stats().blocking_held, 1u) << "the request for the preload-hinted part is not held";
  write_file_atomic(root / "v/part7.m4s", "part seven");
  server->notify_playlist("v/index.m3u8", 5, 2);
  RawResponse part = client.read();
  EXPECT_EQ(part.status, 200);
  EXPECT_EQ(part.body, "part seven");
  EXPECT_EQ(part.header("cache-control"), "public, max-age=86400, immutable");
  const HttpPortStats stats = port_ref->stats();
  EXPECT_EQ(stats.worker_hand_overs, 0u);
  EXPECT_EQ(stats.worker_answers, 7u);
  // The worker counts the request as no longer held just after it sent the answer.
  for (int i = 0; i < 500 && server->stats().blocking_held > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server->stats().blocking_held, 0u);
  EXPECT_EQ(server->stats().blocking_timeouts, 1u);
}

// hlsadaptivesink in-memory=true: the site serves what the sink put, with the same bytes and
// headers as the same files on disk, on libsoup's path (no workers) and the workers' alike;
// replaced, removed, blocking reloads and preload hints behave as with files, and nothing is
// read from or written to root_dir (which does not exist here).
TEST_F(HttpWorkersTest, InMemorySiteServesWhatTheSinkPutOnBothPaths) {
  auto bytes = [](const std::string& text) { return std::make_shared<const std::string>(text); };
  const std::string playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.m4s\n";
  const std::string segment = random_bytes(50000, 3);
  // The reference: the same files served from disk by libsoup.
  write_file(root / "v0/index.m3u8", playlist);
  write_file(root / "v0/seg0.m4s", segment);
  start(0);
  std::map<std::string, RawResponse> from_disk;
  for (const char* path : {"/v0/index.m3u8", "/v0/seg0.m4s"}) from_disk[path] = KeepAlive(port).get(path);
  TearDown();
  std::filesystem::remove_all(root);
  const size_t process_before = MemoryFiles::process_bytes();
  for (uint32_t workers : {0u, 2u}) {
    SCOPED_TRACE(workers);
    start(workers, true);
    ASSERT_TRUE(server->put_file("v0/index.m3u8", bytes(playlist)).ok());
    ASSERT_TRUE(server->put_file("v0/seg0.m4s", bytes(segment)).ok());
    EXPECT_EQ(MemoryFiles::process_bytes(), process_before + playlist.size() + segment.size());
    for (const char* path : {"/v0/index.m3u8", "/v0/seg0.m4s"}) {
      SCOPED_TRACE(path);
      RawResponse r = KeepAlive(port).get(path);
      EXPECT_EQ(r.status, 200);
      EXPECT_TRUE(r.body == from_disk[path].body);
      r.headers.erase("date");
      r.headers.erase("connection");
      RawResponse reference = from_disk[path];
      reference.headers.erase("date");
      reference.headers.erase("connection");
      EXPECT_EQ(r.headers, reference.headers);
    }
    EXPECT_EQ(port_ref->stats().worker_answers, workers ? 2u : 0u);
    EXPECT_EQ(http_request(port, "GET", "/v0/seg1.m4s").status, 404);
    // Replaced: the new version; removed: 404 and its memory given back.
    ASSERT_TRUE(server->put_file("v0/index.m3u8", bytes("#EXTM3U\nnew\n")).ok());
    EXPECT_EQ(KeepAlive(port).get("/v0/index.m3u8").body, "#EXTM3U\nnew\n");
    server->forget_file("v0/seg0.m4s");
    EXPECT_EQ(KeepAlive(port).get("/v0/seg0.m4s").status, 404);
    // A blocking reload held until the playlist the sink put lists the part (a connection per
    // request: libsoup before 3.3 closes the connections it answers).
    server->set_target_duration_ms(2000);
    server->notify_playlist("v0/index.m3u8", 5, 0);
    KeepAlive reload(port);
    ASSERT_TRUE(reload.send_raw("GET /v0/index.m3u8?_HLS_msn=5&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int i = 0; i < 200 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(server->stats().blocking_held, 1u);
    ASSERT_TRUE(server->put_file("v0/index.m3u8", bytes("msn 5 part 1\n")).ok());
    server->notify_playlist("v0/index.m3u8", 5, 1);
    RawResponse held = reload.read();
    EXPECT_EQ(held.status, 200);
    EXPECT_EQ(held.body, "msn 5 part 1\n");
    for (int i = 0; i < 200 && server->stats().blocking_held > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // A preload-hinted part: held until the sink puts it.
    server->expect_file("v0/part7.m4s");
    KeepAlive hinted(port);
    ASSERT_TRUE(hinted.send_raw("GET /v0/part7.m4s HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int i = 0; i < 200 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(server->stats().blocking_held, 1u) << "the request for the preload-hinted part is not held";
    ASSERT_TRUE(server->put_file("v0/part7.m4s", bytes("part seven")).ok());
    server->notify_playlist("v0/index.m3u8", 5, 2);
    RawResponse part = hinted.read();
    EXPECT_EQ(part.status, 200);
    EXPECT_EQ(part.body, "part seven");
    EXPECT_EQ(part.header("content-type"), "video/iso.segment");
    TearDown();
    EXPECT_EQ(MemoryFiles::process_bytes(), process_before) << "a stopped site keeps its files in memory";
  }
  EXPECT_FALSE(std::filesystem::exists(root)) << "an in-memory site wrote to its root_dir";
}

// The bounds of an in-memory output: per output (what a replaced file frees counts) and for the
// process; a refused put changes nothing.
TEST(MemoryFilesTest, BoundedPerOutputAndPerProcess) {
  auto bytes = [](size_t size, uint32_t seed) { return std::make_shared<const std::string>(random_bytes(size, seed)); };
  const size_t before = MemoryFiles::process_bytes();
  {
    MemoryFiles files(10000);
    ASSERT_TRUE(files.put("a", bytes(6000, 1)).ok());
    auto over = files.put("b", bytes(5000, 2));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, live::Errc::limit_exceeded);
    EXPECT_NE(over.error().context.find("in-memory output over"), std::string::npos) << over.error().context;
    EXPECT_EQ(files.get("b"), nullptr);
    EXPECT_EQ(files.bytes(), 6000u);
    ASSERT_TRUE(files.put("a", bytes(2000, 3)).ok());  // replaced: 4000 freed
    ASSERT_TRUE(files.put("b", bytes(8000, 4)).ok());
    EXPECT_EQ(*files.get("a"), random_bytes(2000, 3));
    EXPECT_EQ(files.bytes(), 10000u);
    EXPECT_EQ(MemoryFiles::process_bytes(), before + 10000);
    MemoryFiles::Bytes kept = files.get("b");
    files.erase("b");
    EXPECT_EQ(files.get("b"), nullptr);
    EXPECT_EQ(kept->size(), 8000u);  // a body being sent outlives its removal
    EXPECT_EQ(files.bytes(), 2000u);
  }
  EXPECT_EQ(MemoryFiles::process_bytes(), before);
  // The process bound: outputs that each stay under their own bound cannot pass it together.
  std::vector<std::unique_ptr<MemoryFiles>> outputs;
  const size_t chunk = 64ull << 20;
  auto big = std::make_shared<const std::string>(chunk, 'x');
  size_t refused = 0;
  for (int i = 0; i < 40 && refused == 0; i++) {
    outputs.push_back(std::make_unique<MemoryFiles>());
    for (int j = 0; j < 4; j++) {
      auto put = outputs.back()->put("seg" + std::to_string(j), big);  // shared bytes: no real memory
      if (!put.ok()) {
        refused++;
        EXPECT_NE(put.error().context.find("of the process"), std::string::npos) << put.error().context;
        break;
      }
    }
  }
  EXPECT_EQ(refused, 1u);
  EXPECT_LE(MemoryFiles::process_bytes(), kMaxMemoryOutputBytesPerProcess);
  EXPECT_GT(MemoryFiles::process_bytes(), kMaxMemoryOutputBytesPerProcess - chunk);
  outputs.clear();
  EXPECT_EQ(MemoryFiles::process_bytes(), before);
}

// An LL-HLS segment kept as its parts: served as their bytes one after the other, also after
// the parts were removed; counted at its full size; refused when a part is not there.
TEST(MemoryFilesTest, JoinedFileIsItsPartsOneAfterTheOther) {
  const size_t before = MemoryFiles::process_bytes();
  MemoryFiles files(20000);
  const std::string p0 = random_bytes(3000, 1), p1 = random_bytes(5000, 2);
  ASSERT_TRUE(files.put("v/seg4.part0.m4s", std::make_shared<const std::string>(p0)).ok());
  ASSERT_TRUE(files.put("v/seg4.part1.m4s", std::make_shared<const std::string>(p1)).ok());
  ASSERT_TRUE(files.put_joined("v/seg4.m4s", {"v/seg4.part0.m4s", "v/seg4.part1.m4s"}).ok());
  EXPECT_EQ(files.bytes(), 2 * (p0.size() + p1.size()));
  EXPECT_TRUE(files.contains("v/seg4.m4s"));
  files.erase("v/seg4.part0.m4s");
  files.erase("v/seg4.part1.m4s");
  EXPECT_EQ(files.bytes(), p0.size() + p1.size());
  MemoryFiles::Bytes joined = files.get("v/seg4.m4s");
  ASSERT_NE(joined, nullptr);
  EXPECT_TRUE(*joined == p0 + p1);
  EXPECT_EQ(files.get("v/seg4.m4s"), joined);  // joined once, then kept
  auto missing = files.put_joined("v/seg5.m4s", {"v/seg5.part0.m4s"});
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(files.contains("v/seg5.m4s"));
  EXPECT_FALSE(files.put_joined("v/seg6.m4s", {"v/seg4.m4s", "v/seg4.m4s"}).ok()) << "8000 + 16000 > 20000";
  files.clear();
  EXPECT_EQ(MemoryFiles::process_bytes(), before);
}

TEST_F(HttpWorkersTest, HeldRequestsOfAClientThatLeftAreForgotten) {
  write_file(root / "index.m3u8", "x\n");
  start();
  server->notify_playlist("index.m3u8", 1, 0);
  {
    KeepAlive client(port);
    ASSERT_TRUE(client.send_raw("GET /index.m3u8?_HLS_msn=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int i = 0; i < 100 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(server->stats().blocking_held, 1u);
  }
  for (int i = 0; i < 100 && server->stats().blocking_held > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server->stats().blocking_held, 0u);
  // Stopping answers the held ones with 503.
  KeepAlive client(port);
  ASSERT_TRUE(client.send_raw("GET /index.m3u8?_HLS_msn=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 100 && server->stats().blocking_held < 1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server->stop();
  RawResponse stopped = client.read();
  EXPECT_EQ(stopped.status, 503);
  EXPECT_EQ(stopped.body, "server stopping\n");
  EXPECT_EQ(port_ref->stats().worker_hand_overs, 0u);
}

TEST_F(HttpWorkersTest, SiteStopsWhileClientsHammerIt) {
  write_file(root / "a.m4s", random_bytes(30000, 9));
  start();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, not_found{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (!stop) {
        KeepAlive client(port);
        for (int i = 0; i < 50 && !stop; ++i) {
          const int status = client.get("/a.m4s").status;
          (status == 200 ? ok : status == 404 ? not_found : other)++;
          if (status != 200) break;
        }
      }
    });
  }
  // More than 100 answers while the site is up, then at least one 404 once it stopped.
  auto wait_until = [](const std::function<bool()>& done) {
    for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         !done() && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  wait_until([&] { return ok.load() > 100; });
  server->stop();  // the port stays (port_ref): later requests are 404
  wait_until([&] { return not_found.load() > 0; });
  stop = true;
  for (auto& t : clients) t.join();
  printf("%d answers 200, %d 404, %d other\n", ok.load(), not_found.load(), other.load());
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(ok.load(), 100);
  EXPECT_GT(not_found.load(), 0);
  KeepAlive after(port);
  EXPECT_EQ(after.get("/a.m4s").status, 404);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
