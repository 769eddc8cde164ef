// rtmpchunkdemux element tests (GstHarness on the sink pad, a capture pad on every src pad).
// Expected values come from the input files themselves, read with plain byte offsets from the
// FLV / E-RTMP specs (not with the element's parser), and from ffprobe facts about source.flv.
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../lib/test_data.h"
#include "flv/flv_tag.h"

namespace {

using Bytes = std::vector<uint8_t>;
using live::flv::Tag;
using live::test_data::read_flv_tags;
using live::test_data::read_file;

Bytes write_flv(const std::vector<Tag>& tags) {
  Bytes out;
  live::flv::write_file_header(out, {1, true, true});
  for (const auto& t : tags) EXPECT_TRUE(live::flv::write_tag(out, t).ok());
  return out;
}

uint32_t video_last_ts(const std::vector<Tag>& tags) {
  uint32_t last = 0;
  for (const auto& t : tags)
    if (t.type == 9) last = t.timestamp;
  return last;
}

int32_t si24(const uint8_t* p) {
  uint32_t v = (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
  return (v & 0x800000) ? int32_t(v | 0xFF000000u) : int32_t(v);
}

// What one output buffer should be.
struct Frame {
  uint64_t dts_ms;
  int64_t pts_ms;
  bool key;
  Bytes data;
};

// Legacy AVC video (CodecID 7, AVCPacketType 1) and AAC audio (AACPacketType 1) frames of a file.
void legacy_frames(const std::vector<Tag>& tags, std::vector<Frame>& video, std::vector<Frame>& audio,
                   Bytes* avcc = nullptr, Bytes* asc = nullptr) {
  for (const auto& t : tags) {
    const auto& p = t.payload;
    if (t.type == 9 && p.size() >= 5 && (p[0] & 0x0F) == 7) {
      if (p[1] == 0 && avcc) *avcc = Bytes(p.begin() + 5, p.end());
      if (p[1] == 1)
        video.push_back({t.timestamp, int64_t(t.timestamp) + si24(&p[2]), (p[0] >> 4) == 1, Bytes(p.begin() + 5, p.end())});
    } else if (t.type == 8 && p.size() >= 2 && (p[0] >> 4) == 10) {
      if (p[1] == 0 && asc) *asc = Bytes(p.begin() + 2, p.end());
      if (p[1] == 1) audio.push_back({t.timestamp, t.timestamp, true, Bytes(p.begin() + 2, p.end())});
    }
  }
}

// Single-track E-RTMP video frames: byte 0 = 0x80 | FrameType << 4 | PacketType, FourCC, then
// SI24 composition time only for CodedFrames (1) of avc1/hvc1.
std::vector<Frame> ex_video_frames(const std::vector<Tag>& tags, Bytes* config) {
  std::vector<Frame> out;
  for (const auto& t : tags) {
    const auto& p = t.payload;
    if (t.type != 9 || p.size() < 5 || !(p[0] & 0x80)) continue;
    unsigned pt = p[0] & 0x0F;
    bool cts_field = pt == 1 && (std::equal(p.begin() + 1, p.begin() + 5, "hvc1") ||
                                 std::equal(p.begin() + 1, p.begin() + 5, "avc1"));
    if (pt == 0 && config) *config = Bytes(p.begin() + 5, p.end());
    if (pt != 1 && pt != 3) continue;
    size_t off = cts_field ? 8 : 5;
    int32_t cts = cts_field ? si24(&p[5]) : 0;
    out.push_back({t.timestamp, int64_t(t.timestamp) + cts, ((p[0] >> 4) & 7) == 1, Bytes(p.begin() + off, p.end())});
  }
  return out;
}

// Captures what arrives on one source pad of the demuxer.
struct Capture {
  std::string pad_name;
  GstPad* sinkpad = nullptr;
  std::vector<GstCaps*> caps_events;
  std::vector<GstBuffer*> buffers;
  std::vector<GstCaps*> buffer_caps;  // caps in force for each buffer
  GstSegment segment;
  bool have_segment = false;
  bool eos = false;
  std::vector<std::string> tag_strings;

  ~Capture() {
    for (auto* c : caps_events) gst_caps_unref(c);
    for (auto* b : buffers) gst_buffer_unref(b);
    for (auto* c : buffer_caps) gst_caps_unref(c);
    if (sinkpad) gst_object_unref(sinkpad);
  }
  GstCaps* caps() const { return caps_events.empty() ? nullptr : caps_events.back(); }
  GstStructure* structure() const { return caps() ? gst_caps_get_structure(caps(), 0) : nullptr; }
  Bytes bytes(size_t i) const {
    GstMapInfo map;
    gst_buffer_map(buffers[i], &map, GST_MAP_READ);
    Bytes b(map.data, map.data + map.size);
    gst_buffer_unmap(buffers[i], &map);
    return b;
  }
  Bytes codec_data() const {
    const GValue* v = gst_structure_get_value(structure(), "codec_data");
    if (!v) return {};
    GstBuffer* buf = gst_value_get_buffer(v);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_READ);
    Bytes b(map.data, map.data + map.size);
    gst_buffer_unmap(buf, &map);
    return b;
  }
  // Compares the buffers with the expected frames: bytes, DTS, PTS, keyframe flag.
  void expect_frames(const std::vector<Frame>& frames, int64_t ms_offset = 0) const {
    ASSERT_EQ(buffers.size(), frames.size()) << pad_name;
    for (size_t i = 0; i < frames.size(); ++i) {
      GstBuffer* b = buffers[i];
      ASSERT_EQ(GST_BUFFER_DTS(b), GstClockTime(int64_t(frames[i].dts_ms) + ms_offset) * GST_MSECOND)
          << pad_name << " buffer " << i;
      ASSERT_EQ(GST_BUFFER_PTS(b), GstClockTime(frames[i].pts_ms + ms_offset) * GST_MSECOND) << pad_name << " " << i;
      ASSERT_EQ(!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT), frames[i].key) << pad_name << " " << i;
      ASSERT_EQ(bytes(i), frames[i].data) << pad_name << " " << i;
    }
  }
};

GstFlowReturn capture_chain(GstPad* pad, GstObject*, GstBuffer* buffer) {
  auto* c = static_cast<Capture*>(gst_pad_get_element_private(pad));
  c->buffers.push_back(buffer);
  c->buffer_caps.push_back(c->caps() ? gst_caps_ref(c->caps()) : gst_caps_new_empty());
  return GST_FLOW_OK;
}

