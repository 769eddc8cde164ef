#include "net/decision_runner.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace live::net {

namespace {
constexpr size_t kDecisionThreads = 4;
thread_local const void* running_owner = nullptr;
}  // namespace

// Plain std::threads, started once and never joined (process lifetime), so no element's
// teardown ever waits for the thread it runs on.
struct DecisionRunner::Impl {
  struct Task {
    uint64_t serial;
    const void* owner;
    std::function<void()> work;
  };
  struct Queue {
    std::deque<Task> tasks;
    std::condition_variable ready;
  };

  std::mutex lock;
  std::condition_variable idle;  // a task finished
  Queue decisions, notifications;
  std::multiset<const void*> running;  // owners of tasks running now
  uint64_t next_serial = 1;
  uint64_t finished_below = 1;  // every task with a lower serial has run or was dropped
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

  void post(Queue& queue, const void* owner, std::function<void()> work) {
    std::lock_guard guard(lock);
    queue.tasks.push_back(Task{next_serial++, owner, std::move(work)});
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
      running.insert(task.owner);
      guard.unlock();
      running_owner = task.owner;
      task.work();
      task.work = nullptr;  // captured state goes before the task counts as done
      running_owner = nullptr;
      guard.lock();
      running.erase(running.find(task.owner));
      mark_done(task.serial);
      idle.notify_all();
    }
  }

  void drop_queued(const void* owner) {
    for (Queue* queue : {&decisions, &notifications}) {
      std::vector<Task> dropped;
      for (auto it = queue->tasks.begin(); it != queue->tasks.end();) {
        if (it->owner == owner) {
          mark_done(it->serial);
          dropped.push_back(std::move(*it));
          it = queue->tasks.erase(it);
        } else {
          ++it;
        }
      }
      idle.notify_all();
      // `dropped` may hold references whose release runs code: release outside the lock.
      lock.unlock();
      dropped.clear();
      lock.lock();
    }
  }
};

DecisionRunner::DecisionRunner() : impl_(new Impl) { impl_->start(); }

DecisionRunner& DecisionRunner::get() {
  static DecisionRunner* runner = new DecisionRunner();  // never destroyed: its threads live on
  return *runner;
}

void DecisionRunner::decide(const void* owner, std::function<void()> task) {
  impl_->post(impl_->decisions, owner, std::move(task));
}

void DecisionRunner::notify(const void* owner, std::function<void()> task) {
  impl_->post(impl_->notifications, owner, std::move(task));
}

void DecisionRunner::forget(const void* owner) {
  std::unique_lock guard(impl_->lock);
  impl_->drop_queued(owner);
  const size_t own = running_owner == owner ? 1 : 0;  // the task we are called from
  impl_->idle.wait(guard, [&] { return impl_->running.count(owner) <= own; });
}

void DecisionRunner::drain() {
  std::unique_lock guard(impl_->lock);
  const uint64_t target = impl_->next_serial;
  impl_->idle.wait(guard, [&] { return impl_->finished_below >= target; });
}

}  // namespace live::net
