// HttpUploader against a real nginx WebDAV location (dav_methods PUT DELETE), started by the
// test on a free loopback port with its own temp config. A missing nginx fails the test.
#include "http/http_uploader.h"

#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <mutex>
#include <thread>

#include "http_test_util.h"

using namespace live::http;
using namespace live::http::test;

namespace {

// One nginx process (master_process off, daemon off) serving <dir>/www with PUT/DELETE.
class Nginx {
 public:
  Nginx(const std::filesystem::path& dir, uint16_t port) : dir_(dir), port_(port) {
    std::filesystem::create_directories(dir_ / "www");
    std::filesystem::create_directories(dir_ / "tmp");
    const std::string d = dir_.string();
    write_file(dir_ / "nginx.conf",
               "daemon off;\nmaster_process off;\npid " + d + "/nginx.pid;\nerror_log " + d + "/error.log info;\n"
               "events { worker_connections 64; }\n"
               "http {\n"
               "  access_log " + d + "/access.log;\n"
               "  client_body_temp_path " + d + "/tmp/body;\n  proxy_temp_path " + d + "/tmp/proxy;\n"
               "  fastcgi_temp_path " + d + "/tmp/fastcgi;\n  uwsgi_temp_path " + d + "/tmp/uwsgi;\n"
               "  scgi_temp_path " + d + "/tmp/scgi;\n"
               "  server {\n    listen 127.0.0.1:" + std::to_string(port_) + ";\n    root " + d + "/www;\n"
               "    location / {\n      dav_methods PUT DELETE;\n      create_full_put_path on;\n"
               "      dav_access user:rw group:r all:r;\n      client_max_body_size 64m;\n    }\n"
               "    location /forbidden/ { return 403; }\n"
               "    location /unavailable/ { return 500; }\n"
               "  }\n}\n");
  }
  ~Nginx() { stop(); }