gboolean capture_event(GstPad* pad, GstObject*, GstEvent* event) {
  auto* c = static_cast<Capture*>(gst_pad_get_element_private(pad));
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps;
      gst_event_parse_caps(event, &caps);
      c->caps_events.push_back(gst_caps_ref(caps));
      break;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* s;
      gst_event_parse_segment(event, &s);
      gst_segment_copy_into(s, &c->segment);
      c->have_segment = true;
      break;
    }
    case GST_EVENT_TAG: {
      GstTagList* list;
      gst_event_parse_tag(event, &list);
      gchar* s = gst_tag_list_to_string(list);
      c->tag_strings.emplace_back(s);
      g_free(s);
      break;
    }
    case GST_EVENT_EOS:
      c->eos = true;
      break;
    default:
      break;
  }
  gst_event_unref(event);
  return TRUE;
}

class DemuxRun {
 public:
  explicit DemuxRun(const char* caps) {
    harness_ = gst_harness_new_with_padnames("rtmpchunkdemux", "sink", nullptr);
    g_signal_connect(harness_->element, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, DemuxRun* self) {
                       self->on_pad(pad);
                     }), this);
    g_signal_connect(harness_->element, "no-more-pads", G_CALLBACK(+[](GstElement*, DemuxRun* self) {
                       self->no_more_pads_pads = self->pads.size();
                       self->no_more_pads++;
                     }), this);
    gst_harness_set_src_caps_str(harness_, caps);
  }
  ~DemuxRun() {
    gst_harness_teardown(harness_);
  }
  GstElement* element() const { return harness_->element; }

  GstFlowReturn push(std::span<const uint8_t> bytes, bool discont = false) {
    GstBuffer* b = gst_buffer_new_memdup(bytes.data(), bytes.size());
    if (discont) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
    return gst_harness_push(harness_, b);
  }
  GstFlowReturn push_buffer(GstBuffer* b) { return gst_harness_push(harness_, b); }
  void push_in_pieces(const Bytes& bytes, size_t piece) {
    for (size_t i = 0; i < bytes.size(); i += piece)
      ASSERT_EQ(push(std::span(bytes).subspan(i, std::min(piece, bytes.size() - i))), GST_FLOW_OK) << "at " << i;
  }
  void eos() { gst_harness_push_event(harness_, gst_event_new_eos()); }

  const Capture& pad(const std::string& name) const {
    auto it = pads.find(name);
    if (it == pads.end()) {
      ADD_FAILURE() << "no pad " << name;
      static Capture none;
      return none;
    }
    return *it->second;
  }
  uint64_t stat(const char* field) const {
    GstStructure* s = nullptr;
    g_object_get(harness_->element, "stats", &s, nullptr);
    guint64 v = 0;
    guint u = 0;
    if (!gst_structure_get_uint64(s, field, &v) && gst_structure_get_uint(s, field, &u)) v = u;
    gst_structure_free(s);
    return v;
  }

  std::map<std::string, std::unique_ptr<Capture>> pads;
  std::function<bool(const std::string&)> link_pad = [](const std::string&) { return true; };
  int no_more_pads = 0;
  size_t no_more_pads_pads = 0;

 private:
  void on_pad(GstPad* srcpad) {
    auto c = std::make_unique<Capture>();
    gchar* name = gst_pad_get_name(srcpad);
    c->pad_name = name;
    g_free(name);
    if (!link_pad(c->pad_name)) {
      pads[c->pad_name] = std::move(c);
      return;
    }
    // An ANY template so that caps changes are accepted (a template-less pad accepts only its current caps).
    GstPadTemplate* any = gst_pad_template_new("capture", GST_PAD_SINK, GST_PAD_ALWAYS, GST_CAPS_ANY);
    c->sinkpad = gst_pad_new_from_template(any, ("capture_" + c->pad_name).c_str());
    gst_object_unref(any);
    gst_pad_set_element_private(c->sinkpad, c.get());
    gst_pad_set_chain_function(c->sinkpad, capture_chain);
    gst_pad_set_event_function(c->sinkpad, capture_event);
    gst_pad_set_active(c->sinkpad, TRUE);
    EXPECT_EQ(gst_pad_link(srcpad, c->sinkpad), GST_PAD_LINK_OK);
    pads[c->pad_name] = std::move(c);
  }
  GstHarness* harness_;
};

class RtmpChunkDemux : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

void expect_source_flv_output(const DemuxRun& run, int64_t ms_offset = 0) {
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  std::vector<Frame> video, audio;
  Bytes avcc, asc;
  legacy_frames(tags, video, audio, &avcc, &asc);
  // ffprobe on source.flv: 75 H.264 frames (3 keyframes), 131 AAC frames; AAC config 12 08 56 e5 00.
  ASSERT_EQ(video.size(), 75u);
  ASSERT_EQ(audio.size(), 131u);
  ASSERT_EQ(asc, (Bytes{0x12, 0x08, 0x56, 0xE5, 0x00}));
  ASSERT_EQ(run.pads.size(), 2u);
  const Capture& v = run.pad("video_0");
  const Capture& a = run.pad("audio_0");
  ASSERT_NE(v.caps(), nullptr);
  ASSERT_NE(a.caps(), nullptr);
  GstStructure* vs = v.structure();
  EXPECT_TRUE(gst_structure_has_name(vs, "video/x-h264"));
  EXPECT_STREQ(gst_structure_get_string(vs, "stream-format"), "avc");
  EXPECT_STREQ(gst_structure_get_string(vs, "alignment"), "au");
  EXPECT_STREQ(gst_structure_get_string(vs, "profile"), "high");
  EXPECT_EQ(v.codec_data(), avcc);
  gint w = 0, h = 0, fn = 0, fd = 0;
  EXPECT_TRUE(gst_structure_get_int(vs, "width", &w) && gst_structure_get_int(vs, "height", &h));
  EXPECT_EQ(w, 320);
  EXPECT_EQ(h, 180);
  EXPECT_TRUE(gst_structure_get_fraction(vs, "framerate", &fn, &fd));
  EXPECT_EQ(fn * 1.0 / fd, 25.0);
  GstStructure* as = a.structure();
  EXPECT_TRUE(gst_structure_has_name(as, "audio/mpeg"));
  gint mpegversion = 0, rate = 0, channels = 0;
  EXPECT_TRUE(gst_structure_get_int(as, "mpegversion", &mpegversion));
  EXPECT_EQ(mpegversion, 4);
  EXPECT_STREQ(gst_structure_get_string(as, "stream-format"), "raw");
  EXPECT_TRUE(gst_structure_get_int(as, "rate", &rate) && gst_structure_get_int(as, "channels", &channels));
  EXPECT_EQ(rate, 44100);
  EXPECT_EQ(channels, 1);
  EXPECT_EQ(a.codec_data(), asc);
  v.expect_frames(video, ms_offset);
  a.expect_frames(audio, ms_offset);
  // ffprobe: first two video packets DTS 0 / PTS 80 and DTS 40 / PTS 200.
  EXPECT_EQ(GST_BUFFER_PTS(v.buffers[1]), GstClockTime(200 + ms_offset) * GST_MSECOND);
  for (const Capture* c : {&v, &a}) {
    ASSERT_TRUE(c->have_segment);
    EXPECT_EQ(c->segment.format, GST_FORMAT_TIME);
    EXPECT_EQ(c->segment.start, GstClockTime(ms_offset) * GST_MSECOND);  // the first tag's time
  }
}

