// DecisionRunner: runs application code (authorize-publish / authorize-play signal handlers,
// element messages that a bus sync handler may act on) off the shared I/O threads. A handler
// may then do anything, stop its own pipeline included: the I/O thread never waits for it, and
// a listener released from inside a handler is joined from this thread, not from its own.
//
// Process-wide. Decisions run on a small pool (one slow authorization does not hold up the
// others); notifications run on one thread, in the order they were posted. Each task names
// the mount (element) it belongs to, and forget() lets an element that goes away wait until
// none of its tasks runs (from inside one of its own tasks it only drops the queued ones).
#pragma once

#include <functional>

namespace live::net {

class DecisionRunner {
 public:
  static DecisionRunner& get();

  // Runs `task` on a decision thread.
  void decide(const void* owner, std::function<void()> task);
  // Runs `task` on the notification thread, after every notification posted before it.
  void notify(const void* owner, std::function<void()> task);
  // After this returns no task of `owner` runs or will run (queued ones are dropped). Called
  // from one of owner's own tasks it drops the queued ones and does not wait for itself.
  void forget(const void* owner);
  // Waits until every task queued so far has run (tests, orderly shutdown).
  void drain();

  struct Impl;

 private:
  DecisionRunner();
  Impl* impl_;
};

}  // namespace live::net
