// hlsadaptivesink end to end: real encoders into the sink, then the output checked the way a
// user would: strict playlist parsing, ffprobe/ffmpeg (subprocesses) and GStreamer's qtdemux
// on the files, segment starts compared across variants, deletion of old files.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <signal.h>
#include <unistd.h>
#include <vector>

#include "../lib/subprocess.h"
#include "../lib/temp_dir.h"
#include "free_port.h"
#include "playlist_checks.h"

namespace fs = std::filesystem;
using namespace live::hls::test;

namespace {

constexpr double kFrame = 1.0 / 30;  // every test encodes 30 fps

// Test output directories: /tmp/hlssink-test-XXXXXX.
struct TempDir : live::test_util::TempDir {
  TempDir() : live::test_util::TempDir("hlssink-test") {}
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a command line (argv) and returns stdout; fails the test on a non-zero exit.
std::string run(const std::vector<std::string>& argv, int* exit_status = nullptr) {
  const live::test_util::CommandResult r = live::test_util::run_command(argv);
  EXPECT_TRUE(r.started) << r.err;
  if (exit_status) *exit_status = r.ok() ? 0 : 1;
  else EXPECT_TRUE(r.ok()) << argv[0] << " failed: " << r.err;
  return r.out;
}

struct SegmentMessage {
  std::string variant;
  uint64_t sequence = 0;
  double duration = 0, start = 0;
  std::string location;
};

struct RunResult {
  bool eos = false;
  std::string error;
  std::vector<SegmentMessage> segments;
  int playlist_updates = 0;
  int master_updates = 0;  // hls-playlist-updated for the multivariant playlist (variant "")
  int wait_after_eos_ms = 0;  // in: how long to keep reading the bus after EOS
  int slow_segment_messages_ms = 0;  // in: a sync bus handler sleeps this long on each segment message
  int after_eos = 0;          // out: element messages and EOS read in that time
  GstStructure* stats = nullptr;
  ~RunResult() {
    if (stats) gst_structure_free(stats);
  }
};

// Runs a gst-launch description to EOS (or error / timeout); the sink must be named "hls".
void run_pipeline(const std::string& description, RunResult& result, int timeout_s = 120,
                  const std::function<void(GstElement*)>& on_playing = {}) {
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  ASSERT_TRUE(pipeline) << (error ? error->message : "");
  ASSERT_EQ(error, nullptr) << error->message;
  GstBus* bus = gst_element_get_bus(pipeline);
  if (result.slow_segment_messages_ms > 0)
    gst_bus_set_sync_handler(
        bus,
        [](GstBus*, GstMessage* m, gpointer ms) {
          if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT &&
              gst_structure_has_name(gst_message_get_structure(m), "hls-segment-added"))
            g_usleep(gulong(GPOINTER_TO_INT(ms)) * 1000);
          return GST_BUS_PASS;
        },
        GINT_TO_POINTER(result.slow_segment_messages_ms), nullptr);
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  if (on_playing) on_playing(pipeline);
  const gint64 deadline = g_get_monotonic_time() + gint64(timeout_s) * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    GstMessage* m = gst_bus_timed_pop(bus, 100 * GST_MSECOND);
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      result.eos = true;
      gst_message_unref(m);
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      result.error = std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
      g_clear_error(&e);
      g_free(dbg);
      gst_message_unref(m);
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
      const GstStructure* s = gst_message_get_structure(m);
      if (gst_structure_has_name(s, "hls-segment-added")) {
        SegmentMessage sm;
        sm.variant = gst_structure_get_string(s, "variant");
        guint64 v;
        gst_structure_get_uint64(s, "sequence", &v);
        sm.sequence = v;
        gst_structure_get_uint64(s, "duration", &v);
        sm.duration = double(v) / GST_SECOND;
        gst_structure_get_uint64(s, "start-pts", &v);
        sm.start = double(v) / GST_SECOND;
        sm.location = gst_structure_get_string(s, "location");
        result.segments.push_back(sm);
      } else if (gst_structure_has_name(s, "hls-playlist-updated")) {
        result.playlist_updates++;
        if (std::string(gst_structure_get_string(s, "variant")).empty()) result.master_updates++;
      }
    }
    gst_message_unref(m);
  }
  if (result.eos && result.wait_after_eos_ms > 0) {
    const gint64 until = g_get_monotonic_time() + gint64(result.wait_after_eos_ms) * 1000;
    while (GstMessage* m = gst_bus_timed_pop(bus, GstClockTime(std::max<gint64>(0, until - g_get_monotonic_time())) * GST_USECOND)) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT || GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) result.after_eos++;
      gst_message_unref(m);
      if (g_get_monotonic_time() >= until) break;
    }
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "hls");
  if (sink) {
    g_object_get(sink, "stats", &result.stats, nullptr);
    gst_object_unref(sink);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

ParsedMediaPlaylist load_media(const fs::path& p) { return parse_checked(read_file(p), p.string()); }

ParsedMultivariantPlaylist load_master(const fs::path& p) {
  return parse_checked_multivariant(read_file(p), p.string());
}

struct ProbedFrame {
  bool key = false;
  double pts = 0;
};

// Video frames of a file as ffprobe decodes them (presentation order of the demuxer).
std::vector<ProbedFrame> probe_video_frames(const std::string& file) {
  const std::string out = run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                               "frame=key_frame,pts_time", "-of", "csv=p=0", file});
  std::vector<ProbedFrame> frames;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ProbedFrame f;
    f.key = line[0] == '1';
    f.pts = std::stod(line.substr(line.find(',') + 1));
    frames.push_back(f);
  }
  return frames;
}

// Number of video frames ffmpeg decodes from an input (playlist or file).
int count_decoded_frames(const std::vector<std::string>& input_args) {
  std::vector<std::string> argv = {"ffprobe", "-v", "error"};
  argv.insert(argv.end(), input_args.begin(), input_args.end() - 1);
  argv.insert(argv.end(), {"-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames",
                           "-of", "csv=p=0", input_args.back()});
  const std::string out = run(argv);
  return out.empty() ? -1 : std::stoi(out);
}

std::string encoders(const std::vector<std::pair<int, int>>& sizes, int bitrate_kbps) {
  std::string d;
  int i = 0;
  for (auto [w, h] : sizes) {
    d += " t. ! queue ! videoscale ! video/x-raw,width=" + std::to_string(w) + ",height=" + std::to_string(h) +
         " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=100000 bitrate=" +
         std::to_string(bitrate_kbps / (i + 1)) + " ! h264parse ! hls.video_" + std::to_string(i);
    i++;
  }
  return d;
}

const std::string kVideoSource =
    " videotestsrc is-live=false num-buffers=600 pattern=ball ! video/x-raw,format=I420,width=640,height=360,"
    "framerate=30/1 ! tee name=t";
const std::string kAudioSource =
    " audiotestsrc is-live=false num-buffers=880 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 ! "
    "avenc_aac ! aacparse ! queue ! hls.audio_0";

// Runs `description` (ending in "appsink name=sink") to the end and returns every sample.
std::vector<GstSample*> pull_all_samples(const std::string& description) {
  GError* error = nullptr;
  GstElement* enc = gst_parse_launch(description.c_str(), &error);
  std::vector<GstSample*> samples;
  if (!enc) {
    ADD_FAILURE() << "cannot build " << description << ": " << (error ? error->message : "?");
    g_clear_error(&error);
    return samples;
  }
  GstElement* appsink = gst_bin_get_by_name(GST_BIN(enc), "sink");
  gst_element_set_state(enc, GST_STATE_PLAYING);
  for (;;) {
    GstSample* sample = nullptr;
    g_signal_emit_by_name(appsink, "pull-sample", &sample);
    if (!sample) break;
    samples.push_back(sample);
  }
  gst_element_set_state(enc, GST_STATE_NULL);
  gst_object_unref(appsink);
  gst_object_unref(enc);
  return samples;
}