TEST_F(RtmpChunkDemux, SourceFlvH264AacInAnySplit) {
  Bytes file = read_file("captures/source.flv");
  for (size_t piece : {size_t(4096), size_t(1), size_t(1000)}) {
    DemuxRun run("video/x-flv");
    run.push_in_pieces(file, piece);
    run.eos();
    SCOPED_TRACE("piece size " + std::to_string(piece));
    expect_source_flv_output(run);
    EXPECT_EQ(run.no_more_pads, 1);
    EXPECT_EQ(run.no_more_pads_pads, 2u);  // onMetaData announced both: no pad came later
    EXPECT_TRUE(run.pad("video_0").eos);
    EXPECT_EQ(run.stat("video-buffers"), 75u);
    EXPECT_EQ(run.stat("audio-buffers"), 131u);
    EXPECT_EQ(run.stat("bytes-in"), file.size());
    EXPECT_EQ(run.stat("video-pads"), 1u);
    EXPECT_EQ(run.stat("malformed-tags"), 0u);
    bool encoder_tag = false;
    for (const auto& s : run.pad("video_0").tag_strings) encoder_tag |= s.find("Lavf59.27.100") != std::string::npos;
    EXPECT_TRUE(encoder_tag) << "onMetaData encoder as a tag";
  }
}

TEST_F(RtmpChunkDemux, OneTagPerBufferLikeRtmpServerSrc) {
  Bytes file = read_file("captures/source.flv");
  DemuxRun run("video/x-flv");
  ASSERT_EQ(run.push(std::span(file).first(13)), GST_FLOW_OK);
  for (const auto& t : read_flv_tags(file)) {
    Bytes one;
    ASSERT_TRUE(live::flv::write_tag(one, t).ok());
    ASSERT_EQ(run.push(one), GST_FLOW_OK);
  }
  expect_source_flv_output(run);
}

// A buffer holding one whole tag is read in place: each output buffer is a view of the input
// buffer's memory (no copy), and the bytes and timestamps are the source's (checked above).
TEST_F(RtmpChunkDemux, OneTagPerBufferLeavesWithoutACopy) {
  Bytes file = read_file("captures/source.flv");
  DemuxRun run("video/x-flv");
  ASSERT_EQ(run.push(std::span(file).first(13)), GST_FLOW_OK);
  std::vector<GstBuffer*> inputs;
  for (const auto& t : read_flv_tags(file)) {
    Bytes one;
    ASSERT_TRUE(live::flv::write_tag(one, t).ok());
    GstBuffer* b = gst_buffer_new_memdup(one.data(), one.size());
    inputs.push_back(gst_buffer_ref(b));
    ASSERT_EQ(run.push_buffer(b), GST_FLOW_OK);
  }
  expect_source_flv_output(run);
  // Every video and audio buffer's memory lies inside one of the input buffers' memory.
  auto inside_an_input = [&](GstBuffer* out) {
    GstMapInfo o;
    if (!gst_buffer_map(out, &o, GST_MAP_READ)) return false;
    bool found = false;
    for (GstBuffer* in : inputs) {
      GstMapInfo i;
      gst_buffer_map(in, &i, GST_MAP_READ);
      found = o.data >= i.data && o.data + o.size <= i.data + i.size;
      gst_buffer_unmap(in, &i);
      if (found) break;
    }
    gst_buffer_unmap(out, &o);
    return found;
  };
  for (const char* name : {"video_0", "audio_0"}) {
    const Capture& c = run.pad(name);
    ASSERT_FALSE(c.buffers.empty());
    for (size_t i = 0; i < c.buffers.size(); ++i) ASSERT_TRUE(inside_an_input(c.buffers[i])) << name << " " << i;
  }
  for (GstBuffer* b : inputs) gst_buffer_unref(b);
}

TEST_F(RtmpChunkDemux, RtmpChunksOfFfmpegPublishGiveTheSourceStreams) {
  // The c2s side of a real ffmpeg publish to nginx-rtmp; C0+C1+C2 = 1 + 1536 + 1536 bytes.
  Bytes c2s = read_file("captures/ffmpeg-publish.c2s.bin");
  ASSERT_GT(c2s.size(), 3073u);
  Bytes chunks(c2s.begin() + 3073, c2s.end());
  DemuxRun run("application/x-rtmp-chunks");
  run.push_in_pieces(chunks, 1000);
  run.eos();
  expect_source_flv_output(run);
}

TEST_F(RtmpChunkDemux, RtmpChunksOfFlvmuxPublishersGiveTheSourceFrames) {
  // librtmp (4096-byte chunks) and rtmp2sink (128-byte chunks) published source.flv remuxed
  // by flvmux: same frames, and flvmux moved all times by one constant (its DTS start).
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  std::vector<Frame> video, audio;
  legacy_frames(tags, video, audio);
  for (const char* capture : {"captures/librtmp-publish.c2s.bin", "captures/rtmp2sink-publish.c2s.bin"}) {
    SCOPED_TRACE(capture);
    Bytes c2s = read_file(capture);
    DemuxRun run("application/x-rtmp-chunks");
    run.push_in_pieces(Bytes(c2s.begin() + 3073, c2s.end()), 1460);
    run.eos();
    const Capture& v = run.pad("video_0");
    const Capture& a = run.pad("audio_0");
    ASSERT_EQ(v.buffers.size(), video.size());
    ASSERT_EQ(a.buffers.size(), audio.size());
    const int64_t shift = int64_t(GST_BUFFER_PTS(v.buffers[0])) - video[0].pts_ms * int64_t(GST_MSECOND);
    for (size_t i = 0; i < video.size(); ++i) {
      ASSERT_EQ(v.bytes(i), video[i].data) << i;
      ASSERT_EQ(!GST_BUFFER_FLAG_IS_SET(v.buffers[i], GST_BUFFER_FLAG_DELTA_UNIT), video[i].key) << i;
      ASSERT_EQ(int64_t(GST_BUFFER_PTS(v.buffers[i])), video[i].pts_ms * int64_t(GST_MSECOND) + shift) << i;
      ASSERT_LE(GST_BUFFER_DTS(v.buffers[i]), GST_BUFFER_PTS(v.buffers[i])) << i;
    }
    for (size_t i = 0; i < audio.size(); ++i) ASSERT_EQ(a.bytes(i), audio[i].data) << i;
  }
}

