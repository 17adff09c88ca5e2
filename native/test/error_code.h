// The stable error code a call throws as a PillowError ("none" when it returns normally): the
// native tests' one way to check that bad arguments are refused before any kernel runs.
#pragma once
#include <string>

#include "runtime/errors.h"

namespace pillow_test {

template <typename Call>
std::string error_code_of(Call&& call) {
  try {
    call();
  } catch (const pillow::PillowError& e) {
    return e.code();
  }
  return "none";
}

}  // namespace pillow_test
