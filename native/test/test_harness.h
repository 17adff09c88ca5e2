// A minimal test harness for the native unit tests: TEST(name) registers a case, CHECK records a
// failure with file and line; main() runs all and prints "N passed, N failed".
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace pillow_test {

struct TestCase {
  const char* name;
  std::function<void()> body;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> cases;
  return cases;
}

inline int& current_failures() {
  static int failures = 0;
  return failures;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

}  // namespace pillow_test

#define PILLOW_CONCAT_INNER(a, b) a##b
#define PILLOW_CONCAT(a, b) PILLOW_CONCAT_INNER(a, b)
#define TEST(name)                                                                   \
  static void name();                                                                \
  static pillow_test::Registrar PILLOW_CONCAT(registrar_, name)(#name, name);        \
  static void name()

#define CHECK(condition)                                                             \
  do {                                                                               \
    if (!(condition)) {                                                              \
      std::fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #condition); \
      ++pillow_test::current_failures();                                             \
    }                                                                                \
  } while (0)

#define CHECK_NEAR(actual, expected, relative_tolerance)                             \
  do {                                                                               \
    const double a_ = (actual), e_ = (expected);                                     \
    const double bound_ = (relative_tolerance) * (1.0 + std::fabs(e_));               \
    if (!(std::fabs(a_ - e_) <= bound_)) {                                           \
      std::fprintf(stderr, "  CHECK_NEAR failed at %s:%d: %s = %.9g, expected %.9g\n", __FILE__, __LINE__, \
                   #actual, a_, e_);                                                 \
      ++pillow_test::current_failures();                                             \
    }                                                                                \
  } while (0)
