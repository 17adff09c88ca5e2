// A persistent pool of worker threads for data-parallel loops. Threads are created once and
// sleep between jobs, so a parallel_for costs microseconds rather than a thread spawn per call.
#pragma once
#include <cstdint>
#include <functional>

namespace pillow {

// Runs body(begin, end) over [0, count) split into contiguous chunks of at least `grain` items,
// on the pool's threads plus the calling thread. Calls from several threads are serialised.
// Exceptions thrown by body are rethrown (the first one) in the caller after all chunks finish.
void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& body);

// Number of threads a parallel_for uses (including the caller). Default: hardware concurrency.
int thread_count();
// Resizes the pool; n >= 1. Waits for a running job to finish first.
void set_thread_count(int n);

}  // namespace pillow
