// rtmpserversrc's drop rule at its hard queue limit: frames go, oldest first; codec
// configuration and metadata never do (issue #9: the limit used to drop sequence headers too).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "net/batch_wakeup.h"
#include "net/io_poller.h"
#include "net/realtime_demand.h"
#include "rtmpserversrc/queued_tag.h"

namespace {

using live::gst::QueuedTag;

QueuedTag tag(uint8_t type, std::vector<uint8_t> payload, uint32_t ms) { return {type, ms, 1, std::move(payload)}; }

TEST(QueuedTag, DropsTheOldestFramesAndKeepsConfigurationAndMetadata) {
  std::deque<QueuedTag> queue;
  queue.push_back(tag(18, {0x02, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}, 0));
  queue.push_back(tag(9, {0x17, 0x00, 0, 0, 0, 1, 0x64}, 0));  // AVC sequence header
  queue.push_back(tag(8, {0xAF, 0x00, 0x12, 0x10}, 0));        // AAC sequence header
  queue.push_back(tag(9, {0x17, 0x01, 0, 0, 0, 1, 2, 3}, 0));  // keyframe
  queue.push_back(tag(8, {0xAF, 0x01, 9, 9, 9}, 23));          // AAC frame
  queue.push_back(tag(9, {0x27, 0x01, 0, 0, 0, 4, 5}, 40));    // delta frame
  queue.push_back(tag(9, {0x17, 0x00, 0, 0, 0, 1, 0x4d}, 80)); // a new sequence header mid-stream

  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 8u);  // the keyframe: oldest droppable
  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 5u);  // then the AAC frame
  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 7u);  // then the delta frame
  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 0u);  // only configuration and metadata left
  ASSERT_EQ(queue.size(), 4u);
  EXPECT_EQ(queue[0].type, 18);
  EXPECT_EQ(queue[1].payload[1], 0x00);
  EXPECT_EQ(queue[2].payload[1], 0x00);
  EXPECT_EQ(queue[3].timestamp, 80u);
}

TEST(QueuedTag, EnhancedRtmpSequenceStartIsConfiguration) {
  std::deque<QueuedTag> queue;
  // ExVideoTagHeader: IsExHeader | keyframe, PacketType SequenceStart (0), FourCC hvc1
  queue.push_back(tag(9, {0x90, 'h', 'v', 'c', '1', 1, 2, 3}, 0));
  // PacketType CodedFramesX (3): a frame
  queue.push_back(tag(9, {0x93, 'h', 'v', 'c', '1', 7, 7}, 0));
  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 7u);
  EXPECT_EQ(live::gst::drop_oldest_frame(queue), 0u);
  EXPECT_EQ(queue.size(), 1u);
}

