// A persistent pool of worker threads for data-parallel loops. Threads are created once and
// sleep between jobs, so a parallel_for costs microseconds rather than a thread spawn per call.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>

namespace pillow {

// Runs body(begin, end) over [0, count) split into contiguous chunks of at least `grain` items,
// on the pool's threads plus the calling thread. Calls from several threads are serialised.
// Exceptions thrown by body are rethrown (the first one) in the caller after all chunks finish.
void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& body);

// As parallel_for, but the pool's threads take `step` items at a time from a shared counter, so a
// thread that is descheduled (a loaded machine) or slower simply does fewer steps instead of
// holding everyone at the join. Each call of body gets a contiguous range of at most `step` items.
inline void parallel_for_dynamic(int64_t count, int64_t step, int64_t minimum_count_for_threads,
                                 const std::function<void(int64_t begin, int64_t end)>& body) {
  if (count <= 0) return;
  step = std::max<int64_t>(step, 1);
  std::atomic<int64_t> next{0};
  const int64_t workers = count >= minimum_count_for_threads ? (count + step - 1) / step : 1;
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    for (int64_t begin = next.fetch_add(step); begin < count; begin = next.fetch_add(step)) {
      body(begin, std::min(count, begin + step));
    }
  });
}

// Number of threads a parallel_for uses (including the caller). Default: hardware concurrency.
int thread_count();
// Resizes the pool; n >= 1. Waits for a running job to finish first.
void set_thread_count(int n);

}  // namespace pillow
