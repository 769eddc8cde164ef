// WhepViewer: see the header. The shared payloaders pay one payload type; each viewer's offer
// names its own, so the packets (and the caps) get the viewer's payload type in a pad probe on
// the viewer's tee pad (a copy of the packet per viewer, no re-payloading).
#include "whepserversink/whep_viewer.h"

#define GST_USE_UNSTABLE_API
#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <cstdlib>
#include <thread>

GST_DEBUG_CATEGORY_EXTERN(whep_server_sink_debug);
#define GST_CAT_DEFAULT whep_server_sink_debug

namespace live::whep {

namespace {

constexpr auto kCapsWait = std::chrono::milliseconds(1000);  // a stream not flowing yet: answer anyway

GstBuffer* with_payload_type(GstBuffer* buffer, guint pt) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) {
    const bool same = gst_rtp_buffer_get_payload_type(&rtp) == pt;
    gst_rtp_buffer_unmap(&rtp);
    if (same) return buffer;
  }
  buffer = gst_buffer_make_writable(buffer);
  if (gst_rtp_buffer_map(buffer, GST_MAP_WRITE, &rtp)) {
    gst_rtp_buffer_set_payload_type(&rtp, pt);
    gst_rtp_buffer_unmap(&rtp);
  }
  return buffer;
}

// What this viewer's packets and caps get: its payload type and its offer's fmtp parameters
// (webrtcbin takes only caps that match the transceiver's codec preference).
struct BranchRewrite {
  guint pt;
  GstStructure* fields;  // payload and fmtp fields to set on the caps
};

GstPadProbeReturn hold_until_negotiated(GstPad*, GstPadProbeInfo*, gpointer data) {
  return (*static_cast<std::shared_ptr<std::atomic<bool>>*>(data))->load() ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

gboolean copy_field(GQuark field, const GValue* value, gpointer target) {
  gst_structure_id_set_value(static_cast<GstStructure*>(target), field, value);
  return TRUE;
}

GstPadProbeReturn rewrite_payload_type(GstPad*, GstPadProbeInfo* info, gpointer data) {
  const auto* rewrite = static_cast<const BranchRewrite*>(data);
  const guint pt = rewrite->pt;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GST_PAD_PROBE_INFO_DATA(info) = with_payload_type(GST_PAD_PROBE_INFO_BUFFER(info), pt);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList* list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    for (guint i = 0; i < gst_buffer_list_length(list); ++i) {
      GstBuffer* buffer = gst_buffer_list_get_writable(list, i);
      GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
      if (gst_rtp_buffer_map(buffer, GST_MAP_WRITE, &rtp)) {
        gst_rtp_buffer_set_payload_type(&rtp, pt);
        gst_rtp_buffer_unmap(&rtp);
      }
    }
    GST_PAD_PROBE_INFO_DATA(info) = list;
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      GstCaps* changed = gst_caps_copy(caps);
      GstStructure* target = gst_caps_get_structure(changed, 0);
      gst_structure_foreach(rewrite->fields, copy_field, target);
      // webrtcbin turns the offer's profile-level-id into a "profile" field; the stream's own
      // (e.g. high against an offered high-4:4:4) would make them differ.
      gst_structure_remove_field(target, "profile");
      GST_PAD_PROBE_INFO_DATA(info) = gst_event_new_caps(changed);
      gst_caps_unref(changed);
      gst_event_unref(event);
    }
  }
  return GST_PAD_PROBE_OK;
}

// The viewer's branch must never steer the shared payloader's caps (each viewer's webrtcbin only
// takes its own payload type): caps queries from the tee into the branch are answered here.
GstPadProbeReturn isolate_queries(GstPad*, GstPadProbeInfo* info, gpointer) {
  GstQuery* query = GST_PAD_PROBE_INFO_QUERY(info);
  if (GST_QUERY_TYPE(query) == GST_QUERY_CAPS) {
    GstCaps* filter = nullptr;
    gst_query_parse_caps(query, &filter);
    GstCaps* any = gst_caps_new_any();
    gst_query_set_caps_result(query, filter ? filter : any);
    gst_caps_unref(any);
    return GST_PAD_PROBE_HANDLED;
  }
  if (GST_QUERY_TYPE(query) == GST_QUERY_ACCEPT_CAPS) {
    gst_query_set_accept_caps_result(query, TRUE);
    return GST_PAD_PROBE_HANDLED;
  }
  return GST_PAD_PROBE_OK;
}

struct EventSink {
  std::function<void(ViewerEvent)> on_event;
};

