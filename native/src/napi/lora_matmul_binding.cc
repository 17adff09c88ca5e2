// loraMatmul, loraMatmulBackward and loraMatmulMulti, each with an ...Async twin.
//   loraMatmul(x, w, a, b, shape {tokens, inFeatures, outFeatures, rank}, scale[, out]) -> y (into out if given)
//   loraMatmulBackward(dy, x, w, a, b, shape, scale) -> { dx, da, db }
//   loraMatmulMulti(x, w, adapters [{a, b, rank, scale}], adapterIndex, shape) -> y
// w is a Float32Array (f32) or a Uint16Array of bf16 bits. All checks run before any kernel.
// shape.device: "cpu" (default) or "cuda" (see device_argument.h).
#include <memory>
#include <string>
#include <vector>

#include "napi/arguments.h"
#include "napi/async_op.h"
#include "napi/bindings.h"
#include "napi/device_argument.h"
#include "napi/weight_argument.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/cuda/host_ops_cuda.h"

namespace pillow::napi {

namespace {

struct LoraShape {
  int64_t tokens, in_features, out_features, rank;
  Device device;
};

LoraShape parse_shape(Napi::Env env, const Napi::Object& shape, bool with_rank) {
  LoraShape s;
  s.tokens = dimension_field(env, shape, "shape", "tokens");
  s.in_features = dimension_field(env, shape, "shape", "inFeatures");
  s.out_features = dimension_field(env, shape, "shape", "outFeatures");
  s.rank = with_rank ? integer_field(env, shape, "shape", "rank", 0) : 0;
  s.device = device_field(env, shape, "shape");
  return s;
}

struct ForwardCall {
  Napi::Float32Array x, a, b, y;
  WeightArgument w;
  LoraShape shape;
  float scale;
};

ForwardCall parse_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ForwardCall call;
  call.shape = parse_shape(env, object_argument(info, 4, "shape"), true);
  const LoraShape& s = call.shape;
  call.x = float32_argument(info, 0, "x", checked_product(env, s.tokens, s.in_features, "x"));
  call.w = weight_argument(info, 1, "w", checked_product(env, s.out_features, s.in_features, "w"));
  call.a = float32_argument(info, 2, "a", checked_product(env, s.rank, s.in_features, "a"));
  call.b = float32_argument(info, 3, "b", checked_product(env, s.out_features, s.rank, "b"));
  call.scale = static_cast<float>(finite_number_argument(info, 5, "scale"));
  call.y = output_argument(info, 6, "out", checked_product(env, s.tokens, s.out_features, "y"),
                           {{"x", call.x}, {"w", call.w.array}, {"a", call.a}, {"b", call.b}});
  return call;
}

// The kernel call of a parsed forward, safe to run on any thread (raw pointers only).
std::function<void()> forward_work(ForwardCall c) {
  float* y = c.y.Data();
  const float* x = c.x.Data();
  const WeightView w = c.w.view;
  const float* a = c.shape.rank > 0 ? c.a.Data() : nullptr;
  const float* b = c.shape.rank > 0 ? c.b.Data() : nullptr;
  const LoraShape s = c.shape;
  const float scale = c.scale;
  if (s.device == Device::Cuda) {
    return [=] { lora_matmul_forward_cuda_host(y, x, w, a, b, s.tokens, s.in_features, s.out_features, s.rank, scale); };
  }
  return [=] { lora_matmul_forward(y, x, w, a, b, s.tokens, s.in_features, s.out_features, s.rank, scale); };
}

Napi::Value lora_matmul(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    ForwardCall c = parse_forward(info);
    forward_work(c)();
    return c.y;
  });
}

Napi::Value lora_matmul_async(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    ForwardCall c = parse_forward(info);
    auto y_ref = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(c.y));
    auto* op = new AsyncOp(info.Env(), forward_work(c), [y_ref](Napi::Env) { return y_ref->Value(); });
    op->pin(c.x);
    op->pin(c.w.array);
    op->pin(c.a);
    op->pin(c.b);
    op->pin(c.y);
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  });
}

struct BackwardCall {
  Napi::Float32Array dy, x, a, b, dx, da, db;
  WeightArgument w;
  LoraShape shape;
  float scale;
};