TEST_F(RtmpChunkDemux, EnhancedAvc1GivesTheSameStreamsAsLegacy) {
  // source.flv's video rewritten by hand: as E-RTMP 'avc1' (SequenceStart / CodedFrames with
  // SI24 composition time / CodedFramesX when it is 0 / SequenceEnd), and as E-RTMP v2
  // multitrack OneTrack with track id 0. Both must demux exactly like the legacy file.
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  for (bool multitrack : {false, true}) {
    SCOPED_TRACE(multitrack ? "multitrack" : "single track");
    std::vector<Tag> ex;
    for (auto t : tags) {
      if (t.type == 9) {
        const auto& p = t.payload;
        uint8_t frame_type = p[0] >> 4, avc_type = p[1];
        int32_t cts = si24(&p[2]);
        uint8_t packet_type = avc_type == 1 && cts == 0 ? 3 : avc_type;
        Bytes out;
        if (multitrack) {
          out = {uint8_t(0x80 | (frame_type << 4) | 6), uint8_t((0 << 4) | packet_type), 'a', 'v', 'c', '1', 0};
        } else {
          out = {uint8_t(0x80 | (frame_type << 4) | packet_type), 'a', 'v', 'c', '1'};
        }
        if (packet_type == 1) out.insert(out.end(), p.begin() + 2, p.begin() + 5);
        out.insert(out.end(), p.begin() + 5, p.end());
        t.payload = out;
      }
      ex.push_back(t);
    }
    DemuxRun run("video/x-flv");
    run.push_in_pieces(write_flv(ex), 4096);
    run.eos();
    expect_source_flv_output(run);
  }
}

TEST_F(RtmpChunkDemux, EnhancedRtmpHevc) {
  Bytes file = read_file("flv/hevc.flv");
  Bytes config;
  auto frames = ex_video_frames(read_flv_tags(file), &config);
  ASSERT_EQ(frames.size(), 12u);
  ASSERT_EQ(config, read_file("flv/hevc.hvcC.bin"));
  DemuxRun run("video/x-flv");
  run.push_in_pieces(file, 777);
  run.eos();
  ASSERT_EQ(run.pads.size(), 1u);
  const Capture& v = run.pad("video_0");
  ASSERT_NE(v.caps(), nullptr);
  EXPECT_TRUE(gst_structure_has_name(v.structure(), "video/x-h265"));
  EXPECT_STREQ(gst_structure_get_string(v.structure(), "stream-format"), "hvc1");
  EXPECT_STREQ(gst_structure_get_string(v.structure(), "alignment"), "au");
  EXPECT_STREQ(gst_structure_get_string(v.structure(), "profile"), "main");
  EXPECT_EQ(v.codec_data(), config);
  gint w = 0, h = 0;
  EXPECT_TRUE(gst_structure_get_int(v.structure(), "width", &w) && gst_structure_get_int(v.structure(), "height", &h));
  EXPECT_EQ(w, 160);  // from the SPS in hvcC (and onMetaData agrees)
  EXPECT_EQ(h, 90);
  v.expect_frames(frames);
  // x265 with B-frames: the first frame is shown 80 ms after it is decoded (ctts of hevc.mp4).
  EXPECT_EQ(frames[0].pts_ms, 80);
  EXPECT_EQ(run.no_more_pads_pads, 1u);
}

TEST_F(RtmpChunkDemux, EnhancedRtmpAv1AndVp9) {
  struct Case {
    const char* file;
    const char* config_file;
    const char* media_type;
  };
  for (const Case& c : {Case{"flv/av1.flv", "flv/av1.av1C.bin", "video/x-av1"},
                        Case{"flv/vp9.flv", "flv/vp9.vpcC.bin", "video/x-vp9"}}) {
    SCOPED_TRACE(c.file);
    Bytes file = read_file(c.file);
    Bytes config;
    auto frames = ex_video_frames(read_flv_tags(file), &config);
    ASSERT_EQ(frames.size(), 12u);
    ASSERT_EQ(config, read_file(c.config_file));
    DemuxRun run("video/x-flv");
    run.push_in_pieces(file, 512);
    run.eos();
    const Capture& v = run.pad("video_0");
    ASSERT_NE(v.caps(), nullptr);
    EXPECT_TRUE(gst_structure_has_name(v.structure(), c.media_type));
    if (std::string(c.media_type) == "video/x-av1") {
      EXPECT_STREQ(gst_structure_get_string(v.structure(), "stream-format"), "obu-stream");
      EXPECT_STREQ(gst_structure_get_string(v.structure(), "alignment"), "tu");
      EXPECT_EQ(v.codec_data(), config);
    } else {
      EXPECT_STREQ(gst_structure_get_string(v.structure(), "profile"), "0");
    }
    v.expect_frames(frames);
    for (const auto& f : frames) EXPECT_EQ(f.pts_ms, int64_t(f.dts_ms));  // no composition time field
  }
}

TEST_F(RtmpChunkDemux, EnhancedRtmpOpus) {
  Bytes file = read_file("flv/opus.flv");
  Bytes head = read_file("flv/opus.OpusHead.bin");
  std::vector<Frame> frames;
  for (const auto& t : read_flv_tags(file))
    if (t.type == 8 && t.payload[0] == 0x91)  // ExHeader | CodedFrames, then 'Opus'
      frames.push_back({t.timestamp, t.timestamp, true, Bytes(t.payload.begin() + 5, t.payload.end())});
  ASSERT_GT(frames.size(), 20u);
  DemuxRun run("video/x-flv");
  run.push_in_pieces(file, 300);
  run.eos();
  const Capture& a = run.pad("audio_0");
  ASSERT_NE(a.caps(), nullptr);
  GstStructure* s = a.structure();
  EXPECT_TRUE(gst_structure_has_name(s, "audio/x-opus"));
  gint rate = 0, channels = 0, family = -1, streams = 0, coupled = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "rate", &rate));
  EXPECT_TRUE(gst_structure_get_int(s, "channels", &channels));
  EXPECT_TRUE(gst_structure_get_int(s, "channel-mapping-family", &family));
  EXPECT_TRUE(gst_structure_get_int(s, "stream-count", &streams));
  EXPECT_TRUE(gst_structure_get_int(s, "coupled-count", &coupled));
  EXPECT_EQ(rate, 48000);
  EXPECT_EQ(channels, 2);
  EXPECT_EQ(family, 0);
  EXPECT_EQ(streams, 1);
  EXPECT_EQ(coupled, 1);
  const GValue* sh = gst_structure_get_value(s, "streamheader");
  ASSERT_NE(sh, nullptr);
  GstBuffer* first = gst_value_get_buffer(gst_value_array_get_value(sh, 0));
  ASSERT_EQ(gst_buffer_get_size(first), head.size());
  EXPECT_EQ(gst_buffer_memcmp(first, 0, head.data(), head.size()), 0);
  a.expect_frames(frames);
}

