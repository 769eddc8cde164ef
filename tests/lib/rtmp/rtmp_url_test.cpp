// Push URLs as users write them for nginx-rtmp, CDNs and OBS/ffmpeg, split into connect and
// publish fields; errors for what cannot be pushed to; redaction for logs.
#include <gtest/gtest.h>

#include "rtmp/rtmp_url.h"

using namespace live;
using namespace live::rtmp;

namespace {

RtmpUrl parsed(std::string_view url) {
  auto r = parse_rtmp_url(url);
  EXPECT_TRUE(r.ok()) << url << ": " << (r.ok() ? "" : r.error().describe());
  return r.ok() ? r.value() : RtmpUrl{};
}

}  // namespace

TEST(RtmpUrl, PlainUrlWithDefaultPort) {
  const auto u = parsed("rtmp://example.com/live/abc123");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 1935);
  EXPECT_EQ(u.app, "live");
  EXPECT_EQ(u.stream_name, "abc123");
  EXPECT_EQ(u.tc_url, "rtmp://example.com/live");
}

TEST(RtmpUrl, RtmpsDefaultsTo443AndKeepsAnExplicitPort) {
  const auto d = parsed("rtmps://live-api-s.facebook.com/rtmp/FB-123-0-Ab");
  EXPECT_TRUE(d.tls);
  EXPECT_EQ(d.port, 443);
  EXPECT_EQ(d.app, "rtmp");
  EXPECT_EQ(d.stream_name, "FB-123-0-Ab");
  EXPECT_EQ(d.tc_url, "rtmps://live-api-s.facebook.com/rtmp");

  const auto e = parsed("RTMPS://ingest.example:4443/app/key");
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.port, 4443);
  EXPECT_EQ(e.tc_url, "rtmps://ingest.example:4443/app");
}

TEST(RtmpUrl, Ipv6WithAndWithoutPort) {
  const auto a = parsed("rtmp://[::1]:19350/live/key");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 19350);
  EXPECT_EQ(a.tc_url, "rtmp://[::1]:19350/live");
  const auto b = parsed("rtmp://[2001:db8::5]/live/key");
  EXPECT_EQ(b.host, "2001:db8::5");
  EXPECT_EQ(b.port, 1935);
  EXPECT_EQ(b.tc_url, "rtmp://[2001:db8::5]/live");
}

TEST(RtmpUrl, AppInstanceAndDeeperPathsSplitAsFfmpeg) {
  const auto inst = parsed("rtmp://h/live/sub/key");
  EXPECT_EQ(inst.app, "live/sub");
  EXPECT_EQ(inst.stream_name, "key");
  EXPECT_EQ(inst.tc_url, "rtmp://h/live/sub");

  const auto deep = parsed("rtmp://h/a/b/c/d");
  EXPECT_EQ(deep.app, "a/b");
  EXPECT_EQ(deep.stream_name, "c/d");

  const auto playpath = parsed("rtmp://h/vod/mp4:dir/file.mp4");
  EXPECT_EQ(playpath.app, "vod");
  EXPECT_EQ(playpath.stream_name, "mp4:dir/file.mp4");
}

TEST(RtmpUrl, QueriesOnTheKeyAndOnTheApp) {
  const auto key_query = parsed("rtmp://127.0.0.1:1935/live/cam1?token=s3cr3t&expires=99");
  EXPECT_EQ(key_query.app, "live");
  EXPECT_EQ(key_query.stream_name, "cam1?token=s3cr3t&expires=99");

  // A signature with '/' stays in the key.
  const auto slash_in_query = parsed("rtmp://h/live/cam1?sig=ab/cd==");
  EXPECT_EQ(slash_in_query.app, "live");
  EXPECT_EQ(slash_in_query.stream_name, "cam1?sig=ab/cd==");

  // Wowza/CDN style: the app carries the query, the key follows.
  const auto app_query = parsed("rtmp://h/live?vhost=v1/cam1");
  EXPECT_EQ(app_query.app, "live?vhost=v1");
  EXPECT_EQ(app_query.stream_name, "cam1");
  EXPECT_EQ(app_query.tc_url, "rtmp://h/live?vhost=v1");
}

TEST(RtmpUrl, Errors) {
  struct Case {
    const char* url;
    Errc code;
  };
  const Case cases[] = {
      {"http://h/live/key", Errc::unsupported},
      {"rtmpt://h/live/key", Errc::unsupported},
      {"rtmp://user:pw@h/live/key", Errc::unsupported},
      {"h/live/key", Errc::malformed},
      {"rtmp://h/live", Errc::malformed},       // no key
      {"rtmp://h/live/", Errc::malformed},      // empty key
      {"rtmp://h/live/key/", Errc::malformed},  // "live/key" is app/instance, key empty
      {"rtmp://h/live/?token=x", Errc::malformed},
      {"rtmp://h", Errc::malformed},
      {"rtmp://h/", Errc::malformed},
      {"rtmp:///live/key", Errc::malformed},   // no host
      {"rtmp://h//key", Errc::malformed},      // empty app
      {"rtmp://h:/live/key", Errc::malformed},
      {"rtmp://h:0/live/key", Errc::malformed},
      {"rtmp://h:65536/live/key", Errc::malformed},
      {"rtmp://h:19x5/live/key", Errc::malformed},
      {"rtmp://h:-1/live/key", Errc::malformed},
      {"rtmp://[::1/live/key", Errc::malformed},
      {"rtmp://[::1]x/live/key", Errc::malformed},
      {"rtmp://::1/live/key", Errc::malformed},  // IPv6 without brackets
      {"rtmp://h st/live/key", Errc::malformed},
      {"rtmp://h/live/key with space", Errc::malformed},
      {"rtmp://h%2f/live/key", Errc::malformed},
  };
  for (const auto& c : cases) {
    auto r = parse_rtmp_url(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.error().code, c.code) << c.url << ": " << r.error().describe();
  }
}

TEST(RtmpUrl, RedactedHidesKeyAndQueries) {
  EXPECT_EQ(redacted(parsed("rtmp://example.com/live/abc123?token=x")), "rtmp://example.com:1935/live/<key>");
  EXPECT_EQ(redacted(parsed("rtmps://[::1]:4443/live/sub/abc")), "rtmps://[::1]:4443/live/sub/<key>");
  EXPECT_EQ(redacted(parsed("rtmp://h/live?token=s3cr3t/abc")), "rtmp://h:1935/live?<query>/<key>");
  for (const char* url : {"rtmp://h/live/abc123?token=s3cr3t", "rtmp://h/live?token=s3cr3t/abc123"}) {
    const std::string text = redacted(parsed(url));
    EXPECT_EQ(text.find("abc123"), std::string::npos) << text;
    EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  }
}