// Encodes `frames` frames of videotestsrc at the given size into samples (avc, 1 s GOPs).
std::vector<GstSample*> encode_samples(int width, int height, int frames) {
  return pull_all_samples(
      "videotestsrc num-buffers=" + std::to_string(frames) + " ! video/x-raw,format=I420,width=" +
      std::to_string(width) + ",height=" + std::to_string(height) +
      ",framerate=30/1 ! x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! "
      "video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false");
}

}  // namespace

// Three H.264 variants (encoders told where to put keyframes only by force-key-unit) and AAC,
// MPEG-TS, a sliding window and deletion of old segments.
TEST(HlsAdaptiveSink, MpegTsThreeVariantsAlignedOnForcedKeyUnits) {
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls target-duration=2000000000 playlist-length=4 max-files=2 location=" +
                   out.path().string() + kVideoSource + encoders({{640, 360}, {480, 270}, {320, 180}}, 900) +
                   kAudioSource,
               r);
  ASSERT_TRUE(r.eos) << r.error;

  // 20 s cut every 2 s: ten segments per variant, announced with their start times.
  const std::vector<std::string> names = {"360p", "270p", "180p"};
  std::map<std::string, std::vector<SegmentMessage>> by_variant;
  for (auto& s : r.segments) by_variant[s.variant].push_back(s);
  ASSERT_EQ(by_variant.size(), 3u);
  for (auto& n : names) {
    ASSERT_EQ(by_variant[n].size(), 10u) << n;
    for (size_t i = 0; i < 10; ++i) {
      EXPECT_EQ(by_variant[n][i].sequence, i);
      EXPECT_NEAR(by_variant[n][i].start, by_variant["360p"][i].start, kFrame) << n << " segment " << i;
      EXPECT_NEAR(by_variant[n][i].duration, 2.0, kFrame / 2) << n << " segment " << i;
    }
  }

  auto master = load_master(out.path() / "master.m3u8");
  // Rewritten when a bitrate moved by more than 10 %, not for every segment (30 segments here;
  // it was 19 writes when the bitrates were rewritten as measured).
  EXPECT_GE(r.master_updates, 1);
  EXPECT_LE(r.master_updates, 6);
  ASSERT_EQ(master.variants.size(), 3u);
  const char* resolutions[] = {"640x360", "480x270", "320x180"};
  for (size_t i = 0; i < 3; ++i) {
    const auto& v = master.variants[i];
    EXPECT_EQ(v.uri, names[i] + "/index.m3u8");
    EXPECT_EQ(v.attributes.at("RESOLUTION"), resolutions[i]);
    EXPECT_EQ(v.attributes.at("CODECS").substr(0, 5), "avc1.");
    EXPECT_NE(v.attributes.at("CODECS").find(",mp4a.40.2"), std::string::npos);
    EXPECT_GE(v.attributes.integer("BANDWIDTH"), v.attributes.integer("AVERAGE-BANDWIDTH"));
    EXPECT_GT(v.attributes.integer("AVERAGE-BANDWIDTH"), 20000u);
    EXPECT_NEAR(v.attributes.number("FRAME-RATE"), 30.0, 0.001);
  }

  std::vector<std::vector<ProbedFrame>> first_frames(3);
  for (size_t i = 0; i < 3; ++i) {
    const fs::path dir = out.path() / names[i];
    auto p = load_media(dir / "index.m3u8");
    EXPECT_TRUE(p.endlist);
    EXPECT_EQ(p.target_duration, 2u);
    EXPECT_EQ(p.media_sequence, 6u);  // window of 4 out of segments 0..9
    ASSERT_EQ(p.segments.size(), 4u);
    for (size_t s = 0; s < 4; ++s) {
      EXPECT_EQ(p.segments[s].uri, "seg" + std::to_string(6 + s) + ".ts");
      EXPECT_LE(p.segments[s].duration, 2.0 + 1e-6);
      EXPECT_TRUE(p.segments[s].program_date_time.has_value());
    }
    // Deletion: segments 4, 5 kept after leaving the window (max-files=2), 0..3 gone.
    for (int s = 0; s < 10; ++s)
      EXPECT_EQ(fs::exists(dir / ("seg" + std::to_string(s) + ".ts")), s >= 4) << dir << " seg" << s;
    // CODECS names the profile/constraints/level of the SPS the segments carry (lib/flv spells
    // RFC 6381 hex in lower case).
    {
      const std::string ts = read_file(dir / "seg9.ts");
      const auto at = ts.find(std::string("\x00\x00\x01\x67", 4));
      ASSERT_NE(at, std::string::npos);
      char expected[32];
      std::snprintf(expected, sizeof expected, "avc1.%02x%02x%02x", uint8_t(ts[at + 4]), uint8_t(ts[at + 5]),
                    uint8_t(ts[at + 6]));
      EXPECT_EQ(master.variants[i].attributes.at("CODECS"), std::string(expected) + ",mp4a.40.2");
    }
    // Every kept segment starts with a keyframe, 60 frames each; BANDWIDTH is the peak bitrate.
    const uint64_t bandwidth = master.variants[i].attributes.integer("BANDWIDTH");
    for (int s = 4; s < 10; ++s) {
      const double bps = double(fs::file_size(dir / ("seg" + std::to_string(s) + ".ts"))) * 8 / 2.0;
      EXPECT_LE(bps, double(bandwidth) * 1.001) << names[i] << " seg" << s;
      EXPECT_GT(bps, double(bandwidth) / 10) << names[i] << " seg" << s;
      auto frames = probe_video_frames((dir / ("seg" + std::to_string(s) + ".ts")).string());
      ASSERT_EQ(frames.size(), 60u) << names[i] << " seg" << s;
      EXPECT_TRUE(frames[0].key) << names[i] << " seg" << s;
      first_frames[i].push_back(frames[0]);
    }
    // The listed segments decode as one stream: 4 x 60 frames.
    EXPECT_EQ(count_decoded_frames({(dir / "index.m3u8").string()}), 240);
  }
  // Segment N starts at the same PTS in every variant (within one frame).
  for (size_t s = 0; s < first_frames[0].size(); ++s) {
    EXPECT_NEAR(first_frames[1][s].pts, first_frames[0][s].pts, kFrame);
    EXPECT_NEAR(first_frames[2][s].pts, first_frames[0][s].pts, kFrame);
    if (s > 0) {
      EXPECT_NEAR(first_frames[0][s].pts - first_frames[0][s - 1].pts, 2.0, 0.001);
    }
  }
  // ffprobe opens the multivariant playlist: three programs, each video + audio.
  const std::string streams =
      run({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width", "-of", "csv=p=0",
           (out.path() / "master.m3u8").string()});
  EXPECT_NE(streams.find("h264,640"), std::string::npos) << streams;
  EXPECT_NE(streams.find("h264,480"), std::string::npos) << streams;
  EXPECT_NE(streams.find("h264,320"), std::string::npos) << streams;
  EXPECT_NE(streams.find("aac"), std::string::npos) << streams;

  ASSERT_NE(r.stats, nullptr);
  guint64 written = 0, deleted = 0, misaligned = 1;
  gst_structure_get_uint64(r.stats, "segments-written", &written);
  gst_structure_get_uint64(r.stats, "files-deleted", &deleted);
  gst_structure_get_uint64(r.stats, "misaligned-cuts", &misaligned);
  EXPECT_EQ(written, 30u);
  EXPECT_EQ(deleted, 12u);
  EXPECT_EQ(misaligned, 0u);
}

