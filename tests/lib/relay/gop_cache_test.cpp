// GopCache on synthetic timelines: what a viewer joining at any moment gets first, and the
// bounds that hold whatever the publisher sends.
#include <gtest/gtest.h>

#include "flv/fourcc.h"
#include "relay/gop_cache.h"
#include "relay_test_helpers.h"

using namespace live;
using namespace live::relay;
using namespace live::relay::test;

namespace {

std::vector<FrameKind> kinds(const std::vector<RelayMessagePtr>& messages) {
  std::vector<FrameKind> out;
  for (const auto& m : messages) out.push_back(m->info().kind);
  return out;
}

RelayMessagePtr multitrack_audio_config(uint8_t track_id, uint8_t version) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> data{version};
  const flv::AudioTrackWrite track{track_id, flv::fourcc::opus, data};
  flv::write_ex_audio_multitrack(p, flv::MultitrackType::one_track, flv::AudioPacketType::sequence_start,
                                 std::span(&track, 1));
  return make(8, 0, std::move(p));
}

}  // namespace

TEST(GopCache, JoinMidGopStartsAtKeyframe) {
  GopCache cache;
  const auto meta = metadata(0);
  const auto vconf = video_config(0);
  const auto aconf = audio_config(0);
  cache.push(meta);
  cache.push(vconf);
  cache.push(aconf);
  Timeline timeline(2000);
  std::vector<RelayMessagePtr> since_key;
  uint32_t last_key_ts = 0;
  for (int i = 0; i < 650; ++i) {  // about 8.8 s: the fifth GOP has started
    auto m = timeline.next();
    if (m->info().kind == FrameKind::video_key) {
      since_key.clear();
      last_key_ts = m->timestamp();
    }
    since_key.push_back(m);
    cache.push(m);
    const auto snap = cache.snapshot();
    ASSERT_GE(snap.size(), 4u);
    EXPECT_EQ(snap[0], meta);
    EXPECT_EQ(snap[1], vconf);
    EXPECT_EQ(snap[2], aconf);
    EXPECT_EQ(snap[3]->info().kind, FrameKind::video_key);
    // Exactly the messages since the last keyframe, in order.
    ASSERT_EQ(snap.size() - 3, since_key.size());
    for (size_t k = 0; k < since_key.size(); ++k) ASSERT_EQ(snap[3 + k], since_key[k]);
  }
  EXPECT_TRUE(cache.has_keyframe());
  EXPECT_EQ(last_key_ts, 8000u);
  EXPECT_EQ(cache.snapshot()[3]->timestamp(), 8000u);
  EXPECT_EQ(cache.gops_dropped(), 0u);
  EXPECT_GT(cache.duration_ms(), 700);
  EXPECT_LT(cache.duration_ms(), 900);
}

TEST(GopCache, GopOverDurationIsDroppedAndCachingResumesAtNextKeyframe) {
  GopCacheLimits limits;
  limits.max_duration_ms = 1000;
  GopCache cache(limits);
  cache.push(video_config(0));
  cache.push(key(0));
  for (uint32_t ts = 33; ts <= 1000; ts += 33) cache.push(delta(ts));
  EXPECT_EQ(cache.gops_dropped(), 0u);
  EXPECT_EQ(cache.duration_ms(), 990);
  cache.push(delta(1023));  // 1023 ms > 1000 ms
  EXPECT_EQ(cache.gops_dropped(), 1u);
  EXPECT_EQ(cache.frame_count(), 0u);
  EXPECT_FALSE(cache.has_keyframe());
  EXPECT_EQ(kinds(cache.snapshot()), std::vector<FrameKind>{FrameKind::video_config});
  for (uint32_t ts = 1056; ts < 3000; ts += 33) {
    cache.push(delta(ts));
    cache.push(aac(ts));
    EXPECT_EQ(cache.frame_count(), 0u);  // nothing until the next keyframe
  }
  cache.push(key(3000));
  cache.push(aac(3001));
  EXPECT_EQ(kinds(cache.snapshot()),
            (std::vector<FrameKind>{FrameKind::video_config, FrameKind::video_key, FrameKind::audio}));
  EXPECT_EQ(cache.gops_dropped(), 1u);
}

