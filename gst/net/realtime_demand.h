// RealtimeDemand: whether anyone in the process is waiting for a stream's media as it happens
// (an RTMP or HTTP-FLV viewer, a push target, a WHEP viewer). Publishers' input is read in
// batches (IoPoller); a short interval costs CPU in every stream's thread, and only these
// consumers see the difference (HLS parts are hundreds of milliseconds long). So the pollers
// use the whole read interval while nobody waits, and a shorter one while somebody does.
//
// Each holder counts at most once; the count is process-wide (an RTMP listener may feed a sink
// on another port or in another pipeline). Any thread; a holder is not itself thread-safe.
#pragma once

namespace live::net {

class RealtimeDemand {
 public:
  RealtimeDemand() = default;
  ~RealtimeDemand() { set(false); }
  RealtimeDemand(RealtimeDemand&& other) noexcept : active_(other.active_) { other.active_ = false; }
  RealtimeDemand& operator=(RealtimeDemand&& other) noexcept;
  RealtimeDemand(const RealtimeDemand&) = delete;
  RealtimeDemand& operator=(const RealtimeDemand&) = delete;

  void set(bool waiting);  // this holder has (true) or no longer has (false) a waiting consumer
  bool active() const { return active_; }

  static bool anywhere();  // some holder in the process is active

 private:
  bool active_ = false;
};

}  // namespace live::net
