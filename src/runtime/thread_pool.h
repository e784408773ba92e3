// A small pool with deterministic work splitting: parallel_for(n, fn) calls fn(i) for every chunk
// index i in [0, n) on some thread. Callers choose chunks from the problem's shape alone, so which
// thread runs a chunk never changes a result.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgeq {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  void parallel_for(int64_t chunks, const std::function<void(int64_t)>& fn);

  // Calls fn(i) for every i in [0, count), grouping consecutive items into chunks of about
  // `chunk_work` units when each item costs `item_work`: small items share a thread hand-off.
  // The grouping depends on the sizes only, and each item is computed alone, so results never
  // depend on the thread count.
  template <class F>
  void for_each_item(int64_t count, int64_t item_work, int64_t chunk_work, F&& fn) {
    const int64_t per_chunk = std::max<int64_t>(1, chunk_work / std::max<int64_t>(1, item_work));
    const int64_t chunks = (count + per_chunk - 1) / per_chunk;
    parallel_for(chunks, [&](int64_t chunk) {
      const int64_t end = std::min(count, (chunk + 1) * per_chunk);
      for (int64_t i = chunk * per_chunk; i < end; ++i) fn(i);
    });
  }

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t chunks_ = 0;
  int64_t next_ = 0;
  int64_t finished_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace edgeq
