// ViewerQueue: what a viewer receives (decoded back with ChunkReader), how a slow or stalled
// viewer is bounded and resumes at a keyframe, the timeouts, filters and pause.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/byte_io.h"
#include "relay/viewer_queue.h"
#include "relay_test_helpers.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"

using namespace live;
using namespace live::relay;
using namespace live::relay::test;

namespace {

constexpr uint32_t kChunkSize = 4096;
constexpr int64_t kMs = 1000;  // microseconds per millisecond

// Set Chunk Size (at the default 128, before it applies): what a session queues as owned bytes.
std::vector<uint8_t> set_chunk_size_message() {
  std::vector<uint8_t> payload(4), out;
  store_be32(payload.data(), kChunkSize);
  rtmp::write_message_fmt0(2, 0, 1, 0, payload, 128, out);
  return out;
}

// Writes what the queue offers, at most `max` bytes per write, into `out` until it is empty.
void drain(ViewerQueue& q, int64_t now_us, std::vector<uint8_t>& out, size_t max = 1 << 20) {
  std::span<const uint8_t> parts[8];
  while (!q.empty()) {
    const size_t n = q.gather(parts, max);
    ASSERT_GT(n, 0u);
    size_t written = 0;
    for (size_t i = 0; i < n; ++i) {
      out.insert(out.end(), parts[i].begin(), parts[i].end());
      written += parts[i].size();
    }
    ASSERT_LE(written, max);
    q.consume(written, now_us);
  }
}

// Writes up to `bytes` of what the queue offers (a partial write).
void write_some(ViewerQueue& q, size_t bytes, int64_t now_us, std::vector<uint8_t>& out) {
  std::span<const uint8_t> parts[4];
  const size_t n = q.gather(parts, bytes);
  size_t written = 0;
  for (size_t i = 0; i < n; ++i) {
    out.insert(out.end(), parts[i].begin(), parts[i].end());
    written += parts[i].size();
  }
  q.consume(written, now_us);
}

// The relayed messages in RTMP bytes that start with set_chunk_size_message().
std::vector<rtmp::Message> decode(const std::vector<uint8_t>& bytes) {
  rtmp::ChunkReader reader;
  std::vector<rtmp::Message> out;
  auto r = reader.feed(bytes, out);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(out.empty());
  if (!out.empty()) {
    EXPECT_EQ(out[0].type, 1);
    out.erase(out.begin());
  }
  return out;
}

bool same(const rtmp::Message& m, const RelayMessagePtr& r) {
  return m.type == r->type() && m.timestamp == r->timestamp() && m.stream_id == 1 &&
         std::equal(m.payload.begin(), m.payload.end(), r->payload().begin(), r->payload().end());
}

ViewerQueue rtmp_queue(ViewerQueueLimits limits = {}) {
  ViewerQueue q(WireFormat::rtmp, 1, kChunkSize, limits);
  q.push_bytes(set_chunk_size_message(), 0);
  return q;
}

// Matches what was received against everything pushed, in order: every received message is one
// that was pushed (whole), configuration always arrives, and after any gap the first media
// message received is a video keyframe.
void expect_gaps_resume_at_keyframes(const std::vector<RelayMessagePtr>& pushed,
                                     const std::vector<rtmp::Message>& received, size_t* gaps) {
  size_t j = 0;
  bool synced = true;
  *gaps = 0;
  for (const auto& p : pushed) {
    if (j < received.size() && same(received[j], p)) {
      ++j;
      if (!p->info().is_config() && !synced) {
        ASSERT_EQ(p->info().kind, FrameKind::video_key) << "resumed at ts " << p->timestamp();
        synced = true;
      }
    } else {
      ASSERT_FALSE(p->info().is_config()) << "configuration dropped at ts " << p->timestamp();
      if (synced) ++*gaps;
      synced = false;
    }
  }
  EXPECT_EQ(j, received.size()) << "a received message was never pushed (or out of order)";
}

}  // namespace