TEST_F(RtmpChunkDemux, LegacyMp3FromFfmpeg) {
  Bytes file = read_file("flv/mp3.flv");
  std::vector<Frame> frames;
  for (const auto& t : read_flv_tags(file))
    if (t.type == 8) frames.push_back({t.timestamp, t.timestamp, true, Bytes(t.payload.begin() + 1, t.payload.end())});
  ASSERT_GT(frames.size(), 15u);
  DemuxRun run("video/x-flv");
  run.push_in_pieces(file, 4096);
  run.eos();
  const Capture& a = run.pad("audio_0");
  ASSERT_NE(a.caps(), nullptr);
  gint mpegversion = 0, layer = 0, rate = 0, channels = 0;
  EXPECT_TRUE(gst_structure_has_name(a.structure(), "audio/mpeg"));
  EXPECT_TRUE(gst_structure_get_int(a.structure(), "mpegversion", &mpegversion));
  EXPECT_TRUE(gst_structure_get_int(a.structure(), "layer", &layer));
  EXPECT_TRUE(gst_structure_get_int(a.structure(), "rate", &rate));
  EXPECT_TRUE(gst_structure_get_int(a.structure(), "channels", &channels));
  EXPECT_EQ(mpegversion, 1);
  EXPECT_EQ(layer, 3);
  EXPECT_EQ(rate, 44100);
  EXPECT_EQ(channels, 2);
  a.expect_frames(frames);
}

TEST_F(RtmpChunkDemux, LegacyH263PcmAndAlawFromFfmpeg) {
  struct Case {
    const char* file;
    const char* video_type;  // nullptr: audio only
    const char* audio_type;
    int rate;
  };
  for (const Case& c : {Case{"flv/legacy-h263-pcm.flv", "video/x-flash-video", "audio/x-raw", 22050},
                        Case{"flv/legacy-alaw.flv", nullptr, "audio/x-alaw", 8000}}) {
    SCOPED_TRACE(c.file);
    Bytes file = read_file(c.file);
    std::vector<Frame> video, audio;
    for (const auto& t : read_flv_tags(file)) {
      Bytes body(t.payload.begin() + 1, t.payload.end());  // one header byte in both kinds
      if (t.type == 9) video.push_back({t.timestamp, t.timestamp, (t.payload[0] >> 4) == 1, body});
      if (t.type == 8) audio.push_back({t.timestamp, t.timestamp, true, body});
    }
    ASSERT_FALSE(audio.empty());
    DemuxRun run("video/x-flv");
    run.push_in_pieces(file, 4096);
    run.eos();
    if (c.video_type) {
      const Capture& v = run.pad("video_0");
      ASSERT_NE(v.caps(), nullptr);
      EXPECT_TRUE(gst_structure_has_name(v.structure(), c.video_type));
      gint flvversion = 0;
      EXPECT_TRUE(gst_structure_get_int(v.structure(), "flvversion", &flvversion));
      EXPECT_EQ(flvversion, 1);
      ASSERT_EQ(video.size(), 10u);  // 0.4 s at 25 fps
      v.expect_frames(video);
    }
    const Capture& a = run.pad("audio_0");
    ASSERT_NE(a.caps(), nullptr);
    EXPECT_TRUE(gst_structure_has_name(a.structure(), c.audio_type));
    gint rate = 0, channels = 0;
    EXPECT_TRUE(gst_structure_get_int(a.structure(), "rate", &rate));
    EXPECT_TRUE(gst_structure_get_int(a.structure(), "channels", &channels));
    EXPECT_EQ(rate, c.rate);
    EXPECT_EQ(channels, 1);
    if (std::string(c.audio_type) == "audio/x-raw") {
      EXPECT_STREQ(gst_structure_get_string(a.structure(), "format"), "S16LE");
    }
    a.expect_frames(audio);
  }
}

TEST_F(RtmpChunkDemux, MultitrackOnePadPerTrack) {
  Bytes file = read_file("flv/multitrack.flv");
  auto tags = read_flv_tags(file);
  // Expected per track from the raw bytes: video tags are OneTrack (byte 1 = 0 << 4 | type),
  // FourCC at 2..5, track id at 6, then (hvc1 CodedFrames) SI24 cts; audio tags are ManyTracks
  // Opus: id, SI24 size, body, repeated from byte 6.
  std::map<std::string, std::vector<Frame>> expected;
  for (const auto& t : tags) {
    const auto& p = t.payload;
    if (t.type == 9 && (p[1] >> 4) == 0) {
      unsigned pt = p[1] & 0x0F;
      bool hevc = std::equal(p.begin() + 2, p.begin() + 6, "hvc1");
      bool cts = hevc && pt == 1;
      size_t off = cts ? 10 : 7;
      expected["video_" + std::to_string(p[6])].push_back(
          {t.timestamp, int64_t(t.timestamp) + (cts ? si24(&p[7]) : 0), ((p[0] >> 4) & 7) == 1, Bytes(p.begin() + off, p.end())});
    } else if (t.type == 8 && (p[1] & 0x0F) == 1) {
      for (size_t i = 6; i < p.size();) {
        uint8_t id = p[i];
        size_t size = (size_t(p[i + 1]) << 16) | (size_t(p[i + 2]) << 8) | p[i + 3];
        expected["audio_" + std::to_string(id)].push_back(
            {t.timestamp, t.timestamp, true, Bytes(p.begin() + i + 4, p.begin() + i + 4 + size)});
        i += 4 + size;
      }
    }
  }
  ASSERT_EQ(expected.size(), 4u);
  DemuxRun run("video/x-flv");
  run.push_in_pieces(file, 1024);
  run.eos();
  ASSERT_EQ(run.pads.size(), 4u);
  EXPECT_TRUE(gst_structure_has_name(run.pad("video_0").structure(), "video/x-h265"));
  EXPECT_EQ(run.pad("video_0").codec_data(), read_file("flv/hevc.hvcC.bin"));
  gint w = 0, h = 0;  // no onMetaData in this file: the size comes from the hvcC SPS
  EXPECT_TRUE(gst_structure_get_int(run.pad("video_0").structure(), "width", &w));
  EXPECT_TRUE(gst_structure_get_int(run.pad("video_0").structure(), "height", &h));
  EXPECT_EQ(w, 160);
  EXPECT_EQ(h, 90);
  EXPECT_TRUE(gst_structure_has_name(run.pad("video_1").structure(), "video/x-av1"));
  EXPECT_EQ(run.pad("video_1").codec_data(), read_file("flv/av1.av1C.bin"));
  EXPECT_TRUE(gst_structure_has_name(run.pad("audio_0").structure(), "audio/x-opus"));
  EXPECT_TRUE(gst_structure_has_name(run.pad("audio_1").structure(), "audio/x-opus"));
  for (const auto& [name, frames] : expected) {
    SCOPED_TRACE(name);
    run.pad(name).expect_frames(frames);
  }
  EXPECT_EQ(run.no_more_pads, 1);
  EXPECT_EQ(run.no_more_pads_pads, 4u);
}