// fMP4 + LL-HLS: init.mp4 + parts + segments, audio as its own rendition.
TEST(HlsAdaptiveSink, Fmp4LowLatencyPartsAndAudioRendition) {
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls segment-format=fmp4 low-latency=true part-duration=500000000 "
               "playlist-length=0 location=" +
                   out.path().string() + kVideoSource + encoders({{640, 360}, {320, 180}}, 700) + kAudioSource,
               r);
  ASSERT_TRUE(r.eos) << r.error;
  {  // packaging latency: one sample per playlist write that listed a new part or segment
    guint64 count = 0, parts = 0, segments = 0;
    gint64 p50 = 0, p99 = 0, max = 0;
    ASSERT_TRUE(r.stats && gst_structure_get_uint64(r.stats, "packaging-latency-count", &count) &&
                gst_structure_get_uint64(r.stats, "parts-written", &parts) &&
                gst_structure_get_uint64(r.stats, "segments-written", &segments) &&
                gst_structure_get_int64(r.stats, "packaging-latency-p50-us", &p50) &&
                gst_structure_get_int64(r.stats, "packaging-latency-p99-us", &p99) &&
                gst_structure_get_int64(r.stats, "packaging-latency-max-us", &max));
    EXPECT_GT(count, 0u);
    // Every write lists a new part: a segment's end goes out with its last part, in the same
    // write (the last ones at EOS come from no buffer).
    EXPECT_LE(count, parts);
    EXPECT_GT(count, parts / 2);
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p99);
    EXPECT_LE(p99, max);
  }

  auto master = load_master(out.path() / "master.m3u8");
  ASSERT_EQ(master.variants.size(), 2u);
  ASSERT_EQ(master.media.size(), 1u);
  EXPECT_EQ(master.media[0].at("TYPE"), "AUDIO");
  EXPECT_EQ(master.media[0].at("URI"), "audio/index.m3u8");
  for (auto& v : master.variants) EXPECT_EQ(v.attributes.at("AUDIO"), master.media[0].at("GROUP-ID"));

  for (std::string name : {"360p", "180p", "audio"}) {
    const fs::path dir = out.path() / name;
    auto p = load_media(dir / "index.m3u8");
    EXPECT_TRUE(p.endlist);
    ASSERT_TRUE(p.part_target.has_value());
    EXPECT_NEAR(*p.part_target, 0.5, 1e-9);
    ASSERT_TRUE(p.server_control.has_value());
    EXPECT_EQ(p.server_control->at("CAN-BLOCK-RELOAD"), "YES");
    ASSERT_EQ(p.segments.size(), 10u) << name;
    ASSERT_TRUE(p.segments[0].effective_map.has_value());
    EXPECT_EQ(p.segments[0].effective_map->at("URI"), "init.mp4");
    if (name != "audio") {
      EXPECT_EQ(p.rendition_reports.size(), 2u);
    }
    const std::string init = read_file(dir / "init.mp4");
    ASSERT_GT(init.size(), 100u);
    for (size_t s = 0; s < p.segments.size(); ++s) {
      const auto& seg = p.segments[s];
      const std::string bytes = read_file(dir / seg.uri);
      // Parts (listed for the last three target durations) are the segment, cut in pieces.
      if (!seg.parts.empty()) {
        std::string joined;
        double total = 0;
        for (auto& part : seg.parts) {
          EXPECT_LE(part.duration, 0.5 + 1e-9);
          joined += read_file(dir / part.uri);
          total += part.duration;
        }
        EXPECT_EQ(joined, bytes) << name << " " << seg.uri;
        EXPECT_NEAR(total, seg.duration, 0.001);
        if (name != "audio") {
          EXPECT_TRUE(seg.parts[0].independent);
        }
      }
      if (name == "audio") continue;
      EXPECT_NEAR(seg.duration, 2.0, 0.001);
      // init + segment is a complete MP4 for ffprobe: 60 frames, keyframe first.
      const fs::path joined = out.path() / ("joined-" + name + ".mp4");
      std::ofstream(joined, std::ios::binary) << init << bytes;
      auto frames = probe_video_frames(joined.string());
      ASSERT_EQ(frames.size(), 60u) << name << " " << seg.uri;
      EXPECT_TRUE(frames[0].key);
      EXPECT_NEAR(frames[0].pts - frames.front().pts, 0, 1e-9);
    }
    // The whole rendition, init + all segments, through GStreamer's qtdemux.
    if (name != "audio") {
      const fs::path all = out.path() / ("all-" + name + ".mp4");
      std::ofstream f(all, std::ios::binary);
      f << init;
      for (auto& seg : p.segments) f << read_file(dir / seg.uri);
      f.close();
      RunResult q;
      GError* error = nullptr;
      GstElement* pipe = gst_parse_launch(("filesrc location=" + all.string() +
                                           " ! qtdemux ! h264parse ! avdec_h264 ! fakesink name=count")
                                              .c_str(),
                                          &error);
      ASSERT_TRUE(pipe);
      int decoded = 0;
      GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "count");
      GstPad* pad = gst_element_get_static_pad(sink, "sink");
      gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
                        [](GstPad*, GstPadProbeInfo*, gpointer d) {
                          ++*static_cast<int*>(d);
                          return GST_PAD_PROBE_OK;
                        },
                        &decoded, nullptr);
      gst_object_unref(pad);
      gst_object_unref(sink);
      gst_element_set_state(pipe, GST_STATE_PLAYING);
      GstBus* bus = gst_element_get_bus(pipe);
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                                 GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
      ASSERT_NE(m, nullptr);
      EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
      gst_message_unref(m);
      gst_object_unref(bus);
      gst_element_set_state(pipe, GST_STATE_NULL);
      gst_object_unref(pipe);
      EXPECT_EQ(decoded, 600) << name;
    }
  }
  // Segments N of both variants start at the same time.
  std::map<std::string, std::vector<SegmentMessage>> by_variant;
  for (auto& s : r.segments) by_variant[s.variant].push_back(s);
  ASSERT_EQ(by_variant["360p"].size(), 10u);
  ASSERT_EQ(by_variant["180p"].size(), 10u);
  ASSERT_EQ(by_variant["audio"].size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_NEAR(by_variant["180p"][i].start, by_variant["360p"][i].start, kFrame);
    EXPECT_NEAR(by_variant["audio"][i].start, by_variant["360p"][i].start, kFrame);
  }
  // ffprobe plays the multivariant playlist (video variants and the audio rendition).
  const std::string streams = run({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width", "-of",
                                   "csv=p=0", (out.path() / "master.m3u8").string()});
  EXPECT_NE(streams.find("h264,640"), std::string::npos) << streams;
  EXPECT_NE(streams.find("h264,320"), std::string::npos) << streams;
  EXPECT_NE(streams.find("aac"), std::string::npos) << streams;
  EXPECT_EQ(count_decoded_frames({(out.path() / "360p/index.m3u8").string()}), 600);
}

// AES-128: segments are ciphertext, keys rotate every 2 segments, ffmpeg decodes it all.
TEST(HlsAdaptiveSink, Aes128EncryptedTsDecodesWithTheKeys) {
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls encrypt=true key-rotation=2 playlist-length=0 location=" +
                   out.path().string() + kVideoSource + encoders({{640, 360}, {320, 180}}, 700) + kAudioSource,
               r);
  ASSERT_TRUE(r.eos) << r.error;
  for (std::string name : {"360p", "180p"}) {
    const fs::path dir = out.path() / name;
    auto p = load_media(dir / "index.m3u8");
    ASSERT_EQ(p.segments.size(), 10u);
    for (size_t s = 0; s < p.segments.size(); ++s) {
      ASSERT_TRUE(p.segments[s].effective_key.has_value());
      EXPECT_EQ(p.segments[s].effective_key->at("METHOD"), "AES-128");
      EXPECT_EQ(p.segments[s].effective_key->at("URI"), "../key" + std::to_string(s / 2) + ".key");
      const std::string bytes = read_file(dir / p.segments[s].uri);
      EXPECT_EQ(bytes.size() % 16, 0u);
      EXPECT_FALSE(bytes.size() > 188 * 2 && bytes[0] == 0x47 && bytes[188] == 0x47) << "segment is clear text";
    }
    EXPECT_EQ(count_decoded_frames({"-allowed_extensions", "ALL", (dir / "index.m3u8").string()}), 600);
  }
  for (int k = 0; k < 5; ++k) EXPECT_EQ(fs::file_size(out.path() / ("key" + std::to_string(k) + ".key")), 16u);
  EXPECT_FALSE(fs::exists(out.path() / "key5.key"));
  EXPECT_NE(read_file(out.path() / "key0.key"), read_file(out.path() / "key1.key"));
}

