// WhepViewer: one WHEP session of whepserversink, i.e. one webrtcbin in the sink's bin fed from
// the shared payloaders' tees (one queue per media), and the offer/answer exchange with it.
// Owned and driven by the sink's session thread (create, answer, destroy there); webrtcbin's
// state changes come back through `on_event` from webrtcbin's own threads (must not block).
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "whepserversink/whep_protocol.h"

namespace live::whep {

enum class ViewerEvent { connected, disconnected, failed, closed };

struct ViewerConfig {
  std::string name;                        // element name of its webrtcbin
  std::vector<std::string> ice_addresses;  // host candidates only on these (empty: libnice's default)
  std::string stun_server;                 // stun://host:port, "" for none
  std::string turn_server;                 // turn(s)://user:pass@host:port, "" for none
};

class WhepViewer {
 public:
  WhepViewer(GstBin* bin, ViewerConfig config, std::function<void(ViewerEvent)> on_event);
  ~WhepViewer();  // unlinks from the tees, stops and removes its elements
  WhepViewer(const WhepViewer&) = delete;
  WhepViewer& operator=(const WhepViewer&) = delete;

  // A queue from `tee` into a send-only transceiver that sends `media` ("video"/"audio") with the
  // offer's payload type: the shared payloader's packets get that payload type on the way.
  void add_branch(GstElement* tee, const std::string& media, const std::string& encoding, int clock_rate,
                  const Choice& choice);
  // Starts the elements, applies the offer, makes the answer and waits (at most gather_timeout)
  // for ICE gathering to complete so the answer holds every candidate. The answer's SDP text.
  Result<std::string> answer(const std::string& offer_sdp, std::chrono::milliseconds gather_timeout);

 private:
  struct Branch {
    GstElement* tee = nullptr;
    GstPad* tee_pad = nullptr;
    GstElement* queue = nullptr;
    GstPad* sink = nullptr;  // webrtcbin's
    int payload_type = -1;
  };
  GstBin* bin_;
  GstElement* webrtc_ = nullptr;
  std::vector<Branch> branches_;
  std::vector<std::string> ice_addresses_;
  // Packets pass the queues only once the answer is applied: before, webrtcbin's sink pads lead
  // nowhere and a push would stop the queue for good (not-linked). Caps pass at once.
  std::shared_ptr<std::atomic<bool>> negotiated_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace live::whep
