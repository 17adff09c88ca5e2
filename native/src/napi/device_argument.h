// The optional `device` field of a shape or options object: "cpu" (the default) or "cuda". A
// "cuda" request is checked against the backend here, before any copy or kernel, so a machine
// without a usable GPU gets a clear E_CUDA error naming the field and the reason.
#pragma once
#include <napi.h>

#include <string>

#include "napi/arguments.h"
#include "runtime/cuda_info.h"

namespace pillow::napi {

enum class Device { Cpu, Cuda };

inline Device device_field(Napi::Env env, const Napi::Object& object, const char* object_name) {
  Napi::Value value = object.Get("device");
  const std::string where = std::string(object_name) + ".device";
  if (value.IsUndefined() || value.IsNull()) return Device::Cpu;
  if (!value.IsString()) throw_error(env, kErrorType, where + " must be \"cpu\" or \"cuda\"");
  const std::string name = value.As<Napi::String>().Utf8Value();
  if (name == "cpu") return Device::Cpu;
  if (name != "cuda") throw_error(env, kErrorArgument, where + " must be \"cpu\" or \"cuda\", got \"" + name + "\"");
  const CudaInfo info = cuda_info();
  if (!info.compiled || info.devices < 1) {
    throw_error(env, kErrorCuda,
                where + " is \"cuda\" but " + (info.compiled ? "no CUDA device is usable: " : "") + info.error);
  }
  return Device::Cuda;
}

}  // namespace pillow::napi