// Passthrough: pre-encoded files whose keyframes nobody can move. The reference (video_0) has a
// keyframe every 1.5 s, the other one every 0.5 s: segments are cut at the reference keyframe
// at/after 2 s (3 s apart) and the other variant follows exactly there.
TEST(HlsAdaptiveSink, PassthroughAlignsOnReferenceKeyframes) {
  TempDir out;
  for (auto [name, gop] : {std::pair{"ref", 45}, std::pair{"other", 15}}) {
    RunResult enc;
    run_pipeline("videotestsrc num-buffers=600 ! video/x-raw,width=320,height=180,framerate=30/1 ! "
                 "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=" +
                     std::to_string(gop) + " ! h264parse ! mp4mux name=hls ! filesink location=" +
                     (out.path() / (std::string(name) + ".mp4")).string(),
                 enc);
    ASSERT_TRUE(enc.eos) << enc.error;
  }
  RunResult r;
  // video_0: the reference, passthrough; video_1: passthrough with its own (denser) keyframes;
  // video_2: the reference decoded and re-encoded, its keyframes asked for at the reference's.
  run_pipeline("hlsadaptivesink name=hls playlist-length=0 location=" + (out.path() / "hls").string() +
                   " filesrc location=" + (out.path() / "ref.mp4").string() +
                   " ! qtdemux ! h264parse ! tee name=rt rt. ! queue ! hls.video_0"
                   " rt. ! queue ! avdec_h264 ! videoscale ! video/x-raw,width=160,height=90 ! "
                   "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=100000 ! h264parse ! hls.video_2"
                   " filesrc location=" +
                   (out.path() / "other.mp4").string() + " ! qtdemux ! h264parse ! queue ! hls.video_1",
               r);
  ASSERT_TRUE(r.eos) << r.error;
  // The two 180p variants are named after their pads.
  const std::vector<std::string> names = {"video_0", "video_1", "90p"};
  std::vector<std::vector<ProbedFrame>> starts(3);
  for (size_t v = 0; v < names.size(); ++v) {
    const fs::path dir = out.path() / "hls" / names[v];
    auto p = load_media(dir / "index.m3u8");
    EXPECT_EQ(p.target_duration, 3u);
    ASSERT_EQ(p.segments.size(), 7u) << names[v];  // 0,3,...,18 s
    for (size_t s = 0; s < p.segments.size(); ++s) {
      EXPECT_NEAR(p.segments[s].duration, s + 1 < p.segments.size() ? 3.0 : 2.0, 0.001) << names[v] << " " << s;
      auto frames = probe_video_frames((dir / p.segments[s].uri).string());
      ASSERT_FALSE(frames.empty());
      EXPECT_TRUE(frames[0].key) << names[v] << " " << s;
      starts[v].push_back(frames[0]);
    }
    EXPECT_EQ(count_decoded_frames({(dir / "index.m3u8").string()}), 600);
  }
  for (size_t s = 0; s < starts[0].size(); ++s) {
    EXPECT_NEAR(starts[1][s].pts, starts[0][s].pts, kFrame);
    EXPECT_NEAR(starts[2][s].pts, starts[0][s].pts, kFrame);
  }
  guint64 misaligned = 1;
  gboolean follows = TRUE;
  ASSERT_NE(r.stats, nullptr);
  gst_structure_get_uint64(r.stats, "misaligned-cuts", &misaligned);
  gst_structure_get_boolean(r.stats, "reference-follows-requests", &follows);
  EXPECT_EQ(misaligned, 0u);
  EXPECT_FALSE(follows);  // the reference ignored the requested 2 s grid
}

// Four passthrough variants, each in its own queue's thread, ending at nearly the same time:
// the sink's messages come in the order they were made, whichever thread made them, so every
// segment is announced before the EOS message and nothing comes after it. (A segment message
// made by one pad's thread could be posted after the EOS made next by another pad's thread.)
TEST(HlsAdaptiveSink, NoMessageAfterEosWhateverThreadMadeIt) {
  TempDir out;
  const std::string src = (out.path() / "src.mp4").string();
  RunResult enc;
  run_pipeline("videotestsrc num-buffers=240 ! video/x-raw,width=160,height=90,framerate=30/1 ! "
               "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! h264parse ! mp4mux name=hls ! "
               "filesink location=" + src,
               enc);
  ASSERT_TRUE(enc.eos) << enc.error;
  for (int run = 0; run < 12; ++run) {
    const fs::path dir = out.path() / ("hls" + std::to_string(run));
    std::string d = "hlsadaptivesink name=hls target-duration=500000000 playlist-length=0 location=" + dir.string();
    for (int v = 0; v < 4; ++v)
      // With h264parse, as a ladder has it: the sink's force-key-unit requests reach it from
      // other pads' threads (with all-headers TRUE it crashed in 1.22 now and then).
      d += " filesrc location=" + src + " ! qtdemux ! h264parse ! queue ! hls.video_" + std::to_string(v);
    RunResult r;
    r.wait_after_eos_ms = 300;
    r.slow_segment_messages_ms = 3;  // an application's slow sync handler widens the window
    run_pipeline(d, r);
    ASSERT_TRUE(r.eos) << r.error;
    EXPECT_EQ(r.after_eos, 0) << "run " << run;
    size_t listed = 0;
    for (const auto& variant : load_master(dir / "master.m3u8").variants)
      listed += load_media(dir / variant.uri).segments.size();
    EXPECT_EQ(listed, 4u * 16) << "run " << run;  // 8 s in 0.5 s segments, per variant
    EXPECT_EQ(r.segments.size(), listed) << "run " << run;
  }
}

// post-messages=false: the same output, and not one hls-segment-added / hls-playlist-updated.
TEST(HlsAdaptiveSink, PostMessagesFalsePostsNone) {
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls post-messages=false target-duration=1000000000 playlist-length=0 "
               "segment-format=fmp4 low-latency=true location=" + (out.path() / "hls").string() +
                   " videotestsrc num-buffers=90 ! video/x-raw,width=160,height=90,framerate=30/1 ! "
                   "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! hls.video_0",
               r);
  ASSERT_TRUE(r.eos) << r.error;
  EXPECT_EQ(r.segments.size(), 0u);
  EXPECT_EQ(r.playlist_updates, 0);
  auto master = load_master(out.path() / "hls" / "master.m3u8");
  ASSERT_EQ(master.variants.size(), 1u);
  auto media = load_media(out.path() / "hls" / master.variants[0].uri);
  EXPECT_EQ(media.segments.size(), 3u);  // 3 s in 1 s segments
  EXPECT_EQ(count_decoded_frames({(out.path() / "hls" / master.variants[0].uri).string()}), 90);
}

// The playlist lists uri as a published part (an EXT-X-PART line, not just a preload hint).
bool lists_part(const std::string& playlist, const std::string& uri) {
  std::istringstream lines(playlist);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("#EXT-X-PART:", 0) == 0 && line.find("URI=\"" + uri + "\"") != std::string::npos) return true;
  return false;
}