TEST(GopCache, GopOverBytesIsDropped) {
  GopCacheLimits limits;
  limits.max_bytes = 100000;
  GopCache cache(limits);
  cache.push(key(0, 50000));
  cache.push(delta(33, 40000));
  EXPECT_EQ(cache.frame_count(), 2u);
  EXPECT_GT(cache.frame_bytes(), 90000u);
  cache.push(delta(66, 40000));
  EXPECT_EQ(cache.frame_count(), 0u);
  EXPECT_EQ(cache.frame_bytes(), 0u);
  EXPECT_EQ(cache.gops_dropped(), 1u);
  // A keyframe larger than the bound by itself is not kept either.
  cache.push(key(100, 200000));
  EXPECT_EQ(cache.frame_count(), 0u);
  EXPECT_EQ(cache.gops_dropped(), 2u);
  cache.push(key(200, 1000));
  EXPECT_TRUE(cache.has_keyframe());
}

TEST(GopCache, OneKeyframeThenOnlyDeltasStaysBounded) {
  GopCache cache;  // defaults: 10 s, 16 MiB
  cache.push(video_config(0));
  Timeline timeline(1000000);  // one keyframe in 1000 s
  size_t max_bytes = 0, max_frames = 0;
  for (int i = 0; i < 73 * 600; ++i) {  // 10 minutes of video + audio
    cache.push(timeline.next());
    max_bytes = std::max(max_bytes, cache.frame_bytes());
    max_frames = std::max(max_frames, cache.frame_count());
    ASSERT_LE(cache.duration_ms(), kDefaultGopCacheDurationMs);
  }
  EXPECT_LE(max_bytes, kDefaultGopCacheBytes);
  EXPECT_LE(max_frames, 10 * 74u);  // 10 s of 30 fps + 43.5 audio frames/s
  EXPECT_EQ(cache.gops_dropped(), 1u);
  EXPECT_EQ(cache.frame_count(), 0u);
  EXPECT_EQ(kinds(cache.snapshot()), std::vector<FrameKind>{FrameKind::video_config});
}

TEST(GopCache, EmptyFramesAtOneTimestampAreBoundedByCount) {
  GopCache cache;
  cache.push(key(0));
  for (int i = 0; i < 100000; ++i) cache.push(make(9, 0, {0x27, 0x01, 0, 0, 0}));
  EXPECT_LE(cache.frame_count(), kMaxGopCacheFrames);
  EXPECT_GE(cache.gops_dropped(), 1u);
}

TEST(GopCache, AudioOnlyKeepsTheLastSecond) {
  GopCache cache;
  const auto aconf = audio_config(0);
  cache.push(aconf);
  Timeline timeline(2000, /*video=*/false);
  uint32_t last = 0;
  for (int i = 0; i < 2700; ++i) {  // 62 s
    auto m = timeline.next();
    last = m->timestamp();
    cache.push(m);
    ASSERT_LE(cache.duration_ms(), kDefaultAudioOnlyCacheMs);
    ASSERT_LE(cache.frame_count(), size_t(kDefaultAudioOnlyCacheMs / 23 + 1));
  }
  const auto snap = cache.snapshot();
  EXPECT_EQ(snap[0], aconf);
  ASSERT_GT(snap.size(), 40u);
  for (size_t i = 1; i < snap.size(); ++i) EXPECT_EQ(snap[i]->info().kind, FrameKind::audio);
  EXPECT_EQ(snap.back()->timestamp(), last);
  EXPECT_GE(snap[1]->timestamp(), last - 1000);
  EXPECT_EQ(cache.gops_dropped(), 0u);
}

TEST(GopCache, VideoThatStopsLeavesAudioOnlyAndComesBackAtAKeyframe) {
  GopCache cache;
  uint32_t ts = 0;
  for (; ts < 3000; ts += 10) {
    if (ts % 1000 == 0) cache.push(key(ts));
    else if (ts % 30 == 0) cache.push(delta(ts));
    if (ts % 20 == 0) cache.push(aac(ts));
  }
  EXPECT_TRUE(cache.has_keyframe());
  // Video stops: audio goes on, and is cached without a keyframe once 5 s pass without video.
  for (; ts < 12000; ts += 20) cache.push(aac(ts));
  EXPECT_FALSE(cache.has_keyframe());
  for (const auto& m : cache.snapshot()) EXPECT_EQ(m->info().kind, FrameKind::audio);
  EXPECT_LE(cache.duration_ms(), 1000);
  EXPECT_GE(cache.frame_count(), 45u);
  // Video comes back: the audio-only frames go; caching waits for the keyframe.
  cache.push(delta(ts));
  cache.push(aac(ts));
  EXPECT_EQ(cache.frame_count(), 0u);
  cache.push(key(ts + 33));
  cache.push(aac(ts + 40));
  EXPECT_EQ(kinds(cache.snapshot()), (std::vector<FrameKind>{FrameKind::video_key, FrameKind::audio}));
  EXPECT_EQ(cache.gops_dropped(), 0u);
}

