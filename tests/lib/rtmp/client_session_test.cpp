// ClientSession (the publishing side of RTMP) against our own ServerSession in memory, against
// nginx-rtmp's recorded replies to ffmpeg, librtmp and rtmp2sink, and against hand-made server
// input for the paths real servers take less often (refusals, acks, pings, limits).
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp/client_session.h"
#include "rtmp/command.h"
#include "rtmp/server_session.h"
#include "rtmp_test_helpers.h"

using namespace live;
using namespace live::rtmp;
using namespace live::rtmp::test;

namespace {

constexpr size_t whole = std::numeric_limits<size_t>::max();

ClientSessionConfig test_config(const std::string& key = "key?token=abc") {
  ClientSessionConfig config;
  config.app = "live";
  config.tc_url = "rtmp://127.0.0.1:1935/live";
  config.stream_name = key;
  return config;
}

// A client and a server connected in memory; bytes move `piece` at a time (each piece is
// consumed from the sender's queue as a socket write would, then fed to the receiver).
struct Link {
  ClientSession client;
  ServerSession server;
  size_t piece;
  bool accept = true;
  std::vector<ClientEvent> client_events;
  std::vector<SessionEvent> server_events;

  Link(ClientSessionConfig config, size_t piece_size, ServerSessionConfig server_config = {})
      : client(std::move(config)), server(server_config), piece(piece_size) {}

  // Moves bytes both ways until neither side has anything to send.
  void pump() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      while (!client.pending_output().empty()) {
        const auto out = client.pending_output();
        std::vector<uint8_t> chunk(out.begin(), out.begin() + long(std::min(piece, out.size())));
        client.consume_output(chunk.size());
        auto r = server.feed(chunk);
        ASSERT_TRUE(r.ok()) << "server: " << r.error().describe();
        moved = true;
        drain_server();
      }
      while (!server.pending_output().empty()) {
        const auto out = server.pending_output();
        std::vector<uint8_t> chunk(out.begin(), out.begin() + long(std::min(piece, out.size())));
        server.consume_output(chunk.size());
        auto r = client.feed(chunk);
        ASSERT_TRUE(r.ok()) << "client: " << r.error().describe();
        moved = true;
        drain_client();
      }
      if (!moved) return;
    }
    FAIL() << "the two sides never went quiet";
  }

  void drain_server() {
    SessionEvent e;
    while (server.next_event(e)) {
      if (e.kind == SessionEventKind::publish_requested) {
        if (accept) server.accept_publish();
        else server.reject_publish("NetStream.Publish.BadName", "stream key refused");
      }
      server_events.push_back(std::move(e));
    }
  }
  void drain_client() {
    ClientEvent e;
    while (client.next_event(e)) client_events.push_back(std::move(e));
  }

  std::vector<ClientEventKind> client_kinds() const {
    std::vector<ClientEventKind> kinds;
    for (const auto& e : client_events) kinds.push_back(e.kind);
    return kinds;
  }
  std::vector<Message> server_media() const {
    std::vector<Message> media;
    for (const auto& e : server_events) {
      if (e.kind == SessionEventKind::media) media.push_back(e.message);
    }
    return media;
  }
};

std::vector<uint8_t> pattern(size_t size, uint8_t first, uint32_t seed) {
  std::vector<uint8_t> p(size);
  p[0] = first;
  for (size_t i = 1; i < size; ++i) p[i] = uint8_t((i * 31 + seed * 7) ^ (i >> 5));
  return p;
}

std::vector<uint8_t> on_metadata_payload() {
  return amf0_encode_all(std::vector<AmfValue>{
      AmfValue::make_string("onMetaData"),
      AmfValue::make_ecma_array({{"width", AmfValue::make_number(320)}, {"height", AmfValue::make_number(180)}})});
}