// Live sources (encoders in lockstep with the sink), fMP4 LL-HLS, and the built-in HTTP server:
// a blocking playlist reload for a part that does not exist yet is answered once it does.
TEST(HlsAdaptiveSink, LiveLowLatencyServedWithBlockingReload) {
  TempDir out;
  const int port = live::test::free_port();
  std::string reply, index_page, playlist_when_sent;
  double reply_after = -1;
  std::ofstream(out.path() / "player.html") << "<!doctype html><title>player</title>";
  const gint64 t0 = g_get_monotonic_time();
  std::thread client([&] {
    // Wait until segment 2 is in progress (its part 0 listed): segment 1 is complete, so msn 3 is
    // not too far ahead, and part 1 of segment 3 is still ~1.3 s of live time away.
    const fs::path playlist = out.path() / "360p/index.m3u8";
    const gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
      std::error_code ec;
      if (fs::exists(playlist, ec)) playlist_when_sent = read_file(playlist);
      if (lists_part(playlist_when_sent, "seg2.part0.m4s")) break;
      g_usleep(10000);
    }
    const gint64 sent = g_get_monotonic_time();
    reply = run({"curl", "-s", "--retry", "10", "--retry-connrefused", "--retry-delay", "1", "--max-time", "20",
                 "http://127.0.0.1:" + std::to_string(port) + "/360p/index.m3u8?_HLS_msn=3&_HLS_part=1"});
    reply_after = double(g_get_monotonic_time() - sent) / G_USEC_PER_SEC;
    index_page = run({"curl", "-s", "--max-time", "5", "http://127.0.0.1:" + std::to_string(port) + "/"});
  });
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls segment-format=fmp4 low-latency=true target-duration=1000000000 "
               "part-duration=333333334 playlist-length=0 http-address=127.0.0.1 http-index-file=" +
                   (out.path() / "player.html").string() + " http-port=" +
                   std::to_string(port) + " location=" + out.path().string() +
                   " videotestsrc is-live=true num-buffers=180 ! video/x-raw,format=I420,width=640,height=360,"
                   "framerate=30/1 ! tee name=t" +
                   encoders({{640, 360}, {320, 180}}, 700) +
                   " audiotestsrc is-live=true num-buffers=260 ! audio/x-raw,rate=44100 ! avenc_aac ! aacparse ! "
                   "queue ! hls.audio_0",
               r);
  client.join();
  ASSERT_TRUE(r.eos) << r.error;
  ASSERT_TRUE(lists_part(playlist_when_sent, "seg2.part0.m4s"))
      << "360p/index.m3u8 did not list seg2.part0 within 30 s:\n" << playlist_when_sent;
  EXPECT_FALSE(lists_part(playlist_when_sent, "seg3.part1.m4s"));  // the request had to be held
  const double run_time = double(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
  EXPECT_GT(run_time, 5.5);  // real time: 6 s of live video
  // The held request came back when part 1 of segment 3 (~3.67 s in) was published.
  EXPECT_NE(reply.find("seg3.part1.m4s"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("seg4.part0.m4s\""), std::string::npos) << reply;  // and not much later
  EXPECT_GT(reply_after, 1.0);
  EXPECT_EQ(index_page, "<!doctype html><title>player</title>");
  for (std::string name : {"360p", "180p", "audio"}) {
    auto p = load_media(out.path() / name / "index.m3u8");
    ASSERT_EQ(p.segments.size(), 6u) << name;
    for (size_t s = 0; s < 6; ++s) {
      if (name != "audio") {
        EXPECT_NEAR(p.segments[s].duration, 1.0, 0.001) << name << " " << s;
      }
      EXPECT_TRUE(p.segments[s].program_date_time.has_value());
    }
  }
  std::map<std::string, std::vector<SegmentMessage>> by_variant;
  for (auto& s : r.segments) by_variant[s.variant].push_back(s);
  ASSERT_EQ(by_variant["180p"].size(), 6u);
  ASSERT_EQ(by_variant["360p"].size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(by_variant["180p"][i].start, by_variant["360p"][i].start, kFrame / 2);
  EXPECT_EQ(count_decoded_frames({(out.path() / "180p/index.m3u8").string()}), 180);
}

// Pre-encoded H.264 with B-frames pushed from appsrc: a DISCONT keyframe after a 5 s timestamp gap
// starts a new segment with EXT-X-DISCONTINUITY; PTS/DTS survive into the TS segments.
TEST(HlsAdaptiveSink, DiscontinuityAndBFramesFromAppsrc) {
  // 10 s, closed GOPs of 1 s, B-frames.
  std::vector<GstSample*> samples = pull_all_samples(
      "videotestsrc num-buffers=300 ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 ! "
      "x264enc speed-preset=superfast bframes=2 b-adapt=false key-int-max=30 ! h264parse ! "
      "video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false");
  ASSERT_EQ(samples.size(), 300u);
  int reordered = 0;
  for (auto* smp : samples) {
    GstBuffer* b = gst_sample_get_buffer(smp);
    if (GST_BUFFER_PTS(b) != GST_BUFFER_DTS(b)) reordered++;
  }
  ASSERT_GT(reordered, 100);  // the input really has B-frames
  ASSERT_FALSE(GST_BUFFER_FLAG_IS_SET(gst_sample_get_buffer(samples[150]), GST_BUFFER_FLAG_DELTA_UNIT));

  TempDir out;
  RunResult r;
  run_pipeline("appsrc name=src format=time ! hlsadaptivesink name=hls playlist-length=0 location=" +
                   out.path().string(),
               r, 60, [&](GstElement* pipeline) {
                 GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
                 g_object_set(src, "caps", gst_sample_get_caps(samples[0]), nullptr);
                 for (size_t i = 0; i < samples.size(); ++i) {
                   GstBuffer* b = gst_buffer_copy(gst_sample_get_buffer(samples[i]));
                   if (i >= 150) {
                     GST_BUFFER_PTS(b) += 5 * GST_SECOND;
                     GST_BUFFER_DTS(b) += 5 * GST_SECOND;
                   }
                   if (i == 150) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
                   GstFlowReturn ret;
                   g_signal_emit_by_name(src, "push-buffer", b, &ret);
                   gst_buffer_unref(b);
                 }
                 GstFlowReturn ret;
                 g_signal_emit_by_name(src, "end-of-stream", &ret);
                 gst_object_unref(src);
               });
  for (auto* smp : samples) gst_sample_unref(smp);
  ASSERT_TRUE(r.eos) << r.error;

  const fs::path dir = out.path() / "180p";
  auto p = load_media(dir / "index.m3u8");
  ASSERT_EQ(p.segments.size(), 6u);
  const double durations[] = {2, 2, 1, 2, 2, 1};
  std::vector<double> starts;
  for (size_t s = 0; s < 6; ++s) {
    EXPECT_NEAR(p.segments[s].duration, durations[s], 0.001) << s;
    EXPECT_EQ(p.segments[s].discontinuity, s == 3) << s;
    auto frames = probe_video_frames((dir / p.segments[s].uri).string());
    ASSERT_FALSE(frames.empty());
    EXPECT_TRUE(frames[0].key) << s;
    EXPECT_EQ(frames.size(), size_t(std::lround(durations[s] * 30))) << s;
    double first = frames[0].pts;
    for (auto& f : frames) first = std::min(first, f.pts);
    EXPECT_NEAR(first, frames[0].pts, 1e-6) << "segment " << s << " starts with its earliest PTS";
    starts.push_back(first);
  }
  const double expected_offsets[] = {0, 2, 4, 10, 12, 14};
  for (size_t s = 0; s < 6; ++s) EXPECT_NEAR(starts[s] - starts[0], expected_offsets[s], 0.001) << s;
  EXPECT_EQ(count_decoded_frames({(dir / "index.m3u8").string()}), 300);
}

// upload-location: every file is PUT to an HTTP server (a small Python PUT/DELETE receiver) and
// the segments deleted locally are DELETEd there; the remote copy equals the local directory.
// in_memory: the same uploads with nothing written locally (the remote holds the same set of
// files, and its playlist plays).
void upload_case(bool in_memory) {
  TempDir out;
  const fs::path remote = out.path() / "remote";
  const fs::path local = out.path() / "local";
  fs::create_directories(remote);
  const std::string server_code = R"PY(
import http.server, os, sys
root, log = sys.argv[1], open(sys.argv[2], 'a', buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_PUT(self):
        n = int(self.headers.get('Content-Length', 0))
        body = self.rfile.read(n)
        path = os.path.join(root, self.path.lstrip('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, 'wb').write(body)
        log.write('PUT ' + self.path + '\n')
        self.send_response(201); self.send_header('Content-Length', '0'); self.end_headers()
    def do_DELETE(self):
        path = os.path.join(root, self.path.lstrip('/'))
        code = 404
        if os.path.exists(path): os.remove(path); code = 204
        log.write('DELETE ' + self.path + '\n')
        self.send_response(code); self.send_header('Content-Length', '0'); self.end_headers()
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)  # listening once constructed
open(sys.argv[3] + '.new', 'w').write(str(server.server_address[1]))
os.rename(sys.argv[3] + '.new', sys.argv[3])
server.serve_forever()
)PY";
  const std::string log_path = (out.path() / "requests.log").string();
  const fs::path port_file = out.path() / "port";
  std::vector<std::string> argv = {"python3", "-c", server_code, remote.string(), log_path, port_file.string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  GPid pid = 0;
  ASSERT_TRUE(g_spawn_async(nullptr, args.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, &pid, nullptr));
  // The receiver binds port 0 and writes the port it got once it listens.
  int port = 0;
  for (const gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
       port == 0 && g_get_monotonic_time() < deadline; g_usleep(20000)) {
    std::error_code ec;
    if (fs::exists(port_file, ec)) port = std::atoi(read_file(port_file).c_str());
  }
  if (port == 0) {
    kill(pid, SIGTERM);
    g_spawn_close_pid(pid);
    FAIL() << "the PUT receiver did not report a listening port within 20 s";
  }

  RunResult r;
  run_pipeline("hlsadaptivesink name=hls playlist-length=3 max-files=1 location=" + local.string() +
                   (in_memory ? " in-memory=true" : "") +
                   " upload-location=http://127.0.0.1:" + std::to_string(port) + "/live" + kVideoSource +
                   encoders({{320, 180}}, 400) + kAudioSource,
               r);
  kill(pid, SIGTERM);
  g_spawn_close_pid(pid);
  ASSERT_TRUE(r.eos) << r.error;

  if (in_memory) {
    EXPECT_FALSE(fs::exists(local)) << "in-memory=true wrote to location";
    std::vector<std::string> files;
    for (auto& e : fs::recursive_directory_iterator(remote))
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), remote).string());
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{"live/180p/index.m3u8", "live/180p/seg6.ts", "live/180p/seg7.ts",
                                               "live/180p/seg8.ts", "live/180p/seg9.ts", "live/master.m3u8"}));
    // seg7..9 as listed: 3 x 2 s at 30 fps.
    EXPECT_EQ(count_decoded_frames({(remote / "live/180p/index.m3u8").string()}), 180);
  }
  // Remote == local, file by file (local keeps seg6 + the window seg7..9).
  size_t compared = 0;
  for (auto& e : in_memory ? fs::recursive_directory_iterator() : fs::recursive_directory_iterator(local)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), local);
    EXPECT_NE(rel.extension(), ".tmp") << "left-over temporary file " << rel;
    ASSERT_TRUE(fs::exists(remote / "live" / rel)) << rel;
    EXPECT_EQ(read_file(remote / "live" / rel), read_file(e.path())) << rel;
    compared++;
  }
  EXPECT_EQ(compared, in_memory ? 0u : 6u);  // master, index, seg6..9
  for (int s = 0; s < 6; ++s) EXPECT_FALSE(fs::exists(remote / "live/180p" / ("seg" + std::to_string(s) + ".ts"))) << s;
  // A playlist is PUT only after the segment it lists first.
  const std::string log = read_file(log_path);
  const auto first_seg0 = log.find("PUT /live/180p/seg0.ts\n");
  const auto first_playlist = log.find("PUT /live/180p/index.m3u8\n");
  ASSERT_NE(first_seg0, std::string::npos) << log;
  ASSERT_NE(first_playlist, std::string::npos) << log;
  EXPECT_LT(first_seg0, first_playlist);
  EXPECT_NE(log.find("DELETE /live/180p/seg0.ts\n"), std::string::npos) << log;
  ASSERT_NE(r.stats, nullptr);
  guint64 puts = 0, deletes = 0, failures = 1;
  gst_structure_get_uint64(r.stats, "uploads-ok", &puts);
  gst_structure_get_uint64(r.stats, "deletes-ok", &deletes);
  gst_structure_get_uint64(r.stats, "upload-failures", &failures);
  EXPECT_GE(puts, 12u);  // 10 segments + playlists
  EXPECT_LE(deletes, 6u);  // stats are read at EOS, before the uploader is flushed at stop
  EXPECT_EQ(failures, 0u);
  size_t delete_lines = 0;
  for (size_t at = log.find("DELETE /live/180p/seg"); at != std::string::npos;
       at = log.find("DELETE /live/180p/seg", at + 1))
    delete_lines++;
  EXPECT_EQ(delete_lines, 6u) << log;
}

