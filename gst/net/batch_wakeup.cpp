#include "net/batch_wakeup.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace live::net {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the futex word is the atomic's own storage");

namespace {

uint32_t* futex_word(std::atomic<uint32_t>& word) { return reinterpret_cast<uint32_t*>(&word); }

}  // namespace

uint32_t BatchWakeup::next_bit() {
  static std::atomic<uint32_t> next{0};
  return 1u << (next.fetch_add(1) % 32);
}

void BatchWakeup::wait(Ticket ticket, uint32_t bit, int64_t timeout_us) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  timespec deadline{};
  if (timeout_us >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    const int64_t ns = int64_t(deadline.tv_nsec) + (timeout_us % 1'000'000) * 1000;
    deadline.tv_sec += time_t(timeout_us / 1'000'000 + ns / 1'000'000'000);
    deadline.tv_nsec = long(ns % 1'000'000'000);
  }
  // Counted before the futex re-checks the word: a wake() that sees no sleeper bumped the
  // generation first, so this wait returns at once (both orders are sequentially consistent).
  sleepers_.fetch_add(1);
  syscall(SYS_futex, futex_word(generation_), FUTEX_WAIT_BITSET_PRIVATE, ticket,
          timeout_us >= 0 ? &deadline : nullptr, nullptr, bit ? bit : FUTEX_BITSET_MATCH_ANY);
  sleepers_.fetch_sub(1);
}

void BatchWakeup::wake(uint32_t bits) {
  if (bits == 0) return;
  generation_.fetch_add(1);
  if (sleepers_.load() == 0) return;
  syscall(SYS_futex, futex_word(generation_), FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, nullptr, nullptr,
          bits);
}

}  // namespace live::net
