#include "mp4/fmp4_writer.h"

namespace live::mp4 {

// Placeholder bodies so the API compiles; the real writer follows in the next commit.
Result<Fmp4Writer> Fmp4Writer::create(std::vector<TrackConfig> tracks) {
  if (tracks.empty()) return make_error(Errc::malformed, "no tracks");
  return Fmp4Writer(std::move(tracks));
}

std::vector<uint8_t> Fmp4Writer::init_segment() const { return {}; }

Result<std::vector<uint8_t>> Fmp4Writer::write_fragment(std::span<const TrackRun>, bool) {
  return make_error(Errc::unsupported, "fragment writer not implemented yet");
}

}  // namespace live::mp4