TEST_F(RtmpChunkDemux, TimestampsCrossing32BitWrap) {
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  const uint32_t start = 0xFFFFFFFFu - 1000;  // 1 s before the 32-bit millisecond wrap
  std::vector<Tag> shifted = tags;
  for (auto& t : shifted) t.timestamp += start;  // wraps, as on the wire
  DemuxRun run("video/x-flv");
  run.push_in_pieces(write_flv(shifted), 4096);
  run.eos();
  expect_source_flv_output(run, int64_t(start));
  // Frames after the wrap continue past 2^32 ms.
  const Capture& v = run.pad("video_0");
  EXPECT_GT(GST_BUFFER_DTS(v.buffers.back()), GstClockTime(1ull << 32) * GST_MSECOND);
  EXPECT_EQ(run.stat("timestamp-jumps"), 0u);
}

TEST_F(RtmpChunkDemux, CodecAndSequenceHeaderChangesGiveNewCaps) {
  auto source = read_flv_tags(read_file("captures/source.flv"));
  auto hevc = read_flv_tags(read_file("flv/hevc.flv"));
  // Video only: source.flv's H.264 until 1 s, then a different H.264 configuration (a
  // 640x480 Baseline record) with the same frames, then the E-RTMP HEVC stream.
  std::vector<Tag> tags;
  std::vector<Frame> expected_video, ignored;
  Bytes first_avcc;
  for (const auto& t : source)
    if (t.type == 9 && t.timestamp < 1000) tags.push_back(t);
  legacy_frames(tags, expected_video, ignored, &first_avcc);
  Bytes sps = {0x67, 66, 0xC0, 30, 0b11011010, 0b00000010, 0b10000000, 0b11110110, 0b01000000};
  Bytes second_avcc = {1, 66, 0xC0, 30, 0xFF, 0xE1, 0, uint8_t(sps.size())};
  second_avcc.insert(second_avcc.end(), sps.begin(), sps.end());
  second_avcc.insert(second_avcc.end(), {1, 0, 2, 0x68, 0xCE});
  Bytes seq = {0x17, 0, 0, 0, 0};
  seq.insert(seq.end(), second_avcc.begin(), second_avcc.end());
  tags.push_back(Tag{9, false, 1000, 0, seq});
  std::vector<Tag> more;
  for (const auto& t : source)
    if (t.type == 9 && t.timestamp >= 1000 && t.timestamp < 2000 && t.payload[1] == 1) more.push_back(t);
  legacy_frames(more, expected_video, ignored);
  tags.insert(tags.end(), more.begin(), more.end());
  std::vector<Tag> h;
  for (auto t : hevc) {
    if (t.type != 9) continue;
    t.timestamp += 2000;
    h.push_back(t);
  }
  auto hevc_frames = ex_video_frames(h, nullptr);
  expected_video.insert(expected_video.end(), hevc_frames.begin(), hevc_frames.end());
  tags.insert(tags.end(), h.begin(), h.end());

  DemuxRun run("video/x-flv");
  run.push_in_pieces(write_flv(tags), 4096);
  run.eos();
  ASSERT_EQ(run.pads.size(), 1u);
  const Capture& v = run.pad("video_0");
  ASSERT_EQ(v.caps_events.size(), 3u);
  auto codec_data_of = [](GstCaps* caps) {
    GstBuffer* b = gst_value_get_buffer(gst_structure_get_value(gst_caps_get_structure(caps, 0), "codec_data"));
    Bytes out(gst_buffer_get_size(b));
    gst_buffer_extract(b, 0, out.data(), out.size());
    return out;
  };
  EXPECT_EQ(codec_data_of(v.caps_events[0]), first_avcc);
  EXPECT_EQ(codec_data_of(v.caps_events[1]), second_avcc);
  gint width = 0;
  gst_structure_get_int(gst_caps_get_structure(v.caps_events[1], 0), "width", &width);
  EXPECT_EQ(width, 640);
  // No onMetaData here: the frame rate comes from the first SPS's VUI timing (x264's 25/1); the
  // hand-made Baseline SPS has no VUI, so its caps have none.
  gint fps_n = 0, fps_d = 0;
  EXPECT_TRUE(gst_structure_get_fraction(gst_caps_get_structure(v.caps_events[0], 0), "framerate", &fps_n, &fps_d));
  EXPECT_EQ(fps_n, 25);
  EXPECT_EQ(fps_d, 1);
  EXPECT_FALSE(gst_structure_has_field(gst_caps_get_structure(v.caps_events[1], 0), "framerate"));
  EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure(v.caps_events[2], 0), "video/x-h265"));
  EXPECT_EQ(codec_data_of(v.caps_events[2]), read_file("flv/hevc.hvcC.bin"));
  v.expect_frames(expected_video);
  // Each buffer went out under the caps of its own codec configuration.
  size_t first_count = 0;
  for (const auto& t : source) first_count += t.type == 9 && t.timestamp < 1000 && t.payload[1] == 1;
  EXPECT_TRUE(gst_caps_is_equal(v.buffer_caps[first_count - 1], v.caps_events[0]));
  EXPECT_TRUE(gst_caps_is_equal(v.buffer_caps[first_count], v.caps_events[1]));
  EXPECT_TRUE(gst_caps_is_equal(v.buffer_caps.back(), v.caps_events[2]));
  EXPECT_EQ(run.stat("caps-changes"), 2u);
}

