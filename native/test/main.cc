#include <cstring>

#include "test_harness.h"

// pillow_native_tests [PREFIX...]: only the tests whose names start with one of the prefixes.
int main(int argc, char** argv) {
  int passed = 0, failed = 0;
  for (const auto& test : pillow_test::registry()) {
    bool selected = argc < 2;
    for (int i = 1; i < argc; ++i) selected |= std::strncmp(test.name, argv[i], std::strlen(argv[i])) == 0;
    if (!selected) continue;
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
