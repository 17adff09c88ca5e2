// sample(logits, shape {rows, vocab}, options) -> { tokens: Int32Array, logprobs: Float32Array }
// and sampleAsync. options: temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty,
// presencePenalty (all optional), previousTokens (optional Int32Array per row) and seeds (required:
// one integer in [0, 2^53) per row; the TS wrapper derives them from `seed`); options.device:
// "cpu" (default) or "cuda" (see device_argument.h).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "napi/arguments.h"
#include "napi/async_op.h"
#include "napi/bindings.h"
#include "napi/device_argument.h"
#include "ops/cpu/sample.h"
#include "ops/cuda/host_ops_cuda.h"

namespace pillow::napi {

namespace {

struct SampleCall {
  Napi::Float32Array logits;
  Napi::Int32Array tokens;
  Napi::Float32Array logprobs;
  int64_t rows, vocab;
  SamplingOptions options;
  Device device;
  std::vector<Napi::Int32Array> history_arrays;
  std::shared_ptr<std::vector<uint64_t>> seeds;
  std::shared_ptr<std::vector<const int32_t*>> histories;
  std::shared_ptr<std::vector<int64_t>> history_counts;
};

float optional_number(Napi::Env env, const Napi::Object& options, const char* field, float fallback) {
  Napi::Value value = options.Get(field);
  if (value.IsUndefined() || value.IsNull()) return fallback;
  if (!value.IsNumber()) throw_error(env, kErrorType, std::string("options.") + field + " must be a number");
  return static_cast<float>(value.As<Napi::Number>().DoubleValue());
}

SampleCall parse_sample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SampleCall call;
  Napi::Object shape = object_argument(info, 1, "shape");
  call.rows = dimension_field(env, shape, "shape", "rows");
  call.vocab = dimension_field(env, shape, "shape", "vocab");
  call.logits = float32_argument(info, 0, "logits", checked_product(env, call.rows, call.vocab, "logits"));
  Napi::Object options = object_argument(info, 2, "options");
  call.device = device_field(env, options, "options");
  SamplingOptions& o = call.options;
  o.temperature = optional_number(env, options, "temperature", 1.0f);
  o.top_p = optional_number(env, options, "topP", 1.0f);
  o.min_p = optional_number(env, options, "minP", 0.0f);
  o.repetition_penalty = optional_number(env, options, "repetitionPenalty", 1.0f);
  o.frequency_penalty = optional_number(env, options, "frequencyPenalty", 0.0f);
  o.presence_penalty = optional_number(env, options, "presencePenalty", 0.0f);
  Napi::Value top_k = options.Get("topK");
  if (!top_k.IsUndefined() && !top_k.IsNull()) {
    if (!top_k.IsNumber()) throw_error(env, kErrorType, "options.topK must be a number");
    const double k = top_k.As<Napi::Number>().DoubleValue();
    if (!(k >= 0 && k == std::floor(k))) throw_error(env, kErrorArgument, "options.topK must be an integer >= 0 (0 = off)");
    o.top_k = k > 2147483647.0 ? 2147483647 : static_cast<int32_t>(k);
  }
  try {
    check_sampling_options(o);
  } catch (const PillowError& e) {
    throw_error(env, e.code(), e.what());
  }

  Napi::Value seeds = options.Get("seeds");
  if (!seeds.IsArray()) throw_error(env, kErrorType, "options.seeds must be an array of one integer seed per row");
  Napi::Array seed_array = seeds.As<Napi::Array>();
  if (static_cast<int64_t>(seed_array.Length()) != call.rows) {
    throw_error(env, kErrorShape,
                "options.seeds has length " + std::to_string(seed_array.Length()) + ", expected " + std::to_string(call.rows));
  }
  call.seeds = std::make_shared<std::vector<uint64_t>>(static_cast<size_t>(call.rows));
  for (int64_t r = 0; r < call.rows; ++r) {
    Napi::Value v = seed_array.Get(static_cast<uint32_t>(r));
    const double seed = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(seed >= 0 && seed <= 9007199254740991.0 && seed == std::floor(seed))) {
      throw_error(env, kErrorArgument, "options.seeds[" + std::to_string(r) + "] must be an integer in [0, 2^53)");
    }
    (*call.seeds)[r] = static_cast<uint64_t>(seed);
  }