// 200 messages as a publisher sends them: metadata, then video (keyframes every 25, some
// larger than the 4096-byte chunk size) and audio at 40 ms steps, crossing 0xFFFFFF (the
// extended timestamp) half way.
std::vector<Message> test_media() {
  std::vector<Message> media;
  media.push_back(Message{0, 0, 18, 0, on_metadata_payload()});
  uint32_t ts = 0;
  for (uint32_t i = 0; media.size() < 200; ++i) {
    if (i == 60) ts = 0xfffff0;
    const bool key = i % 25 == 0;
    const size_t video_size = key ? 10000 + i : 300 + (i * 37) % 5000;
    media.push_back(Message{0, ts, 9, 0, pattern(video_size, key ? 0x17 : 0x27, i)});
    media.push_back(Message{0, ts + 3, 8, 0, pattern(180 + i % 50, 0xaf, i + 1000)});
    ts += 40;
  }
  media.resize(200);
  return media;
}

std::vector<Message> messages_after(std::span<const uint8_t> bytes, size_t skip) {
  EXPECT_GE(bytes.size(), skip);
  std::vector<Message> out;
  if (bytes.size() < skip) return out;
  ChunkReader reader;
  auto r = reader.feed(bytes.subspan(skip), out);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  return out;
}

struct SentCommand {
  Command command;
  uint32_t stream_id;
};

std::vector<SentCommand> commands_in(const std::vector<Message>& messages) {
  std::vector<SentCommand> out;
  for (const auto& m : messages) {
    if (m.message_type() != MessageType::command_amf0) continue;
    auto c = decode_command(m.payload);
    EXPECT_TRUE(c.ok());
    if (c) out.push_back({std::move(c.value()), m.stream_id});
  }
  return out;
}

// The publish flow of a client in a comparable form: name, transaction id, string arguments,
// message stream id.
std::vector<std::string> publish_flow(const std::vector<SentCommand>& commands) {
  std::vector<std::string> flow;
  for (const auto& [c, stream] : commands) {
    if (c.name != "releaseStream" && c.name != "FCPublish" && c.name != "createStream" && c.name != "publish") continue;
    std::string s = c.name + " txn=" + std::to_string(int(c.transaction_id)) + " stream=" + std::to_string(stream);
    for (const auto& a : c.arguments) {
      if (a.is_string()) s += " '" + a.string + "'";
    }
    flow.push_back(s);
  }
  return flow;
}

// Hand-made server output: a plain S0 S1 S2, then whatever the test writes.
struct FakeServer {
  ChunkWriter writer{default_chunk_size};
  std::vector<uint8_t> bytes;

  FakeServer() {
    bytes.assign(1 + 2 * handshake_block_size, 0);
    bytes[0] = rtmp_version;
  }
  void command(uint32_t stream, const std::string& name, double txn, AmfValue object, std::vector<AmfValue> args = {}) {
    writer.write(3, 0, uint8_t(MessageType::command_amf0), stream,
                 encode_command(Command{name, txn, std::move(object), std::move(args)}), bytes);
  }
  void status(uint32_t stream, const std::string& level, const std::string& code, const std::string& description) {
    command(stream, "onStatus", 0, AmfValue::make_null(), {status_object(level, code, description)});
  }
  void connect_result() {
    command(0, "_result", 1, AmfValue::make_object({{"fmsVer", AmfValue::make_string("FMS/3,0,1,123")}}),
            {status_object("status", "NetConnection.Connect.Success", "Connection succeeded.")});
  }
  void control(MessageType type, std::vector<uint8_t> payload) {
    writer.write(2, 0, uint8_t(type), 0, payload, bytes);
  }
};

struct Fed {
  std::vector<ClientEvent> events;
  std::vector<uint8_t> output;
  Result<void> result;
};

