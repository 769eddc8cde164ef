// Many receive-only WHEP viewers in one process that do not decode (tests/bench/whep_viewers.py
// runs it). Each viewer: a webrtcbin (max-bundle) with a recvonly H.264 transceiver (and Opus
// with --audio), host candidates on --ice-address only, offer -> POST to --url -> answer; every
// received RTP stream goes to a fakesink whose pad probe counts packets, bytes and, for video,
// packets with the RTP marker bit (the last packet of each frame: the frames received).
//
//   whep_load_client --url http://127.0.0.1:PORT/live/KEY/whep --viewers N
//       [--ramp-per-s R] [--audio] [--start-at EPOCH_S] [--window S] [--ice-address 127.0.0.1]
//       [--ice-tcp-only]
//
// Viewers start --ramp-per-s per second (each POST waits for its answer). Once all have their
// answer: without --start-at, prints "ready SECONDS" and reads the window's start (CLOCK_REALTIME
// seconds) from stdin. At the start and --window s later the counters are read; then the viewers' sessions are DELETEd and one JSON
// report is printed on stdout: per viewer the POST status, whether ICE connected, and the
// frames/packets/bytes received within the window, and the UDP and TCP candidates of its offer and
// of the server's answer. --ice-tcp-only turns UDP off in the viewers' ICE agents (ice-udp=false):
// their offers carry TCP candidates only, so media that arrives came over ICE-TCP.
#include <gst/gst.h>
#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Counters {
  std::atomic<uint64_t> packets{0}, bytes{0}, frames{0};
};

struct Viewer {
  int id = 0;
  GstElement* webrtc = nullptr;
  Counters video, audio;
  std::atomic<bool> connected{false};
  int status = 0;  // HTTP status of the POST
  std::string location, error;
  int offer_udp = 0, offer_tcp = 0, answer_udp = 0, answer_tcp = 0;  // a=candidate lines by transport
  uint64_t v0_frames = 0, v0_packets = 0, v0_bytes = 0, a0_packets = 0;
  uint64_t v1_frames = 0, v1_packets = 0, v1_bytes = 0, a1_packets = 0;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;
  int viewers = 1;
  double ramp_per_s = 10;
  bool audio = false;
  bool send_bundle_only = false;  // POST webrtcbin's max-bundle offer unchanged (bundle-only, port 0)
  double start_at = 0, window = 10;
  std::string ice_address = "127.0.0.1";
  bool tcp_only = false;
};

GstElement* g_pipeline = nullptr;

// One HTTP/1.1 request with Connection: close; the status, the Location header and the body.
int http(const Options& o, const std::string& method, const std::string& path, const std::string& body,
         std::string* location, std::string* response_body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(o.port));
  inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                    "\r\nConnection: close\r\n";
  if (!body.empty())
    req += "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = write(fd, req.data() + off, req.size() - off);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += size_t(n);
  }
  std::string in;
  char buf[8192];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) in.append(buf, size_t(n));
  close(fd);
  const size_t head_end = in.find("\r\n\r\n");
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return -1;
  const int status = std::atoi(in.c_str() + 9);
  std::string head = in.substr(0, head_end);
  std::string rest = in.substr(head_end + 4);
  for (char& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (location) {
    const size_t at = head.find("\r\nlocation: ");
    if (at != std::string::npos) {
      const size_t start = at + 12, end = head.find("\r\n", start);
      *location = in.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
  }
  if (response_body) {
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
      std::string out;
      size_t pos = 0;
      while (pos < rest.size()) {
        const size_t eol = rest.find("\r\n", pos);
        if (eol == std::string::npos) break;
        const size_t len = std::strtoul(rest.c_str() + pos, nullptr, 16);
        if (len == 0) break;
        out += rest.substr(eol + 2, len);
        pos = eol + 2 + len + 2;
      }
      *response_body = out;
    } else {
      *response_body = rest;
    }
  }
  return status;
}

