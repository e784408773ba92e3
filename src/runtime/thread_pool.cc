#include "runtime/thread_pool.h"

namespace edgeq {

namespace {
// Set while a thread runs a chunk: a nested parallel_for then runs inline instead of waiting
// on workers that may all be busy with the outer loop.
thread_local bool tls_in_chunk = false;

struct ChunkScope {
  ChunkScope() { tls_in_chunk = true; }
  ~ChunkScope() { tls_in_chunk = false; }
};
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stop_ || (generation_ != seen && next_ < chunks_); });
    if (stop_) return;
    seen = generation_;
    while (next_ < chunks_) {
      int64_t i = next_++;
      const auto* job = job_;
      lock.unlock();
      try {
        ChunkScope scope;
        (*job)(i);
      } catch (...) {
        std::lock_guard<std::mutex> guard(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      lock.lock();
      if (++finished_ == chunks_) done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t chunks, const std::function<void(int64_t)>& fn) {
  if (chunks <= 0) return;
  if (workers_.empty() || chunks == 1 || tls_in_chunk) {
    for (int64_t i = 0; i < chunks; ++i) fn(i);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  chunks_ = chunks;
  next_ = 0;
  finished_ = 0;
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  // The calling thread works too.
  while (next_ < chunks_) {
    int64_t i = next_++;
    lock.unlock();
    try {
      ChunkScope scope;
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    lock.lock();
    ++finished_;
  }
  done_.wait(lock, [&] { return finished_ == chunks_; });
  chunks_ = 0;
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace edgeq
