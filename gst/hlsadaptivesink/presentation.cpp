#include "presentation.h"

#include <algorithm>

#include "hls/multivariant_playlist.h"
#include "rendition_writer.h"

namespace live::hlssink {

int64_t PackagingLatency::record() {
  if (arrival_us < 0) return -1;
  const int64_t latency = g_get_monotonic_time() - arrival_us;
  samples_us.push_back(latency);
  if (samples_us.size() > kWindow) samples_us.pop_front();
  count++;
  return latency;
}

int64_t PackagingLatency::percentile(size_t q) const {
  if (samples_us.empty()) return 0;
  std::vector<int64_t> v(samples_us.begin(), samples_us.end());
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * q / 100)];
}

std::optional<int64_t> Presentation::program_date_time_ms(int64_t running_time) const {
  if (!cfg.program_date_time || !wall_anchor_ms) return std::nullopt;
  return *wall_anchor_ms + (running_time - wall_anchor_rt) / 1'000'000;
}

Result<void> Presentation::write_master(const std::vector<VariantEntry>& variants, const RenditionWriter* audio,
                                        const StreamConfig* audio_config) {
  // Called for every buffer: compared in place, a new list only when something changed.
  auto inputs_of = [&](auto&& each) {
    each(uintptr_t(segments_written)), each(uintptr_t(audio)), each(uintptr_t(audio_config));
    for (const VariantEntry& v : variants) each(uintptr_t(v.rendition)), each(uintptr_t(v.config)), each(uintptr_t(v.bitrate));
  };
  size_t compared = 0;
  bool same = master_inputs.size() == 3 + 3 * variants.size();
  if (same) inputs_of([&](uintptr_t value) { same = same && master_inputs[compared++] == value; });
  if (same) return {};
  for (const VariantEntry& v : variants)
    if (!v.rendition->named() || v.rendition->segments() == 0) return {};  // every rendition needs a measured segment
  if (audio && audio->segments() == 0) return {};
  master_inputs.clear();
  inputs_of([&](uintptr_t value) { master_inputs.push_back(value); });
  hls::MultivariantPlaylist m;
  uint64_t audio_peak = 0, audio_avg = 0;
  std::string audio_codec = audio_config ? audio_config->codec_string : "";
  if (audio) {
    audio_peak = audio->peak_bps();
    audio_avg = audio->average_bps();
    hls::AudioRendition ar;
    ar.group_id = "audio";
    ar.name = audio->name();
    ar.uri = audio->playlist_path();
    ar.channels = uint32_t(audio_config ? audio_config->channels : 0);
    m.add_audio(ar);
  }
  if (cfg.low_latency || cfg.fmp4) m.set_version(cfg.fmp4 ? 7 : 6);
  // The measured bitrates move with every segment, and players read them only when they load
  // this playlist. So that the file is not rewritten for every segment: BANDWIDTH is written
  // with 10 % headroom over the peak and kept while the peak stays below it (it is never below
  // the peak); AVERAGE-BANDWIDTH is kept until it is 10 % off.
  std::vector<WrittenBitrates> bitrates;
  for (const VariantEntry& e : variants) {
    const RenditionWriter& o = *e.rendition;
    hls::VariantStream v;
    v.uri = o.playlist_path();
    WrittenBitrates before{&o, 0, 0};
    for (const WrittenBitrates& w : master_bitrates)
      if (w.rendition == &o) before = w;
    uint64_t peak = o.peak_bps() + audio_peak;
    if (peak <= before.bandwidth) peak = before.bandwidth;
    else peak += peak / 10;
    uint64_t average = o.seconds() > 0 ? o.average_bps() + audio_avg : 0;
    if (average > 0 && before.average > 0 &&
        std::max(average, before.average) - std::min(average, before.average) <= before.average / 10)
      average = before.average;
    bitrates.push_back({&o, peak, average});
    v.bandwidth = e.bitrate ? e.bitrate : peak;
    if (average > 0) v.average_bandwidth = average;
    if (e.config) {
      v.codecs = e.config->codec_string;
      if (!audio_codec.empty()) v.codecs += "," + audio_codec;
      v.width = uint32_t(e.config->width);
      v.height = uint32_t(e.config->height);
      if (e.config->fps_n > 0 && e.config->fps_d > 0) v.frame_rate = double(e.config->fps_n) / e.config->fps_d;
    }
    if (audio) v.audio_group = "audio";
    m.add_variant(v);
  }
  std::string text = m.render();
  if (text == master_text) return {};
  if (auto r = store.write_playlist(cfg.master_name, text); !r) return r;
  master_text = std::move(text);
  master_bitrates = std::move(bitrates);
  if (cfg.post_messages)
    messages.push_back(gst_structure_new("hls-playlist-updated", "variant", G_TYPE_STRING, "", "location",
                                         G_TYPE_STRING, store.path(cfg.master_name).c_str(), nullptr));
  return {};
}

}  // namespace live::hlssink
