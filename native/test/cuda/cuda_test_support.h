// Helpers for the CUDA-vs-CPU tests (test/cuda/): device copies of host vectors, and a time limit
// for a call that must finish (a kernel that never ends would otherwise hang the test binary).
#pragma once
#include <chrono>
#include <cmath>
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

namespace pillow_test {

// Every element within tolerance · (1 + |expected|); reports the first mismatch only.
inline bool all_near(const std::vector<float>& actual, const std::vector<float>& expected, double tolerance,
                     const char* what) {
  if (actual.size() != expected.size()) {
    std::fprintf(stderr, "  %s: %zu values, expected %zu\n", what, actual.size(), expected.size());
    return false;
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!(std::fabs(double(actual[i]) - expected[i]) <= tolerance * (1.0 + std::fabs(double(expected[i]))))) {
      std::fprintf(stderr, "  %s[%zu] = %.9g, expected %.9g (tolerance %g)\n", what, i, actual[i], expected[i], tolerance);
      return false;
    }
  }
  return true;
}

// Bit for bit (the same arithmetic in the same order on both sides).
inline bool all_equal(const std::vector<float>& actual, const std::vector<float>& expected, const char* what) {
  return all_near(actual, expected, 0.0, what);
}

}  // namespace pillow_test