void on_connection_state(GstElement* webrtc, GParamSpec*, gpointer data) {
  GstWebRTCPeerConnectionState state;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  auto* sink = static_cast<EventSink*>(data);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) sink->on_event(ViewerEvent::connected);
  else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) sink->on_event(ViewerEvent::failed);
  else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED) sink->on_event(ViewerEvent::closed);
}

void on_ice_connection_state(GstElement* webrtc, GParamSpec*, gpointer data) {
  GstWebRTCICEConnectionState state;
  g_object_get(webrtc, "ice-connection-state", &state, nullptr);
  auto* sink = static_cast<EventSink*>(data);
  if (state == GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED) sink->on_event(ViewerEvent::disconnected);
  else if (state == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) sink->on_event(ViewerEvent::failed);
  else if (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED) sink->on_event(ViewerEvent::connected);
}

void connect_events(GstElement* webrtc, const char* signal, GCallback callback, std::function<void(ViewerEvent)> fn) {
  g_signal_connect_data(webrtc, signal, callback, new EventSink{std::move(fn)},
                        [](gpointer data, GClosure*) { delete static_cast<EventSink*>(data); }, GConnectFlags(0));
}

// Waits for a webrtcbin promise; the reply's "error" (1.22 reports failures there) as text.
std::string wait_promise(GstPromise* promise, const GstStructure** reply) {
  const GstPromiseResult result = gst_promise_wait(promise);
  *reply = result == GST_PROMISE_RESULT_REPLIED ? gst_promise_get_reply(promise) : nullptr;
  if (result != GST_PROMISE_RESULT_REPLIED) return "webrtcbin did not answer";
  if (*reply != nullptr && gst_structure_has_field(*reply, "error")) {
    GError* error = nullptr;
    gst_structure_get(*reply, "error", G_TYPE_ERROR, &error, nullptr);
    std::string text = error ? error->message : "error";
    if (error) g_error_free(error);
    return text;
  }
  return {};
}

// webrtcbin (1.22) puts a clocksync on each input: packets wait until running time + the
// pipeline latency. Our input is live and already paced, so that only adds delay, and a varying
// one: 150-280 ms in about half the runs of tests/bench/whep_latency.py, 18-21 ms without
// (docs/benchmarks.md, "WebRTC (WHEP)"). Packets are sent as they come.
void no_clock_sync(GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  if (factory && g_strcmp0(GST_OBJECT_NAME(factory), "clocksync") == 0) g_object_set(element, "sync", FALSE, nullptr);
}

void on_deep_element_added(GstBin*, GstBin*, GstElement* element, gpointer) { no_clock_sync(element); }

}  // namespace

WhepViewer::WhepViewer(GstBin* bin, ViewerConfig config, std::function<void(ViewerEvent)> on_event)
    : bin_(bin), ice_addresses_(std::move(config.ice_addresses)) {
  webrtc_ = gst_element_factory_make("webrtcbin", config.name.c_str());
  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  g_signal_connect(webrtc_, "deep-element-added", G_CALLBACK(on_deep_element_added), nullptr);
  GstIterator* existing = gst_bin_iterate_recurse(GST_BIN(webrtc_));
  gst_iterator_foreach(existing, [](const GValue* v, gpointer) { no_clock_sync(GST_ELEMENT(g_value_get_object(v))); },
                       nullptr);
  gst_iterator_free(existing);
  if (!config.stun_server.empty()) g_object_set(webrtc_, "stun-server", config.stun_server.c_str(), nullptr);
  if (!config.turn_server.empty()) g_object_set(webrtc_, "turn-server", config.turn_server.c_str(), nullptr);
  // libnice gathers on every non-loopback interface unless addresses are added explicitly;
  // then only on those (and 127.0.0.1 only that way).
  GstWebRTCICE* ice = nullptr;
  g_object_get(webrtc_, "ice-agent", &ice, nullptr);
  for (const std::string& address : ice_addresses_) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice, "add-local-ip-address", address.c_str(), &added);
    if (!added) GST_WARNING_OBJECT(webrtc_, "libnice refused ICE address %s", address.c_str());
  }
  if (ice) gst_object_unref(ice);
  connect_events(webrtc_, "notify::connection-state", G_CALLBACK(on_connection_state), on_event);
  connect_events(webrtc_, "notify::ice-connection-state", G_CALLBACK(on_ice_connection_state), on_event);
  gst_bin_add(bin_, webrtc_);
  // Running before anything is linked to it: a push into a stopped element returns FLUSHING, and
  // a tee passes that up, which would stop the shared stream.
  gst_element_sync_state_with_parent(webrtc_);
}

