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

void BatchWakeup::wait(Ticket ticket, int64_t timeout_us) {
  timespec timeout{};
  if (timeout_us >= 0) {
    timeout.tv_sec = time_t(timeout_us / 1'000'000);
    timeout.tv_nsec = long(timeout_us % 1'000'000) * 1000;
  }
  // Counted before the futex re-checks the word: a wake_all() that sees no sleeper bumped the
  // generation first, so this wait returns at once (both orders are sequentially consistent).
  sleepers_.fetch_add(1);
  syscall(SYS_futex, futex_word(generation_), FUTEX_WAIT_PRIVATE, ticket,
          timeout_us >= 0 ? &timeout : nullptr, nullptr, 0);
  sleepers_.fetch_sub(1);
}

void BatchWakeup::wake_all() {
  generation_.fetch_add(1);
  if (sleepers_.load() == 0) return;
  syscall(SYS_futex, futex_word(generation_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace live::net
