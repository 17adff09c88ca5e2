// A frozen weight argument: a Float32Array (f32) or a Uint16Array of raw bf16 bits (the TS side
// only passes a Uint16Array when the caller tagged it as a Bf16Array).
#pragma once
#include <napi.h>

#include <string>

#include "napi/arguments.h"
#include "ops/common/weight_view.h"

namespace pillow::napi {

struct WeightArgument {
  Napi::TypedArray array;
  WeightView view;
};

// expected_length < 0 accepts any length.
inline WeightArgument weight_argument(const Napi::CallbackInfo& info, size_t index, const std::string& name,
                                      int64_t expected_length) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsTypedArray()) {
    throw_error(env, kErrorType, name + " must be a Float32Array or a Bf16Array (Uint16Array of bf16 bits)");
  }
  Napi::TypedArray array = info[index].As<Napi::TypedArray>();
  WeightArgument result{array, WeightView{nullptr, WeightType::F32}};
  if (array.TypedArrayType() == napi_float32_array) {
    result.view = WeightView{array.As<Napi::Float32Array>().Data(), WeightType::F32};
  } else if (array.TypedArrayType() == napi_uint16_array) {
    result.view = WeightView{array.As<Napi::Uint16Array>().Data(), WeightType::BF16};
  } else {
    throw_error(env, kErrorType, name + " must be a Float32Array or a Bf16Array (Uint16Array of bf16 bits)");
  }
  check_length(env, name, array.ElementLength(), expected_length);
  return result;
}

}  // namespace pillow::napi