Fed feed_all(ClientSession& client, std::span<const uint8_t> bytes, size_t piece = whole) {
  Fed fed{{}, {}, Result<void>()};
  auto collect = [&] {
    ClientEvent e;
    while (client.next_event(e)) fed.events.push_back(std::move(e));
    const auto out = client.pending_output();
    fed.output.insert(fed.output.end(), out.begin(), out.end());
    client.consume_output(out.size());
  };
  collect();
  for (size_t pos = 0; pos < bytes.size(); pos += std::min(piece, bytes.size() - pos)) {
    fed.result = client.feed(bytes.subspan(pos, std::min(piece, bytes.size() - pos)));
    collect();
    if (!fed.result) break;
  }
  return fed;
}

std::vector<ClientEventKind> kinds_of(const std::vector<ClientEvent>& events) {
  std::vector<ClientEventKind> kinds;
  for (const auto& e : events) kinds.push_back(e.kind);
  return kinds;
}

using K = ClientEventKind;

}  // namespace

TEST(ClientSession, PublishesToServerSessionWithIdenticalMedia) {
  const auto media = test_media();
  for (size_t piece : {whole, size_t(1), size_t(7)}) {
    SCOPED_TRACE("piece " + std::to_string(piece));
    Link link(test_config(), piece);
    link.client.start();
    link.pump();

    EXPECT_EQ(link.client_kinds(), (std::vector<K>{K::handshake_done, K::connected, K::publishing}));
    ASSERT_EQ(link.client_events.size(), 3u);
    EXPECT_EQ(link.client_events[1].code, "NetConnection.Connect.Success");
    EXPECT_EQ(link.client_events[2].code, "NetStream.Publish.Start");
    EXPECT_TRUE(link.client.publishing());
    EXPECT_TRUE(link.server.handshake_used_digest());

    ASSERT_GE(link.server_events.size(), 3u);
    EXPECT_EQ(link.server_events[1].kind, SessionEventKind::connect);
    EXPECT_EQ(link.server_events[1].app, "live");
    EXPECT_EQ(link.server_events[1].tc_url, "rtmp://127.0.0.1:1935/live");
    const SessionEvent& request = link.server_events[2];
    EXPECT_EQ(request.kind, SessionEventKind::publish_requested);
    EXPECT_EQ(request.app, "live");
    EXPECT_EQ(request.stream_key, "key");
    EXPECT_EQ(request.query, "token=abc");
    EXPECT_EQ(request.publish_type, "live");
    EXPECT_EQ(request.stream_id, link.client.stream_id());
    EXPECT_NE(link.client.stream_id(), 0u);

    for (const auto& m : media) ASSERT_TRUE(link.client.send_media(m.type, m.timestamp, m.payload));
    link.pump();
    const auto received = link.server_media();
    ASSERT_EQ(received.size(), media.size());
    for (size_t i = 0; i < media.size(); ++i) {
      SCOPED_TRACE("message " + std::to_string(i));
      EXPECT_EQ(received[i].type, media[i].type);
      EXPECT_EQ(received[i].timestamp, media[i].timestamp);
      EXPECT_EQ(received[i].stream_id, link.client.stream_id());
      EXPECT_TRUE(received[i].payload == media[i].payload) << "payload of " << received[i].payload.size() << " bytes differs";
    }
    EXPECT_EQ(link.client.media_dropped(), 0u);
    EXPECT_EQ(link.client.pending_output_size(), 0u);
    EXPECT_EQ(link.client.bytes_out(), link.server.bytes_in());
    EXPECT_EQ(link.client.bytes_in(), link.server.bytes_out());

    link.client.unpublish();
    EXPECT_FALSE(link.client.publishing());
    EXPECT_FALSE(link.client.send_media(9, 99999, media[1].payload));
    link.pump();
    std::vector<SessionEventKind> tail;
    for (size_t i = 3; i < link.server_events.size(); ++i) {
      if (link.server_events[i].kind != SessionEventKind::media) tail.push_back(link.server_events[i].kind);
    }
    EXPECT_EQ(tail, (std::vector<SessionEventKind>{SessionEventKind::unpublished, SessionEventKind::closed}));
  }
}