TEST(HlsAdaptiveSink, UploadsByPutAndDeletesOldSegments) { upload_case(false); }
TEST(HlsAdaptiveSink, UploadsFromMemory) { upload_case(true); }

// H.265 (x265enc obeys force-key-unit too) in both containers: hvc1 CODECS, keyframe-first
// segments, every frame decodes.
TEST(HlsAdaptiveSink, H265InMpegTsAndFmp4) {
  for (std::string format : {"mpegts", "fmp4"}) {
    TempDir out;
    RunResult r;
    run_pipeline("hlsadaptivesink name=hls playlist-length=0 segment-format=" + format + " location=" +
                     out.path().string() +
                     " videotestsrc num-buffers=180 ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 ! "
                     "x265enc speed-preset=ultrafast key-int-max=100000 ! h265parse ! hls.video_0",
                 r);
    ASSERT_TRUE(r.eos) << r.error;
    auto master = load_master(out.path() / "master.m3u8");
    ASSERT_EQ(master.variants.size(), 1u);
    EXPECT_EQ(master.variants[0].attributes.at("CODECS").substr(0, 7), "hvc1.1.") << format;  // Main profile
    auto p = load_media(out.path() / "180p/index.m3u8");
    ASSERT_EQ(p.segments.size(), 3u) << format;
    for (auto& seg : p.segments) {
      EXPECT_NEAR(seg.duration, 2.0, 0.001);
      std::string file = (out.path() / "180p" / seg.uri).string();
      if (format == "fmp4") {
        const fs::path joined = out.path() / "joined.mp4";
        std::ofstream(joined, std::ios::binary) << read_file(out.path() / "180p/init.mp4") << read_file(file);
        file = joined.string();
      }
      auto frames = probe_video_frames(file);
      ASSERT_EQ(frames.size(), 60u) << format << " " << seg.uri;
      EXPECT_TRUE(frames[0].key) << format << " " << seg.uri;
    }
    EXPECT_EQ(count_decoded_frames({(out.path() / "180p/index.m3u8").string()}), 180) << format;
  }
}

