// hlsadaptivesink regression tests driven with GstHarness: bounded memory (a keyframe then only
// delta frames), write errors that must not end in EOS, duplicate request pads, FLUSH, and the
// EOS message's seqnum. Frames are real x264 output (avc caps with codec_data).
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../lib/subprocess.h"
#include "../lib/temp_dir.h"

namespace fs = std::filesystem;

namespace {

struct TempDir : live::test_util::TempDir {
  TempDir() : live::test_util::TempDir("hlssink-limits") {}
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// 30 fps 320x180 H.264 (avc), a keyframe every 30 frames.
std::vector<GstSample*> encode(int frames) {
  GError* error = nullptr;
  GstElement* enc = gst_parse_launch(
      ("videotestsrc num-buffers=" + std::to_string(frames) +
       " ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 ! x264enc speed-preset=ultrafast "
       "key-int-max=30 ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false")
          .c_str(),
      &error);
  std::vector<GstSample*> samples;
  if (!enc) {
    ADD_FAILURE() << (error ? error->message : "no encoder");
    return samples;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(enc), "sink");
  gst_element_set_state(enc, GST_STATE_PLAYING);
  for (;;) {
    GstSample* s = nullptr;
    g_signal_emit_by_name(sink, "pull-sample", &s);
    if (!s) break;
    samples.push_back(s);
  }
  gst_element_set_state(enc, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(enc);
  return samples;
}

struct Samples {
  std::vector<GstSample*> v;
  explicit Samples(int frames) : v(encode(frames)) {}
  ~Samples() {
    for (auto* s : v) gst_sample_unref(s);
  }
  GstCaps* caps() const { return gst_sample_get_caps(v[0]); }
  GstBuffer* buffer(size_t i) const { return gst_sample_get_buffer(v[i]); }
};

// hlsadaptivesink with a bus of its own, fed by a harness on video_0.
struct Sink {
  GstElement* element;
  GstBus* bus;
  GstHarness* h;
  Sink(const std::string& location, const Samples& samples, const std::string& extra = "") {
    element = gst_parse_launch(("hlsadaptivesink location=" + location + " " + extra).c_str(), nullptr);
    bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    h = gst_harness_new_with_element(element, "video_0", nullptr);
    if (GST_STATE(element) != GST_STATE_PLAYING) gst_harness_play(h);
    gst_harness_set_src_caps(h, gst_caps_copy(samples.caps()));
  }
  ~Sink() {
    gst_harness_teardown(h);
    gst_element_set_bus(element, nullptr);
    gst_object_unref(bus);
    gst_object_unref(element);
  }
  GstFlowReturn push(const GstBuffer* b) { return gst_harness_push(h, gst_buffer_copy(b)); }
  // Samples [from, to) until one is refused; the last flow return.
  GstFlowReturn push_range(const Samples& samples, size_t from, size_t to) {
    GstFlowReturn ret = GST_FLOW_OK;
    for (size_t i = from; i < to && ret == GST_FLOW_OK; ++i) ret = push(samples.buffer(i));
    return ret;
  }
  // The first message of `type` on the bus (nullptr: none).
  GstMessage* pop(GstMessageType type) { return gst_bus_pop_filtered(bus, type); }
  std::string error_text() {
    GstMessage* m = pop(GST_MESSAGE_ERROR);
    if (!m) return "";
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    std::string text = std::string(e->message) + " / " + (dbg ? dbg : "");
    g_clear_error(&e);
    g_free(dbg);
    gst_message_unref(m);
    return text;
  }
};

// An error naming `file` was posted, and no EOS.
void expect_write_error_and_no_eos(Sink& sink, const std::string& file) {
  const std::string error = sink.error_text();
  EXPECT_NE(error.find(file), std::string::npos) << error;
  GstMessage* eos = sink.pop(GST_MESSAGE_EOS);
  EXPECT_EQ(eos, nullptr);
  if (eos) gst_message_unref(eos);
}

int decoded_frames(const fs::path& playlist) {
  auto r = live::test_util::run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
                                         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                                         playlist.string()});
  EXPECT_TRUE(r.ok()) << r.err;
  return r.out.empty() ? -1 : std::stoi(r.out);
}

}  // namespace

