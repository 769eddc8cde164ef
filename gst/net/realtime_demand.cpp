#include "net/realtime_demand.h"

#include <atomic>

namespace live::net {

namespace {
std::atomic<int> active_holders{0};
}  // namespace

RealtimeDemand& RealtimeDemand::operator=(RealtimeDemand&& other) noexcept {
  if (this != &other) {
    set(false);
    active_ = other.active_;
    other.active_ = false;
  }
  return *this;
}

void RealtimeDemand::set(bool waiting) {
  if (waiting == active_) return;
  active_ = waiting;
  active_holders.fetch_add(waiting ? 1 : -1, std::memory_order_relaxed);
}

bool RealtimeDemand::anywhere() { return active_holders.load(std::memory_order_relaxed) > 0; }

}  // namespace live::net