TEST_F(RtmpChunkDemux, DiscontInputRestartsParserAndKeepsTimelineMonotonic) {
  Bytes file = read_file("captures/source.flv");
  auto tags = read_flv_tags(file);
  DemuxRun run("video/x-flv");
  // First publisher: the whole file. Then a reconnection (DISCONT) whose FLV stream starts
  // again with a header and timestamps from 0: the output continues after the last frame.
  run.push_in_pieces(file, 4096);
  const Capture& v = run.pad("video_0");
  size_t before = v.buffers.size();
  GstClockTime last_dts = GST_BUFFER_DTS(v.buffers.back());
  ASSERT_EQ(run.push(std::span(file).first(3000), true), GST_FLOW_OK);
  run.push_in_pieces(Bytes(file.begin() + 3000, file.end()), 4096);
  ASSERT_EQ(v.buffers.size(), 2 * before);
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(v.buffers[before], GST_BUFFER_FLAG_DISCONT));
  EXPECT_GT(GST_BUFFER_DTS(v.buffers[before]), last_dts);
  for (size_t i = before + 1; i < v.buffers.size(); ++i) {
    EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(v.buffers[i], GST_BUFFER_FLAG_DISCONT));
    // Same spacing as the first time round.
    EXPECT_EQ(GST_BUFFER_DTS(v.buffers[i]) - GST_BUFFER_DTS(v.buffers[before]),
              GST_BUFFER_DTS(v.buffers[i - before]) - GST_BUFFER_DTS(v.buffers[0]));
  }
  EXPECT_EQ(v.caps_events.size(), 1u);  // same sequence header again: no new caps
  EXPECT_EQ(run.stat("discontinuities"), 1u);

  // A re-based reconnection (rtmpserversrc style: the publisher's timestamps continue
  // forward, here 30 s after the last tag) keeps the gap although it is larger than
  // max-timestamp-jump: DISCONT says the jump is real.
  std::vector<Tag> later = tags;
  uint32_t last_video_ts = 0;
  for (const auto& t : tags)
    if (t.type == 9) last_video_ts = t.timestamp;
  uint32_t base = tags.back().timestamp + 30000;
  for (auto& t : later) t.timestamp += base;
  Bytes later_bytes = write_flv(later);
  size_t mark = v.buffers.size();
  ASSERT_EQ(run.push(std::span(later_bytes).first(100), true), GST_FLOW_OK);
  run.push_in_pieces(Bytes(later_bytes.begin() + 100, later_bytes.end()), 4096);
  ASSERT_EQ(v.buffers.size(), mark + before);
  EXPECT_EQ(GST_BUFFER_DTS(v.buffers[mark]) - GST_BUFFER_DTS(v.buffers[mark - 1]),
            GstClockTime(base - last_video_ts) * GST_MSECOND);
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(v.buffers[mark], GST_BUFFER_FLAG_DISCONT));
  EXPECT_EQ(run.stat("discontinuities"), 2u);
}

TEST_F(RtmpChunkDemux, FlowCombiningWithUnlinkedPads) {
  Bytes file = read_file("captures/source.flv");
  {
    // Audio not linked: video still gets every frame and upstream sees OK.
    DemuxRun run("video/x-flv");
    run.link_pad = [](const std::string& name) { return name == "video_0"; };
    run.push_in_pieces(file, 4096);  // asserts GST_FLOW_OK for every push
    EXPECT_EQ(run.pad("video_0").buffers.size(), 75u);
    EXPECT_TRUE(run.pad("audio_0").buffers.empty());
  }
  {
    // Nothing linked: NOT_LINKED reaches upstream once the pads exist.
    DemuxRun run("video/x-flv");
    run.link_pad = [](const std::string&) { return false; };
    GstFlowReturn last = GST_FLOW_OK;
    for (size_t i = 0; i < file.size(); i += 4096)
      last = run.push(std::span(file).subspan(i, std::min<size_t>(4096, file.size() - i)));
    EXPECT_EQ(last, GST_FLOW_NOT_LINKED);
  }
}

TEST_F(RtmpChunkDemux, LiveInputSegmentBaseIsTheRunningTimeOfTheFirstTag) {
  // rtmpserversrc style: buffers timestamped on the pipeline clock (here 5 s into a TIME
  // segment from 0). The output segment starts at the first tag time and its running time
  // starts where upstream's was.
  Bytes file = read_file("captures/source.flv");
  auto tags = read_flv_tags(file);
  DemuxRun run("video/x-flv");
  Bytes header(file.begin(), file.begin() + 13);
  ASSERT_EQ(run.push(header), GST_FLOW_OK);
  for (const auto& t : tags) {
    Bytes one;
    ASSERT_TRUE(live::flv::write_tag(one, t).ok());
    GstBuffer* b = gst_buffer_new_memdup(one.data(), one.size());
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = 5 * GST_SECOND + t.timestamp * GST_MSECOND;
    ASSERT_EQ(run.push_buffer(b), GST_FLOW_OK);
  }
  const Capture& v = run.pad("video_0");
  ASSERT_TRUE(v.have_segment);
  EXPECT_EQ(v.segment.start, 0u);
  EXPECT_EQ(v.segment.base, 5 * GST_SECOND);
  EXPECT_EQ(gst_segment_to_running_time(&v.segment, GST_FORMAT_TIME, GST_BUFFER_DTS(v.buffers[10])),
            5 * GST_SECOND + GST_BUFFER_DTS(v.buffers[10]));
}

TEST_F(RtmpChunkDemux, ScriptDataTimestampsDoNotMoveTheTimeline) {
  // rtmpserversrc style: onMetaData stamped 0, media on the running time (here from 475 ms);
  // after a reconnection (DISCONT) onMetaData at 0 again, then media from 4451 ms.
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  auto session = [&](uint32_t base) {
    std::vector<Tag> out;
    for (auto t : tags) {
      if (t.type != 18) t.timestamp += base;
      out.push_back(t);
    }
    return out;
  };
  DemuxRun run("video/x-flv");
  Bytes first = write_flv(session(475));
  run.push_in_pieces(first, 4096);
  const Capture& v = run.pad("video_0");
  ASSERT_EQ(v.buffers.size(), 75u);
  EXPECT_EQ(GST_BUFFER_DTS(v.buffers[0]), 475 * GST_MSECOND);
  EXPECT_EQ(v.segment.start, 475 * GST_MSECOND);  // the first media tag, not onMetaData's 0
  Bytes second = write_flv(session(4451));
  second.erase(second.begin(), second.begin() + 13);  // rtmpserversrc sends its header once
  ASSERT_EQ(run.push(std::span(second).first(500), true), GST_FLOW_OK);
  run.push_in_pieces(Bytes(second.begin() + 500, second.end()), 4096);
  ASSERT_EQ(v.buffers.size(), 150u);
  EXPECT_EQ(GST_BUFFER_DTS(v.buffers[75]), 4451 * GST_MSECOND);
  EXPECT_EQ(run.stat("timestamp-jumps"), 0u);
}

