// matmul(x, w, shape[, out]) and matmulAsync(x, w, shape[, out]): y[T,out] = x[T,in]·w[out,in]ᵀ in f32,
// written into `out` when given (reused across calls: no fresh allocation), else into a new array.
// shape.device: "cpu" (default) or "cuda" (see device_argument.h).
#include "napi/arguments.h"
#include "napi/async_op.h"
#include "napi/bindings.h"
#include "napi/device_argument.h"
#include "ops/cpu/matmul.h"
#include "ops/cuda/host_ops_cuda.h"

namespace pillow::napi {

namespace {

struct MatmulCall {
  Napi::Float32Array x, w, out;
  int64_t tokens, in_features, out_features;
  Device device;
};

MatmulCall parse_matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object shape = object_argument(info, 2, "shape");
  MatmulCall call;
  call.tokens = dimension_field(env, shape, "shape", "tokens");
  call.in_features = dimension_field(env, shape, "shape", "inFeatures");
  call.out_features = dimension_field(env, shape, "shape", "outFeatures");
  call.device = device_field(env, shape, "shape");
  call.x = float32_argument(info, 0, "x", checked_product(env, call.tokens, call.in_features, "x"));
  call.w = float32_argument(info, 1, "w", checked_product(env, call.out_features, call.in_features, "w"));
  call.out = output_argument(info, 3, "out", checked_product(env, call.tokens, call.out_features, "output"),
                             {{"x", call.x}, {"w", call.w}});
  return call;
}

// The kernel call of a parsed matmul on its device, safe to run on any thread (raw pointers only).
std::function<void()> matmul_work(MatmulCall c) {
  float* out = c.out.Data();
  const float* x = c.x.Data();
  const float* w = c.w.Data();
  const int64_t tokens = c.tokens, in_features = c.in_features, out_features = c.out_features;
  if (c.device == Device::Cuda) return [=] { matmul_forward_cuda_host(out, x, w, tokens, in_features, out_features); };
  return [=] { matmul_forward(out, x, w, tokens, in_features, out_features); };
}

Napi::Value matmul(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    MatmulCall c = parse_matmul(info);
    matmul_work(c)();
    return c.out;
  });
}

Napi::Value matmul_async(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    MatmulCall c = parse_matmul(info);
    auto* op = new AsyncOp(
        info.Env(), matmul_work(c),
        [out_ref = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(c.out))](Napi::Env) {
          return out_ref->Value();
        });
    op->pin(c.x);
    op->pin(c.w);
    op->pin(c.out);
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  });
}

}  // namespace

void register_matmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, matmul, "matmul"));
  exports.Set("matmulAsync", Napi::Function::New(env, matmul_async, "matmulAsync"));
}

PILLOW_REGISTER_BINDING(register_matmul);

}  // namespace pillow::napi
