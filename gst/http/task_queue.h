// TaskQueue: work for a server thread's GMainContext, run in the order posted. Shared (by
// shared_ptr) with objects that may outlive the server, e.g. PendingStream handles: once
// closed, posted work is dropped (destroyed outside the lock, never run).
#pragma once

#include <glib.h>

#include <deque>
#include <functional>
#include <mutex>

namespace live::http {

class TaskQueue {
 public:
  // Work posted from now on runs on `context` (the server thread's).
  void open(GMainContext* context) {
    std::lock_guard<std::mutex> guard(lock_);
    context_ = context;
  }

  // Never runs `task` inline, even on the server thread.
  void post(std::function<void()> task) {
    std::unique_lock<std::mutex> guard(lock_);
    if (context_ == nullptr) {
      guard.unlock();
      return;  // `task` (and what it holds) goes here, outside the lock
    }
    tasks_.push_back(std::move(task));
    if (drain_scheduled_) return;
    drain_scheduled_ = true;
    // An idle source, not g_main_context_invoke: that would run inline on the server thread.
    GSource* source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_HIGH);
    g_source_set_callback(source, drain, this, nullptr);
    g_source_attach(source, context_);
    g_source_unref(source);
  }

  // Drops what is queued and everything posted later. Call before the server thread goes.
  void close() {
    std::deque<std::function<void()>> dropped;
    std::lock_guard<std::mutex> guard(lock_);
    context_ = nullptr;
    dropped.swap(tasks_);
    // `dropped` is destroyed after the lock is released (declared first).
  }

 private:
  static gboolean drain(gpointer data) {
    auto* queue = static_cast<TaskQueue*>(data);
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard<std::mutex> guard(queue->lock_);
        if (queue->tasks_.empty()) {
          queue->drain_scheduled_ = false;
          return G_SOURCE_REMOVE;
        }
        task = std::move(queue->tasks_.front());
        queue->tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex lock_;
  GMainContext* context_ = nullptr;         // under lock_; null when closed
  std::deque<std::function<void()>> tasks_;  // under lock_
  bool drain_scheduled_ = false;             // under lock_
};

}  // namespace live::http