WhepViewer::~WhepViewer() {
  g_signal_handlers_disconnect_matched(webrtc_, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                       reinterpret_cast<gpointer>(on_connection_state), nullptr);
  g_signal_handlers_disconnect_matched(webrtc_, G_SIGNAL_MATCH_FUNC, 0, 0, nullptr,
                                       reinterpret_cast<gpointer>(on_ice_connection_state), nullptr);
  for (Branch& b : branches_) {
    gst_element_release_request_pad(b.tee, b.tee_pad);
    gst_object_unref(b.tee_pad);
    gst_object_unref(b.sink);
  }
  // webrtcbin first: a queue pushing into it then gets FLUSHING instead of waiting inside it.
  gst_element_set_state(webrtc_, GST_STATE_NULL);
  for (Branch& b : branches_) {
    gst_element_set_state(b.queue, GST_STATE_NULL);
    gst_bin_remove(bin_, b.queue);
  }
  gst_bin_remove(bin_, webrtc_);
}

void WhepViewer::add_branch(GstElement* tee, const std::string& media, const std::string& encoding, int clock_rate,
                            const Choice& choice) {
  Branch b;
  b.tee = tee;
  b.queue = gst_element_factory_make("queue", nullptr);
  // Never holds the shared tee back: a viewer that cannot take packets loses the oldest.
  g_object_set(b.queue, "leaky", 2, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time",
               GST_SECOND, nullptr);
  gst_bin_add(bin_, b.queue);
  GstPad* queue_src = gst_element_get_static_pad(b.queue, "src");
  gst_pad_add_probe(queue_src, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    hold_until_negotiated, new std::shared_ptr<std::atomic<bool>>(negotiated_),
                    [](gpointer data) { delete static_cast<std::shared_ptr<std::atomic<bool>>*>(data); });
  // The transceiver's codec preference is the offer's format itself, so webrtcbin answers it.
  GstCaps* preference = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, media.c_str(),
                                            "encoding-name", G_TYPE_STRING, encoding.c_str(), "clock-rate",
                                            G_TYPE_INT, clock_rate, "payload", G_TYPE_INT, choice.payload_type, nullptr);
  // With the offer's fmtp parameters (as SDP caps carry them: strings), or webrtcbin leaves
  // profile-level-id out of the answer and the browser reads it as Baseline.
  gchar** params = g_strsplit(choice.fmtp.c_str(), ";", -1);
  for (gchar** p = params; *p != nullptr; ++p) {
    gchar** pair = g_strsplit(g_strstrip(*p), "=", 2);
    if (pair[0] != nullptr && pair[1] != nullptr && *pair[0] != '\0')
      gst_caps_set_simple(preference, g_strstrip(pair[0]), G_TYPE_STRING, g_strstrip(pair[1]), nullptr);
    g_strfreev(pair);
  }
  g_strfreev(params);
  GstPad* sink = gst_element_request_pad_simple(webrtc_, "sink_%u");
  GstWebRTCRTPTransceiver* transceiver = nullptr;
  g_object_get(sink, "transceiver", &transceiver, nullptr);
  if (transceiver != nullptr) {
    g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "codec-preferences",
                 preference, nullptr);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(transceiver), "do-nack"))
      g_object_set(transceiver, "do-nack", TRUE, nullptr);
    gst_object_unref(transceiver);
  }
  auto* rewrite = new BranchRewrite{static_cast<guint>(choice.payload_type),
                                    gst_structure_copy(gst_caps_get_structure(preference, 0))};
  gst_structure_remove_fields(rewrite->fields, "media", "encoding-name", "clock-rate", nullptr);
  gst_caps_unref(preference);
  // No caps check: upstream offers the shared payloader's payload type, the probe makes it this one.
  if (gst_pad_link_full(queue_src, sink, GST_PAD_LINK_CHECK_NOTHING) != GST_PAD_LINK_OK)
    GST_WARNING_OBJECT(webrtc_, "cannot link the %s queue", media.c_str());
  gst_object_unref(queue_src);
  b.sink = sink;  // the reference is kept until the destructor
  // The payload type is rewritten where the packets leave the tee, so the queue and webrtcbin
  // see this viewer's caps from the start.
  gst_element_sync_state_with_parent(b.queue);  // running before the tee pushes into it
  b.tee_pad = gst_element_request_pad_simple(tee, "src_%u");
  gst_pad_add_probe(b.tee_pad,
                    static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                                 GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                    rewrite_payload_type, rewrite, [](gpointer data) {
                      auto* r = static_cast<BranchRewrite*>(data);
                      gst_structure_free(r->fields);
                      delete r;
                    });
  gst_pad_add_probe(b.tee_pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, isolate_queries, nullptr, nullptr);
  GstPad* queue_sink = gst_element_get_static_pad(b.queue, "sink");
  gst_pad_link_full(b.tee_pad, queue_sink, GST_PAD_LINK_CHECK_NOTHING);
  gst_object_unref(queue_sink);
  b.payload_type = choice.payload_type;
  branches_.push_back(b);
}