BackwardCall parse_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BackwardCall call;
  call.shape = parse_shape(env, object_argument(info, 5, "shape"), true);
  const LoraShape& s = call.shape;
  call.dy = float32_argument(info, 0, "dy", checked_product(env, s.tokens, s.out_features, "dy"));
  call.x = float32_argument(info, 1, "x", checked_product(env, s.tokens, s.in_features, "x"));
  call.w = weight_argument(info, 2, "w", checked_product(env, s.out_features, s.in_features, "w"));
  call.a = float32_argument(info, 3, "a", checked_product(env, s.rank, s.in_features, "a"));
  call.b = float32_argument(info, 4, "b", checked_product(env, s.out_features, s.rank, "b"));
  call.scale = static_cast<float>(finite_number_argument(info, 6, "scale"));
  call.dx = Napi::Float32Array::New(env, checked_product(env, s.tokens, s.in_features, "dx"));
  call.da = Napi::Float32Array::New(env, checked_product(env, s.rank, s.in_features, "da"));
  call.db = Napi::Float32Array::New(env, checked_product(env, s.out_features, s.rank, "db"));
  return call;
}

std::function<void()> backward_work(BackwardCall c) {
  float* dx = c.dx.Data();
  float* da = c.shape.rank > 0 ? c.da.Data() : nullptr;
  float* db = c.shape.rank > 0 ? c.db.Data() : nullptr;
  const float* dy = c.dy.Data();
  const float* x = c.x.Data();
  const WeightView w = c.w.view;
  const float* a = c.shape.rank > 0 ? c.a.Data() : nullptr;
  const float* b = c.shape.rank > 0 ? c.b.Data() : nullptr;
  const LoraShape s = c.shape;
  const float scale = c.scale;
  if (s.device == Device::Cuda) {
    return [=] {
      lora_matmul_backward_cuda_host(dx, da, db, dy, x, w, a, b, s.tokens, s.in_features, s.out_features, s.rank, scale);
    };
  }
  return [=] {
    lora_matmul_backward(dx, da, db, dy, x, w, a, b, s.tokens, s.in_features, s.out_features, s.rank, scale);
  };
}

Napi::Object backward_result(Napi::Env env, const Napi::Float32Array& dx, const Napi::Float32Array& da,
                             const Napi::Float32Array& db) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("dx", dx);
  result.Set("da", da);
  result.Set("db", db);
  return result;
}

Napi::Value lora_matmul_backward_binding(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    BackwardCall c = parse_backward(info);
    backward_work(c)();
    return backward_result(info.Env(), c.dx, c.da, c.db);
  });
}

Napi::Value lora_matmul_backward_async(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    BackwardCall c = parse_backward(info);
    auto outputs = std::make_shared<std::vector<Napi::Reference<Napi::Float32Array>>>();
    outputs->push_back(Napi::Persistent(c.dx));
    outputs->push_back(Napi::Persistent(c.da));
    outputs->push_back(Napi::Persistent(c.db));
    auto* op = new AsyncOp(info.Env(), backward_work(c), [outputs](Napi::Env env) -> Napi::Value {
      return backward_result(env, (*outputs)[0].Value(), (*outputs)[1].Value(), (*outputs)[2].Value());
    });
    for (Napi::Value pinned : {Napi::Value(c.dy), Napi::Value(c.x), Napi::Value(c.w.array), Napi::Value(c.a),
                               Napi::Value(c.b)}) {
      op->pin(pinned);
    }
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  });
}

struct MultiCall {
  Napi::Float32Array x, y;
  WeightArgument w;
  Napi::Int32Array adapter_index;
  std::vector<Napi::Float32Array> a_arrays, b_arrays;
  LoraShape shape;
  // Plain copies for the kernel (shared so the async closure can own them).
  std::shared_ptr<std::vector<const float*>> a_pointers, b_pointers;
  std::shared_ptr<std::vector<int64_t>> ranks;
  std::shared_ptr<std::vector<float>> scales;
};