  Napi::Value previous = options.Get("previousTokens");
  if (!previous.IsUndefined() && !previous.IsNull()) {
    if (!previous.IsArray()) throw_error(env, kErrorType, "options.previousTokens must be an array of Int32Array, one per row");
    Napi::Array rows = previous.As<Napi::Array>();
    if (static_cast<int64_t>(rows.Length()) != call.rows) {
      throw_error(env, kErrorShape,
                  "options.previousTokens has length " + std::to_string(rows.Length()) + ", expected " +
                      std::to_string(call.rows) + " (one Int32Array per row)");
    }
    call.histories = std::make_shared<std::vector<const int32_t*>>();
    call.history_counts = std::make_shared<std::vector<int64_t>>();
    for (uint32_t r = 0; r < rows.Length(); ++r) {
      const std::string name = "options.previousTokens[" + std::to_string(r) + "]";
      Napi::Int32Array tokens = int32_value(env, rows.Get(r), name, -1);
      const int32_t* data = tokens.Data();
      for (size_t i = 0; i < tokens.ElementLength(); ++i) {
        if (data[i] < 0 || data[i] >= call.vocab) {
          throw_error(env, kErrorArgument,
                      name + "[" + std::to_string(i) + "] = " + std::to_string(data[i]) + " is outside [0, " +
                          std::to_string(call.vocab) + ")");
        }
      }
      call.history_arrays.push_back(tokens);
      call.histories->push_back(tokens.ElementLength() > 0 ? data : nullptr);
      call.history_counts->push_back(static_cast<int64_t>(tokens.ElementLength()));
    }
  }
  call.tokens = Napi::Int32Array::New(env, static_cast<size_t>(call.rows));
  call.logprobs = Napi::Float32Array::New(env, static_cast<size_t>(call.rows));
  return call;
}

std::function<void()> sample_work(SampleCall c) {
  int32_t* tokens = c.tokens.Data();
  float* logprobs = c.logprobs.Data();
  const float* logits = c.logits.Data();
  const int64_t rows = c.rows, vocab = c.vocab;
  const SamplingOptions options = c.options;
  auto seeds = c.seeds;
  auto histories = c.histories;
  auto counts = c.history_counts;
  const auto forward = c.device == Device::Cuda ? &sample_forward_cuda_host : &sample_forward;
  return [=] {
    forward(tokens, logprobs, logits, rows, vocab, options, seeds->data(), histories ? histories->data() : nullptr,
            counts ? counts->data() : nullptr);
  };
}

Napi::Object sample_result(Napi::Env env, const Napi::Int32Array& tokens, const Napi::Float32Array& logprobs) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("tokens", tokens);
  result.Set("logprobs", logprobs);
  return result;
}

Napi::Value sample(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    SampleCall c = parse_sample(info);
    sample_work(c)();
    return sample_result(info.Env(), c.tokens, c.logprobs);
  });
}

Napi::Value sample_async(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    SampleCall c = parse_sample(info);
    auto tokens = std::make_shared<Napi::Reference<Napi::Int32Array>>(Napi::Persistent(c.tokens));
    auto logprobs = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(c.logprobs));
    auto* op = new AsyncOp(info.Env(), sample_work(c), [tokens, logprobs](Napi::Env env) -> Napi::Value {
      return sample_result(env, tokens->Value(), logprobs->Value());
    });
    op->pin(c.logits);
    for (auto& history : c.history_arrays) op->pin(history);
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  });
}

}  // namespace

void register_sample(Napi::Env env, Napi::Object exports) {
  exports.Set("sample", Napi::Function::New(env, sample, "sample"));
  exports.Set("sampleAsync", Napi::Function::New(env, sample_async, "sampleAsync"));
}

PILLOW_REGISTER_BINDING(register_sample);

}  // namespace pillow::napi
