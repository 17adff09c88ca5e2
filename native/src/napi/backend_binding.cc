// backendInfo() and setThreads(n).
#include <cmath>
#include <initializer_list>

#include "napi/arguments.h"
#include "napi/bindings.h"
#include "ops/cpu/gemm_bf16.h"
#include "runtime/cpu_features.h"
#include "runtime/cuda_info.h"
#include "runtime/thread_pool.h"

#ifndef PILLOW_VERSION
#define PILLOW_VERSION "0.0.0"
#endif

namespace pillow::napi {

namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("version", PILLOW_VERSION);

    const CpuFeatures& f = cpu_features();
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("isa", isa_name(selected_isa()));
    cpu.Set("threads", thread_count());
    Napi::Object features = Napi::Object::New(env);
    features.Set("avx2", f.avx2);
    features.Set("fma", f.fma);
    features.Set("f16c", f.f16c);
    features.Set("avx512f", f.avx512f);
    features.Set("avx512bw", f.avx512bw);
    features.Set("avx512vl", f.avx512vl);
    features.Set("avx512bf16", f.avx512bf16);
    features.Set("amxBf16", f.amx_bf16 && f.amx_tile);
    cpu.Set("features", features);
    // The kernels bf16 weights' GEMMs (prefill) run on: "amx", "avx512_bf16", or null (widened to f32).
    const char* bf16_dot = gemm_bf16_dot_kernel_name();
    cpu.Set("bf16Dot", bf16_dot != nullptr ? Napi::Value(Napi::String::New(env, bf16_dot)) : env.Null());
    result.Set("cpu", cpu);

    const CudaInfo c = cuda_info();
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", c.compiled);
    cuda.Set("devices", c.devices);
    if (c.runtime_version > 0) cuda.Set("runtimeVersion", c.runtime_version);
    if (!c.error.empty()) cuda.Set("error", c.error);
    cuda.Set("emulated", c.emulated);
    result.Set("cuda", cuda);

    // Which device runs which op (the `device` option): the CPU runs everything; CUDA runs the
    // kernels the bindings reach, only when it is compiled and a device answered.
    auto list = [&](std::initializer_list<const char*> names) {
      Napi::Array array = Napi::Array::New(env, names.size());
      uint32_t i = 0;
      for (const char* name : names) array.Set(i++, Napi::String::New(env, name));
      return array;
    };
    Napi::Object ops = Napi::Object::New(env);
    ops.Set("cpu", list({"matmul", "loraMatmul", "loraMatmulBackward", "loraMatmulMulti", "sample", "pairwiseCost",
                         "earthMoversDistance", "LlamaModel"}));
    // A LlamaModel created with device "cuda" runs these steps on the device (llama_device.cu) and
    // refuses the rest with E_UNSUPPORTED (never a silent CPU fallback): cudaMissing lists them.
    const bool cuda_usable = c.compiled && c.devices > 0;
    ops.Set("cuda", cuda_usable ? list({"matmul", "loraMatmul", "loraMatmulBackward", "loraMatmulMulti", "sample",
                                        "LlamaModel.forward", "LlamaModel.embed", "LlamaModel.lossAndGrad(lora)",
                                        "LlamaModel.adamwStep(lora)"})
                                : Napi::Array::New(env, 0));
    ops.Set("cudaMissing", list({"pairwiseCost", "earthMoversDistance", "LlamaModel.lossAndGrad(full)",
                                 "LlamaModel.adamwStep(full)", "LlamaModel.lossAndGrad(lora dropout)",
                                 "LlamaModel.forwardSequences"}));
    result.Set("ops", ops);
    return result;
  });
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) {
      throw_error(info.Env(), kErrorType, "threads must be a number");
    }
    const double n = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(n) || n != std::floor(n) || n < 1 || n > 1024) {
      throw_error(info.Env(), kErrorArgument, "threads must be an integer in [1, 1024]");
    }
    set_thread_count(static_cast<int>(n));
    return Napi::Number::New(info.Env(), thread_count());
  });
}

}  // namespace

void register_backend(Napi::Env env, Napi::Object exports) {
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
}

PILLOW_REGISTER_BINDING(register_backend);

}  // namespace pillow::napi