TEST(GopCache, ConfigurationAndMetadataAreReplaced) {
  GopCache cache;
  const auto meta1 = metadata(0, 1), meta2 = metadata(5, 2);
  const auto v1 = video_config(0, 1), v2 = video_config(10, 2);
  const auto a1 = audio_config(0);
  cache.push(meta1);
  cache.push(v1);
  cache.push(a1);
  cache.push(meta2);
  cache.push(v2);
  EXPECT_EQ(cache.snapshot(), (std::vector<RelayMessagePtr>{meta2, a1, v2}));

  // Multitrack: one configuration per track; the newest of each, in arrival order.
  GopCache tracks;
  const auto t0 = multitrack_audio_config(0, 1), t1 = multitrack_audio_config(1, 1),
             t1b = multitrack_audio_config(1, 2);
  tracks.push(t0);
  tracks.push(t1);
  tracks.push(t1b);
  EXPECT_EQ(tracks.snapshot(), (std::vector<RelayMessagePtr>{t0, t1b}));
  // A legacy AAC header is track 0 of the audio: it replaces t0, not t1b.
  const auto legacy = audio_config(20);
  tracks.push(legacy);
  EXPECT_EQ(tracks.snapshot(), (std::vector<RelayMessagePtr>{t1b, legacy}));

  // At most kMaxConfigMessages: the oldest go.
  GopCache many;
  for (uint8_t id = 0; id < 20; ++id) many.push(multitrack_audio_config(id, 0));
  const auto snap = many.snapshot();
  ASSERT_EQ(snap.size(), kMaxConfigMessages);
  EXPECT_EQ(snap.front()->payload().back(), 0);
  EXPECT_EQ(snap.front()->payload()[6], 20 - kMaxConfigMessages);  // track id after 0x95, 0x00, FourCC
}

TEST(GopCache, DisabledCachesNoFrames) {
  GopCacheLimits limits;
  limits.enabled = false;
  GopCache cache(limits);
  const auto meta = metadata(0), vconf = video_config(0);
  cache.push(meta);
  cache.push(vconf);
  Timeline timeline;
  for (int i = 0; i < 500; ++i) cache.push(timeline.next());
  EXPECT_EQ(cache.frame_count(), 0u);
  EXPECT_EQ(cache.snapshot(), (std::vector<RelayMessagePtr>{meta, vconf}));
  // Enabled again: caching starts at the next keyframe.
  limits.enabled = true;
  cache.set_limits(limits);
  for (int i = 0; i < 200; ++i) cache.push(timeline.next());
  EXPECT_TRUE(cache.has_keyframe());
  limits.enabled = false;
  cache.set_limits(limits);
  EXPECT_EQ(cache.frame_count(), 0u);
}

TEST(GopCache, TimestampsAcrossTheWrap) {
  GopCache cache;
  Timeline timeline(4000, true, true, 0xFFFFFFFFu - 1500);
  for (int i = 0; i < 225; ++i) cache.push(timeline.next());  // about 3 s, across 2^32 ms
  EXPECT_TRUE(cache.has_keyframe());
  EXPECT_EQ(cache.gops_dropped(), 0u);
  EXPECT_GT(cache.duration_ms(), 2900);
  EXPECT_LT(cache.duration_ms(), 3200);
  EXPECT_LT(cache.snapshot().back()->timestamp(), 2000u);  // wrapped
}

TEST(GopCache, ClearForgetsTheStream) {
  GopCache cache;
  cache.push(metadata(0));
  cache.push(video_config(0));
  cache.push(key(0));
  cache.clear();
  EXPECT_TRUE(cache.snapshot().empty());
  EXPECT_EQ(cache.frame_bytes(), 0u);
}