TEST(ClientSession, MetadataGoesOutWrappedInSetDataFrame) {
  Link link(test_config(), whole);
  link.client.start();
  link.pump();
  ASSERT_TRUE(link.client.publishing());
  const auto metadata = on_metadata_payload();
  ASSERT_TRUE(link.client.send_media(18, 0, metadata));
  const auto wire = link.client.pending_output();
  const auto messages = messages_after(std::vector<uint8_t>(wire.begin(), wire.end()), 0);
  ASSERT_EQ(messages.size(), 1u);
  auto values = amf0_decode_all(messages[0].payload);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ((*values)[0].string, "@setDataFrame");
  EXPECT_EQ((*values)[1].string, "onMetaData");
  EXPECT_EQ((*values)[2].number_property("width"), 320);
  link.pump();
  const auto received = link.server_media();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].payload, metadata);  // the server strips the wrapper again
}

TEST(ClientSession, RefusedPublishIsRejectedWithTheServersCode) {
  for (size_t piece : {whole, size_t(7)}) {
    Link link(test_config(), piece);
    link.accept = false;
    link.client.start();
    link.pump();
    EXPECT_EQ(link.client_kinds(), (std::vector<K>{K::handshake_done, K::connected, K::rejected}));
    ASSERT_EQ(link.client_events.size(), 3u);
    EXPECT_EQ(link.client_events[2].code, "NetStream.Publish.BadName");
    EXPECT_EQ(link.client_events[2].description, "stream key refused");
    EXPECT_FALSE(link.client.publishing());
    EXPECT_FALSE(link.client.send_media(9, 0, pattern(10, 0x17, 1)));
    EXPECT_EQ(link.client.media_dropped(), 1u);
  }
}

TEST(ClientSession, ConnectCommandCarriesAppTcUrlAndEnhancedRtmpCodecs) {
  ClientSession client(test_config());
  client.start();
  FakeServer server;
  auto fed = feed_all(client, server.bytes);
  ASSERT_TRUE(fed.result.ok());
  EXPECT_EQ(fed.output[0], rtmp_version);
  const auto messages = messages_after(fed.output, 1 + 2 * handshake_block_size);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].message_type(), MessageType::set_chunk_size);
  EXPECT_EQ(load_be32(messages[0].payload.data()), 4096u);
  EXPECT_EQ(messages[2].message_type(), MessageType::window_ack_size);
  EXPECT_EQ(load_be32(messages[2].payload.data()), 2500000u);
  const auto commands = commands_in(messages);
  ASSERT_EQ(commands.size(), 1u);
  const Command& connect = commands[0].command;
  EXPECT_EQ(connect.name, "connect");
  EXPECT_EQ(connect.transaction_id, 1);
  EXPECT_EQ(connect.command_object.string_property("app"), "live");
  EXPECT_EQ(connect.command_object.string_property("tcUrl"), "rtmp://127.0.0.1:1935/live");
  EXPECT_EQ(connect.command_object.string_property("type"), "nonprivate");
  EXPECT_EQ(connect.command_object.string_property("flashVer"), "FMLE/3.0 (compatible; gst-live-server)");
  const AmfValue* fourccs = connect.command_object.find("fourCcList");
  ASSERT_NE(fourccs, nullptr);
  ASSERT_EQ(fourccs->type, AmfType::strict_array);
  std::vector<std::string> names;
  for (const auto& v : fourccs->elements) names.push_back(v.string);
  EXPECT_EQ(names, (std::vector<std::string>{"av01", "vp09", "hvc1", "avc1"}));
}