// A real publisher's stream (tests/data/captures/source.flv: H.264 with B-frames, so decode
// times start below zero, + AAC) as fMP4 LL-HLS: parts stay within PART-TARGET, every video frame
// arrives; of 131 AAC frames the one before the first keyframe (PTS 0.08 s) is dropped.
TEST(HlsAdaptiveSink, RealFlvWithBFramesAsLowLatencyFmp4) {
  const char* data = g_getenv("LIVE_TEST_DATA");
  ASSERT_NE(data, nullptr);
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls segment-format=fmp4 low-latency=true playlist-length=0 location=" +
                   out.path().string() + " filesrc location=" + std::string(data) +
                   "/captures/source.flv ! flvdemux name=d d.video ! queue ! h264parse ! hls.video_0"
                   " d.audio ! queue ! aacparse ! hls.audio_0",
               r);
  ASSERT_TRUE(r.eos) << r.error;
  for (std::string name : {"180p", "audio"}) {
    auto p = load_media(out.path() / name / "index.m3u8");
    ASSERT_TRUE(p.part_target.has_value());
    EXPECT_NEAR(*p.part_target, 0.333, 1e-9) << name;
    ASSERT_EQ(p.segments.size(), 2u) << name;  // 3.08 s: 2 s + the rest
    for (auto& seg : p.segments) {
      ASSERT_FALSE(seg.parts.empty());
      double total = 0;
      for (auto& part : seg.parts) {
        EXPECT_LE(part.duration, 0.333 + 1e-9) << name << " " << part.uri;
        EXPECT_GT(part.duration, 0) << name << " " << part.uri;
        total += part.duration;
      }
      EXPECT_NEAR(total, seg.duration, 0.001) << name << " " << seg.uri;
    }
  }
  const std::string counts = run({"ffprobe", "-v", "error", "-count_frames", "-show_entries",
                                  "stream=codec_name,nb_read_frames", "-of", "csv=p=0",
                                  (out.path() / "180p/index.m3u8").string()});
  EXPECT_NE(counts.find("h264,75"), std::string::npos) << counts;  // every frame of the capture
  const std::string audio = run({"ffprobe", "-v", "error", "-count_frames", "-show_entries",
                                 "stream=codec_name,nb_read_frames", "-of", "csv=p=0",
                                 (out.path() / "audio/index.m3u8").string()});
  EXPECT_NE(audio.find("aac,130"), std::string::npos) << audio;
}

// A key from encryption-key-file, served from the application's own key-uri, and the flat
// layout: the key never lands in the output directory, IV = sequence number, and the
// segments decrypt with that key (openssl) into playable TS.
TEST(HlsAdaptiveSink, KeyFileWithExternalUriAndFlatLayout) {
  TempDir out;
  const std::string key_hex = "00112233445566778899aabbccddeeff";
  std::vector<uint8_t> key;
  for (size_t i = 0; i < 32; i += 2) key.push_back(uint8_t(std::stoi(key_hex.substr(i, 2), nullptr, 16)));
  std::ofstream(out.path() / "k.bin", std::ios::binary).write(reinterpret_cast<const char*>(key.data()), 16);
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls flat=true playlist-length=0 encryption-key-file=" +
                   (out.path() / "k.bin").string() +
                   " encryption-key-uri=https://keys.example/live/k%u.key location=" + (out.path() / "hls").string() +
                   kVideoSource + encoders({{320, 180}}, 400) + kAudioSource,
               r);
  ASSERT_TRUE(r.eos) << r.error;
  auto master = load_master(out.path() / "hls/master.m3u8");
  ASSERT_EQ(master.variants.size(), 1u);
  EXPECT_EQ(master.variants[0].uri, "180p_index.m3u8");
  auto p = load_media(out.path() / "hls/180p_index.m3u8");
  ASSERT_EQ(p.segments.size(), 10u);
  for (size_t s = 0; s < p.segments.size(); ++s) {
    const auto& seg = p.segments[s];
    EXPECT_EQ(seg.uri, "180p_seg" + std::to_string(s) + ".ts");
    ASSERT_TRUE(seg.effective_key.has_value());
    EXPECT_EQ(seg.effective_key->at("URI"), "https://keys.example/live/k0.key");
    char iv[40];
    std::snprintf(iv, sizeof iv, "%032zx", s);
    EXPECT_EQ(seg.effective_key->at("IV"), std::string("0x") + iv);
    const fs::path plain = out.path() / "plain.ts";
    run({"openssl", "enc", "-d", "-aes-128-cbc", "-K", key_hex, "-iv", iv, "-in",
         (out.path() / "hls" / seg.uri).string(), "-out", plain.string()});
    auto frames = probe_video_frames(plain.string());
    ASSERT_EQ(frames.size(), 60u) << seg.uri;
    EXPECT_TRUE(frames[0].key);
  }
  for (auto& e : fs::directory_iterator(out.path() / "hls"))
    EXPECT_NE(e.path().extension(), ".key") << e.path();
  EXPECT_FALSE(fs::exists(out.path() / "hls/180p"));  // flat: no directories
}

struct VideoDone {
  std::mutex lock;
  std::condition_variable cond;
  bool ended = false;
};

// An audio pad that never delivers (a stalled source) does not hold MPEG-TS segments back for
// more than 5 s of video; the playlist ends once the audio pad finally ends too.
TEST(HlsAdaptiveSink, StalledAudioDoesNotStallTsSegments) {
  TempDir out;
  RunResult r;
  std::thread ender;
  VideoDone video_done;  // set by an EOS probe on the sink's video pad
  run_pipeline("hlsadaptivesink name=hls playlist-length=0 location=" + out.path().string() + kVideoSource +
                   encoders({{320, 180}}, 400) +
                   " appsrc name=mute format=time caps=\"audio/mpeg,mpegversion=4,stream-format=raw,"
                   "codec_data=(buffer)1210,rate=44100,channels=2\" ! hls.audio_0",
               r, 60, [&](GstElement* pipeline) {
                 GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "mute");
                 GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "hls");
                 GstPad* video_pad = gst_element_get_static_pad(sink, "video_0");
                 // The audio ends only after the whole 20 s of video went into the sink (its EOS).
                 gst_pad_add_probe(
                     video_pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     [](GstPad*, GstPadProbeInfo* info, gpointer data) {
                       if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) {
                         auto* done = static_cast<VideoDone*>(data);
                         std::lock_guard<std::mutex> lock(done->lock);
                         done->ended = true;
                         done->cond.notify_all();
                       }
                       return GST_PAD_PROBE_OK;
                     },
                     &video_done, nullptr);
                 gst_object_unref(video_pad);
                 gst_object_unref(sink);
                 ender = std::thread([src, &video_done] {
                   {
                     std::unique_lock<std::mutex> lock(video_done.lock);
                     video_done.cond.wait_for(lock, std::chrono::seconds(50), [&] { return video_done.ended; });
                   }
                   GstFlowReturn ret;
                   g_signal_emit_by_name(src, "end-of-stream", &ret);
                   gst_object_unref(src);
                 });
               });
  ender.join();
  ASSERT_TRUE(video_done.ended) << "the video pad did not see EOS within 50 s";
  ASSERT_TRUE(r.eos) << r.error;
  auto p = load_media(out.path() / "180p/index.m3u8");
  ASSERT_EQ(p.segments.size(), 10u);
  EXPECT_TRUE(p.endlist);
  ASSERT_NE(r.stats, nullptr);
  guint64 lagged = 0;
  gst_structure_get_uint64(r.stats, "audio-lag-segments", &lagged);
  // Segment k waits until the video is 5 s past its end: segments 0..6 (ends 2..14 s, video 20 s).
  EXPECT_GE(lagged, 7u);
  EXPECT_EQ(count_decoded_frames({(out.path() / "180p/index.m3u8").string()}), 600);
}

