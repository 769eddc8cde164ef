#include "net/decision_runner.h"

#include <pthread.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace live::net {

namespace {
constexpr size_t kDecisionThreads = 4;
}  // namespace

// Plain std::threads, started once and never joined (process lifetime), so no element's
// teardown ever waits for the thread it runs on.
struct DecisionRunner::Impl {
  struct Task {
    uint64_t serial;
    std::function<void()> work;
  };
  struct Queue {
    std::deque<Task> tasks;
    std::condition_variable ready;
  };

  std::mutex lock;
  std::condition_variable idle;  // a task finished
  Queue decisions, notifications;
  uint64_t next_serial = 1;
  uint64_t finished_below = 1;  // every task with a lower serial has run
  std::set<uint64_t> done_out_of_order;

  void start() {
    // Named: a thread otherwise inherits the name of the one that created it (an I/O thread).
    for (size_t i = 0; i < kDecisionThreads; ++i) {
      std::thread([this] {
        pthread_setname_np(pthread_self(), "live-decide");
        run(decisions);
      }).detach();
    }
    std::thread([this] {
      pthread_setname_np(pthread_self(), "live-notify");
      run(notifications);
    }).detach();
  }

  void post(Queue& queue, std::function<void()> work) {
    std::lock_guard guard(lock);
    queue.tasks.push_back(Task{next_serial++, std::move(work)});
    queue.ready.notify_one();
  }

  void mark_done(uint64_t serial) {
    done_out_of_order.insert(serial);
    while (!done_out_of_order.empty() && *done_out_of_order.begin() == finished_below) {
      done_out_of_order.erase(done_out_of_order.begin());
      ++finished_below;
    }
  }

  void run(Queue& queue) {
    std::unique_lock guard(lock);
    for (;;) {
      queue.ready.wait(guard, [&] { return !queue.tasks.empty(); });
      Task task = std::move(queue.tasks.front());
      queue.tasks.pop_front();
      guard.unlock();
      task.work();
      task.work = nullptr;  // what it held (the element) goes before the task counts as done
      guard.lock();
      mark_done(task.serial);
      idle.notify_all();
    }
  }
};

DecisionRunner::DecisionRunner() : impl_(new Impl) { impl_->start(); }

DecisionRunner& DecisionRunner::get() {
  static DecisionRunner* runner = new DecisionRunner();  // never destroyed: its threads live on
  return *runner;
}

void DecisionRunner::decide(std::function<void()> task) {
  impl_->post(impl_->decisions, std::move(task));
}

void DecisionRunner::notify(std::function<void()> task) {
  impl_->post(impl_->notifications, std::move(task));
}

void DecisionRunner::drain() {
  std::unique_lock guard(impl_->lock);
  const uint64_t target = impl_->next_serial;
  impl_->idle.wait(guard, [&] { return impl_->finished_below >= target; });
}

}  // namespace live::net
