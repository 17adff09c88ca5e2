#include "test_harness.h"

int main() {
  int passed = 0, failed = 0;
  for (const auto& test : pillow_test::registry()) {
    pillow_test::current_failures() = 0;
    try {
      test.body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      ++pillow_test::current_failures();
    }
    if (pillow_test::current_failures() == 0) {
      ++passed;
      std::printf("ok   %s\n", test.name);
    } else {
      ++failed;
      std::printf("FAIL %s\n", test.name);
    }
  }
  std::printf("native: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