// BatchWakeup: the one futex word the streaming threads of a listener's sources sleep on.
namespace batch_wakeup {

using live::net::BatchWakeup;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr uint32_t kBitA = 1u << 3;
constexpr uint32_t kBitB = 1u << 7;

TEST(BatchWakeup, AWakeAfterTheTicketIsNeverMissed) {
  BatchWakeup wakeup;
  const auto ticket = wakeup.ticket();
  wakeup.wake(kBitA);  // before the wait: the wait must not sleep
  const auto start = Clock::now();
  wakeup.wait(ticket, kBitA, 5'000'000);
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(BatchWakeup, WaitsForItsTimeoutWithoutAWake) {
  BatchWakeup wakeup;
  const auto start = Clock::now();
  wakeup.wait(wakeup.ticket(), kBitA, 50'000);
  EXPECT_GE(seconds_since(start), 0.045);
  EXPECT_LT(seconds_since(start), 2.0);
}

// Sleepers on bits A and B; wakes name A, then B: each wake releases its own sleepers only.
TEST(BatchWakeup, OneWakeReleasesEverySleeperOfItsBitsAndNoOther) {
  BatchWakeup wakeup;
  constexpr int kPerBit = 4;
  std::atomic<int> ready{0};
  std::atomic<int> woken_a{0};
  std::atomic<int> woken_b{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2 * kPerBit; ++i) {
    const bool on_a = i % 2 == 0;
    threads.emplace_back([&, on_a] {
      for (bool first = true;; first = false) {  // as create() does: wait again after an early return
        const auto ticket = wakeup.ticket();
        if (first) ready.fetch_add(1);
        wakeup.wait(ticket, on_a ? kBitA : kBitB, 10'000'000);  // a missed wake holds it 10 s
        if (wakeup.ticket() != ticket) break;
      }
      (on_a ? woken_a : woken_b).fetch_add(1);
    });
  }
  while (ready.load() < 2 * kPerBit) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let them reach the futex
  EXPECT_EQ(woken_a.load() + woken_b.load(), 0);
  const auto start = Clock::now();
  wakeup.wake(kBitA);
  while (woken_a.load() < kPerBit && seconds_since(start) < 5.0) std::this_thread::yield();
  EXPECT_EQ(woken_a.load(), kPerBit);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(woken_b.load(), 0) << "a wake for bit A woke sleepers of bit B";
  wakeup.wake(kBitB);
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(woken_b.load(), kPerBit);
  EXPECT_LT(seconds_since(start), 5.0);
}

}  // namespace batch_wakeup

namespace read_interval {

using live::net::IoPoller;
using live::net::RealtimeDemand;

constexpr int64_t kDefault = 40'000;  // rtmpserversrc's read-interval default, in µs

// Nobody waits in real time (HLS only): every publisher count gets the whole interval, the
// cheapest for the streams' threads.
TEST(ReadInterval, WholeIntervalWhileNobodyWaits) {
  for (int publishers : {1, 2, 20, 32, 50}) EXPECT_EQ(IoPoller::interval_micros(kDefault, publishers, false), kDefault);
  EXPECT_EQ(IoPoller::interval_micros(0, 20, false), 0);  // 0 = read at once, always
}

// A viewer waits: a few publishers are read almost at once, more by load, never past 20 ms.
TEST(ReadInterval, ByLoadAndAtMost20MsWhileAViewerWaits) {
  EXPECT_EQ(IoPoller::interval_micros(kDefault, 1, true), 1'250);
  EXPECT_EQ(IoPoller::interval_micros(kDefault, 8, true), 10'000);
  EXPECT_EQ(IoPoller::interval_micros(kDefault, 16, true), 20'000);
  EXPECT_EQ(IoPoller::interval_micros(kDefault, 20, true), 20'000);
  EXPECT_EQ(IoPoller::interval_micros(kDefault, 50, true), 20'000);
  EXPECT_EQ(IoPoller::interval_micros(10'000, 50, true), 10'000);  // a shorter setting stays
  EXPECT_EQ(IoPoller::interval_micros(0, 50, true), 0);
}

// Holders count once each, moves carry the count, destruction releases it.
TEST(RealtimeDemand, CountsEachActiveHolderOnceUntilReleased) {
  ASSERT_FALSE(RealtimeDemand::anywhere());
  {
    RealtimeDemand relay;
    EXPECT_FALSE(RealtimeDemand::anywhere());
    relay.set(true);
    relay.set(true);  // still one
    RealtimeDemand whep;
    whep.set(true);
    relay.set(false);
    EXPECT_TRUE(RealtimeDemand::anywhere()) << "the second holder still waits";
    RealtimeDemand moved = std::move(whep);
    EXPECT_FALSE(whep.active());
    EXPECT_TRUE(moved.active());
    EXPECT_TRUE(RealtimeDemand::anywhere());
    whep = std::move(moved);  // back; still one holder
    EXPECT_TRUE(RealtimeDemand::anywhere());
  }
  EXPECT_FALSE(RealtimeDemand::anywhere()) << "destroyed holders must release the demand";
}

}  // namespace read_interval

}  // namespace
