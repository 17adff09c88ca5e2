// Errors raised by native code. Every public entry point validates its arguments and throws
// PillowError (never aborts); the Node binding turns it into a JS Error with a stable `code`.
#pragma once
#include <stdexcept>
#include <string>

namespace pillow {

// Stable error codes, mirrored in packages/lora-kernels/src/AddonTypes.ts.
inline constexpr const char* kErrorShape = "E_SHAPE";             // wrong length or dimension
inline constexpr const char* kErrorType = "E_TYPE";               // wrong JS type for an argument
inline constexpr const char* kErrorArgument = "E_ARGUMENT";       // a value out of its range
inline constexpr const char* kErrorNonFiniteLogits = "E_NONFINITE_LOGITS";
inline constexpr const char* kErrorCuda = "E_CUDA";
inline constexpr const char* kErrorUnsupported = "E_UNSUPPORTED";  // not built for this device yet
inline constexpr const char* kErrorInternal = "E_INTERNAL";
inline constexpr const char* kErrorDisposed = "E_DISPOSED";    // a native object used after dispose()

class PillowError : public std::runtime_error {
 public:
  PillowError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;
};

[[noreturn]] inline void throw_shape_error(const std::string& message) { throw PillowError(kErrorShape, message); }
[[noreturn]] inline void throw_argument_error(const std::string& message) { throw PillowError(kErrorArgument, message); }

}  // namespace pillow
