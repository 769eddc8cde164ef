// DecisionRunner: runs application code (authorize-publish / authorize-play signal handlers,
// element messages that a bus sync handler may act on) off the shared I/O threads. A handler
// may then do anything, stop its own pipeline included: the I/O thread never waits for it, and
// a listener released from inside a handler is joined from this thread, not from its own.
//
// Process-wide. Decisions run on a small pool (one slow authorization does not hold up the
// others); notifications run on one thread, in the order they were posted. Nothing waits for
// a task and no task is dropped: a task holds what it uses (the element, through
// PublishMount/PlayMount::keep_alive()), so it may run after its element stopped (a decision
// then finds no mount and refuses; a message still reaches the bus).
#pragma once

#include <functional>

namespace live::net {

class DecisionRunner {
 public:
  static DecisionRunner& get();

  // Runs `task` on a decision thread.
  void decide(std::function<void()> task);
  // Runs `task` on the notification thread, after every notification posted before it.
  void notify(std::function<void()> task);
  // Waits until every task queued so far has run (tests, orderly shutdown). Not from a task.
  void drain();

  struct Impl;

 private:
  DecisionRunner();
  Impl* impl_;
};

}  // namespace live::net