Result<std::string> WhepViewer::answer(const std::string& offer_sdp, std::chrono::milliseconds gather_timeout) {
  // webrtcbin writes a=ssrc lines from the caps its sink pads got: without them in the answer
  // chromium drops that media's packets. The caps come with the next packet of each payloader.
  const auto caps_deadline = std::chrono::steady_clock::now() + kCapsWait;
  for (Branch& b : branches_) {
    while (!gst_pad_has_current_caps(b.sink) && std::chrono::steady_clock::now() < caps_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!gst_pad_has_current_caps(b.sink))
      GST_WARNING_OBJECT(webrtc_, "no caps on %" GST_PTR_FORMAT " yet: the answer has no SSRC for it", b.sink);
  }

  GstSDPMessage* sdp = nullptr;
  gst_sdp_message_new(&sdp);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8*>(offer_sdp.data()), offer_sdp.size(), sdp) != GST_SDP_OK) {
    gst_sdp_message_free(sdp);
    return make_error(Errc::malformed, "the SDP offer cannot be parsed");
  }
  GstWebRTCSessionDescription* offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  const GstStructure* reply = nullptr;
  GstPromise* promise = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "set-remote-description", offer, promise);
  std::string error = wait_promise(promise, &reply);
  gst_promise_unref(promise);
  gst_webrtc_session_description_free(offer);
  if (!error.empty()) return make_error(Errc::malformed, "the offer was not accepted: " + error);

  promise = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "create-answer", nullptr, promise);
  error = wait_promise(promise, &reply);
  GstWebRTCSessionDescription* answer = nullptr;
  if (error.empty() && reply != nullptr) gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
  gst_promise_unref(promise);
  if (answer == nullptr) return make_error(Errc::unsupported, "no answer to the offer: " + (error.empty() ? "webrtcbin made none" : error));

  // Every branch must be answered with its payload type, send-only: else webrtcbin made a
  // transceiver of its own for the m-line, and applying such an answer can abort the process
  // (an assertion in webrtcbin 1.22's _connect_input_stream).
  for (const Branch& b : branches_) {
    bool answered = false;
    for (guint i = 0; i < gst_sdp_message_medias_len(answer->sdp) && !answered; ++i) {
      const GstSDPMedia* m = gst_sdp_message_get_media(answer->sdp, i);
      bool has_pt = false;
      for (guint f = 0; f < gst_sdp_media_formats_len(m); ++f)
        has_pt |= std::atoi(gst_sdp_media_get_format(m, f)) == b.payload_type;
      answered = has_pt && gst_sdp_media_get_attribute_val(m, "sendonly") != nullptr;
    }
    if (!answered) {
      gst_webrtc_session_description_free(answer);
      return make_error(Errc::unsupported, "webrtcbin did not answer payload type " + std::to_string(b.payload_type) +
                                               " of the offer");
    }
  }
  promise = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "set-local-description", answer, promise);
  error = wait_promise(promise, &reply);
  gst_promise_unref(promise);
  gst_webrtc_session_description_free(answer);
  if (!error.empty()) return make_error(Errc::unsupported, "the answer was not applied: " + error);
  negotiated_->store(true);

  // Every candidate in the answer (no trickle ICE): wait for gathering, bounded.
  const auto deadline = std::chrono::steady_clock::now() + gather_timeout;
  for (;;) {
    GstWebRTCICEGatheringState gathering;
    g_object_get(webrtc_, "ice-gathering-state", &gathering, nullptr);
    if (gathering == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      GST_WARNING_OBJECT(webrtc_, "ICE gathering not complete after %d ms: answering with the candidates so far",
                         static_cast<int>(gather_timeout.count()));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(webrtc_, "local-description", &local, nullptr);
  if (local == nullptr) return make_error(Errc::unsupported, "webrtcbin has no local description");
  gchar* text = gst_sdp_message_as_text(local->sdp);
  std::string answer_sdp = text;
  g_free(text);
  gst_webrtc_session_description_free(local);
  return answer_sdp;
}

}  // namespace live::whep