// One keyframe, then only delta frames: the segment in progress is capped (30 s of media
// without a keyframe at target-duration 2 s) and the sink fails with a clear error instead of
// growing without bound.
TEST(HlsAdaptiveSinkLimits, NoKeyframeForTooLongIsAnErrorNotUnboundedMemory) {
  Samples s(60);
  ASSERT_EQ(s.v.size(), 60u);
  TempDir out;
  Sink sink(out.path().string(), s);
  ASSERT_EQ(sink.push(s.buffer(0)), GST_FLOW_OK);
  GstFlowReturn ret = GST_FLOW_OK;
  int pushed = 1;
  const GstClockTime frame = GST_SECOND / 30;
  // The same delta frame again and again, one frame interval apart.
  for (; pushed < 40 * 30 && ret == GST_FLOW_OK; ++pushed) {
    GstBuffer* b = gst_buffer_copy(s.buffer(1));
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = GST_BUFFER_PTS(s.buffer(0)) + pushed * frame;
    ret = gst_harness_push(sink.h, b);
  }
  EXPECT_EQ(ret, GST_FLOW_ERROR);
  EXPECT_NEAR(pushed, 30 * 30 + 2, 2);  // refused right after 30 s of media
  const std::string error = sink.error_text();
  EXPECT_NE(error.find("no keyframe"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(out.path() / "180p" / "index.m3u8"));
}

// The same with big frames: the byte cap (128 MiB) is reached long before 30 s.
TEST(HlsAdaptiveSinkLimits, SegmentInProgressIsCappedInBytes) {
  Samples s(60);
  TempDir out;
  Sink sink(out.path().string(), s);
  ASSERT_EQ(sink.push(s.buffer(0)), GST_FLOW_OK);
  GstFlowReturn ret = GST_FLOW_OK;
  int pushed = 1;
  for (; pushed < 400 && ret == GST_FLOW_OK; ++pushed) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 1 << 20, nullptr);  // 1 MiB "delta frame"
    gst_buffer_memset(b, 0, 0, 1 << 20);
    GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = GST_BUFFER_PTS(s.buffer(0)) + pushed * (GST_SECOND / 30);
    ret = gst_harness_push(sink.h, b);
  }
  EXPECT_EQ(ret, GST_FLOW_ERROR);
  EXPECT_LE(pushed, 130);
  const std::string error = sink.error_text();
  EXPECT_NE(error.find("bytes"), std::string::npos) << error;
}

// Two sinks in one process (as live-server's streams are) under a 24 MiB process-wide limit: a
// publisher with one keyframe then 1 MiB delta frames fills it and gets the error (long before its
// own 128 MiB cap); an ordinary stream next to it, pushed all along, is never refused.
TEST(HlsAdaptiveSinkLimits, ProcessWideLimitStopsTheBigHolderNotTheOthers) {
  Samples s(60);
  TempDir out_big, out_ok;
  Sink big(out_big.path().string(), s, "process-held-media-limit=25165824");
  Sink ok(out_ok.path().string(), s);
  guint64 limit = 0;
  g_object_get(ok.element, "process-held-media-limit", &limit, nullptr);
  EXPECT_EQ(limit, 25165824u);  // shared by every sink of the process
  ASSERT_EQ(big.push(s.buffer(0)), GST_FLOW_OK);
  GstFlowReturn big_ret = GST_FLOW_OK;
  int big_frames = 1;
  for (int i = 0; i < 59 * 4; ++i) {
    if (big_ret == GST_FLOW_OK) {
      GstBuffer* b = gst_buffer_new_allocate(nullptr, 1 << 20, nullptr);
      gst_buffer_memset(b, 0, 0, 1 << 20);
      GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
      GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = GST_BUFFER_PTS(s.buffer(0)) + big_frames * (GST_SECOND / 30);
      big_ret = gst_harness_push(big.h, b);
      if (big_ret == GST_FLOW_OK) ++big_frames;
    }
    // The ordinary stream: the 60 encoded frames (keyframe every 30) again and again, in time.
    GstBuffer* b = gst_buffer_copy(s.buffer(i % 60));
    GST_BUFFER_PTS(b) += (i / 60) * 2 * GST_SECOND;
    GST_BUFFER_DTS(b) += (i / 60) * 2 * GST_SECOND;
    ASSERT_EQ(gst_harness_push(ok.h, b), GST_FLOW_OK) << "the ordinary stream was refused at frame " << i;
  }
  EXPECT_EQ(big_ret, GST_FLOW_ERROR);
  EXPECT_GE(big_frames, 18);
  EXPECT_LE(big_frames, 25);
  const std::string error = big.error_text();
  EXPECT_NE(error.find("all HLS sinks of the process"), std::string::npos) << error;
  EXPECT_EQ(ok.error_text(), "");
  g_object_set(ok.element, "process-held-media-limit", guint64(512) << 20, nullptr);  // the default back
}

