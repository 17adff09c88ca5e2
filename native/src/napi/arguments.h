// Argument checks shared by every binding. Each check throws a JS Error whose `code` is stable
// (E_TYPE, E_SHAPE, E_ARGUMENT) and whose message names the argument, before any kernel runs.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "runtime/errors.h"

namespace pillow::napi {

inline Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

[[noreturn]] inline void throw_error(Napi::Env env, const char* code, const std::string& message) {
  throw make_error(env, code, message);
}

// Runs a binding body, mapping native exceptions to JS errors with codes. Nothing escapes as a C++
// exception through Node-API, and nothing aborts the process.
template <typename Body>
Napi::Value guarded(const Napi::CallbackInfo& info, Body body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const PillowError& e) {
    throw make_error(info.Env(), e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(info.Env(), kErrorInternal, "out of memory");
  } catch (const std::exception& e) {
    throw make_error(info.Env(), kErrorInternal, e.what());
  }
}

inline Napi::Object object_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject()) {
    throw_error(info.Env(), kErrorType, std::string(name) + " must be an object");
  }
  return info[index].As<Napi::Object>();
}

// What each typed array is, for the check and its error text ("must be a Float32Array").
template <typename Element>
struct TypedArrayKind;
template <>
struct TypedArrayKind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "a Float32Array";
};
template <>
struct TypedArrayKind<double> {
  static constexpr napi_typedarray_type type = napi_float64_array;
  static constexpr const char* name = "a Float64Array";
};
template <>
struct TypedArrayKind<int32_t> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "an Int32Array";
};
template <>
struct TypedArrayKind<uint16_t> {
  static constexpr napi_typedarray_type type = napi_uint16_array;
  static constexpr const char* name = "a Uint16Array";
};
template <>
struct TypedArrayKind<uint8_t> {
  static constexpr napi_typedarray_type type = napi_uint8_array;
  static constexpr const char* name = "a Uint8Array";
};

// E_SHAPE unless length == expected_length (a negative expected_length accepts any length).
inline void check_length(Napi::Env env, const std::string& name, size_t length, int64_t expected_length) {
  if (expected_length >= 0 && static_cast<int64_t>(length) != expected_length) {
    throw_error(env, kErrorShape,
                name + " has length " + std::to_string(length) + ", expected " + std::to_string(expected_length));
  }
}

// The one typed-array check every binding uses: `value` (an argument or an object's field) must be a
// TypedArrayOf<Element> (E_TYPE otherwise) of expected_length elements when that is >= 0 (E_SHAPE);
// both errors name it.
template <typename Element>
Napi::TypedArrayOf<Element> typed_array_value(Napi::Env env, Napi::Value value, const std::string& name,
                                              int64_t expected_length) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<Element>::type) {
    throw_error(env, kErrorType, name + " must be " + TypedArrayKind<Element>::name);
  }
  Napi::TypedArrayOf<Element> array = value.As<Napi::TypedArrayOf<Element>>();
  check_length(env, name, array.ElementLength(), expected_length);
  return array;
}

// The same for argument `index` (a missing argument reads as undefined, so it fails the type check).
template <typename Element>
Napi::TypedArrayOf<Element> typed_array_argument(const Napi::CallbackInfo& info, size_t index, const std::string& name,
                                                 int64_t expected_length) {
  return typed_array_value<Element>(info.Env(), info[index], name, expected_length);
}

// Whether two typed arrays share any byte of memory (views of one ArrayBuffer may overlap).
inline bool overlaps(const Napi::TypedArray& first, const Napi::TypedArray& second) {
  if (first.ByteLength() == 0 || second.ByteLength() == 0) return false;
  const auto* a = static_cast<const uint8_t*>(first.ArrayBuffer().Data()) + first.ByteOffset();
  const auto* b = static_cast<const uint8_t*>(second.ArrayBuffer().Data()) + second.ByteOffset();
  return a < b + second.ByteLength() && b < a + first.ByteLength();
}

// An optional output argument (`out`): absent or undefined → a new Float32Array of expected_length;
// otherwise a Float32Array of exactly that length that shares no memory with any input (the kernels
// read inputs while they write the output), so a caller can reuse one buffer across calls.
inline Napi::Float32Array output_argument(const Napi::CallbackInfo& info, size_t index, const char* name,
                                          int64_t expected_length,
                                          std::initializer_list<std::pair<const char*, Napi::TypedArray>> inputs) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || info[index].IsUndefined()) return Napi::Float32Array::New(env, expected_length);
  Napi::Float32Array out = typed_array_value<float>(env, info[index], name, expected_length);
  for (const auto& [input_name, input] : inputs) {
    if (overlaps(out, input)) throw_error(env, kErrorArgument, std::string(name) + " shares memory with " + input_name);
  }
  return out;
}

// The names the bindings call it by.
inline Napi::Float32Array float32_argument(const Napi::CallbackInfo& info, size_t index, const char* name,
                                           int64_t expected_length) {
  return typed_array_argument<float>(info, index, name, expected_length);
}

// A positive integer field of a shape object, e.g. shape.tokens.
inline int64_t dimension_field(Napi::Env env, const Napi::Object& shape, const char* shape_name, const char* field) {
  Napi::Value value = shape.Get(field);
  const std::string where = std::string(shape_name) + "." + field;
  if (!value.IsNumber()) throw_error(env, kErrorShape, where + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number) || number < 1 || number > 2147483647.0) {
    throw_error(env, kErrorShape, where + " must be an integer in [1, 2^31), got " + value.ToString().Utf8Value());
  }
  return static_cast<int64_t>(number);
}

// An integer field in [minimum, 2^31), e.g. shape.rank (which may be 0).
inline int64_t integer_field(Napi::Env env, const Napi::Object& object, const char* object_name, const char* field,
                             int64_t minimum, const char* code = kErrorShape) {
  Napi::Value value = object.Get(field);
  const std::string where = std::string(object_name) + "." + field;
  if (!value.IsNumber()) throw_error(env, code, where + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number) || number < static_cast<double>(minimum) ||
      number > 2147483647.0) {
    throw_error(env, code,
                where + " must be an integer in [" + std::to_string(minimum) + ", 2^31), got " +
                    value.ToString().Utf8Value());
  }
  return static_cast<int64_t>(number);
}

// A finite number argument, e.g. a LoRA scale.
inline double finite_number_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsNumber()) throw_error(info.Env(), kErrorType, std::string(name) + " must be a number");
  const double number = info[index].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw_error(info.Env(), kErrorArgument, std::string(name) + " must be finite");
  return number;
}

inline Napi::Float32Array float32_value(Napi::Env env, Napi::Value value, const std::string& name, int64_t expected_length) {
  return typed_array_value<float>(env, value, name, expected_length);
}

inline Napi::Int32Array int32_value(Napi::Env env, Napi::Value value, const std::string& name, int64_t expected_length) {
  return typed_array_value<int32_t>(env, value, name, expected_length);
}

// Products of dimensions, checked so that a huge shape cannot overflow into a small allocation.
inline int64_t checked_product(Napi::Env env, int64_t a, int64_t b, const char* what) {
  if (a != 0 && b > INT64_MAX / 8 / a) throw_error(env, kErrorShape, std::string(what) + " is too large");
  return a * b;
}

}  // namespace pillow::napi
