#include "sink_runtime.h"

#include <gst/video/video.h>

#include <algorithm>

#include "sink_pad.h"

GST_DEBUG_CATEGORY_EXTERN(hls_sink_debug);
#define GST_CAT_DEFAULT hls_sink_debug

namespace live::hlssink {

namespace {

std::string variant_name_for(const Runtime& r, const VideoTrack& t) {
  std::string name = t.pad ? gst_hls_sink_pad_variant_name(t.pad) : "";
  if (!name.empty()) return name;
  const int h = t.config ? t.config->height : 0;
  if (h > 0) {
    int same = 0;
    for (auto& o : r.videos)
      if (o->config && o->config->height == h) same++;
    if (same == 1) return std::to_string(h) + "p";
  }
  return t.pad_name;
}

int64_t frame_interval(const StreamConfig& c) {
  return c.fps_n > 0 ? int64_t(gst_util_uint64_scale(GST_SECOND, c.fps_d, c.fps_n)) : 0;
}

template <typename Queue>
void pop_front(Queue& q, size_t n) {
  q.erase(q.begin(), q.begin() + long(std::min(n, q.size())));
}

RenditionWriter* writer_of(Runtime& r, size_t track) {
  if (track < r.videos.size()) return r.videos[track]->writer.get();
  return r.audio ? r.audio->writer.get() : nullptr;
}

std::deque<Frame>& held_of(Runtime& r, size_t track) {
  return track < r.videos.size() ? r.videos[track]->held : r.audio->held;
}

Result<void> apply(Runtime& r, const hls::AlignerDecision& d) {
  using Type = hls::AlignerDecision::Type;
  Presentation& p = *r.out;
  switch (d.type) {
    case Type::drop:
      if (d.over_limit) GST_WARNING("track %zu: %zu frames held too long dropped", d.track, d.frames);
      pop_front(held_of(r, d.track), d.frames);
      return {};
    case Type::release_audio:
      if (d.over_limit) GST_WARNING("%zu audio frames held too long dropped", d.frames);
      pop_front(p.ts_audio, d.frames);
      return {};
    case Type::request_key_unit: {
      GstPad* pad = r.videos[d.track]->pad;
      if (pad)
        // all-headers FALSE: the parameter sets travel in codec_data (and the TS writer puts
        // them before keyframes itself). With TRUE, h264parse 1.22 keeps the event and reads it
        // from its streaming thread while this (another pad's) thread may replace it: a use
        // after free that crashed a test now and then.
        r.events.emplace_back(GST_PAD(gst_object_ref(pad)),
                              gst_video_event_new_upstream_force_key_unit(GstClockTime(d.time), FALSE, d.count));
      return {};
    }
    case Type::append: {
      RenditionWriter& w = *writer_of(r, d.track);
      const bool video = d.track < r.videos.size();
      if (video && !w.named()) w.setup(variant_name_for(r, *r.videos[d.track]));
      auto& held = held_of(r, d.track);
      for (size_t i = 0; i < d.frames && !held.empty(); ++i) {
        w.append(std::move(held.front()));
        held.pop_front();
      }
      return w.write_parts(false, hls::kNoTime, -1, video ? r.aligner->progress(d.track) : -1);
    }
    case Type::cut: return writer_of(r, d.track)->finish_segment(d);
  }
  return {};
}

}  // namespace

size_t Runtime::track_of(const VideoTrack& t) const {
  for (size_t i = 0; i < videos.size(); ++i)
    if (videos[i].get() == &t) return i;
  return SIZE_MAX;
}

Result<void> start_runtime(Runtime& r) {
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  r.out = std::make_unique<Presentation>();
  WriterSettings& w = r.out->cfg;
  w.fmp4 = fmp4;
  w.low_latency = r.cfg.low_latency;
  w.part_duration = r.cfg.part_duration;
  w.target_duration = r.cfg.target_duration;
  w.playlist_length = r.cfg.playlist_length;
  w.max_files = r.cfg.max_files;
  w.program_date_time = r.cfg.program_date_time;
  w.flat = r.cfg.flat;
  w.post_messages = r.cfg.post_messages;
  w.playlist_name = r.cfg.playlist_name;
  w.master_name = r.cfg.master_name;

  hls::AlignerConfig ac;
  ac.video_tracks = r.videos.size();
  ac.has_audio = r.audio != nullptr;
  ac.audio_in_variants = !fmp4;
  ac.target_duration = r.cfg.target_duration;
  ac.max_start_hold = kNamingWait;
  ac.max_held_frames = kMaxHeldFramesPerPad;
  ac.max_segment_bytes = kMaxSegmentBytes;
  ac.max_segment_duration = std::max(kMinKeyframeInterval, 4 * r.cfg.target_duration);
  ac.budget = &process_held_media();
  r.aligner = std::make_unique<hls::SegmentAligner>(ac);
  r.out->aligner = r.aligner.get();

  for (auto& t : r.videos) {
    t->held.clear();
    t->eos = false;
    t->discont_pending = false;
    t->writer = std::make_unique<RenditionWriter>(*r.out, !fmp4 && r.audio);
    r.out->renditions.push_back(t->writer.get());
    gst_segment_init(&t->segment, GST_FORMAT_TIME);
  }
  if (r.audio) {
    r.audio->held.clear();
    r.audio->eos = false;
    r.audio->writer.reset();
    gst_segment_init(&r.audio->segment, GST_FORMAT_TIME);
    if (fmp4) {
      r.audio->writer = std::make_unique<RenditionWriter>(*r.out, false);
      r.audio->writer->setup("audio");
      r.out->renditions.push_back(r.audio->writer.get());
    }
  }
  r.failed = false;
  r.eos_posted = false;
  return {};
}

Result<void> push_frame(Runtime& r, size_t track, Frame frame, bool discont) {
  const bool video = track < r.videos.size();
  if (video && frame.config) r.aligner->set_frame_interval(track, frame_interval(*frame.config));
  hls::FrameTiming ft;
  ft.pts = frame.pts;
  ft.dts = frame.dts;
  ft.duration = frame.duration;
  ft.keyframe = frame.keyframe;
  ft.discont = discont;
  ft.bytes = frame.data.size();
  auto kept = r.aligner->push(track, ft);
  if (!kept) return kept.error();
  if (!r.out->wall_anchor_ms && r.aligner->boundary_count() > 0) {
    r.out->wall_anchor_ms = g_get_real_time() / 1000;
    r.out->wall_anchor_rt = r.aligner->boundary(0);
  }
  if (!*kept) return {};
  if (video) r.videos[track]->held.push_back(std::move(frame));
  else if (r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4) r.audio->held.push_back(std::move(frame));
  else r.out->ts_audio.push_back(std::move(frame));
  return {};
}

void end_of_stream(Runtime& r, size_t track) { r.aligner->end_of_stream(track); }

Result<void> flush_track(Runtime& r, size_t track) {
  r.aligner->flush(track);
  if (track < r.videos.size()) r.videos[track]->held.clear();
  else if (r.audio) {
    r.audio->held.clear();
    r.out->ts_audio.clear();
  }
  RenditionWriter* w = writer_of(r, track);
  return w ? w->abandon_segment() : Result<void>{};
}

Result<bool> process(Runtime& r) {
  hls::SegmentAligner& al = *r.aligner;
  Presentation& p = *r.out;
  // Default names depend on the other variants' heights: a variant waits until every video pad
  // has caps so the names do not depend on thread timing (bounded by kNamingWait).
  bool all_configured = true;
  for (auto& t : r.videos) all_configured &= t->config != nullptr || t->eos;
  for (size_t i = 0; i < r.videos.size(); ++i) al.set_start_hold(i, !r.videos[i]->writer->named() && !all_configured);
  for (const hls::AlignerDecision& d : al.advance())
    if (auto res = apply(r, d); !res) return res.error();
  // Parts that waited for audio may be complete now.
  for (size_t i = 0; i < r.videos.size(); ++i)
    if (auto res = r.videos[i]->writer->write_parts(false, hls::kNoTime, -1, al.progress(i)); !res) return res.error();
  if (r.audio && r.audio->writer)
    if (auto res = r.audio->writer->write_parts(false, hls::kNoTime, -1, -1); !res) return res.error();

  std::vector<VariantEntry> variants;
  for (auto& t : r.videos) variants.push_back({t->writer.get(), t->config.get(), t->pad ? gst_hls_sink_pad_bitrate(t->pad) : 0});
  const RenditionWriter* audio = r.audio ? r.audio->writer.get() : nullptr;
  const StreamConfig* audio_config = r.audio ? r.audio->config.get() : nullptr;
  if (auto res = p.write_master(variants, audio, audio_config); !res) return res.error();

  if (r.eos_posted || !al.all_ended()) return false;
  // Every input ended: every playlist gets EXT-X-ENDLIST.
  for (RenditionWriter* w : p.renditions)
    if (auto res = w->end(); !res) return res.error();
  if (auto res = p.write_master(variants, audio, audio_config); !res) return res.error();
  r.eos_posted = true;
  return true;
}

GstStructure* make_stats(const Runtime& r) {
  const hls::SegmentAligner* al = r.aligner.get();
  const Presentation* p = r.out.get();
  uint64_t dropped = 0, misaligned = 0;
  for (size_t i = 0; al && i < r.videos.size(); ++i) {
    dropped += al->track_stats(i).dropped;
    misaligned += al->track_stats(i).misaligned;
  }
  auto u64 = [](uint64_t v) { return guint64(v); };
  GstStructure* s = gst_structure_new(
      "hlsadaptivesink-stats", "variants", G_TYPE_UINT, guint(r.videos.size()), "segments-written", G_TYPE_UINT64,
      u64(p ? p->segments_written : 0), "parts-written", G_TYPE_UINT64, u64(p ? p->parts_written : 0), "bytes-written",
      G_TYPE_UINT64, u64(p ? p->store.bytes_written() : 0), "files-deleted", G_TYPE_UINT64,
      u64(p ? p->store.files_deleted() : 0), "boundaries", G_TYPE_UINT64, u64(al ? al->boundary_count() : 0),
      "key-unit-requests", G_TYPE_UINT64, u64(al ? al->key_unit_requests() : 0), "reference-follows-requests",
      G_TYPE_BOOLEAN, gboolean(al ? al->reference_follows_requests() : true), "audio-lag-segments", G_TYPE_UINT64,
      u64(al ? al->audio_lag_events() : 0), "dropped-frames", G_TYPE_UINT64, u64(dropped), "misaligned-cuts",
      G_TYPE_UINT64, u64(misaligned), "http-port", G_TYPE_UINT, guint(p ? p->store.http_port() : 0), nullptr);
  if (p && p->store.uploading()) {
    auto us = p->store.upload_stats();
    gst_structure_set(s, "uploads-ok", G_TYPE_UINT64, u64(us.puts_ok), "deletes-ok", G_TYPE_UINT64,
                      u64(us.deletes_ok), "upload-failures", G_TYPE_UINT64, u64(us.failures), nullptr);
  }
  const PackagingLatency empty;
  const PackagingLatency& l = p ? p->latency : empty;
  gst_structure_set(s, "packaging-latency-count", G_TYPE_UINT64, u64(l.count), "packaging-latency-p50-us",
                    G_TYPE_INT64, gint64(l.percentile(50)), "packaging-latency-p99-us", G_TYPE_INT64,
                    gint64(l.percentile(99)), "packaging-latency-max-us", G_TYPE_INT64, gint64(l.percentile(100)),
                    nullptr);
  for (auto& t : r.videos) {
    const bool named = t->writer && t->writer->named();
    const std::string prefix = named ? t->writer->name() : t->pad_name;
    gst_structure_set(s, (prefix + "-peak-bitrate").c_str(), G_TYPE_UINT64, u64(t->writer ? t->writer->peak_bps() : 0),
                      nullptr);
  }
  return s;
}

}  // namespace live::hlssink