TEST(ViewerQueue, KeepingUpGetsEverythingAndNeverTimesOut) {
  auto q = rtmp_queue();
  std::vector<RelayMessagePtr> pushed{metadata(0), video_config(0), audio_config(0)};
  for (const auto& m : pushed) ASSERT_TRUE(q.push(m, 0, true));
  Timeline timeline;
  std::vector<uint8_t> bytes;
  int64_t now = 0;
  for (int i = 0; i < 73 * 60; ++i) {
    auto m = timeline.next();
    // 30 s in, the publisher goes quiet for 20 s (the clock runs on, the queue is empty).
    now = int64_t(m->timestamp()) * kMs + (i >= 73 * 30 ? 20'000 * kMs : 0);
    ASSERT_TRUE(q.push(m, now, true));
    pushed.push_back(m);
    ASSERT_EQ(q.check(now), ViewerHealth::ok);
    drain(q, now + 5 * kMs, bytes);
    ASSERT_EQ(q.check(now + 20 * kMs), ViewerHealth::ok);
  }
  EXPECT_EQ(q.skips(), 0u);
  EXPECT_EQ(q.messages_dropped(), 0u);
  EXPECT_EQ(q.messages_sent(), pushed.size());
  EXPECT_EQ(q.bytes_sent(), bytes.size());
  const auto received = decode(bytes);
  ASSERT_EQ(received.size(), pushed.size());
  for (size_t i = 0; i < pushed.size(); ++i) ASSERT_TRUE(same(received[i], pushed[i])) << i;
}

TEST(ViewerQueue, StalledViewerStaysBoundedAndTimesOut) {
  auto q = rtmp_queue();
  q.push(metadata(0), 0, true);
  q.push(video_config(0), 0, true);
  q.push(audio_config(0), 0, true);
  Timeline timeline;
  size_t max_entries = 0, max_bytes = 0;
  int64_t first_timeout = -1;
  for (int i = 0; i < 73 * 60; ++i) {  // 60 s of 30 fps video + audio, never written
    auto m = timeline.next();
    const int64_t now = int64_t(m->timestamp()) * kMs;
    q.push(m, now, true);
    if (q.check(now) == ViewerHealth::timed_out && first_timeout < 0) first_timeout = now;
    max_entries = std::max(max_entries, q.entry_count());
    max_bytes = std::max(max_bytes, q.queued_bytes());
  }
  // Nothing was ever written: the lag rule keeps only the owned block and the configuration.
  EXPECT_LE(max_entries, 4u + 2 * 74);
  EXPECT_LE(q.entry_count(), 5u);
  EXPECT_LE(max_bytes, 2.1 * (30 * 3020 + 44 * 220) + 2 * 20100);  // two keyframes fit in 2 s
  EXPECT_GT(q.skips(), 0u);
  EXPECT_GT(q.messages_dropped(), 73u * 55);
  EXPECT_EQ(q.messages_sent(), 0u);
  // No write progress while bytes waited since t=0: timed out just after timeout_us.
  EXPECT_GT(first_timeout, kDefaultViewerTimeoutUs);
  EXPECT_LE(first_timeout, kDefaultViewerTimeoutUs + 50 * kMs);
}

TEST(ViewerQueue, StallingViewerSkipsToKeyframesAndStaysBounded) {
  auto q = rtmp_queue();
  std::vector<RelayMessagePtr> pushed{metadata(0), video_config(0), audio_config(0)};
  for (const auto& m : pushed) q.push(m, 0, true);
  Timeline timeline;
  std::vector<uint8_t> bytes;
  std::mt19937 rng(5);
  size_t max_entries = 0, max_bytes = 0, wire_total = 0;
  bool stalled = false;
  for (int i = 0; i < 73 * 60; ++i) {
    auto m = timeline.next();
    const int64_t now = int64_t(m->timestamp()) * kMs;
    // New configuration now and then: never lost to a skip.
    if (i % 1000 == 500) {
      auto c = video_config(m->timestamp(), uint8_t(i / 1000 + 2));
      q.push(c, now, true);
      pushed.push_back(c);
    }
    q.push(m, now, true);
    pushed.push_back(m);
    wire_total += m->rtmp_chunks(1, kChunkSize).size();
    ASSERT_EQ(q.check(now), ViewerHealth::ok) << "at " << now;
    max_entries = std::max(max_entries, q.entry_count());
    max_bytes = std::max(max_bytes, q.queued_bytes());
    // Stalls 3 s out of every 5 s, starting each stall in the middle of a message.
    const bool stall_now = (now / (1000 * kMs)) % 5 < 3;
    if (stall_now && !stalled) write_some(q, 700 + rng() % 300, now, bytes);
    stalled = stall_now;
    if (!stalled) drain(q, now, bytes, 1000 + rng() % 5000);
  }
  drain(q, 61'000 * kMs, bytes);
  EXPECT_GE(q.skips(), 11u);  // 12 stalls, the first at t=0 before the lag applies... each skips
  EXPECT_GT(q.messages_dropped(), 0u);
  EXPECT_LE(max_entries, 8u + size_t(2.1 * 74));
  EXPECT_LE(double(max_bytes), 2.1 * double(wire_total) / 60 + 25000);
  EXPECT_EQ(q.queued_bytes(), 0u);
  EXPECT_EQ(q.bytes_sent(), bytes.size());

  const auto received = decode(bytes);
  EXPECT_EQ(q.messages_sent(), received.size());
  EXPECT_EQ(q.messages_sent() + q.messages_dropped(), pushed.size());
  size_t gaps = 0;
  expect_gaps_resume_at_keyframes(pushed, received, &gaps);
  EXPECT_EQ(gaps, q.skips());
}

TEST(ViewerQueue, PartiallyWrittenMessageIsFinished) {
  auto q = rtmp_queue();
  std::vector<uint8_t> bytes;
  const auto k0 = key(0), d33 = delta(33), k2533 = key(2533), d2566 = delta(2566);
  q.push(k0, 0, true);
  q.push(d33, 33 * kMs, true);
  write_some(q, 100, 40 * kMs, bytes);  // the chunk size message and the start of k0
  EXPECT_FALSE(q.push(delta(2500), 2500 * kMs, true));  // d33 waited 2.47 s: skip
  EXPECT_EQ(q.skips(), 1u);
  EXPECT_TRUE(q.waiting_for_keyframe());
  EXPECT_EQ(q.entry_count(), 1u);  // k0, partly written
  EXPECT_FALSE(q.push(aac(2510), 2510 * kMs, true));
  EXPECT_TRUE(q.push(k2533, 2533 * kMs, true));
  EXPECT_FALSE(q.waiting_for_keyframe());
  EXPECT_TRUE(q.push(d2566, 2566 * kMs, true));
  drain(q, 2600 * kMs, bytes, 333);
  const auto received = decode(bytes);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_TRUE(same(received[0], k0));
  EXPECT_TRUE(same(received[1], k2533));
  EXPECT_TRUE(same(received[2], d2566));
  EXPECT_EQ(q.messages_dropped(), 3u);
}

// The lag is the age of the oldest message not yet started, followed through writes that end
// a message, start one, and empty the queue.
TEST(ViewerQueue, LagIsTheAgeOfTheOldestMessageNotYetStarted) {
  auto q = rtmp_queue();
  std::vector<uint8_t> bytes;
  drain(q, 0, bytes);  // the chunk size message
  const auto k0 = key(0);
  q.push(k0, 0, true);
  q.push(delta(33), 33 * kMs, true);
  write_some(q, k0->rtmp_chunks(1, kChunkSize).size(), 1000 * kMs, bytes);  // k0 whole: d33 is next
  EXPECT_EQ(q.check(2030 * kMs), ViewerHealth::ok);  // d33 waited 1.997 s
  EXPECT_EQ(q.skips(), 0u);
  write_some(q, 10, 2031 * kMs, bytes);  // d33 started: nothing else waits
  EXPECT_TRUE(q.push(delta(66), 2032 * kMs, true));
  EXPECT_EQ(q.check(4031 * kMs), ViewerHealth::ok);  // d66 waited 1.999 s
  EXPECT_EQ(q.skips(), 0u);
  drain(q, 4031 * kMs, bytes);
  EXPECT_TRUE(q.push(delta(100), 9000 * kMs, true));  // the clock starts again at this push
  EXPECT_EQ(q.check(10999 * kMs), ViewerHealth::ok);
  EXPECT_EQ(q.skips(), 0u);
  EXPECT_EQ(q.check(11001 * kMs), ViewerHealth::ok);  // waited 2.001 s: skipped to a keyframe
  EXPECT_EQ(q.skips(), 1u);
  EXPECT_TRUE(q.waiting_for_keyframe());
  EXPECT_EQ(q.messages_sent(), 3u);
}

TEST(ViewerQueue, ConfigurationIsKeptDuringASkip) {
  auto q = rtmp_queue();
  std::vector<uint8_t> bytes;
  drain(q, 0, bytes);
  const auto conf2 = video_config(80, 2), meta2 = metadata(90, 2), k = key(2533);
  q.push(key(0), 0, true);
  q.push(delta(33), 33 * kMs, true);
  q.push(conf2, 80 * kMs, true);
  q.push(meta2, 90 * kMs, true);
  q.push(aac(95), 95 * kMs, true);
  EXPECT_EQ(q.check(2001 * kMs), ViewerHealth::ok);  // the lag rule fires here
  EXPECT_EQ(q.skips(), 1u);
  EXPECT_EQ(q.entry_count(), 2u);
  EXPECT_EQ(q.queued_bytes(), conf2->rtmp_chunks(1, kChunkSize).size() + meta2->rtmp_chunks(1, kChunkSize).size());
  EXPECT_TRUE(q.push(k, 2533 * kMs, true));
  drain(q, 2600 * kMs, bytes);
  const auto received = decode(bytes);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_TRUE(same(received[0], conf2));
  EXPECT_TRUE(same(received[1], meta2));
  EXPECT_TRUE(same(received[2], k));
}

TEST(ViewerQueue, BehindForTimeoutAfterFirstSkipTimesOut) {
  auto q = rtmp_queue();
  std::vector<uint8_t> bytes;
  Timeline timeline;
  int64_t first_skip = -1;
  for (int i = 0; i < 73 * 8; ++i) {  // writes 40 bytes per message: always behind, never still
    auto m = timeline.next();
    const int64_t now = int64_t(m->timestamp()) * kMs;
    q.push(m, now, true);
    write_some(q, 40, now, bytes);
    if (q.skips() > 0 && first_skip < 0) first_skip = now;
    ASSERT_EQ(q.check(now), ViewerHealth::ok);
  }
  ASSERT_GT(first_skip, 2000 * kMs);
  EXPECT_EQ(q.check(first_skip + kDefaultViewerTimeoutUs), ViewerHealth::ok);
  EXPECT_EQ(q.check(first_skip + kDefaultViewerTimeoutUs + 1), ViewerHealth::timed_out);
}

TEST(ViewerQueue, NoWriteProgressForTimeoutTimesOut) {
  ViewerQueue q(WireFormat::rtmp, 1, kChunkSize, {});
  const int64_t t0 = 5'000 * kMs;
  EXPECT_EQ(q.check(t0 + kDefaultViewerTimeoutUs * 3), ViewerHealth::ok);  // empty: nothing waits
  q.push_bytes(set_chunk_size_message(), t0);
  EXPECT_EQ(q.check(t0 + kDefaultViewerTimeoutUs), ViewerHealth::ok);
  EXPECT_EQ(q.check(t0 + kDefaultViewerTimeoutUs + 1), ViewerHealth::timed_out);

  ViewerQueue progressing(WireFormat::rtmp, 1, kChunkSize, {});
  progressing.push_bytes(set_chunk_size_message(), t0);
  std::vector<uint8_t> bytes;
  write_some(progressing, 3, t0 + 6'000 * kMs, bytes);  // progress, but the block is not done
  EXPECT_EQ(progressing.check(t0 + kDefaultViewerTimeoutUs + 1), ViewerHealth::ok);
  EXPECT_EQ(progressing.check(t0 + 6'000 * kMs + kDefaultViewerTimeoutUs + 1), ViewerHealth::timed_out);
}

TEST(ViewerQueue, AudioOnlyResumesAtTheNextAudioFrame) {
  auto q = rtmp_queue();
  std::vector<uint8_t> bytes;
  q.push(audio_config(0), 0, false);
  drain(q, 0, bytes);
  std::vector<RelayMessagePtr> pushed;
  for (uint32_t ts = 0; ts < 2500; ts += 23) {  // stalled for 2.5 s
    auto m = aac(ts);
    q.push(m, int64_t(ts) * kMs, false);
    pushed.push_back(m);
  }
  EXPECT_EQ(q.skips(), 1u);
  EXPECT_FALSE(q.waiting_for_keyframe());  // the audio frame that came with the skip resumed it
  const uint32_t resumed_at = 2001;        // first push more than 2 s after t=0: 87 * 23
  EXPECT_EQ(q.entry_count(), size_t((2484 - resumed_at) / 23 + 1));
  drain(q, 2500 * kMs, bytes);
  const auto received = decode(bytes);
  ASSERT_EQ(received.size(), 1 + q.messages_sent() - 1);
  EXPECT_EQ(received[0].type, 8);
  EXPECT_EQ(received[1].timestamp, resumed_at);
  EXPECT_EQ(received.back().timestamp, 2484u);
  for (size_t i = 2; i < received.size(); ++i) EXPECT_EQ(received[i].timestamp, received[i - 1].timestamp + 23);
}

TEST(ViewerQueue, ReceiveFilters) {
  ViewerQueue q(WireFormat::rtmp, 1, kChunkSize, {});
  q.set_receive_audio(false);
  EXPECT_FALSE(q.push(audio_config(0), 0, true));
  EXPECT_FALSE(q.push(aac(0), 0, true));
  EXPECT_TRUE(q.push(metadata(0), 0, true));
  EXPECT_TRUE(q.push(video_config(0), 0, true));
  EXPECT_TRUE(q.push(key(0), 0, true));
  EXPECT_TRUE(q.push(make(18, 1, amf0_string("onCuePoint")), 0, true));
  q.set_receive_audio(true);
  EXPECT_TRUE(q.push(aac(23), 0, true));

  q.set_receive_video(false, 0);
  EXPECT_FALSE(q.push(key(40), 0, true));
  EXPECT_FALSE(q.push(video_config(40), 0, true));
  EXPECT_FALSE(q.push(delta(73), 0, true));
  EXPECT_TRUE(q.push(aac(46), 0, true));
  EXPECT_FALSE(q.waiting_for_keyframe());
  q.set_receive_video(true, 0);  // waits for a keyframe: audio too
  EXPECT_TRUE(q.waiting_for_keyframe());
  EXPECT_FALSE(q.push(delta(106), 0, true));
  EXPECT_FALSE(q.push(aac(69), 0, true));
  EXPECT_TRUE(q.push(video_config(120), 0, true));
  EXPECT_TRUE(q.push(key(140), 0, true));
  EXPECT_TRUE(q.push(delta(173), 0, true));
  EXPECT_TRUE(q.push(aac(92), 0, true));
  EXPECT_EQ(q.messages_dropped(), 7u);
  EXPECT_EQ(q.entry_count(), 10u);
  q.set_receive_video(true, 0);  // already on: no new wait
  EXPECT_TRUE(q.push(delta(206), 0, true));
}

TEST(ViewerQueue, PauseDropsEverythingAndResumesAtAKeyframe) {
  ViewerQueue q(WireFormat::rtmp, 1, kChunkSize, {});
  EXPECT_TRUE(q.push(key(0), 0, true));
  std::vector<uint8_t> bytes;
  write_some(q, 100, 5 * kMs, bytes);  // the rest of it is written during the pause
  q.set_paused(true, 10 * kMs);
  EXPECT_FALSE(q.push(delta(33), 33 * kMs, true));
  EXPECT_FALSE(q.push(metadata(40), 40 * kMs, true));
  EXPECT_FALSE(q.push(key(2000), 2000 * kMs, true));
  EXPECT_EQ(q.messages_dropped(), 3u);
  EXPECT_EQ(q.entry_count(), 1u);
  drain(q, 1900 * kMs, bytes);
  q.set_paused(false, 2010 * kMs);
  EXPECT_TRUE(q.waiting_for_keyframe());
  EXPECT_FALSE(q.push(delta(2033), 2033 * kMs, true));
  EXPECT_FALSE(q.push(aac(2040), 2040 * kMs, true));
  EXPECT_TRUE(q.push(audio_config(2041), 2041 * kMs, true));
  EXPECT_TRUE(q.push(key(4000), 4000 * kMs, true));
  EXPECT_TRUE(q.push(aac(4010), 4010 * kMs, true));
  EXPECT_EQ(q.messages_dropped(), 5u);
  EXPECT_EQ(q.skips(), 0u);
  EXPECT_EQ(q.messages_sent(), 1u);
}

TEST(ViewerQueue, HttpFlvWritesTheHttpChunks) {
  ViewerQueue q(WireFormat::http_flv, 0, 0, {});
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::vector<uint8_t> expected(head.begin(), head.end());
  q.push_bytes(std::vector<uint8_t>(head.begin(), head.end()), 0);
  Timeline timeline;
  std::vector<RelayMessagePtr> messages{metadata(0), video_config(0), audio_config(0)};
  for (int i = 0; i < 100; ++i) messages.push_back(timeline.next());
  for (const auto& m : messages) {
    ASSERT_TRUE(q.push(m, 0, true));
    const auto chunk = m->http_flv_chunk();
    expected.insert(expected.end(), chunk.begin(), chunk.end());
  }
  std::vector<uint8_t> bytes;
  drain(q, 0, bytes, 777);
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(q.messages_sent(), messages.size());
}

TEST(ViewerQueue, EverySplitGivesTheSameBytes) {
  // Owned blocks between shared messages, as a session interleaves its status messages.
  std::vector<RelayMessagePtr> messages{metadata(0), video_config(0), audio_config(0)};
  Timeline timeline;
  for (int i = 0; i < 40; ++i) messages.push_back(timeline.next());
  const auto fill = [&](ViewerQueue& q, std::vector<uint8_t>* expected) {
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i % 7 == 0) {
        std::vector<uint8_t> owned(1 + i, uint8_t(i));
        if (expected) expected->insert(expected->end(), owned.begin(), owned.end());
        q.push_bytes(std::move(owned), 0);
      }
      q.push(messages[i], 0, true);
      if (expected) {
        const auto wire = messages[i]->rtmp_chunks(1, 128);
        expected->insert(expected->end(), wire.begin(), wire.end());
      }
    }
  };
  std::vector<uint8_t> expected;
  {
    ViewerQueue q(WireFormat::rtmp, 1, 128, {});
    fill(q, &expected);
    EXPECT_EQ(q.queued_bytes(), expected.size());
  }
  // Fixed write sizes 1..64, then random writev shapes: parts, byte budget, partial writes.
  std::mt19937 rng(1234);
  for (int run = 0; run < 164; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    ViewerQueue q(WireFormat::rtmp, 1, 128, {});
    fill(q, nullptr);
    std::vector<uint8_t> bytes;
    std::span<const uint8_t> parts[6];
    while (!q.empty()) {
      const size_t part_count = run < 64 ? 6 : 1 + rng() % 6;
      const size_t budget = run < 64 ? size_t(run + 1) : 1 + rng() % 3000;
      const size_t n = q.gather(std::span(parts, part_count), budget);
      ASSERT_GT(n, 0u);
      size_t offered = 0;
      for (size_t i = 0; i < n; ++i) offered += parts[i].size();
      ASSERT_LE(offered, budget);
      const size_t written = run < 64 ? offered : rng() % (offered + 1);  // the socket takes some
      size_t left = written;
      for (size_t i = 0; i < n && left > 0; ++i) {
        const size_t take = std::min(left, parts[i].size());
        bytes.insert(bytes.end(), parts[i].begin(), parts[i].begin() + take);
        left -= take;
      }
      q.consume(written, 0);
    }
    ASSERT_EQ(bytes, expected);
    EXPECT_EQ(q.bytes_sent(), expected.size());
    EXPECT_EQ(q.messages_sent(), messages.size());
    EXPECT_EQ(q.queued_bytes(), 0u);
  }
}

TEST(ViewerQueue, EntryAndByteBoundsTriggerTheLagRule) {
  ViewerQueueLimits limits;
  limits.max_lag_us = 1'000'000'000;
  limits.max_queued_bytes = 1u << 30;
  ViewerQueue many(WireFormat::rtmp, 1, kChunkSize, limits);
  for (uint32_t i = 0; i < 20000; ++i) many.push(make(8, i, {0x2F, 1}), 0, false);  // tiny MP3 frames
  EXPECT_LE(many.entry_count(), kMaxViewerQueueEntries + 1);
  EXPECT_GE(many.skips(), 2u);

  limits.max_queued_bytes = 100000;
  ViewerQueue big(WireFormat::rtmp, 1, kChunkSize, limits);
  Timeline timeline;
  size_t max_bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    big.push(timeline.next(), 0, true);
    max_bytes = std::max(max_bytes, big.queued_bytes());
  }
  EXPECT_LE(max_bytes, 100000u + 21000);
  EXPECT_GE(big.skips(), 2u);
}