// a=candidate:FOUNDATION COMPONENT TRANSPORT ...: counts the UDP and the TCP ones.
void count_candidates(const std::string& sdp, int* udp, int* tcp) {
  for (size_t pos = sdp.find("a=candidate:"); pos != std::string::npos; pos = sdp.find("a=candidate:", pos + 1)) {
    const size_t eol = sdp.find_first_of("\r\n", pos);
    std::string line = sdp.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    for (char& c : line) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (line.find(" udp ") != std::string::npos) ++*udp;
    else if (line.find(" tcp ") != std::string::npos) ++*tcp;
  }
}

GstPadProbeReturn count_video(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* c = static_cast<Counters*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  c->packets++;
  c->bytes += gst_buffer_get_size(buf);
  if (gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) {
    if (gst_rtp_buffer_get_marker(&rtp)) c->frames++;
    gst_rtp_buffer_unmap(&rtp);
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn count_audio(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* c = static_cast<Counters*>(data);
  c->packets++;
  c->bytes += gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info));
  return GST_PAD_PROBE_OK;
}

void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  auto* v = static_cast<Viewer*>(data);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const gchar* media = gst_structure_get_string(gst_caps_get_structure(caps, 0), "media");
  const bool video = media && std::strcmp(media, "video") == 0;
  gst_caps_unref(caps);
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(g_pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, video ? count_video : count_audio,
                    video ? &v->video : &v->audio, nullptr);
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
}

void on_ice_state(GObject* webrtc, GParamSpec*, gpointer data) {
  auto* v = static_cast<Viewer*>(data);
  GstWebRTCICEConnectionState state;
  g_object_get(webrtc, "ice-connection-state", &state, nullptr);
  if (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED || state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED)
    v->connected = true;
}

GstStructure* wait_promise(GstPromise* p) {
  gst_promise_wait(p);
  const GstStructure* reply = gst_promise_get_reply(p);
  return reply ? gst_structure_copy(reply) : nullptr;
}

