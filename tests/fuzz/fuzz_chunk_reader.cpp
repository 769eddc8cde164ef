// Fuzz target: ChunkReader under small limits. Besides not crashing, it checks the house
// rule: the messages are the same whether the input comes whole or in two pieces.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rtmp/chunk_reader.h"

using namespace live::rtmp;

namespace {

ChunkReaderLimits fuzz_limits() { return ChunkReaderLimits{64 * 1024, 16, 64 * 1024, 128 * 1024}; }

bool same(const std::vector<Message>& a, const std::vector<Message>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].chunk_stream_id != b[i].chunk_stream_id || a[i].timestamp != b[i].timestamp || a[i].type != b[i].type ||
        a[i].stream_id != b[i].stream_id || a[i].payload != b[i].payload) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::span<const uint8_t> input(data + 2, size - 2);
  const size_t cut = (size_t(data[0]) << 8 | data[1]) % (input.size() + 1);

  ChunkReader whole(fuzz_limits());
  std::vector<Message> whole_out;
  const bool whole_ok = whole.feed(input, whole_out).ok();

  ChunkReader split(fuzz_limits());
  std::vector<Message> split_out;
  bool split_ok = split.feed(input.first(cut), split_out).ok();
  if (split_ok) split_ok = split.feed(input.subspan(cut), split_out).ok();

  if (whole_ok != split_ok) __builtin_trap();
  if (whole_ok && !same(whole_out, split_out)) __builtin_trap();
  if (whole_ok && !whole.same_state(split)) __builtin_trap();
  // On error the messages completed before it must still agree.
  if (!whole_ok && !same(whole_out, split_out)) __builtin_trap();
  return 0;
}
