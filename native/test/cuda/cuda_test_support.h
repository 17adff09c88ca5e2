// Helpers for the CUDA-vs-CPU tests (test/cuda/): device copies of host vectors, and a time limit
// for a call that must finish (a kernel that never ends would otherwise hang the test binary).
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "ops/cuda/device_buffer.h"

namespace pillow_test {

template <typename T>
pillow::DeviceBuffer<T> to_device(const std::vector<T>& host) {
  return pillow::DeviceBuffer<T>(host.data(), static_cast<int64_t>(host.size()));
}

// Runs body on its own thread; true when it finished within `seconds`. A body still running then
// cannot be stopped, so the binary reports the hang and exits (failing) instead of waiting forever.
inline bool finishes_within(double seconds, const char* what, const std::function<void()>& body) {
  std::packaged_task<void()> task(body);
  std::future<void> done = task.get_future();
  std::thread runner(std::move(task));
  if (done.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready) {
    std::fprintf(stderr, "  %s did not finish within %.0f s: a hang; stopping the test binary\n", what, seconds);
    std::fflush(stderr);
    std::printf("FAIL (hang) %s\n", what);
    std::fflush(stdout);
    std::_Exit(1);
  }
  runner.join();
  done.get();  // rethrows what body threw
  return true;
}

}  // namespace pillow_test