  void start() {
    ASSERT_TRUE(std::filesystem::exists(NGINX_PATH)) << "nginx is required (Debian package nginx): " << NGINX_PATH;
    pid_ = fork();
    if (pid_ == 0) {
      const std::string conf = (dir_ / "nginx.conf").string();
      const std::string prefix = dir_.string() + "/";
      execl(NGINX_PATH, "nginx", "-p", prefix.c_str(), "-c", conf.c_str(), "-e", (dir_ / "error.log").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200; i++) {
      int fd = connect_loopback(port_);
      if (fd >= 0) {
        close(fd);
        return;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "nginx exited: " << read_file(dir_ / "error.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "nginx did not listen on port " << port_ << ": " << read_file(dir_ / "error.log");
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::filesystem::path www() const { return dir_ / "www"; }
  std::string access_log() const { return read_file(dir_ / "access.log"); }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/live/"; }

 private:
  std::filesystem::path dir_;
  uint16_t port_;
  pid_t pid_ = -1;
};

struct FailureLog {
  std::mutex lock;
  std::vector<UploadFailure> failures;
  HttpUploader::FailureCallback callback() {
    return [this](const UploadFailure& f) {
      std::lock_guard<std::mutex> guard(lock);
      failures.push_back(f);
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> guard(lock);
    return failures.size();
  }
};

// Lines of the access log as "METHOD /path STATUS", in the order nginx finished them.
std::vector<std::string> requests_in_log(const std::string& log) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(pos, end - pos);
    pos = end + 1;
    size_t q1 = line.find('"');
    size_t q2 = line.find('"', q1 + 1);
    if (q1 == std::string::npos || q2 == std::string::npos) continue;
    std::string request = line.substr(q1 + 1, q2 - q1 - 1);
    request = request.substr(0, request.rfind(' '));  // drop "HTTP/1.1"
    std::string status = line.substr(q2 + 2, 3);
    out.push_back(request + " " + status);
  }
  return out;
}

TEST(HttpUploaderTest, MirrorsDirectoryIncludingDeletionsInOrder) {
  TempDir dir;
  const uint16_t port = free_port();
  Nginx nginx(dir.path() / "nginx", port);
  ASSERT_NO_FATAL_FAILURE(nginx.start());
  FailureLog log;
  HttpUploaderConfig config;
  config.base_url = nginx.base_url();
  HttpUploader uploader(config, log.callback());
  ASSERT_TRUE(uploader.start().ok());

  // What a sink does: write segments, then the playlist that lists them; later delete old ones.
  const auto out = dir.path() / "out";
  std::map<std::string, std::string> expected;
  std::vector<std::string> segment_names;
  for (int i = 0; i < 6; i++) {
    const std::string name = "v0/seg" + std::to_string(i) + ".ts";
    const std::string bytes = random_bytes(188 * (500 + 97 * i), 10 + i);
    write_file(out / name, bytes);
    ASSERT_TRUE(uploader.put_file(name, (out / name).string(), UploadKind::segment));
    expected[name] = bytes;
    segment_names.push_back(name);
    if (i % 2 == 1) {
      const std::string playlist = "#EXTM3U\n# up to " + std::to_string(i) + "\n";
      write_file_atomic(out / "v0/index.m3u8", playlist);
      ASSERT_TRUE(uploader.put_file("v0/index.m3u8", (out / "v0/index.m3u8").string(), UploadKind::playlist));
      expected["v0/index.m3u8"] = playlist;
    }
  }
  ASSERT_TRUE(uploader.remove("v0/seg0.ts"));
  ASSERT_TRUE(uploader.remove("v0/seg1.ts"));
  expected.erase("v0/seg0.ts");
  expected.erase("v0/seg1.ts");
  const std::vector<uint8_t> master = {'#', 'E', 'X', 'T', 'M', '3', 'U', '\n'};
  ASSERT_TRUE(uploader.put_bytes("index.m3u8", master, UploadKind::playlist));
  expected["index.m3u8"] = "#EXTM3U\n";
  ASSERT_TRUE(uploader.remove("never/existed.ts"));  // 404 on DELETE counts as done

  ASSERT_TRUE(uploader.wait_idle(20000));
  EXPECT_EQ(log.size(), 0u);

  // The origin now holds exactly what we expect, byte for byte.
  std::map<std::string, std::string> mirrored;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(nginx.www() / "live")) {
    if (entry.is_regular_file())
      mirrored[std::filesystem::relative(entry.path(), nginx.www() / "live").string()] = read_file(entry.path());
  }
  EXPECT_EQ(mirrored.size(), expected.size());
  for (const auto& [name, bytes] : expected) {
    ASSERT_TRUE(mirrored.count(name)) << name;
    EXPECT_TRUE(mirrored[name] == bytes) << name << " differs";
  }

  // Ordering: every playlist PUT comes after the PUTs of the segments queued before it.
  const auto requests = requests_in_log(nginx.access_log());
  auto position = [&](const std::string& r) {
    return std::find(requests.begin(), requests.end(), r) - requests.begin();
  };
  const auto seg5 = position("PUT /live/v0/seg5.ts 201");
  const auto seg3 = position("PUT /live/v0/seg3.ts 201");
  const auto del0 = position("DELETE /live/v0/seg0.ts 204");
  ASSERT_LT(seg5, static_cast<long>(requests.size()));
  ASSERT_LT(del0, static_cast<long>(requests.size()));
  // Playlist PUTs: 201 for the first, 204 afterwards (overwrite); coalescing may merge some.
  std::vector<long> playlist_puts;
  for (size_t i = 0; i < requests.size(); i++)
    if (requests[i].rfind("PUT /live/v0/index.m3u8", 0) == 0) playlist_puts.push_back(static_cast<long>(i));
  ASSERT_FALSE(playlist_puts.empty());
  EXPECT_GT(playlist_puts.back(), seg5);
  EXPECT_GT(playlist_puts.back(), seg3);
  EXPECT_GT(del0, playlist_puts.back());  // deletions queued after the playlist come after it
  for (long p : playlist_puts) {
    // Each playlist PUT follows seg0 and seg1 (queued before the first playlist).
    EXPECT_GT(p, position("PUT /live/v0/seg1.ts 201"));
  }

  auto stats = uploader.stats();
  EXPECT_EQ(stats.puts_ok + stats.coalesced, 6u + 3u + 1u);
  EXPECT_EQ(stats.deletes_ok, 3u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(stats.queued, 0u);
  size_t bytes = 0;
  for (const auto& name : segment_names) bytes += read_file(out / name).size();
  EXPECT_GE(stats.bytes_uploaded, bytes);
  uploader.stop(true);
}

TEST(HttpUploaderTest, RetriesWhileTheServerIsDownAtFirst) {
  TempDir dir;
  const uint16_t port = free_port();
  Nginx nginx(dir.path() / "nginx", port);
  FailureLog log;
  HttpUploaderConfig config;
  config.base_url = nginx.base_url();
  config.max_attempts = 8;
  config.initial_backoff_ms = 100;
  HttpUploader uploader(config, log.callback());
  ASSERT_TRUE(uploader.start().ok());
  const std::string bytes = random_bytes(100000, 99);
  ASSERT_TRUE(uploader.put_bytes("late/seg.ts", std::vector<uint8_t>(bytes.begin(), bytes.end()), UploadKind::segment));
  // At least two refused attempts while nothing listens (100 ms, then 200 ms backoff).
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       uploader.stats().retries < 2 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(uploader.stats().retries, 2u) << "fewer than 2 retries within 10 s";
  EXPECT_EQ(uploader.stats().queued, 1u);
  ASSERT_NO_FATAL_FAILURE(nginx.start());
  ASSERT_TRUE(uploader.wait_idle(15000));
  EXPECT_EQ(read_file(nginx.www() / "live/late/seg.ts"), bytes);
  EXPECT_EQ(log.size(), 0u);
  EXPECT_EQ(uploader.stats().puts_ok, 1u);
  printf("uploaded after %llu retries\n", static_cast<unsigned long long>(uploader.stats().retries));
}

TEST(HttpUploaderTest, ReportsFailuresNeverDropsThemSilently) {
  TempDir dir;
  const uint16_t port = free_port();
  Nginx nginx(dir.path() / "nginx", port);
  ASSERT_NO_FATAL_FAILURE(nginx.start());
  FailureLog log;
  HttpUploaderConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port) + "/";
  config.max_attempts = 3;
  config.initial_backoff_ms = 20;
  HttpUploader uploader(config, log.callback());
  ASSERT_TRUE(uploader.start().ok());
  ASSERT_TRUE(uploader.put_bytes("forbidden/seg.ts", {1, 2, 3}, UploadKind::segment));
  ASSERT_TRUE(uploader.wait_idle(10000));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.failures[0].relative_path, "forbidden/seg.ts");
  EXPECT_EQ(log.failures[0].attempts, 3u);
  EXPECT_EQ(log.failures[0].http_status, 403u);
  EXPECT_NE(log.failures[0].reason.find("403"), std::string::npos);
  EXPECT_EQ(uploader.stats().failures, 1u);
  EXPECT_EQ(uploader.stats().retries, 2u);
  // An unreadable file is reported at once.
  EXPECT_FALSE(uploader.put_file("x.ts", (dir.path() / "missing.ts").string(), UploadKind::segment));
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(log.failures[1].attempts, 0u);
  uploader.stop();
  EXPECT_FALSE(HttpUploader(HttpUploaderConfig{"ftp://x/"}, nullptr).start().ok());
}

// An origin answering 500 is retried past max_attempts for retry_window_ms (then reported); a
// 403 gives up after max_attempts. (interop-faults-upload-origin: an origin answering 500 for 10 s
// ends up with every file.)
TEST(HttpUploaderTest, TransientErrorsAreRetriedForTheRetryWindow) {
  TempDir dir;
  const uint16_t port = free_port();
  Nginx nginx(dir.path() / "nginx", port);
  ASSERT_NO_FATAL_FAILURE(nginx.start());
  FailureLog log;
  HttpUploaderConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port) + "/";
  config.max_attempts = 2;
  config.initial_backoff_ms = 50;
  config.retry_window_ms = 1500;
  HttpUploader uploader(config, log.callback());
  ASSERT_TRUE(uploader.start().ok());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(uploader.put_bytes("unavailable/seg.ts", {1, 2, 3}, UploadKind::segment));
  ASSERT_TRUE(uploader.wait_idle(15000));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.failures[0].http_status, 500u);
  EXPECT_GT(log.failures[0].attempts, 4u);  // 50, 100, 200, 400, 800 ms backoff inside 1.5 s
  EXPECT_GE(waited.count(), 1500);
  EXPECT_LT(waited.count(), 1500 + 8000 + 2000);  // at most one more backoff after the window
  ASSERT_TRUE(uploader.put_bytes("forbidden/seg.ts", {1, 2, 3}, UploadKind::segment));
  ASSERT_TRUE(uploader.wait_idle(15000));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log.failures[1].http_status, 403u);
  EXPECT_EQ(log.failures[1].attempts, 2u);
  uploader.stop();
}