// The multivariant playlist cannot be written (its name is taken by a directory): an error, no
// EOS (the failed write used to be ignored and EOS posted).
TEST(HlsAdaptiveSinkLimits, FailedMasterPlaylistWriteIsAnError) {
  Samples s(150);
  TempDir out;
  fs::create_directories(out.path() / "master.m3u8" / "taken");  // a non-empty directory: rename fails
  Sink sink(out.path().string(), s);
  // The first segment completes at 2 s: the master write fails.
  EXPECT_EQ(sink.push_range(s, 0, s.v.size()), GST_FLOW_ERROR);  // the first segment completes at 2 s: the master write fails
  expect_write_error_and_no_eos(sink, "master.m3u8");
}

// A variant folder that cannot be created (its name taken by a file here; a read-only disk in
// interop-faults-hls-output) is the error's reason, not the open that fails after it (a read-only
// disk gave "No such file or directory").
TEST(HlsAdaptiveSinkLimits, UncreatableVariantFolderIsTheReason) {
  Samples s(150);
  TempDir out;
  std::ofstream(out.path() / "180p") << "not a folder";
  Sink sink(out.path().string(), s);
  EXPECT_EQ(sink.push_range(s, 0, s.v.size()), GST_FLOW_ERROR);
  expect_write_error_and_no_eos(sink, "cannot create its folder");
}

// The media playlist cannot be rewritten when the stream ends (EXT-X-ENDLIST): an error, no EOS.
TEST(HlsAdaptiveSinkLimits, FailedPlaylistWriteAtEosIsAnError) {
  Samples s(150);
  TempDir out;
  Sink sink(out.path().string(), s);
  ASSERT_EQ(sink.push_range(s, 0, 140), GST_FLOW_OK);
  const fs::path playlist = out.path() / "180p" / "index.m3u8";
  ASSERT_TRUE(fs::exists(playlist));
  fs::remove(playlist);
  fs::create_directories(playlist / "taken");
  gst_harness_push_event(sink.h, gst_event_new_eos());
  expect_write_error_and_no_eos(sink, "index.m3u8");
}

// EOS is posted with the seqnum of the EOS event that ended the stream.
TEST(HlsAdaptiveSinkLimits, EosMessageCarriesTheEventSeqnum) {
  Samples s(90);
  TempDir out;
  Sink sink(out.path().string(), s);
  ASSERT_EQ(sink.push_range(s, 0, s.v.size()), GST_FLOW_OK);
  GstEvent* eos_event = gst_event_new_eos();
  const guint32 seqnum = gst_event_get_seqnum(eos_event);
  gst_harness_push_event(sink.h, eos_event);
  GstMessage* eos = sink.pop(GST_MESSAGE_EOS);
  ASSERT_NE(eos, nullptr) << sink.error_text();
  EXPECT_EQ(gst_message_get_seqnum(eos), seqnum);
  gst_message_unref(eos);
  EXPECT_EQ(count(read_file(out.path() / "180p" / "index.m3u8"), "#EXT-X-ENDLIST"), 1u);
}

