// Keeps one trainer's native calls in the order JavaScript made them. libuv hands queued jobs to
// whichever of its worker threads is free, so two calls queued back to back (run() keeps two in
// flight) could reach the trainer's mutex in either order, and their statistics would come back
// swapped. A ticket taken on the JS thread when the call is made fixes the order. This cannot
// deadlock: libuv's queue is first in, first out, so every earlier ticket belongs to a job that
// is already running or done.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace onestep::train {

class CallOrder {
 public:
  // On the JS thread, when a call is queued.
  uint64_t Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_++;
  }

  // On the worker: waits for the ticket's turn; the next ticket's turn comes when this is destroyed.
  class Turn {
   public:
    Turn(CallOrder& order, uint64_t ticket) : order_(order) {
      std::unique_lock<std::mutex> lock(order_.mutex_);
      order_.turn_.wait(lock, [&] { return order_.serving_ == ticket; });
    }
    ~Turn() {
      {
        std::lock_guard<std::mutex> lock(order_.mutex_);
        ++order_.serving_;
      }
      order_.turn_.notify_all();
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

   private:
    CallOrder& order_;
  };

 private:
  std::mutex mutex_;
  std::condition_variable turn_;
  uint64_t next_ = 0, serving_ = 0;
};

}  // namespace onestep::train
