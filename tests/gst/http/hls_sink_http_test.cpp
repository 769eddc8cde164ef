// hlsadaptivesink with http-port: the sink's notify_playlist() calls must match what its
// playlists contain. A client follows the live edge of an LL-HLS (fMP4 parts) stream with
// blocking reloads for the next part, and checks that each answer lists that part and came
// about one part duration later, never after the 3 x target duration timeout.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <sstream>

#include "http_test_util.h"

using namespace live::http::test;
using Clock = std::chrono::steady_clock;

namespace {

struct LivePosition {
  int64_t open_msn = -1;    // msn of the segment in progress (parts after the last EXTINF)
  int64_t open_parts = 0;   // its parts listed
  int64_t part_target_ms = 0;
  bool ok = false;
};

LivePosition parse_media_playlist(const std::string& text) {
  LivePosition pos;
  std::istringstream in(text);
  std::string line;
  int64_t sequence = -1, segments = 0, trailing_parts = 0;
  while (std::getline(in, line)) {
    if (line.rfind("#EXT-X-MEDIA-SEQUENCE:", 0) == 0) sequence = std::stoll(line.substr(22));
    if (line.rfind("#EXT-X-PART-INF:PART-TARGET=", 0) == 0)
      pos.part_target_ms = static_cast<int64_t>(std::stod(line.substr(28)) * 1000);
    if (line.rfind("#EXTINF:", 0) == 0) {
      segments++;
      trailing_parts = 0;
    }
    if (line.rfind("#EXT-X-PART:", 0) == 0) trailing_parts++;
  }
  pos.ok = sequence >= 0 && text.rfind("#EXTM3U", 0) == 0;
  pos.open_msn = sequence + segments;
  pos.open_parts = trailing_parts;
  return pos;
}

// First media playlist URI in the multivariant playlist.
std::string first_variant(const std::string& master) {
  std::istringstream in(master);
  std::string line;
  bool next = false;
  while (std::getline(in, line)) {
    if (next && !line.empty() && line[0] != '#') return line;
    if (line.rfind("#EXT-X-STREAM-INF:", 0) == 0) next = true;
  }
  return {};
}

TEST(HlsSinkHttpTest, BlockingReloadsFollowTheSinksParts) {
  TempDir dir;
  const uint16_t port = free_port();
  const std::string description =
      "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=30/1 "
      "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=30 ! h264parse "
      "! hlsadaptivesink name=hls location=" + dir.path().string() +
      " segment-format=fmp4 low-latency=true target-duration=1000000000 part-duration=250000000 "
      "http-address=127.0.0.1 http-port=" + std::to_string(port);
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  ASSERT_NE(pipeline, nullptr) << (error ? error->message : "");
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  // Wait for the multivariant playlist and the first parts.
  std::string media;
  LivePosition pos;
  for (int i = 0; i < 100 && !(pos.ok && pos.open_msn >= 1); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (media.empty()) media = first_variant(http_request(port, "GET", "/master.m3u8").body);
    if (!media.empty()) pos = parse_media_playlist(http_request(port, "GET", "/" + media).body);
  }
  ASSERT_FALSE(media.empty()) << "no master.m3u8 on the sink's http-port";
  ASSERT_TRUE(pos.ok);
  ASSERT_GT(pos.part_target_ms, 0) << "not an LL-HLS playlist";

  std::vector<double> waits;
  for (int round = 0; round < 16; round++) {
    // The next part after what the playlist shows: part open_parts of open_msn.
    const int64_t msn = pos.open_msn, part = pos.open_parts;
    const std::string target = "/" + media + "?_HLS_msn=" + std::to_string(msn) + "&_HLS_part=" + std::to_string(part);
    const auto t0 = Clock::now();
    RawResponse r = http_request(port, "GET", target);
    const double waited = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ASSERT_EQ(r.status, 200) << target << " " << r.body;
    LivePosition next = parse_media_playlist(r.body);
    ASSERT_TRUE(next.ok);
    // The answer lists the asked-for part (or a later segment).
    EXPECT_TRUE(next.open_msn > msn || (next.open_msn == msn && next.open_parts > part))
        << target << " answered with open segment " << next.open_msn << " parts " << next.open_parts;
    waits.push_back(waited);
    pos = next;
  }
  gst_element_send_event(pipeline, gst_event_new_eos());
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);

  std::sort(waits.begin(), waits.end());
  printf("blocking reload waits (ms): min %.0f median %.0f max %.0f over %zu parts (part target %lld ms)\n",
         waits.front(), waits[waits.size() / 2], waits.back(), waits.size(),
         static_cast<long long>(pos.part_target_ms));
  // Held about one part at a time: never near the 3 s (3 x target duration) timeout.
  EXPECT_LT(waits.back(), 3.0 * 1000 * 0.8);
  EXPECT_LT(waits[waits.size() / 2], 2.0 * static_cast<double>(pos.part_target_ms) + 100);
  EXPECT_GT(waits[waits.size() / 2], 10.0);  // really held, not answered at once from a stale state
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