// nginx-rtmp's side of real publishing sessions (tests/data/captures/README.md): its handshake
// did not answer our C1, but the client does not insist (as ffmpeg does not); its replies carry
// the original client's transaction ids, which are ffmpeg's numbering (ours by default) or
// rtmp2sink's (only connect and createStream numbered).
TEST(ClientSession, RecordedNginxRepliesYieldConnectedAndPublishing) {
  struct Case {
    const char* name;
    const char* key;
    bool number_every_command;
  };
  for (const Case& c : {Case{"ffmpeg-publish", "capff", true}, Case{"librtmp-publish", "caplib", true},
                        Case{"rtmp2sink-publish", "caprt2", false}}) {
    const auto s2c = read_capture(std::string(c.name) + ".s2c.bin");
    const auto c2s = read_capture(std::string(c.name) + ".c2s.bin");
    const auto original = commands_in(messages_after(c2s, handshake_bytes));
    // releaseStream, FCPublish, createStream, publish, as the original client sent them
    ASSERT_EQ(publish_flow(original).size(), 4u);
    for (size_t piece : {whole, size_t(1), size_t(7)}) {
      SCOPED_TRACE(std::string(c.name) + " piece " + std::to_string(piece));
      ClientSessionConfig config = test_config(c.key);
      config.number_every_command = c.number_every_command;
      ClientSession client(config);
      client.start();
      auto fed = feed_all(client, s2c, piece);
      ASSERT_TRUE(fed.result.ok()) << fed.result.error().describe();
      EXPECT_EQ(kinds_of(fed.events), (std::vector<K>{K::handshake_done, K::connected, K::publishing, K::closed}));
      ASSERT_EQ(fed.events.size(), 4u);
      EXPECT_EQ(fed.events[1].code, "NetConnection.Connect.Success");
      EXPECT_EQ(fed.events[1].description, "Connection succeeded.");
      EXPECT_EQ(fed.events[2].code, "NetStream.Publish.Start");
      // The recording ends with nginx's answer to the original client's unpublish.
      EXPECT_EQ(fed.events[3].code, "NetStream.Unpublish.Success");
      EXPECT_EQ(client.stream_id(), 1u);
      EXPECT_EQ(client.bytes_in(), s2c.size());
      // nginx set a 5000000-byte window; far fewer bytes came, so no acknowledgement.
      const auto ours = commands_in(messages_after(fed.output, handshake_bytes));
      EXPECT_EQ(publish_flow(ours), publish_flow(original));
      ASSERT_FALSE(ours.empty());
      EXPECT_EQ(ours[0].command.name, "connect");
      EXPECT_EQ(ours[0].command.command_object.string_property("app"),
                original[0].command.command_object.string_property("app"));
      EXPECT_EQ(ours[0].command.transaction_id, original[0].command.transaction_id);
    }
  }
}

TEST(ClientSession, ConnectRefusedIsRejected) {
  ClientSession client(test_config());
  client.start();
  FakeServer server;
  server.command(0, "_error", 1, AmfValue::make_null(),
                 {status_object("error", "NetConnection.Connect.Rejected", "authentication failed")});
  auto fed = feed_all(client, server.bytes);
  ASSERT_TRUE(fed.result.ok());
  EXPECT_EQ(kinds_of(fed.events), (std::vector<K>{K::handshake_done, K::rejected}));
  ASSERT_EQ(fed.events.size(), 2u);
  EXPECT_EQ(fed.events[1].code, "NetConnection.Connect.Rejected");
  EXPECT_EQ(fed.events[1].description, "authentication failed");
  // Nothing more is asked for after a refusal.
  const auto commands = commands_in(messages_after(fed.output, handshake_bytes));
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].command.name, "connect");
}

