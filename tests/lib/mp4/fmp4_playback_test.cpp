// End to end: what Fmp4Writer (and MediaPlaylist) produce is read by real players' demuxers:
// ffprobe (libavformat mov and hls demuxers) and GStreamer's qtdemux + avdec_h264.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "../subprocess.h"
#include "../temp_dir.h"
#include "box_walker.h"
#include "fmp4_fixture.h"
#include "ogg_packets.h"
#include "hls/media_playlist.h"
#include "hls/multivariant_playlist.h"
#include "mp4/fmp4_writer.h"

namespace live::mp4 {
namespace {

using test_util::CommandResult;

CommandResult run(const std::string& command) { return test_util::run_shell(command); }

// Test directories: /tmp/live-fmp4-test-XXXXXX.
struct TempDir : test_util::TempDir {
  TempDir() : test_util::TempDir("live-fmp4-test") {}
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// (stream index, pts, dts) of every packet, in the streams' own time bases.
struct Packet {
  int stream = -1;
  int64_t pts = 0;
  int64_t dts = 0;
  bool key = false;
};

// `options`: extra ffprobe options, e.g. "-allowed_extensions ALL" for playlists of .m4s files.
std::vector<Packet> ffprobe_packets(const std::string& file, const std::string& options = "") {
  const CommandResult r = run("ffprobe -v error " + options + (options.empty() ? "" : " ") +
                              "-show_entries packet=stream_index,pts,dts,flags -of csv=p=0 '" + file + "' 2>&1");
  EXPECT_EQ(r.status, 0) << "ffprobe failed (is it installed?):\n" << r.out;
  std::vector<Packet> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    Packet p;
    char flags[16] = {};
    long long pts, dts;
    if (std::sscanf(line.c_str(), "%d,%lld,%lld,%15s", &p.stream, &pts, &dts, flags) != 4) {
      ADD_FAILURE() << "unexpected ffprobe line: " << line;
      continue;
    }
    p.pts = pts;
    p.dts = dts;
    p.key = flags[0] == 'K';
    out.push_back(p);
  }
  return out;
}

// ffprobe's codec time base for our tracks equals the track timescale: compare ticks exactly.
void expect_packets_match(const std::vector<Packet>& packets, int stream, const std::vector<Sample>& samples) {
  std::vector<Packet> got;
  for (const auto& p : packets)
    if (p.stream == stream) got.push_back(p);
  ASSERT_EQ(got.size(), samples.size()) << "stream " << stream;
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(got[i].dts, samples[i].dts) << "stream " << stream << " packet " << i;
    EXPECT_EQ(got[i].pts, samples[i].pts) << "stream " << stream << " packet " << i;
    EXPECT_EQ(got[i].key, samples[i].keyframe) << "stream " << stream << " packet " << i;
  }
}

// Decoded buffers that reached fakesink (gst-launch -v prints each one's last-message).
size_t count_decoded(const std::string& gst_output) {
  size_t n = 0;
  for (size_t at = gst_output.find("last-message = chain"); at != std::string::npos;
       at = gst_output.find("last-message = chain", at + 1))
    ++n;
  return n;
}

// Init segment + one fragment per GOP of a single track (track id 1); keys are the decode
// indexes where GOPs start.
std::vector<uint8_t> fragment_per_gop(Fmp4Writer& writer, const std::vector<Sample>& samples,
                                      const std::vector<size_t>& keys) {
  std::vector<uint8_t> file = writer.init_segment();
  for (size_t k = 0; k < keys.size(); ++k) {
    const size_t begin = keys[k], end = k + 1 < keys.size() ? keys[k + 1] : samples.size();
    const TrackRun run{1, std::span<const Sample>(samples.data() + begin, end - begin)};
    auto frag = writer.write_fragment({&run, 1}, true);
    EXPECT_TRUE(frag.ok()) << frag.error().describe();
    if (!frag.ok()) return {};
    file.insert(file.end(), frag->begin(), frag->end());
  }
  return file;
}

// ffprobe's csv line of `entries` for the selected stream ("v:0", "a:0"); -count_frames with video.
std::string ffprobe_stream(const std::string& path, const std::string& stream, const std::string& entries) {
  const bool video = stream[0] == 'v';
  const CommandResult r = run("ffprobe -v error -select_streams " + stream + (video ? " -count_frames" : "") +
                              " -show_entries stream=" + entries + " -of csv=p=0 '" + path + "' 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  return r.out;
}

// gst-launch-1.0 -v filesrc ! qtdemux ! <decode> ! fakesink: its output (a failed run is a test failure).
std::string gst_decode(const std::string& path, const std::string& decode) {
  const CommandResult r = run("gst-launch-1.0 -v filesrc location='" + path + "' ! qtdemux ! " + decode +
                              " ! fakesink silent=false sync=false 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  return r.out;
}

// Writes init + one fragment per `fragment_frames` video frames (0 = per GOP), audio samples
// grouped with the video time range they fall into; styp at every segment (GOP) start.
std::vector<uint8_t> build_file(const test::SourceStreams& src, size_t fragment_frames) {
  auto writer = Fmp4Writer::create({src.video_track, src.audio_track});
  EXPECT_TRUE(writer.ok());
  if (!writer.ok()) return {};
  std::vector<uint8_t> file = writer->init_segment();
  size_t v = 0, a = 0;
  while (v < src.video.size()) {
    size_t end = v + 1;
    while (end < src.video.size() && !src.video[end].keyframe && (fragment_frames == 0 || end - v < fragment_frames))
      ++end;
    const bool segment_start = src.video[v].keyframe;
    // Audio up to the decode time where the next video fragment starts (everything at the end).
    const double until = end < src.video.size() ? double(src.video[end].dts) / 90000.0 : 1e9;
    size_t a_end = a;
    while (a_end < src.audio.size() && double(src.audio[a_end].dts) / 44100.0 < until) ++a_end;
    std::vector<TrackRun> runs = {{1, std::span<const Sample>(src.video.data() + v, end - v)}};
    if (a_end > a) runs.push_back({2, std::span<const Sample>(src.audio.data() + a, a_end - a)});
    auto frag = writer->write_fragment(runs, segment_start);
    EXPECT_TRUE(frag.ok()) << frag.error().describe();
    if (!frag.ok()) return {};
    file.insert(file.end(), frag->begin(), frag->end());
    v = end;
    a = a_end;
  }
  EXPECT_EQ(a, src.audio.size());
  return file;
}

// One fragment per GOP in <name>.mp4, checked as players see it: ffprobe reads the samples as
// they went in and reports `probe` for the video stream, and GStreamer decodes every frame
// through `decoder`.
void expect_plays(Fmp4Writer& writer, const std::vector<Sample>& video,
                  const std::vector<size_t>& keys, const std::string& name,
                  const std::string& probe, const std::string& decoder) {
  const std::vector<uint8_t> file = fragment_per_gop(writer, video, keys);
  ASSERT_FALSE(file.empty());
  TempDir dir;
  const std::string path = dir.str() + "/" + name + ".mp4";
  write_file(path, file);
  expect_packets_match(ffprobe_packets(path), 0, video);
  EXPECT_EQ(ffprobe_stream(path, "v:0", "nb_read_frames,codec_name,codec_tag_string,width,height"),
            probe);
  EXPECT_EQ(count_decoded(gst_decode(path, decoder)), video.size());
}

TEST(Fmp4Playback, FfprobeReadsWholeSegments) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  TempDir dir;
  const std::string path = dir.str() + "/segments.mp4";
  write_file(path, build_file(src, 0));
  const auto packets = ffprobe_packets(path);
  expect_packets_match(packets, 0, src.video);
  expect_packets_match(packets, 1, src.audio);
  // And every video frame decodes.
  EXPECT_EQ(ffprobe_stream(path, "v:0", "nb_read_frames,codec_name,width,height"), "h264,320,180,75\n");
}

TEST(Fmp4Playback, FfprobeReadsLowLatencyParts) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  TempDir dir;
  const std::string path = dir.str() + "/parts.mp4";
  // 5 frames (200 ms) per part: 15 parts, styp only at the 3 segment starts.
  const std::vector<uint8_t> bytes = build_file(src, 5);
  std::vector<test::Box> boxes;
  std::string error;
  ASSERT_TRUE(test::walk_boxes(bytes, boxes, error)) << error;
  size_t moofs = 0, styps = 0;
  for (const auto& box : boxes) {
    moofs += box.type == "moof";
    styps += box.type == "styp";
  }
  EXPECT_EQ(moofs, 15u);
  EXPECT_EQ(styps, 3u);
  write_file(path, bytes);
  const auto packets = ffprobe_packets(path);
  expect_packets_match(packets, 0, src.video);
  expect_packets_match(packets, 1, src.audio);
}

TEST(Fmp4Playback, GstreamerQtdemuxDecodesEveryFrame) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  TempDir dir;
  const std::string path = dir.str() + "/gst.mp4";
  write_file(path, build_file(src, 5));
  // fakesink's last-message (printed by -v) carries each decoded frame's pts.
  const CommandResult r = run("gst-launch-1.0 -v filesrc location='" + path +
                              "' ! qtdemux name=d d.video_0 ! h264parse ! avdec_h264 ! "
                              "fakesink silent=false sync=false 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::vector<int64_t> decoded_pts_ns;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("last-message = chain") == std::string::npos) continue;
    const size_t at = line.find("pts: ");
    ASSERT_NE(at, std::string::npos) << line;
    unsigned h, m, s;
    unsigned long ns;
    ASSERT_EQ(std::sscanf(line.c_str() + at + 5, "%u:%u:%u.%lu", &h, &m, &s, &ns), 4) << line;
    decoded_pts_ns.push_back(((int64_t(h) * 60 + m) * 60 + s) * 1'000'000'000 + int64_t(ns));
  }
  std::vector<int64_t> expected;
  for (const auto& smp : src.video) expected.push_back(smp.pts * 1'000'000'000 / 90000);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(decoded_pts_ns, expected);
}

// H.265 (hvc1 + hvcC) from an Enhanced RTMP fixture: 12 frames 160x90, B-frames, second keyframe
// at decode index 4; one fragment per GOP.
TEST(Fmp4Playback, HevcPlaysInFfprobeAndQtdemux) {
  test::FlvStreams flv;
  std::string error;
  ASSERT_TRUE(test::read_flv(test::test_data_dir() + "/flv/hevc.flv", flv, error)) << error;
  ASSERT_EQ(flv.video.size(), 12u);
  ASSERT_FALSE(flv.hevc_config.empty());
  std::vector<Sample> video;
  for (size_t i = 0; i < flv.video.size(); ++i) {
    const auto& f = flv.video[i];
    video.push_back(Sample{f.dts_ms * 90, (f.dts_ms + f.cts_ms) * 90, 3600, f.keyframe, f.data});
  }
  auto writer = Fmp4Writer::create({TrackConfig{1, Codec::h265, 90000, flv.hevc_config, 160, 90, 0, 0, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const auto keys = test::keyframe_indexes(video);
  ASSERT_EQ(keys, (std::vector<size_t>{0, 4}));  // decode order
  expect_plays(*writer, video, keys, "hevc", "hevc,hvc1,160,90,12\n", "h265parse ! avdec_h265");
}

// AV1 (av01 + av1C) from the Enhanced RTMP fixture: 12 frames 160x90, keyframes at 0 and 6.
TEST(Fmp4Playback, Av1PlaysInFfprobeAndQtdemux) {
  test::FlvStreams flv;
  std::string error;
  ASSERT_TRUE(test::read_flv(test::test_data_dir() + "/flv/av1.flv", flv, error)) << error;
  ASSERT_EQ(flv.video.size(), 12u);
  ASSERT_EQ(flv.av1_config.size(), 4u + 12u);  // 4-byte record + sequence header OBU
  std::vector<Sample> video;
  for (const auto& f : flv.video) video.push_back(Sample{f.dts_ms * 90, f.dts_ms * 90, 3600, f.keyframe, f.data});
  auto writer = Fmp4Writer::create({TrackConfig{1, Codec::av1, 90000, flv.av1_config, 160, 90, 0, 0, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const auto keys = test::keyframe_indexes(video);
  ASSERT_EQ(keys, (std::vector<size_t>{0, 6}));
  expect_plays(*writer, video, keys, "av1", "av1,av01,160,90,12\n", "av1parse ! av1dec");
}

// Opus (Opus + dOps) from an Ogg fixture: 26 packets of 20 ms, 48 kHz stereo, one fragment
// per 10 packets.
TEST(Fmp4Playback, OpusPlaysInFfprobeAndQtdemux) {
  std::vector<test::OggPacket> packets;
  std::string error;
  ASSERT_TRUE(test::read_ogg(test::test_data_dir() + "/mp4/opus.ogg", packets, error)) << error;
  ASSERT_EQ(packets.size(), 2u + 26u);  // OpusHead, OpusTags, audio
  const std::vector<uint8_t>& head = packets[0].data;
  std::vector<Sample> audio;
  for (size_t i = 2; i < packets.size(); ++i)
    audio.push_back(Sample{int64_t(i - 2) * 960, int64_t(i - 2) * 960, 960, true, packets[i].data});
  auto writer = Fmp4Writer::create({TrackConfig{1, Codec::opus, 48000, head, 0, 0, 48000, 2, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  std::vector<uint8_t> file = writer->init_segment();
  for (size_t begin = 0; begin < audio.size(); begin += 10) {
    const TrackRun run{1, std::span<const Sample>(audio.data() + begin, std::min<size_t>(10, audio.size() - begin))};
    auto frag = writer->write_fragment({&run, 1}, true);
    ASSERT_TRUE(frag.ok()) << frag.error().describe();
    file.insert(file.end(), frag->begin(), frag->end());
  }
  TempDir dir;
  const std::string path = dir.str() + "/opus.mp4";
  write_file(path, file);
  expect_packets_match(ffprobe_packets(path), 0, audio);
  EXPECT_EQ(ffprobe_stream(path, "a:0", "codec_name,sample_rate,channels"), "opus,48000,2\n");
  const std::string gst = gst_decode(path, "opusparse ! opusdec");
  EXPECT_EQ(count_decoded(gst), 26u) << gst.substr(0, 2000);
}

// The whole chain a player sees: a media playlist (MediaPlaylist) naming an init section and
// fMP4 segments (Fmp4Writer), read through ffprobe's HLS demuxer.
TEST(Fmp4Playback, FfprobePlaysAnHlsPlaylistOfFmp4Segments) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  TempDir dir;
  auto writer = Fmp4Writer::create({src.video_track, src.audio_track});
  ASSERT_TRUE(writer.ok());
  write_file(dir.str() + "/init.mp4", writer->init_segment());
  hls::MediaPlaylistConfig config;
  config.target_duration = 1;
  config.window_segments = 0;
  config.type = hls::PlaylistType::vod;
  config.map = hls::MapInfo{"init.mp4", std::nullopt};
  hls::MediaPlaylist playlist(config);
  const auto keys = test::keyframe_indexes(src.video);
  ASSERT_EQ(keys.size(), 3u);
  size_t a = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const size_t begin = keys[k], end = k + 1 < keys.size() ? keys[k + 1] : src.video.size();
    const int64_t until = end < src.video.size() ? src.video[end].dts : INT64_MAX;
    size_t a_end = a;
    while (a_end < src.audio.size() && src.audio[a_end].dts * 90000 / 44100 < until) ++a_end;
    const TrackRun runs[] = {{1, std::span<const Sample>(src.video.data() + begin, end - begin)},
                             {2, std::span<const Sample>(src.audio.data() + a, a_end - a)}};
    auto frag = writer->write_fragment(runs, true);
    ASSERT_TRUE(frag.ok());
    const std::string name = "seg" + std::to_string(k) + ".m4s";
    write_file(dir.str() + "/" + name, *frag);
    hls::SegmentInfo s;
    s.uri = name;
    s.duration = double(src.video[end - 1].dts + src.video[end - 1].duration - src.video[begin].dts) / 90000.0;
    ASSERT_TRUE(playlist.add_segment(s).ok());
    a = a_end;
  }
  playlist.end();
  std::ofstream(dir.str() + "/playlist.m3u8") << playlist.render();
  size_t video = 0, audio = 0, keyframes = 0;
  for (const Packet& packet : ffprobe_packets(dir.str() + "/playlist.m3u8", "-allowed_extensions ALL")) {
    if (packet.stream == 0) {
      ++video;
      keyframes += packet.key;
    } else {
      ++audio;
    }
  }
  EXPECT_EQ(video, 75u);
  EXPECT_EQ(keyframes, 3u);
  EXPECT_EQ(audio, 131u);
}

// A multivariant presentation as hlsadaptivesink lays it out: a video-only fMP4 variant written
// as LL-HLS parts (each part its own file, the segment the concatenation of its parts) and an
// audio rendition in its own group, tied together by MultivariantPlaylist. ffprobe's HLS demuxer
// opens the multivariant playlist and finds every video frame and every audio frame.
TEST(Fmp4Playback, FfprobePlaysMultivariantWithAudioRenditionAndParts) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  TempDir dir;
  ASSERT_EQ(run("mkdir -p '" + dir.str() + "/video' '" + dir.str() + "/audio'").status, 0);
  auto video_writer = Fmp4Writer::create({src.video_track});
  auto audio_writer = Fmp4Writer::create({src.audio_track});
  ASSERT_TRUE(video_writer.ok() && audio_writer.ok());
  write_file(dir.str() + "/video/init.mp4", video_writer->init_segment());
  write_file(dir.str() + "/audio/init.mp4", audio_writer->init_segment());

  hls::MediaPlaylistConfig vc;
  vc.target_duration = 1;
  vc.window_segments = 0;
  vc.part_target = 0.2;
  vc.map = hls::MapInfo{"init.mp4", std::nullopt};
  hls::MediaPlaylist video_pl(vc);
  hls::MediaPlaylistConfig ac = vc;
  ac.part_target = 0;
  hls::MediaPlaylist audio_pl(ac);

  const auto keys = test::keyframe_indexes(src.video);
  size_t a = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const size_t begin = keys[k], end = k + 1 < keys.size() ? keys[k + 1] : src.video.size();
    std::vector<uint8_t> segment;
    for (size_t p = begin; p < end; p += 5) {  // 5 frames = 200 ms a part
      const size_t p_end = std::min(end, p + 5);
      const TrackRun run_part{1, std::span<const Sample>(src.video.data() + p, p_end - p)};
      auto frag = video_writer->write_fragment({&run_part, 1}, p == begin);
      ASSERT_TRUE(frag.ok());
      const std::string part_name = "seg" + std::to_string(k) + ".part" + std::to_string((p - begin) / 5) + ".m4s";
      write_file(dir.str() + "/video/" + part_name, *frag);
      segment.insert(segment.end(), frag->begin(), frag->end());
      ASSERT_TRUE(video_pl.add_part(hls::PartInfo{double(p_end - p) * 0.04, part_name, p == begin, std::nullopt}).ok());
    }
    const std::string name = "seg" + std::to_string(k) + ".m4s";
    write_file(dir.str() + "/video/" + name, segment);
    hls::SegmentInfo vs;
    vs.uri = name;
    vs.duration = double(end - begin) * 0.04;
    ASSERT_TRUE(video_pl.add_segment(vs).ok());

    const int64_t until = end < src.video.size() ? src.video[end].dts : INT64_MAX;
    size_t a_end = a;
    while (a_end < src.audio.size() && src.audio[a_end].dts * 90000 / 44100 < until) ++a_end;
    const TrackRun audio_run{2, std::span<const Sample>(src.audio.data() + a, a_end - a)};
    auto audio_frag = audio_writer->write_fragment({&audio_run, 1}, true);
    ASSERT_TRUE(audio_frag.ok());
    write_file(dir.str() + "/audio/" + name, *audio_frag);
    hls::SegmentInfo as;
    as.uri = name;
    as.duration = double(a_end - a) * 1024 / 44100;
    ASSERT_TRUE(audio_pl.add_segment(as).ok());
    a = a_end;
  }
  video_pl.end();
  audio_pl.end();
  std::ofstream(dir.str() + "/video/index.m3u8") << video_pl.render();
  std::ofstream(dir.str() + "/audio/index.m3u8") << audio_pl.render();
  hls::MultivariantPlaylist master;
  master.set_version(6);
  master.add_audio(hls::AudioRendition{"aac", "English", "en", "audio/index.m3u8", true, true, 1});
  master.add_variant(hls::VariantStream{"video/index.m3u8", 300'000, 250'000, "avc1.64000d,mp4a.40.2", 320, 180,
                                        25.0, "aac"});
  std::ofstream(dir.str() + "/master.m3u8") << master.render();

  const CommandResult r = run("ffprobe -v error -allowed_extensions ALL -show_entries packet=codec_type -of csv=p=0 '" +
                              dir.str() + "/master.m3u8' 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  size_t video = 0, audio = 0;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line == "video") ++video;
    else if (line == "audio") ++audio;
    else ADD_FAILURE() << "unexpected line: " << line;
  }
  EXPECT_EQ(video, 75u);
  EXPECT_EQ(audio, 131u);
}

}  // namespace
}  // namespace live::mp4