TEST_F(RtmpChunkDemux, TimestampJumpWithoutDiscont) {
  // The second copy of source.flv comes 60 s later on the same connection, no DISCONT.
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  std::vector<Tag> twice = tags;
  for (auto t : tags) {
    t.timestamp += 63000;
    twice.push_back(t);
  }
  Bytes bytes = write_flv(twice);
  for (guint max_jump : {10000u, 0u}) {
    SCOPED_TRACE(max_jump);
    DemuxRun run("video/x-flv");
    g_object_set(run.element(), "max-timestamp-jump", max_jump, nullptr);
    run.push_in_pieces(bytes, 4096);
    const Capture& v = run.pad("video_0");
    ASSERT_EQ(v.buffers.size(), 150u);
    GstClockTime gap = GST_BUFFER_DTS(v.buffers[75]) - GST_BUFFER_DTS(v.buffers[74]);
    if (max_jump == 0) {
      EXPECT_EQ(gap, GstClockTime(63000 - video_last_ts(tags)) * GST_MSECOND);  // accepted as real
      EXPECT_EQ(run.stat("timestamp-jumps"), 0u);
    } else {
      // Squashed: the timeline goes on 1 ms after the last tag (an audio tag after the last video frame).
      EXPECT_LT(gap, 100 * GST_MSECOND);
      EXPECT_GT(gap, 0u);
      EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(v.buffers[75], GST_BUFFER_FLAG_DISCONT));
      EXPECT_EQ(run.stat("timestamp-jumps"), 1u);
    }
    for (size_t i = 76; i < 150; ++i)
      EXPECT_EQ(GST_BUFFER_DTS(v.buffers[i]) - GST_BUFFER_DTS(v.buffers[75]),
                GST_BUFFER_DTS(v.buffers[i - 75]) - GST_BUFFER_DTS(v.buffers[0]));
  }
}

TEST_F(RtmpChunkDemux, NoStreamsIsAnError) {
  DemuxRun run("video/x-flv");
  Bytes header;
  live::flv::write_file_header(header, {1, true, true});
  ASSERT_EQ(run.push(header), GST_FLOW_OK);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(run.element(), bus);
  run.eos();
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr);
  gst_message_unref(msg);
  gst_element_set_bus(run.element(), nullptr);
  gst_object_unref(bus);
  // Garbage instead of FLV is a flow error with an element error.
  DemuxRun bad("video/x-flv");
  EXPECT_EQ(bad.push(Bytes{'F', 'L', 'X', 1, 5, 0, 0, 0, 9}), GST_FLOW_ERROR);
}

// Counts decoded frames of a decodebin pipeline where our demuxer outranks flvdemux.
struct DecodeResult {
  int video_frames = 0;
  GstClockTime audio_duration = 0;
  bool used_rtmpchunkdemux = false;
  bool error = false;
};

// `location` is absolute or relative to LIVE_TEST_DATA; `caps` forces the input type (after a
// queue: in pull mode decodebin would typefind the bytes and ignore the caps).
DecodeResult decode_with_decodebin(const std::string& location, bool outrank_flvdemux = true, const char* caps = nullptr) {
  GstPluginFeature* f = GST_PLUGIN_FEATURE(gst_element_factory_find("rtmpchunkdemux"));
  EXPECT_EQ(gst_plugin_feature_get_rank(f), guint(GST_RANK_SECONDARY));
  if (outrank_flvdemux) gst_plugin_feature_set_rank(f, GST_RANK_PRIMARY + 100);
  DecodeResult result;
  std::string path = location[0] == '/' ? location : live::test_data::path(location);
  std::string desc = "filesrc location=\"" + path + "\" ! " + (caps ? "queue ! " + std::string(caps) + " ! " : "") + "decodebin name=dec";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  EXPECT_EQ(err, nullptr);
  GstElement* dec = gst_bin_get_by_name(GST_BIN(pipeline), "dec");
  g_signal_connect(dec, "deep-element-added", G_CALLBACK(+[](GstBin*, GstBin*, GstElement* e, DecodeResult* r) {
                     GstElementFactory* fac = gst_element_get_factory(e);
                     if (fac && std::string(GST_OBJECT_NAME(fac)) == "rtmpchunkdemux") r->used_rtmpchunkdemux = true;
                   }), &result);
  g_signal_connect(dec, "pad-added", G_CALLBACK(+[](GstElement* dec, GstPad* pad, DecodeResult* r) {
                     GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(dec));
                     GstElement* sink = gst_element_factory_make("fakesink", nullptr);
                     g_object_set(sink, "sync", FALSE, "signal-handoffs", TRUE, nullptr);
                     GstCaps* caps = gst_pad_get_current_caps(pad);
                     bool video = gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-raw");
                     gst_caps_unref(caps);
                     if (video)
                       g_signal_connect(sink, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer*, GstPad*, DecodeResult* r) {
                                          r->video_frames++;
                                        }), r);
                     else
                       g_signal_connect(sink, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* b, GstPad*, DecodeResult* r) {
                                          r->audio_duration += GST_BUFFER_DURATION(b);
                                        }), r);
                     gst_bin_add(GST_BIN(pipeline), sink);
                     gst_element_sync_state_with_parent(sink);
                     GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
                     gst_pad_link(pad, sinkpad);
                     gst_object_unref(sinkpad);
                     gst_object_unref(pipeline);
                   }), &result);
  gst_object_unref(dec);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  EXPECT_NE(msg, nullptr);
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    ADD_FAILURE() << e->message;
    g_error_free(e);
    result.error = true;
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  gst_plugin_feature_set_rank(f, GST_RANK_SECONDARY);
  gst_object_unref(f);
  return result;
}

TEST_F(RtmpChunkDemux, DecodebinDecodesSourceFlvThroughUs) {
  auto r = decode_with_decodebin("captures/source.flv");
  EXPECT_TRUE(r.used_rtmpchunkdemux);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.video_frames, 75);  // every H.264 frame of the file decoded
  // 131 AAC frames of 1024 samples at 44.1 kHz = 3.04 s (decoders may trim priming samples).
  EXPECT_GT(r.audio_duration, 2900 * GST_MSECOND);
  EXPECT_LT(r.audio_duration, 3100 * GST_MSECOND);
}

TEST_F(RtmpChunkDemux, DecodebinPicksUsForRtmpChunksAtOurOwnRank) {
  // No rank change: nothing else handles application/x-rtmp-chunks, so decodebin plugs us.
  Bytes c2s = read_file("captures/ffmpeg-publish.c2s.bin");
  gchar* path = nullptr;
  gint fd = g_file_open_tmp("rtmpchunkdemux-XXXXXX.chunks", &path, nullptr);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(g_file_set_contents(path, reinterpret_cast<const gchar*>(c2s.data()) + 3073, gssize(c2s.size() - 3073), nullptr));
  auto r = decode_with_decodebin(path, false, "application/x-rtmp-chunks");
  g_unlink(path);
  g_free(path);
  EXPECT_TRUE(r.used_rtmpchunkdemux);
  EXPECT_EQ(r.video_frames, 75);
  EXPECT_GT(r.audio_duration, 2900 * GST_MSECOND);
}

TEST_F(RtmpChunkDemux, DecodebinDecodesEnhancedRtmpHevcAndAv1) {
  for (const char* file : {"flv/hevc.flv", "flv/av1.flv", "flv/vp9.flv"}) {
    SCOPED_TRACE(file);
    auto r = decode_with_decodebin(file);
    EXPECT_TRUE(r.used_rtmpchunkdemux);
    EXPECT_EQ(r.video_frames, 12);
  }
}

}  // namespace