void start_viewer(const Options& o, Viewer* v) {
  GstElement* webrtc = gst_element_factory_make("webrtcbin", nullptr);
  v->webrtc = webrtc;
  g_object_set(webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  // Only lo in the benchmark's namespace: libnice gathers on loopback only when told.
  GstWebRTCICE* ice = nullptr;
  g_object_get(webrtc, "ice-agent", &ice, nullptr);
  if (ice) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice, "add-local-ip-address", o.ice_address.c_str(), &added);
    if (o.tcp_only) g_object_set(ice, "ice-udp", FALSE, "ice-tcp", TRUE, nullptr);
    gst_object_unref(ice);
  }
  g_signal_connect(webrtc, "pad-added", G_CALLBACK(on_pad_added), v);
  g_signal_connect(webrtc, "notify::ice-connection-state", G_CALLBACK(on_ice_state), v);
  gst_bin_add(GST_BIN(g_pipeline), webrtc);
  gst_element_sync_state_with_parent(webrtc);
  GstWebRTCRTPTransceiver* trans = nullptr;
  GstCaps* vcaps = gst_caps_from_string(
      "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
      "packetization-mode=(string)1,profile-level-id=(string)640c1f,level-asymmetry-allowed=(string)1");
  g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, vcaps, &trans);
  gst_caps_unref(vcaps);
  if (trans) gst_object_unref(trans);
  if (o.audio) {
    GstCaps* acaps = gst_caps_from_string(
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2");
    trans = nullptr;
    g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, acaps, &trans);
    gst_caps_unref(acaps);
    if (trans) gst_object_unref(trans);
  }
  GstPromise* p = gst_promise_new();
  g_signal_emit_by_name(webrtc, "create-offer", nullptr, p);
  GstStructure* reply = wait_promise(p);
  gst_promise_unref(p);
  GstWebRTCSessionDescription* offer = nullptr;
  if (reply) gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  if (reply) gst_structure_free(reply);
  if (!offer) {
    v->error = "create-offer gave no offer";
    return;
  }
  p = gst_promise_new();
  g_signal_emit_by_name(webrtc, "set-local-description", offer, p);
  gst_promise_wait(p);
  gst_promise_unref(p);
  gst_webrtc_session_description_free(offer);
  // Every candidate in the offer (the server takes no trickle ICE).
  for (int i = 0; i < 200; ++i) {
    GstWebRTCICEGatheringState g;
    g_object_get(webrtc, "ice-gathering-state", &g, nullptr);
    if (g == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
    g_usleep(10000);
  }
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(webrtc, "local-description", &local, nullptr);
  gchar* local_text = gst_sdp_message_as_text(local->sdp);
  gst_webrtc_session_description_free(local);
  // webrtcbin's max-bundle offer marks the sections after the first "bundle-only" with port 0;
  // whepserversink reads port 0 as a rejected section (no audio would come): the POSTed offer
  // gives them port 9 like a browser's (the answer bundles them all the same).
  std::string offer_text;
  for (const std::string& line : [&] {
         std::vector<std::string> lines;
         std::string all = local_text;
         for (size_t pos = 0, eol; pos < all.size(); pos = eol + 2) {
           eol = all.find("\r\n", pos);
           if (eol == std::string::npos) eol = all.size();
           lines.push_back(all.substr(pos, eol - pos));
         }
         return lines;
       }()) {
    if (o.send_bundle_only) {  // --bundle-only: webrtcbin's offer as it is
      offer_text += line + "\r\n";
      continue;
    }
    if (line == "a=bundle-only") continue;
    if (line.compare(0, 2, "m=") == 0 && line.find(" 0 ") != std::string::npos && line.find(" 0 ") < line.find("UDP"))
      offer_text += line.substr(0, line.find(' ')) + " 9" + line.substr(line.find(' ') + 2) + "\r\n";
    else
      offer_text += line + "\r\n";
  }
  g_free(local_text);
  const gchar* sdp_text = offer_text.c_str();
  std::string answer_text;
  count_candidates(offer_text, &v->offer_udp, &v->offer_tcp);
  v->status = http(o, "POST", o.path, sdp_text, &v->location, &answer_text);
  count_candidates(answer_text, &v->answer_udp, &v->answer_tcp);
  if (std::getenv("WHEP_LOAD_CLIENT_SDP")) std::fprintf(stderr, "offer:\n%s\nanswer %d:\n%s\n", sdp_text, v->status, answer_text.c_str());
  if (v->status != 201) {
    v->error = answer_text.substr(0, 200);
    return;
  }
  GstSDPMessage* sdp = nullptr;
  gst_sdp_message_new(&sdp);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8*>(answer_text.data()), guint(answer_text.size()),
                                   sdp) != GST_SDP_OK) {
    v->error = "unparsable answer";
    gst_sdp_message_free(sdp);
    return;
  }
  GstWebRTCSessionDescription* answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
  p = gst_promise_new();
  g_signal_emit_by_name(webrtc, "set-remote-description", answer, p);
  gst_promise_wait(p);
  gst_promise_unref(p);
  gst_webrtc_session_description_free(answer);
}

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void sleep_until_epoch(double t) {
  const double d = t - now_epoch();
  if (d > 0) std::this_thread::sleep_for(std::chrono::duration<double>(d));
}