MultiCall parse_multi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MultiCall call;
  call.shape = parse_shape(env, object_argument(info, 4, "shape"), false);
  const LoraShape& s = call.shape;
  call.x = float32_argument(info, 0, "x", checked_product(env, s.tokens, s.in_features, "x"));
  call.w = weight_argument(info, 1, "w", checked_product(env, s.out_features, s.in_features, "w"));
  if (info.Length() <= 2 || !info[2].IsArray()) throw_error(env, kErrorType, "adapters must be an array");
  Napi::Array adapters = info[2].As<Napi::Array>();
  call.a_pointers = std::make_shared<std::vector<const float*>>();
  call.b_pointers = std::make_shared<std::vector<const float*>>();
  call.ranks = std::make_shared<std::vector<int64_t>>();
  call.scales = std::make_shared<std::vector<float>>();
  for (uint32_t j = 0; j < adapters.Length(); ++j) {
    const std::string name = "adapters[" + std::to_string(j) + "]";
    Napi::Value entry = adapters.Get(j);
    if (!entry.IsObject()) throw_error(env, kErrorType, name + " must be an object {a, b, rank, scale}");
    Napi::Object adapter = entry.As<Napi::Object>();
    const int64_t rank = integer_field(env, adapter, name.c_str(), "rank", 1);
    Napi::Value scale_value = adapter.Get("scale");
    if (!scale_value.IsNumber() || !std::isfinite(scale_value.As<Napi::Number>().DoubleValue())) {
      throw_error(env, kErrorArgument, name + ".scale must be a finite number");
    }
    Napi::Float32Array a = float32_value(env, adapter.Get("a"), name + ".a", checked_product(env, rank, s.in_features, "a"));
    Napi::Float32Array b = float32_value(env, adapter.Get("b"), name + ".b", checked_product(env, s.out_features, rank, "b"));
    call.a_arrays.push_back(a);
    call.b_arrays.push_back(b);
    call.a_pointers->push_back(a.Data());
    call.b_pointers->push_back(b.Data());
    call.ranks->push_back(rank);
    call.scales->push_back(static_cast<float>(scale_value.As<Napi::Number>().DoubleValue()));
  }
  if (info.Length() <= 3) throw_error(env, kErrorType, "adapterIndex must be an Int32Array");
  call.adapter_index = int32_value(env, info[3], "adapterIndex", s.tokens);
  const int32_t* index = call.adapter_index.Data();
  for (int64_t t = 0; t < s.tokens; ++t) {
    if (index[t] < -1 || index[t] >= static_cast<int64_t>(adapters.Length())) {
      throw_error(env, kErrorArgument,
                  "adapterIndex[" + std::to_string(t) + "] = " + std::to_string(index[t]) +
                      " is neither -1 (base only) nor an index into adapters (length " +
                      std::to_string(adapters.Length()) + ")");
    }
  }
  call.y = Napi::Float32Array::New(env, checked_product(env, s.tokens, s.out_features, "y"));
  return call;
}

std::function<void()> multi_work(MultiCall c) {
  float* y = c.y.Data();
  const float* x = c.x.Data();
  const WeightView w = c.w.view;
  const int32_t* index = c.adapter_index.Data();
  const LoraShape s = c.shape;
  auto a = c.a_pointers;
  auto b = c.b_pointers;
  auto ranks = c.ranks;
  auto scales = c.scales;
  const auto forward = s.device == Device::Cuda ? &lora_matmul_multi_forward_cuda_host : &lora_matmul_multi_forward;
  return [=] {
    forward(y, x, w, a->data(), b->data(), ranks->data(), scales->data(), static_cast<int64_t>(ranks->size()), index,
            s.tokens, s.in_features, s.out_features);
  };
}

Napi::Value lora_matmul_multi(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    MultiCall c = parse_multi(info);
    multi_work(c)();
    return c.y;
  });
}

Napi::Value lora_matmul_multi_async(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    MultiCall c = parse_multi(info);
    auto y_ref = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(c.y));
    auto* op = new AsyncOp(info.Env(), multi_work(c), [y_ref](Napi::Env) { return y_ref->Value(); });
    op->pin(c.x);
    op->pin(c.w.array);
    op->pin(c.adapter_index);
    for (auto& a : c.a_arrays) op->pin(a);
    for (auto& b : c.b_arrays) op->pin(b);
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  });
}

}  // namespace

void register_lora_matmul(Napi::Env env, Napi::Object exports) {
  exports.Set("loraMatmul", Napi::Function::New(env, lora_matmul, "loraMatmul"));
  exports.Set("loraMatmulAsync", Napi::Function::New(env, lora_matmul_async, "loraMatmulAsync"));
  exports.Set("loraMatmulBackward", Napi::Function::New(env, lora_matmul_backward_binding, "loraMatmulBackward"));
  exports.Set("loraMatmulBackwardAsync", Napi::Function::New(env, lora_matmul_backward_async, "loraMatmulBackwardAsync"));
  exports.Set("loraMatmulMulti", Napi::Function::New(env, lora_matmul_multi, "loraMatmulMulti"));
  exports.Set("loraMatmulMultiAsync", Napi::Function::New(env, lora_matmul_multi_async, "loraMatmulMultiAsync"));
}

PILLOW_REGISTER_BINDING(register_lora_matmul);

}  // namespace pillow::napi