// A flush drops the held frames and the segment in progress: what was pushed before it never
// reaches a segment, and the stream restarts at the next keyframe.
TEST(HlsAdaptiveSinkLimits, FlushDropsTheSegmentInProgress) {
  Samples s(180);
  ASSERT_EQ(s.v.size(), 180u);
  TempDir out;
  Sink sink(out.path().string(), s, "playlist-length=0");
  ASSERT_EQ(sink.push_range(s, 0, 45), GST_FLOW_OK);  // segment 0 in progress
  ASSERT_TRUE(gst_harness_push_event(sink.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(sink.h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(sink.h, gst_event_new_segment(&seg)));
  ASSERT_EQ(sink.push_range(s, 45, 180), GST_FLOW_OK);  // restarts at frame 60
  gst_harness_push_event(sink.h, gst_event_new_eos());
  GstMessage* eos = sink.pop(GST_MESSAGE_EOS);
  ASSERT_NE(eos, nullptr) << sink.error_text();
  gst_message_unref(eos);
  const fs::path playlist = out.path() / "180p" / "index.m3u8";
  const std::string text = read_file(playlist);
  EXPECT_EQ(count(text, "#EXTINF"), 2u) << text;
  EXPECT_EQ(decoded_frames(playlist), 120) << text;  // frames 60..179; none of 0..44
}

// A second request for an existing pad name is refused; the first pad stays the only one.
TEST(HlsAdaptiveSinkLimits, DuplicatePadNameIsRefused) {
  GstElement* sink = gst_element_factory_make("hlsadaptivesink", nullptr);
  ASSERT_NE(sink, nullptr);
  GstPad* first = gst_element_request_pad_simple(sink, "video_0");
  ASSERT_NE(first, nullptr);
  GstPad* second = gst_element_request_pad_simple(sink, "video_0");
  EXPECT_EQ(second, nullptr);
  GstPad* next = gst_element_request_pad_simple(sink, "video_%u");
  ASSERT_NE(next, nullptr);
  EXPECT_STREQ(GST_PAD_NAME(next), "video_1");
  EXPECT_EQ(sink->numsinkpads, 2);
  GstStructure* stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint variants = 0;
  gst_structure_get_uint(stats, "variants", &variants);
  EXPECT_EQ(variants, 2u);
  gst_structure_free(stats);
  gst_element_release_request_pad(sink, first);
  gst_element_release_request_pad(sink, next);
  gst_object_unref(first);
  gst_object_unref(next);
  if (second) gst_object_unref(second);
  gst_object_unref(sink);
}

// A sink element, not a container: the pipeline's latency query reaches the live source through
// it (a childless bin answered nothing), and the pipeline counts it as a sink for EOS.
TEST(HlsAdaptiveSinkLimits, IsASinkElementThatAnswersLatency) {
  TempDir dir;
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(
      ("videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=96,framerate=30/1 ! "
       "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 ! h264parse ! "
       "hlsadaptivesink name=hls location=" + dir.path().string()).c_str(), &error);
  ASSERT_NE(pipeline, nullptr) << (error ? error->message : "");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "hls");
  EXPECT_FALSE(GST_IS_BIN(sink));
  EXPECT_TRUE(GST_OBJECT_FLAG_IS_SET(sink, GST_ELEMENT_FLAG_SINK));
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_NE(gst_element_get_state(pipeline, nullptr, nullptr, 10 * GST_SECOND), GST_STATE_CHANGE_FAILURE);
  // The first frame has gone through the encoder: x264's latency is known upstream by then.
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* added = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_ELEMENT);
  EXPECT_NE(added, nullptr) << "no element message from the sink within 10 s";
  if (added) gst_message_unref(added);
  GstQuery* query = gst_query_new_latency();
  EXPECT_TRUE(gst_element_query(sink, query)) << "the sink did not answer a latency query";
  gboolean live = FALSE;
  GstClockTime min = 0, max = 0;
  gst_query_parse_latency(query, &live, &min, &max);
  EXPECT_TRUE(live) << "latency query did not reach the live source";
  gst_query_unref(query);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