TEST(ClientSession, ErrorsToReleaseStreamAndFcPublishAreNotFatalButAnErrorStatusWhilePublishingCloses) {
  ClientSession client(test_config("k"));
  client.start();
  FakeServer server;
  server.connect_result();
  server.command(0, "onBWDone", 0, AmfValue::make_null(), {AmfValue::make_number(8192)});
  server.command(0, "_error", 2, AmfValue::make_null(), {status_object("error", "NetConnection.Call.Failed", "no releaseStream")});
  server.command(0, "_error", 3, AmfValue::make_null(), {status_object("error", "NetConnection.Call.Failed", "no FCPublish")});
  server.command(0, "onFCPublish", 0, AmfValue::make_null(), {status_object("status", "NetStream.Publish.Start", "k")});
  server.command(0, "_result", 4, AmfValue::make_null(), {AmfValue::make_number(7)});
  server.status(7, "status", "NetStream.Publish.Start", "k is now published.");
  server.status(7, "error", "NetStream.Publish.Failed", "transcoder died");
  auto fed = feed_all(client, server.bytes, 5);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().describe();
  EXPECT_EQ(kinds_of(fed.events), (std::vector<K>{K::handshake_done, K::connected, K::publishing, K::closed}));
  ASSERT_EQ(fed.events.size(), 4u);
  EXPECT_EQ(fed.events[3].code, "NetStream.Publish.Failed");
  EXPECT_EQ(client.stream_id(), 7u);
  EXPECT_FALSE(client.publishing());
  const auto commands = commands_in(messages_after(fed.output, handshake_bytes));
  ASSERT_EQ(commands.size(), 5u);
  EXPECT_EQ(commands[4].command.name, "publish");
  EXPECT_EQ(commands[4].stream_id, 7u);
}

TEST(ClientSession, AnswersPingsChecksBandwidthAndAcknowledgesTheWindow) {
  ClientSession client(test_config());
  client.start();
  FakeServer server;
  const size_t chunk_start = server.bytes.size();
  server.control(MessageType::window_ack_size, {0, 0, 0x03, 0xe8});  // 1000 bytes
  server.control(MessageType::set_peer_bandwidth, {0, 0, 0x03, 0xe8, 2});
  server.control(MessageType::user_control, {0, 6, 0x12, 0x34, 0x56, 0x78});  // ping request
  server.command(0, "_checkbw", 9, AmfValue::make_null());
  server.writer.write(5, 0, uint8_t(MessageType::data_amf0), 0, pattern(1500, 2, 3), server.bytes);
  const uint32_t chunk_bytes = uint32_t(server.bytes.size() - chunk_start);
  auto fed = feed_all(client, server.bytes);
  ASSERT_TRUE(fed.result.ok()) << fed.result.error().describe();

  const auto messages = messages_after(fed.output, handshake_bytes);
  std::vector<uint32_t> acks, pongs;
  for (const auto& m : messages) {
    if (m.message_type() == MessageType::acknowledgement) acks.push_back(load_be32(m.payload.data()));
    if (m.message_type() == MessageType::user_control && load_be16(m.payload.data()) == 7) {
      pongs.push_back(load_be32(m.payload.data() + 2));
    }
  }
  EXPECT_EQ(acks, std::vector<uint32_t>{chunk_bytes});
  EXPECT_EQ(pongs, std::vector<uint32_t>{0x12345678});
  const auto commands = commands_in(messages);
  const auto checkbw = std::find_if(commands.begin(), commands.end(), [](const SentCommand& c) {
    return c.command.name == "_result" && c.command.transaction_id == 9;
  });
  EXPECT_NE(checkbw, commands.end());
}

TEST(ClientSession, OversizedMessageFromServerIsAnErrorNotACrash) {
  ClientSessionConfig config = test_config();
  config.limits.max_message_size = 1024;
  ClientSession client(config);
  client.start();
  FakeServer server;
  server.writer.write(3, 0, uint8_t(MessageType::command_amf0), 0, pattern(2000, 2, 1), server.bytes);
  auto fed = feed_all(client, server.bytes, 100);
  ASSERT_FALSE(fed.result.ok());
  EXPECT_EQ(fed.result.error().code, Errc::limit_exceeded);
  auto again = client.feed(std::vector<uint8_t>{1, 2, 3});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::closed);
}

