// pairwiseCost(a, b, shape, metric) and earthMoversDistance(a, b, costs, options): the exact optimal
// transport used by @pillow/replay (InsCL task distances). Synchronous: a 1000 × 1000 problem takes
// tens of milliseconds.
#include <algorithm>
#include <cmath>
#include <string>

#include "napi/arguments.h"
#include "napi/bindings.h"
#include "ops/cpu/earth_movers_distance.h"

namespace pillow::napi {

namespace {

Napi::Float64Array float64_argument(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected_length) {
  Napi::Float64Array array = typed_array_argument<double>(info, index, name, expected_length);
  if (array.ElementLength() == 0) throw_error(info.Env(), kErrorShape, std::string(name) + " must not be empty");
  return array;
}

Napi::Value pairwise_cost(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object shape = object_argument(info, 2, "shape");
    const int64_t n = dimension_field(env, shape, "shape", "n");
    const int64_t m = dimension_field(env, shape, "shape", "m");
    const int64_t dim = dimension_field(env, shape, "shape", "dim");
    Napi::Float32Array a = float32_argument(info, 0, "a", checked_product(env, n, dim, "a"));
    Napi::Float32Array b = float32_argument(info, 1, "b", checked_product(env, m, dim, "b"));
    if (info.Length() <= 3 || !info[3].IsString()) {
      throw_error(env, kErrorType, "metric must be \"cosine\", \"euclidean\" or \"sqeuclidean\"");
    }
    const std::string name = info[3].As<Napi::String>().Utf8Value();
    const int metric = name == "cosine" ? 0 : name == "euclidean" ? 1 : name == "sqeuclidean" ? 2 : -1;
    if (metric < 0) throw_error(env, kErrorArgument, "metric must be \"cosine\", \"euclidean\" or \"sqeuclidean\", got \"" + name + "\"");
    Napi::Float64Array out = Napi::Float64Array::New(env, checked_product(env, n, m, "costs"));
    pairwise_cost_forward(out.Data(), a.Data(), b.Data(), n, m, dim, metric);
    return out;
  });
}

Napi::Value earth_movers_distance(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Float64Array a = float64_argument(info, 0, "a", -1);
    Napi::Float64Array b = float64_argument(info, 1, "b", -1);
    const int64_t n = static_cast<int64_t>(a.ElementLength());
    const int64_t m = static_cast<int64_t>(b.ElementLength());
    Napi::Float64Array costs = float64_argument(info, 2, "costs", checked_product(env, n, m, "costs"));
    // Generous default: real problems need a few pivots per arc-row; this only stops a runaway.
    double max_pivots = 100.0 * static_cast<double>(n + m) * static_cast<double>(std::max(n, m)) + 1000.0;
    if (info.Length() > 3 && info[3].IsObject()) {
      Napi::Value limit = info[3].As<Napi::Object>().Get("maxPivots");
      if (!limit.IsUndefined()) {
        const double value = limit.IsNumber() ? limit.As<Napi::Number>().DoubleValue() : -1;
        if (!std::isfinite(value) || value < 1 || value != std::floor(value)) {
          throw_error(env, kErrorArgument, "options.maxPivots must be an integer >= 1");
        }
        max_pivots = value;
      }
    }
    double cost = 0;
    int64_t pivots = 0;
    earth_movers_distance_forward(&cost, &pivots, a.Data(), b.Data(), costs.Data(), n, m, static_cast<int64_t>(max_pivots));
    Napi::Object result = Napi::Object::New(env);
    result.Set("cost", Napi::Number::New(env, cost));
    result.Set("pivots", Napi::Number::New(env, static_cast<double>(pivots)));
    return result;
  });
}

}  // namespace

void register_earth_movers_distance(Napi::Env env, Napi::Object exports) {
  exports.Set("pairwiseCost", Napi::Function::New(env, pairwise_cost, "pairwiseCost"));
  exports.Set("earthMoversDistance", Napi::Function::New(env, earth_movers_distance, "earthMoversDistance"));
}

PILLOW_REGISTER_BINDING(register_earth_movers_distance);

}  // namespace pillow::napi