TEST(HttpUploaderTest, BoundedQueueRefusesAndStopReportsLeftovers) {
  FailureLog log;
  HttpUploaderConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(free_port()) + "/";  // nothing listens
  config.max_queue = 2;
  config.initial_backoff_ms = 5000;
  HttpUploader uploader(config, log.callback());
  ASSERT_TRUE(uploader.start().ok());
  EXPECT_TRUE(uploader.put_bytes("a.ts", {1}, UploadKind::segment));
  EXPECT_TRUE(uploader.put_bytes("b.ts", {2}, UploadKind::segment));
  EXPECT_FALSE(uploader.put_bytes("c.ts", {3}, UploadKind::segment));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log.failures[0].relative_path, "c.ts");
  EXPECT_EQ(log.failures[0].reason, "upload queue full");
  uploader.stop();
  EXPECT_EQ(log.size(), 3u);  // a.ts and b.ts reported as not uploaded
  EXPECT_EQ(uploader.stats().failures, 3u);

  // The byte limit: 3 x 400 kB do not fit in 1 MB.
  FailureLog bytes_log;
  config.max_queue = 100;
  config.max_queue_bytes = 1000000;
  HttpUploader by_bytes(config, bytes_log.callback());
  ASSERT_TRUE(by_bytes.start().ok());
  EXPECT_TRUE(by_bytes.put_bytes("a.ts", std::vector<uint8_t>(400000), UploadKind::segment));
  EXPECT_TRUE(by_bytes.put_bytes("b.ts", std::vector<uint8_t>(400000), UploadKind::segment));
  EXPECT_EQ(by_bytes.stats().queued_bytes, 800000u);
  EXPECT_FALSE(by_bytes.put_bytes("c.ts", std::vector<uint8_t>(400000), UploadKind::segment));
  ASSERT_EQ(bytes_log.size(), 1u);
  EXPECT_EQ(bytes_log.failures[0].reason, "upload queue full");
  by_bytes.stop();
  EXPECT_EQ(by_bytes.stats().queued_bytes, 0u);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