TEST(ClientSession, MalformedInputIsAnError) {
  {
    ClientSession client(test_config());
    auto r = client.feed(std::vector<uint8_t>{3});
    ASSERT_FALSE(r.ok());  // before start()
    EXPECT_EQ(r.error().code, Errc::protocol_violation);
  }
  {
    ClientSession client(test_config());
    client.start();
    auto r = client.feed(std::vector<uint8_t>{6});  // RTMPE
    EXPECT_FALSE(r.ok());
  }
  {
    ClientSession client(test_config());
    client.start();
    FakeServer server;
    server.writer.write(3, 0, uint8_t(MessageType::command_amf0), 0, std::vector<uint8_t>{0x02, 0x00, 0x09, 'x'},
                        server.bytes);
    EXPECT_FALSE(feed_all(client, server.bytes).result.ok());  // truncated AMF string
  }
  {
    ClientSessionConfig config = test_config();
    config.limits.max_amf_depth = 4;
    ClientSession client(config);
    client.start();
    FakeServer server;
    AmfValue deep = AmfValue::make_number(1);
    for (int i = 0; i < 10; ++i) deep = AmfValue::make_object({{"x", deep}});
    server.command(0, "_result", 1, deep);
    auto fed = feed_all(client, server.bytes);
    ASSERT_FALSE(fed.result.ok());
    EXPECT_EQ(fed.result.error().code, Errc::limit_exceeded);
  }
  {
    ClientSession client(test_config());
    client.start();
    FakeServer server;
    server.connect_result();
    server.command(0, "_result", 4, AmfValue::make_null(), {AmfValue::make_string("not a stream id")});
    auto fed = feed_all(client, server.bytes);
    ASSERT_FALSE(fed.result.ok());
    EXPECT_EQ(fed.result.error().code, Errc::protocol_violation);
  }
}

TEST(ClientSession, MediaOverTheOutputLimitIsDroppedAndCounted) {
  ClientSessionConfig config = test_config();
  config.limits.max_pending_output = 64 * 1024;
  Link link(config, whole);
  link.client.start();
  link.pump();
  ASSERT_TRUE(link.client.publishing());
  const auto frame = pattern(10000, 0x27, 5);
  size_t accepted = 0;
  uint32_t ts = 0;
  while (link.client.send_media(9, ts += 40, frame)) ++accepted;
  EXPECT_EQ(accepted, 6u);  // 6 x ~10 KB fit in 64 KiB, the 7th would not
  EXPECT_LE(link.client.pending_output_size(), 64u * 1024);
  EXPECT_EQ(link.client.media_dropped(), 1u);
  EXPECT_FALSE(link.client.send_media(9, ts += 40, frame));
  EXPECT_EQ(link.client.media_dropped(), 2u);

  link.pump();  // the socket drains
  EXPECT_TRUE(link.client.send_media(9, ts += 40, frame));
  link.pump();
  const auto received = link.server_media();
  ASSERT_EQ(received.size(), accepted + 1);
  EXPECT_EQ(received.back().timestamp, ts);
}

TEST(ClientSession, ConfigFromUrl) {
  auto url = parse_rtmp_url("rtmp://[::1]:19350/live/inst/cam?token=t");
  ASSERT_TRUE(url.ok());
  const auto config = client_config_for(*url);
  EXPECT_EQ(config.app, "live/inst");
  EXPECT_EQ(config.tc_url, "rtmp://[::1]:19350/live/inst");
  EXPECT_EQ(config.stream_name, "cam?token=t");
  Link link(config, whole);
  link.client.start();
  link.pump();
  EXPECT_TRUE(link.client.publishing());
  ASSERT_GE(link.server_events.size(), 3u);
  EXPECT_EQ(link.server_events[2].app, "live/inst");
  EXPECT_EQ(link.server_events[2].stream_key, "cam");
  EXPECT_EQ(link.server_events[2].query, "token=t");
}
