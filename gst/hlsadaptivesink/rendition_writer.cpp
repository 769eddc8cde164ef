#include "rendition_writer.h"

#include <gst/gst.h>

#include <algorithm>

#include "aes_cbc.h"

GST_DEBUG_CATEGORY_EXTERN(hls_sink_debug);
#define GST_CAT_DEFAULT hls_sink_debug

namespace live::hlssink {

namespace {

double frames_span(const std::vector<Frame>& frames, int64_t end_dts) {
  if (frames.empty()) return 0;
  int64_t stop = end_dts;
  if (stop == hls::kNoTime) stop = frames.back().dts + std::max<int64_t>(0, frames.back().duration);
  return double(stop - frames.front().dts) / kSecond;
}

Error writer_error(const std::string& what, const Error& e) { return make_error(e.code, what + ": " + e.context); }

}  // namespace

void RenditionWriter::setup(const std::string& name) {
  const WriterSettings& cfg = p_.cfg;
  name_ = name;
  dir_ = cfg.flat ? "" : name + "/";
  uri_prefix_ = cfg.flat ? name + "_" : "";
  playlist_path_ = dir_ + uri_prefix_ + cfg.playlist_name;
  hls::MediaPlaylistConfig pc;
  pc.target_duration = uint32_t(std::max<int64_t>(1, (cfg.target_duration + kSecond / 2) / kSecond));
  pc.window_segments = cfg.playlist_length;
  if (cfg.low_latency) pc.part_target = double(cfg.part_duration) / kSecond;
  if (cfg.fmp4) pc.map = hls::MapInfo{uri_prefix_ + "init.mp4", std::nullopt};
  playlist_ = std::make_unique<hls::MediaPlaylist>(pc);
}

std::string RenditionWriter::media_name(uint64_t msn, int part) const {
  std::string s = uri_prefix_ + "seg" + std::to_string(msn);
  if (part >= 0) s += ".part" + std::to_string(part);
  return s + (p_.cfg.fmp4 ? ".m4s" : ".ts");
}

void RenditionWriter::append(Frame frame) {
  if (seg_frames_.empty() && parts_in_segment_ == 0) seg_start_ = frame.pts;
  seg_frames_.push_back(std::move(frame));
}

// Builds the fMP4 writer (and writes init.mp4) for a rendition whose codec config changed.
Result<void> RenditionWriter::ensure_mp4(const std::shared_ptr<const StreamConfig>& c) {
  if (mp4_ && mp4_config_ == c) return {};
  if (mp4_ && mp4_config_ && c->codec_data == mp4_config_->codec_data) {
    mp4_config_ = c;
    return {};
  }
  mp4::TrackConfig tc;
  tc.track_id = 1;
  tc.codec_config = c->codec_data;
  if (c->kind == Kind::aac) {
    tc.codec = mp4::Codec::aac;
    tc.timescale = c->aac.sample_rate ? c->aac.sample_rate : 48000;
    tc.sample_rate = tc.timescale;
    tc.channels = uint16_t(c->channels ? c->channels : 2);
  } else {
    if (!c->length_prefixed) return make_error(Errc::unsupported, "fMP4 needs stream-format avc/hvc1 (codec_data)");
    tc.codec = c->kind == Kind::h264 ? mp4::Codec::h264 : mp4::Codec::h265;
    tc.timescale = 90000;
    tc.width = uint32_t(c->width);
    tc.height = uint32_t(c->height);
  }
  auto w = mp4::Fmp4Writer::create({tc});
  if (!w) return writer_error("fMP4 writer", w.error());
  const bool first = !mp4_;
  mp4_.emplace(std::move(*w));
  mp4_config_ = c;
  mp4_timescale_ = tc.timescale;
  std::string init_name = uri_prefix_ + "init.mp4";
  if (!first) {
    init_generation_++;
    init_name = uri_prefix_ + "init" + std::to_string(init_generation_) + ".mp4";
    playlist_->set_map(hls::MapInfo{init_name, std::nullopt});
    discont_next_ = true;
  }
  return p_.store.write_file(dir_ + init_name, mp4_->init_segment());
}

Result<std::vector<uint8_t>> RenditionWriter::mp4_fragment(const std::vector<Frame>& frames, int64_t end_dts,
                                                           bool with_styp) {
  std::vector<mp4::Sample> samples;
  samples.reserve(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    mp4::Sample s;
    s.dts = to_ticks(f.dts, mp4_timescale_);
    s.pts = to_ticks(f.pts, mp4_timescale_);
    int64_t next_dts;
    if (i + 1 < frames.size()) next_dts = to_ticks(frames[i + 1].dts, mp4_timescale_);
    else if (end_dts != hls::kNoTime) next_dts = to_ticks(end_dts, mp4_timescale_);
    else next_dts = to_ticks(f.dts + (f.duration > 0 ? f.duration : 0), mp4_timescale_);
    s.duration = uint32_t(std::max<int64_t>(0, next_dts - s.dts));
    s.keyframe = f.keyframe;
    s.data = f.data;
    samples.push_back(s);
  }
  mp4::TrackRun run{1, samples};
  return mp4_->write_fragment(std::span<const mp4::TrackRun>(&run, 1), with_styp);
}

void RenditionWriter::ensure_ts(const StreamConfig& c) {
  if (!ts_)
    ts_ = std::make_unique<ts::TsSegmentWriter>(
        c.kind == Kind::h265 ? ts::TsSegmentWriter::VideoCodec::h265 : ts::TsSegmentWriter::VideoCodec::h264, ts_audio_);
}

// MPEG-TS: video frames and the audio frames given, interleaved by decode time.
std::vector<uint8_t> RenditionWriter::mux_ts(const std::vector<Frame>& video, const std::vector<Frame>& audio) {
  auto write_audio = [&](const Frame& a) {
    auto adts = to_adts(a);
    if (!adts) {
      GST_WARNING("%s: AAC frame of %zu bytes dropped: %s", name_.c_str(), a.data.size(),
                  adts.error().describe().c_str());
      return;
    }
    ts_->write_audio(*adts, to_90k(a.pts));
  };
  size_t ai = 0;
  for (auto& f : video) {
    while (ai < audio.size() && audio[ai].pts <= f.dts) write_audio(audio[ai++]);
    ts_->write_video(to_annexb(f), to_90k(f.pts), to_90k(f.dts), f.keyframe);
  }
  for (; ai < audio.size(); ++ai) write_audio(audio[ai]);
  return ts_->take();
}

std::vector<Frame> RenditionWriter::ts_audio_between(int64_t from, int64_t until) const {
  std::vector<Frame> audio;
  if (!ts_audio_) return audio;
  for (const Frame& a : p_.ts_audio)
    if (a.pts >= from && (until < 0 || a.pts < until)) audio.push_back(a);
  return audio;
}

// EXT-X-PRELOAD-HINT for the next part; the built-in server holds a GET for it until it exists.
void RenditionWriter::set_preload_hint(const std::string& uri) {
  playlist_->set_preload_hint(hls::PreloadHint{uri, std::nullopt, std::nullopt});
  p_.store.expect_file(dir_ + uri);
}

// Parts of the segment in progress, packed while a part stays within part-duration.
// MPEG-TS parts carry the audio up to the next video frame (at the end: up to audio_end), once
// it has arrived.
Result<void> RenditionWriter::write_parts(bool flush, int64_t end_dts, int64_t audio_end, int64_t video_progress) {
  auto packed = pack_parts(flush, end_dts, audio_end, video_progress);
  if (!packed) return packed.error();
  if (*packed) return write_playlist(true);
  return {};
}

Result<bool> RenditionWriter::pack_parts(bool flush, int64_t end_dts, int64_t audio_end, int64_t video_progress) {
  if (!p_.cfg.low_latency || !playlist_) return false;
  const bool fmp4 = p_.cfg.fmp4;
  bool wrote = false;
  while (!seg_frames_.empty()) {
    size_t n = 0;
    bool full = false;  // the next frame would overflow the part
    const int64_t start = seg_frames_.front().dts;
    while (n < seg_frames_.size()) {
      const Frame& f = seg_frames_[n];
      const bool last = n + 1 == seg_frames_.size();
      if (last && f.duration <= 0) break;  // end unknown until the next frame arrives
      const int64_t fend = last ? f.dts + f.duration : seg_frames_[n + 1].dts;  // (DTS may be < 0)
      if (fend - start > p_.cfg.part_duration) {
        full = true;
        break;
      }
      n++;
    }
    if (!full && !flush) break;
    if (n == 0) n = 1;  // a frame longer than a part still goes out alone
    if (!full) n = seg_frames_.size();
    int64_t part_audio_end = audio_end;
    if (n < seg_frames_.size()) {
      part_audio_end = seg_frames_[n].dts;
      if (audio_end >= 0) part_audio_end = std::min(part_audio_end, audio_end);
    }
    if (ts_audio_ && n < seg_frames_.size() && !p_.aligner->audio_ready_until(part_audio_end, video_progress)) break;
    for (size_t j = 0; j < n; ++j)
      parts_end_ = std::max(parts_end_, seg_frames_[j].pts + std::max<int64_t>(0, seg_frames_[j].duration));
    std::vector<Frame> part(std::make_move_iterator(seg_frames_.begin()),
                            std::make_move_iterator(seg_frames_.begin() + long(n)));
    seg_frames_.erase(seg_frames_.begin(), seg_frames_.begin() + long(n));
    const int64_t next_dts = !seg_frames_.empty() ? seg_frames_.front().dts : end_dts;
    if (fmp4)
      if (auto r = ensure_mp4(part.front().config); !r) return r.error();
    if (parts_in_segment_ == 0) {
      // Discontinuity and date of the segment must stand before its first part.
      hls::SegmentStart ss;
      ss.discontinuity = discont_next_;
      ss.program_date_time_ms = p_.program_date_time_ms(seg_start_);
      if (auto r = playlist_->begin_segment(ss); !r) return r.error();
    }
    Result<std::vector<uint8_t>> frag = std::vector<uint8_t>{};
    if (fmp4) {
      frag = mp4_fragment(part, next_dts, parts_in_segment_ == 0);
      if (!frag) return writer_error("fMP4 part", frag.error());
    } else {
      ensure_ts(*part.front().config);
      ts_->begin_segment();  // PAT/PMT in every part: each one is parseable on its own
      std::vector<Frame> audio = ts_audio_between(audio_cursor_, part_audio_end);
      if (ts_audio_) audio_cursor_ = part_audio_end < 0 ? INT64_MAX : std::max(audio_cursor_, part_audio_end);
      frag = mux_ts(part, audio);
    }
    const uint64_t msn = playlist_->next_msn();
    const std::string uri = media_name(msn, int(parts_in_segment_));
    if (auto r = p_.store.write_file(dir_ + uri, *frag); !r) return r.error();
    if (p_.store.segments_from_parts()) {
      seg_part_names_.push_back(dir_ + uri);
      seg_parts_size_ += frag->size();
    } else {
      seg_bytes_.insert(seg_bytes_.end(), frag->begin(), frag->end());
    }
    hls::PartInfo pi;
    pi.duration = frames_span(part, next_dts);
    pi.uri = uri;
    pi.independent = part.front().keyframe;
    if (auto r = playlist_->add_part(pi); !r)
      return writer_error(name_ + " add_part (" + std::to_string(part.size()) + " frames, dts " +
                              std::to_string(part.front().dts) + ".." + std::to_string(next_dts) + ")",
                          r.error());
    parts_in_segment_++;
    p_.parts_written++;
    set_preload_hint(media_name(msn, int(parts_in_segment_)));
    wrote = true;
  }
  return wrote;
}

Result<void> RenditionWriter::finish_segment(const hls::AlignerDecision& cut) {
  const bool fmp4 = p_.cfg.fmp4;
  const uint64_t msn = playlist_->next_msn();
  const int64_t start = seg_start_;
  // Duration: up to the next segment start, or to the end of the last frame.
  int64_t end = cut.end_pts;
  if (end < 0) {
    end = parts_end_;
    for (auto& f : seg_frames_) end = std::max(end, f.pts + std::max<int64_t>(0, f.duration));
    if (end < 0) end = start;
  }
  std::vector<uint8_t> bytes;
  std::vector<std::string> part_names;  // the segment is these parts, joined by the store
  uint64_t parts_size = 0;
  if (p_.cfg.low_latency) {
    // MPEG-TS parts take the audio up to the segment's end; fMP4 audio is its own rendition.
    // The playlist is written once below, with the last parts and the segment closed (a
    // blocking request for the last part is answered by the complete segment).
    if (auto r = pack_parts(true, cut.end_dts, fmp4 ? -1 : cut.audio_until, -1); !r) return r.error();
    bytes = std::move(seg_bytes_);
    part_names = std::move(seg_part_names_);
    parts_size = seg_parts_size_;
  } else if (fmp4) {
    if (!seg_frames_.empty()) {
      if (auto r = ensure_mp4(seg_frames_.front().config); !r) return r;
      auto frag = mp4_fragment(seg_frames_, cut.end_dts, true);
      if (!frag) return writer_error("fMP4 segment", frag.error());
      bytes = std::move(*frag);
    }
  } else {
    ensure_ts(*seg_frames_.front().config);
    ts_->begin_segment();
    bytes = mux_ts(seg_frames_, ts_audio_between(cut.audio_from, cut.audio_until));
  }
  const bool discont = discont_next_;
  discont_next_ = false;
  seg_frames_.clear();
  seg_bytes_.clear();
  seg_part_names_.clear();
  seg_parts_size_ = 0;
  parts_in_segment_ = 0;
  parts_end_ = -1;
  if (ts_audio_) audio_cursor_ = cut.audio_until < 0 ? INT64_MAX : cut.audio_until;
  if (cut.next_discontinuity) discont_next_ = true;  // for the segment that follows

  hls::SegmentInfo si;
  si.duration = double(end - start) / kSecond;
  si.uri = media_name(msn, -1);
  si.discontinuity = discont;
  si.program_date_time_ms = p_.program_date_time_ms(start);
  if (!fmp4) {
    auto key = p_.keys.for_segment(msn, p_.store);
    if (!key) return key.error();
    si.key = *key;
    if (si.key) {
      auto enc = aes128_cbc_encrypt(bytes, p_.keys.key(), *si.key->iv);
      if (!enc) return enc.error();
      bytes = std::move(*enc);
    }
  }
  if (!part_names.empty()) {
    if (auto r = p_.store.write_joined(dir_ + si.uri, part_names, parts_size); !r) return r;
  } else if (auto r = p_.store.write_file(dir_ + si.uri, bytes); !r) {
    return r;
  }
  if (auto r = playlist_->add_segment(si); !r) return writer_error("add_segment", r.error());
  playlist_->set_preload_hint(std::nullopt);
  if (p_.cfg.low_latency) set_preload_hint(media_name(msn + 1, 0));
  p_.segments_written++;
  segments_++;
  const uint64_t segment_size = part_names.empty() ? bytes.size() : parts_size;
  total_bytes_ += segment_size;
  total_seconds_ += si.duration;
  if (si.duration > 0.05) peak_bps_ = std::max<uint64_t>(peak_bps_, uint64_t(segment_size * 8 / si.duration));
  if (auto r = write_playlist(true); !r) return r;
  if (!p_.cfg.post_messages) return {};
  p_.messages.push_back(gst_structure_new("hls-segment-added", "variant", G_TYPE_STRING, name_.c_str(), "sequence",
                                          G_TYPE_UINT64, guint64(msn), "duration", G_TYPE_UINT64,
                                          guint64(end - start), "location", G_TYPE_STRING,
                                          p_.store.path(dir_ + si.uri).c_str(), "start-pts", G_TYPE_UINT64,
                                          guint64(start), nullptr));
  return {};
}

Result<void> RenditionWriter::abandon_segment() {
  seg_frames_.clear();
  if (playlist_ && parts_in_segment_ > 0) {
    hls::AlignerDecision cut;  // what was published as parts becomes a segment ending there
    cut.type = hls::AlignerDecision::Type::cut;
    if (auto r = finish_segment(cut); !r) return r;
  }
  seg_start_ = -1;
  audio_cursor_ = INT64_MIN;
  if (segments_ > 0) discont_next_ = true;
  return {};
}

Result<void> RenditionWriter::end() {
  if (!playlist_) return {};
  playlist_->end();
  return write_playlist(false);
}

hls::RenditionReport RenditionWriter::report() const { return playlist_->rendition_report(p_.rel_to_playlist(playlist_path_)); }

Result<void> RenditionWriter::write_playlist(bool lists_new_media) {
  if (p_.cfg.low_latency) {
    std::vector<hls::RenditionReport> reports;
    for (RenditionWriter* other : p_.renditions)
      if (other != this && other->playlist_) reports.push_back(other->report());
    playlist_->set_rendition_reports(std::move(reports));
  }
  if (auto r = p_.store.write_playlist(playlist_path_, playlist_->render()); !r) return r;
  const int64_t latency_us = lists_new_media ? p_.latency.record() : -1;
  if (playlist_->ended()) {
    p_.store.forget_playlist(playlist_path_);
  } else {
    const uint32_t part = playlist_->next_part_index();
    if (part > 0) p_.store.notify_playlist(playlist_path_, int64_t(playlist_->next_msn()), int64_t(part) - 1);
    else p_.store.notify_playlist(playlist_path_, int64_t(playlist_->next_msn()) - 1, -1);
  }
  retire_files();
  if (!p_.cfg.post_messages) return {};
  GstStructure* msg = gst_structure_new("hls-playlist-updated", "variant", G_TYPE_STRING, name_.c_str(), "location",
                                        G_TYPE_STRING, p_.store.path(playlist_path_).c_str(), nullptr);
  if (latency_us >= 0) gst_structure_set(msg, "packaging-latency-us", G_TYPE_INT64, gint64(latency_us), nullptr);
  p_.messages.push_back(msg);
  return {};
}

// Files that left the playlist are kept for max-files more segments, then deleted.
void RenditionWriter::retire_files() {
  for (auto& uri : playlist_->take_removed_uris()) {
    const bool whole = uri.find(".part") == std::string::npos;
    retired_.emplace_back(dir_ + uri, whole);
  }
  auto whole_count = [&] {
    return size_t(std::count_if(retired_.begin(), retired_.end(), [](auto& e) { return e.second; }));
  };
  while (!retired_.empty() && whole_count() > p_.cfg.max_files) {
    const std::string rel = retired_.front().first;
    retired_.pop_front();
    p_.store.remove(rel);
  }
}

}  // namespace live::hlssink