// LL-HLS with MPEG-TS: parts (each with its own PAT/PMT and the audio up to its end) whose
// concatenation is the segment; the whole stream plays.
TEST(HlsAdaptiveSink, MpegTsLowLatencyParts) {
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls low-latency=true playlist-length=0 location=" + out.path().string() +
                   kVideoSource + encoders({{640, 360}, {320, 180}}, 700) + kAudioSource,
               r);
  ASSERT_TRUE(r.eos) << r.error;
  for (std::string name : {"360p", "180p"}) {
    const fs::path dir = out.path() / name;
    auto p = load_media(dir / "index.m3u8");
    ASSERT_EQ(p.segments.size(), 10u);
    ASSERT_TRUE(p.part_target.has_value());
    size_t with_parts = 0;
    for (auto& seg : p.segments) {
      if (seg.parts.empty()) continue;
      with_parts++;
      std::string joined;
      for (auto& part : seg.parts) {
        EXPECT_LE(part.duration, *p.part_target + 1e-9);
        const std::string bytes = read_file(dir / part.uri);
        ASSERT_GE(bytes.size(), 188u * 3);
        EXPECT_EQ(bytes.size() % 188, 0u);
        // Starts with the PAT (PID 0, payload unit start).
        EXPECT_EQ(uint8_t(bytes[0]), 0x47);
        EXPECT_EQ(uint8_t(bytes[1]), 0x40);
        EXPECT_EQ(uint8_t(bytes[2]), 0x00);
        joined += bytes;
      }
      EXPECT_EQ(joined, read_file(dir / seg.uri)) << name << " " << seg.uri;
      EXPECT_TRUE(seg.parts[0].independent);
      auto frames = probe_video_frames((dir / seg.uri).string());
      ASSERT_EQ(frames.size(), 60u);
      EXPECT_TRUE(frames[0].key);
    }
    EXPECT_GE(with_parts, 3u);  // parts are listed for the last three target durations
    EXPECT_EQ(count_decoded_frames({(dir / "index.m3u8").string()}), 600);
    const std::string audio = run({"ffprobe", "-v", "error", "-select_streams", "a:0", "-count_frames",
                                   "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                                   (dir / "index.m3u8").string()});
    EXPECT_GE(std::stoi(audio), 860) << "AAC frames of 20 s at 44.1 kHz";
  }
}

// A codec configuration change in fMP4 (the encoder restarts at another size): a new init
// section (EXT-X-MAP init1.mp4) and EXT-X-DISCONTINUITY, both parts play.
TEST(HlsAdaptiveSink, Fmp4CodecChangeWritesNewInitAndDiscontinuity) {
  auto first = encode_samples(320, 180, 90);
  auto second = encode_samples(160, 90, 90);
  ASSERT_EQ(first.size(), 90u);
  ASSERT_EQ(second.size(), 90u);
  TempDir out;
  RunResult r;
  run_pipeline("appsrc name=src format=time ! hlsadaptivesink name=hls segment-format=fmp4 playlist-length=0 "
               "location=" + out.path().string(),
               r, 60, [&](GstElement* pipeline) {
                 GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
                 GstFlowReturn ret;
                 g_object_set(src, "caps", gst_sample_get_caps(first[0]), nullptr);
                 for (auto* smp : first) g_signal_emit_by_name(src, "push-sample", smp, &ret);
                 for (auto* smp : second) {
                   GstBuffer* b = gst_buffer_copy(gst_sample_get_buffer(smp));
                   GST_BUFFER_PTS(b) += 3 * GST_SECOND;
                   GST_BUFFER_DTS(b) += 3 * GST_SECOND;
                   GstSample* shifted = gst_sample_new(b, gst_sample_get_caps(smp), nullptr, nullptr);
                   g_signal_emit_by_name(src, "push-sample", shifted, &ret);
                   gst_sample_unref(shifted);
                   gst_buffer_unref(b);
                 }
                 g_signal_emit_by_name(src, "end-of-stream", &ret);
                 gst_object_unref(src);
               });
  for (auto* smp : first) gst_sample_unref(smp);
  for (auto* smp : second) gst_sample_unref(smp);
  ASSERT_TRUE(r.eos) << r.error;
  const fs::path dir = out.path() / "180p";
  auto p = load_media(dir / "index.m3u8");
  ASSERT_EQ(p.segments.size(), 4u);  // [0,2) [2,3) | [3,5) [5,6)
  const double durations[] = {2, 1, 2, 1};
  for (size_t s = 0; s < 4; ++s) {
    EXPECT_NEAR(p.segments[s].duration, durations[s], 0.001) << s;
    EXPECT_EQ(p.segments[s].discontinuity, s == 2) << s;
    ASSERT_TRUE(p.segments[s].effective_map.has_value());
    const std::string init = p.segments[s].effective_map->at("URI");
    EXPECT_EQ(init, s < 2 ? "init.mp4" : "init1.mp4") << s;
    const fs::path joined = out.path() / "joined.mp4";
    std::ofstream(joined, std::ios::binary) << read_file(dir / init) << read_file(dir / p.segments[s].uri);
    const std::string dims = run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                  "stream=width,height", "-of", "csv=p=0", joined.string()});
    EXPECT_EQ(dims.substr(0, dims.find('\n')), s < 2 ? "320,180" : "160,90") << s;
    auto frames = probe_video_frames(joined.string());
    EXPECT_EQ(frames.size(), size_t(durations[s] * 30)) << s;
    ASSERT_FALSE(frames.empty());
    EXPECT_TRUE(frames[0].key);
  }
}

// The live-server ladder on a real publisher's stream: rtmpchunkdemux output, the source
// passed through as the reference, a transcoded rung cut at the source's keyframes.
TEST(HlsAdaptiveSink, RtmpChunkDemuxLadderFromCapture) {
  const char* data = g_getenv("LIVE_TEST_DATA");
  ASSERT_NE(data, nullptr);
  TempDir out;
  RunResult r;
  run_pipeline("hlsadaptivesink name=hls playlist-length=0 location=" + out.path().string() + " filesrc location=" +
                   std::string(data) +
                   "/captures/source.flv ! rtmpchunkdemux name=demux demux.video_0 ! queue ! h264parse ! tee name=sv"
                   " sv. ! queue ! hls.video_0 sv. ! queue ! avdec_h264 ! videoconvert ! videoscale ! "
                   "video/x-raw,width=160,height=90 ! x264enc tune=zerolatency speed-preset=ultrafast "
                   "key-int-max=600 ! h264parse ! queue ! hls.video_1 demux.audio_0 ! queue ! aacparse ! hls.audio_0",
               r);
  ASSERT_TRUE(r.eos) << r.error;
  std::vector<std::vector<ProbedFrame>> starts(2);
  const std::vector<std::string> names = {"180p", "90p"};
  for (size_t v = 0; v < 2; ++v) {
    auto p = load_media(out.path() / names[v] / "index.m3u8");
    ASSERT_EQ(p.segments.size(), 2u) << names[v];  // the capture has keyframes at 0 and 2 s, 3 s long
    EXPECT_NEAR(p.segments[0].duration, 2.0, 0.001);
    EXPECT_NEAR(p.segments[1].duration, 1.0, 0.001);
    for (auto& seg : p.segments) {
      auto frames = probe_video_frames((out.path() / names[v] / seg.uri).string());
      ASSERT_FALSE(frames.empty());
      EXPECT_TRUE(frames[0].key) << names[v] << " " << seg.uri;
      starts[v].push_back(frames[0]);
    }
    EXPECT_EQ(count_decoded_frames({(out.path() / names[v] / "index.m3u8").string()}), 75) << names[v];
  }
  for (size_t s = 0; s < 2; ++s) EXPECT_NEAR(starts[1][s].pts, starts[0][s].pts, 0.04 / 2);
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