bool parse_url(const std::string& url, Options& o) {
  const std::string prefix = "http://";
  if (url.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t slash = url.find('/', prefix.size());
  const std::string host_port = url.substr(prefix.size(), slash - prefix.size());
  const size_t colon = host_port.rfind(':');
  o.host = host_port.substr(0, colon);
  o.port = colon == std::string::npos ? 80 : std::atoi(host_port.c_str() + colon + 1);
  o.path = slash == std::string::npos ? "/" : url.substr(slash);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") url = next();
    else if (a == "--viewers") o.viewers = std::atoi(next().c_str());
    else if (a == "--ramp-per-s") o.ramp_per_s = std::atof(next().c_str());
    else if (a == "--audio") o.audio = true;
    else if (a == "--bundle-only") o.send_bundle_only = true;
    else if (a == "--start-at") o.start_at = std::atof(next().c_str());
    else if (a == "--window") o.window = std::atof(next().c_str());
    else if (a == "--ice-address") o.ice_address = next();
    else if (a == "--ice-tcp-only") o.tcp_only = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (!parse_url(url, o)) {
    std::fprintf(stderr, "usage: whep_load_client --url http://HOST:PORT/APP/KEY/whep --viewers N ...\n");
    return 2;
  }
  for (const char* f : {"webrtcbin", "nicesrc", "fakesink"}) {
    GstElementFactory* factory = gst_element_factory_find(f);
    if (!factory) {
      std::fprintf(stderr, "FAIL: GStreamer element %s missing (gstreamer1.0-plugins-bad, gstreamer1.0-nice)\n", f);
      return 1;
    }
    gst_object_unref(factory);
  }
  g_pipeline = gst_pipeline_new(nullptr);
  gst_element_set_state(g_pipeline, GST_STATE_PLAYING);
  std::vector<std::unique_ptr<Viewer>> viewers;
  for (int i = 0; i < o.viewers; ++i) viewers.push_back(std::make_unique<Viewer>()), viewers.back()->id = i;
  // Each viewer's offer/answer on its own thread (the POST waits for the server's ICE gathering).
  std::vector<std::thread> starters;
  const double t0 = now_epoch();
  for (int i = 0; i < o.viewers; ++i) {
    sleep_until_epoch(t0 + i / o.ramp_per_s);
    starters.emplace_back(start_viewer, std::cref(o), viewers[size_t(i)].get());
  }
  for (auto& t : starters) t.join();
  const double ready = now_epoch();
  if (o.start_at == 0) {
    // The driver picks the window once every client has all its viewers started.
    std::printf("ready %.3f\n", ready - t0);
    std::fflush(stdout);
    char line[64] = {0};
    if (!std::fgets(line, sizeof line, stdin)) return 1;
    o.start_at = std::atof(line);
  }
  sleep_until_epoch(o.start_at);
  for (auto& v : viewers) {
    v->v0_frames = v->video.frames, v->v0_packets = v->video.packets, v->v0_bytes = v->video.bytes;
    v->a0_packets = v->audio.packets;
  }
  sleep_until_epoch(o.start_at + o.window);
  for (auto& v : viewers) {
    v->v1_frames = v->video.frames, v->v1_packets = v->video.packets, v->v1_bytes = v->video.bytes;
    v->a1_packets = v->audio.packets;
  }
  int deleted = 0;
  for (auto& v : viewers)
    if (!v->location.empty() && http(o, "DELETE", v->location, "", nullptr, nullptr) == 200) ++deleted;
  std::printf("{\"viewers\": %d, \"all_started_s\": %.3f, \"late_start\": %s, \"deleted\": %d, \"per_viewer\": [",
              o.viewers, ready - t0, ready > o.start_at ? "true" : "false", deleted);
  for (size_t i = 0; i < viewers.size(); ++i) {
    const Viewer& v = *viewers[i];
    std::string err;
    for (char c : v.error) err += (c == '"' || c == '\\' || c < 0x20) ? ' ' : c;
    std::printf("%s{\"id\": %d, \"status\": %d, \"connected\": %s, \"frames\": %llu, \"packets\": %llu, "
                "\"bytes\": %llu, \"audio_packets\": %llu, \"offer_udp\": %d, \"offer_tcp\": %d, "
                "\"answer_udp\": %d, \"answer_tcp\": %d, \"error\": \"%s\"}",
                i ? ", " : "", v.id, v.status, v.connected ? "true" : "false",
                (unsigned long long)(v.v1_frames - v.v0_frames), (unsigned long long)(v.v1_packets - v.v0_packets),
                (unsigned long long)(v.v1_bytes - v.v0_bytes), (unsigned long long)(v.a1_packets - v.a0_packets),
                v.offer_udp, v.offer_tcp, v.answer_udp, v.answer_tcp, err.c_str());
  }
  std::printf("]}\n");
  std::fflush(stdout);
  // Exit without tearing down hundreds of webrtcbins (their sessions are DELETEd already).
  _exit(0);
}
