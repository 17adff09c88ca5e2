// LlamaModel: the native model object (weights, LoRA adapters, KV cache, gradients, AdamW state).
// Whole-model steps (forward, embed, lossAndGrad, adamwStep) run off the JS thread and return
// Promises; small accessors are synchronous. See packages/lora-kernels/src/AddonTypes.ts.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "napi/arguments.h"
#include "napi/async_op.h"
#include "napi/device_argument.h"
#include "napi/bindings.h"
#include "napi/weight_argument.h"

namespace pillow::napi {

namespace {

double number_field(Napi::Env env, const Napi::Object& object, const char* object_name, const char* field,
                    bool required, double fallback) {
  Napi::Value value = object.Get(field);
  if (value.IsUndefined() || value.IsNull()) {
    if (required) throw_error(env, kErrorType, std::string(object_name) + "." + field + " is required");
    return fallback;
  }
  if (!value.IsNumber()) throw_error(env, kErrorType, std::string(object_name) + "." + field + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw_error(env, kErrorArgument, std::string(object_name) + "." + field + " must be finite");
  return number;
}

int64_t integer_field(Napi::Env env, const Napi::Object& object, const char* object_name, const char* field,
                      bool required, int64_t fallback, int64_t minimum) {
  const double number = number_field(env, object, object_name, field, required, static_cast<double>(fallback));
  if (number != std::floor(number) || number < static_cast<double>(minimum) || number > 9007199254740991.0) {
    throw_error(env, kErrorArgument,
                std::string(object_name) + "." + field + " must be an integer >= " + std::to_string(minimum) +
                    ", got " + std::to_string(number));
  }
  return static_cast<int64_t>(number);
}

bool bool_field(Napi::Env env, const Napi::Object& object, const char* object_name, const char* field, bool fallback) {
  Napi::Value value = object.Get(field);
  if (value.IsUndefined() || value.IsNull()) return fallback;
  if (!value.IsBoolean()) throw_error(env, kErrorType, std::string(object_name) + "." + field + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::string string_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw_error(info.Env(), kErrorType, std::string(name) + " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Object optional_object(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || info[index].IsUndefined()) return Napi::Object::New(info.Env());
  return object_argument(info, index, name);
}

TrainMode mode_argument(const Napi::CallbackInfo& info, size_t index) {
  const std::string mode = string_argument(info, index, "mode");
  if (mode == "lora") return TrainMode::Lora;
  if (mode == "full") return TrainMode::Full;
  throw_error(info.Env(), kErrorArgument, "mode must be \"lora\" or \"full\", got \"" + mode + "\"");
}

TrainMode mode_field(Napi::Env env, const Napi::Object& object) {
  Napi::Value value = object.Get("mode");
  if (!value.IsString()) throw_error(env, kErrorType, "options.mode must be \"lora\" or \"full\"");
  const std::string mode = value.As<Napi::String>().Utf8Value();
  if (mode == "lora") return TrainMode::Lora;
  if (mode == "full") return TrainMode::Full;
  throw_error(env, kErrorArgument, "options.mode must be \"lora\" or \"full\", got \"" + mode + "\"");
}

std::vector<int32_t> int32_vector(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Int32Array array = typed_array_argument<int32_t>(info, index, name, -1);
  if (array.ElementLength() == 0) throw_error(info.Env(), kErrorShape, std::string(name) + " must not be empty");
  return std::vector<int32_t>(array.Data(), array.Data() + array.ElementLength());
}

Napi::Float32Array to_float32_array(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array array = Napi::Float32Array::New(env, values.size());
  if (!values.empty()) std::memcpy(array.Data(), values.data(), sizeof(float) * values.size());
  return array;
}

Napi::Array to_string_array(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), values[i]);
  return array;
}

LlamaConfig parse_config(Napi::Env env, const Napi::Object& o) {
  const char* n = "config";
  LlamaConfig c;
  c.vocab_size = integer_field(env, o, n, "vocabSize", true, 0, 1);
  c.hidden_size = integer_field(env, o, n, "hiddenSize", true, 0, 1);
  c.intermediate_size = integer_field(env, o, n, "intermediateSize", true, 0, 1);
  c.layers = integer_field(env, o, n, "numLayers", true, 0, 1);
  c.heads = integer_field(env, o, n, "numHeads", true, 0, 1);
  c.kv_heads = integer_field(env, o, n, "numKeyValueHeads", false, c.heads, 1);
  c.head_dim = integer_field(env, o, n, "headDim", false, c.hidden_size / c.heads, 2);
  c.max_positions = integer_field(env, o, n, "maxPositionEmbeddings", true, 0, 1);
  c.rms_eps = static_cast<float>(number_field(env, o, n, "rmsNormEps", false, 1e-6));
  c.rope_theta = number_field(env, o, n, "ropeTheta", false, 10000.0);
  c.tie_embeddings = bool_field(env, o, n, "tieWordEmbeddings", false);
  c.attention_bias = bool_field(env, o, n, "attentionBias", false);
  Napi::Value scaling = o.Get("ropeScaling");
  if (!scaling.IsUndefined() && !scaling.IsNull()) {
    if (!scaling.IsObject()) throw_error(env, kErrorType, "config.ropeScaling must be an object or null");
    Napi::Object s = scaling.As<Napi::Object>();
    Napi::Value type = s.Get("type");
    const std::string kind = type.IsString() ? type.As<Napi::String>().Utf8Value() : "";
    const char* sn = "config.ropeScaling";
    c.rope_scaling.factor = number_field(env, s, sn, "factor", true, 1.0);
    if (kind == "linear") {
      c.rope_scaling.type = RopeScalingType::Linear;
    } else if (kind == "llama3") {
      c.rope_scaling.type = RopeScalingType::Llama3;
      c.rope_scaling.low_freq_factor = number_field(env, s, sn, "lowFreqFactor", true, 1.0);
      c.rope_scaling.high_freq_factor = number_field(env, s, sn, "highFreqFactor", true, 4.0);
      c.rope_scaling.original_max_positions = number_field(env, s, sn, "originalMaxPositionEmbeddings", true, 8192.0);
    } else {
      throw_error(env, kErrorArgument,
                  "config.ropeScaling.type \"" + kind + "\" is not supported (supported: linear, llama3)");
    }
  }
  return c;
}

class ModelObject : public Napi::ObjectWrap<ModelObject> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "LlamaModel",
        {InstanceMethod("tensorNames", &ModelObject::tensor_names),
         InstanceMethod("missingTensors", &ModelObject::missing_tensors),
         InstanceMethod("tensorShape", &ModelObject::tensor_shape),
         InstanceMethod("setTensor", &ModelObject::set_tensor),
         InstanceMethod("getTensor", &ModelObject::get_tensor),
         InstanceMethod("addAdapter", &ModelObject::add_adapter),
         InstanceMethod("removeAdapter", &ModelObject::remove_adapter),
         InstanceMethod("adapterNames", &ModelObject::adapter_names),
         InstanceMethod("setAdapterTensor", &ModelObject::set_adapter_tensor),
         InstanceMethod("getAdapterTensor", &ModelObject::get_adapter_tensor),
         InstanceMethod("setActiveAdapter", &ModelObject::set_active_adapter),
         InstanceMethod("activeAdapter", &ModelObject::active_adapter),
         InstanceMethod("forward", &ModelObject::forward),
         InstanceMethod("embed", &ModelObject::embed),
         InstanceMethod("resetCache", &ModelObject::reset_cache),
         InstanceMethod("createSequence", &ModelObject::create_sequence),
         InstanceMethod("releaseSequence", &ModelObject::release_sequence),
         InstanceMethod("sequenceBytes", &ModelObject::sequence_bytes),
         InstanceMethod("sequenceCount", &ModelObject::sequence_count),
         InstanceMethod("forwardSequences", &ModelObject::forward_sequences),
         InstanceMethod("lossAndGrad", &ModelObject::loss_and_grad),
         InstanceMethod("zeroGradients", &ModelObject::zero_gradients),
         InstanceMethod("gradients", &ModelObject::gradients),
         InstanceMethod("adamwStep", &ModelObject::adamw_step),
         InstanceMethod("optimizerState", &ModelObject::optimizer_state),
         InstanceMethod("setOptimizerState", &ModelObject::set_optimizer_state),
         InstanceMethod("resetOptimizerState", &ModelObject::reset_optimizer_state),
         InstanceMethod("device", &ModelObject::device),
         InstanceMethod("dispose", &ModelObject::dispose)});
  }

  explicit ModelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelObject>(info) {
    Napi::Env env = info.Env();
    try {
      const LlamaConfig config = parse_config(env, object_argument(info, 0, "config"));
      // options.device: "cpu" (default) or "cuda"; a cuda request without a usable device is E_CUDA here.
      const Device device = device_field(env, optional_object(info, 1, "options"), "options");
      model_ = std::make_shared<LlamaModel>(config, device == Device::Cuda ? ModelDevice::Cuda : ModelDevice::Cpu);
    } catch (const PillowError& e) {
      throw make_error(env, e.code(), e.what());
    }
  }

 private:
  // Every method runs through here, so none can reach the weights after dispose().
  template <typename Body>
  Napi::Value call(const Napi::CallbackInfo& info, Body body) {
    if (!model_) throw_error(info.Env(), kErrorDisposed, "the model was disposed (dispose() frees its weights); load it again");
    return guarded(info, body);
  }

  // Frees the weights, adapters, caches and optimizer state now, not when the GC collects the object.
  // A kernel still running on a worker holds its own reference: the memory goes when it finishes.
  // Calling it again does nothing.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }

  // "cpu" or "cuda": where the weights live and the steps run.
  Napi::Value device(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      return Napi::String::New(info.Env(), model_->device() == ModelDevice::Cuda ? "cuda" : "cpu");
    });
  }

  Napi::Value tensor_names(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value { return to_string_array(info.Env(), model_->tensor_names()); });
  }

  Napi::Value missing_tensors(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value { return to_string_array(info.Env(), model_->missing_tensors()); });
  }

  Napi::Value tensor_shape(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const std::vector<int64_t> shape = model_->tensor_shape(string_argument(info, 0, "name"));
      Napi::Array array = Napi::Array::New(info.Env(), shape.size());
      for (size_t i = 0; i < shape.size(); ++i) array.Set(static_cast<uint32_t>(i), static_cast<double>(shape[i]));
      return array;
    });
  }

  // setTensor(name, data: Float32Array | Uint16Array (bf16 bits), storeAs: "f32" | "bf16"), or
  // setTensor(name, blocks: Uint8Array (llama.cpp Q8_0, Q4_0 or Q4_K blocks), "q8_0" | "q4_0" | "q4_k")
  // for a linear weight.
  Napi::Value set_tensor(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      const std::string name = string_argument(info, 0, "name");
      const std::string store = info.Length() > 2 && !info[2].IsUndefined() ? string_argument(info, 2, "storeAs") : "f32";
      if (store != "f32" && store != "bf16" && store != "q8_0" && store != "q4_0" && store != "q4_k") {
        throw_error(env, kErrorArgument, "storeAs must be \"f32\", \"bf16\", \"q8_0\", \"q4_0\" or \"q4_k\"");
      }
      if (store == "q8_0" || store == "q4_0" || store == "q4_k") {
        const std::string blocks_name = store == "q8_0" ? "Q8_0" : store == "q4_0" ? "Q4_0" : "Q4_K";
        if (info.Length() <= 1 || !info[1].IsTypedArray() ||
            info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
          throw_error(env, kErrorType,
                      "data for tensor \"" + name + "\" in " + store + " must be a Uint8Array of " + blocks_name +
                          " blocks");
        }
        Napi::Uint8Array blocks = info[1].As<Napi::Uint8Array>();
        const int64_t byte_length = static_cast<int64_t>(blocks.ElementLength());
        if (store == "q8_0") {
          model_->set_tensor_q8_0(name, blocks.Data(), byte_length);
        } else if (store == "q4_0") {
          model_->set_tensor_q4_0(name, blocks.Data(), byte_length);
        } else {
          model_->set_tensor_q4_k(name, blocks.Data(), byte_length);
        }
        return env.Undefined();
      }
      const WeightArgument data = weight_argument(info, 1, "data for tensor \"" + name + "\"", -1);
      const int64_t size = static_cast<int64_t>(data.array.ElementLength());
      if (data.view.type == WeightType::F32) {
        model_->set_tensor(name, static_cast<const float*>(data.view.data), nullptr, size, store == "bf16");
      } else {
        model_->set_tensor(name, nullptr, static_cast<const uint16_t*>(data.view.data), size, store == "bf16");
      }
      return env.Undefined();
    });
  }

  Napi::Value get_tensor(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      return to_float32_array(info.Env(), model_->get_tensor(string_argument(info, 0, "name")));
    });
  }

  // addAdapter(name, { rank, scale, targetModules: string[], layers?: number[], dropout?, dropoutSeed? })
  Napi::Value add_adapter(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      const std::string name = string_argument(info, 0, "name");
      Napi::Object o = object_argument(info, 1, "options");
      const int64_t rank = integer_field(env, o, "options", "rank", true, 0, 1);
      const double scale = number_field(env, o, "options", "scale", true, 1.0);
      Napi::Value modules_value = o.Get("targetModules");
      if (!modules_value.IsArray()) throw_error(env, kErrorType, "options.targetModules must be an array of strings");
      Napi::Array modules_array = modules_value.As<Napi::Array>();
      std::vector<int> modules;
      for (uint32_t i = 0; i < modules_array.Length(); ++i) {
        Napi::Value m = modules_array.Get(i);
        const std::string module = m.IsString() ? m.As<Napi::String>().Utf8Value() : "";
        const int index = linear_module_from_name(module);
        if (index < 0) {
          throw_error(env, kErrorArgument,
                      "options.targetModules[" + std::to_string(i) + "] \"" + module +
                          "\" is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
        }
        modules.push_back(index);
      }
      std::vector<int64_t> layers;
      Napi::Value layers_value = o.Get("layers");
      if (!layers_value.IsUndefined() && !layers_value.IsNull()) {
        if (!layers_value.IsArray()) throw_error(env, kErrorType, "options.layers must be an array of layer indices");
        Napi::Array layers_array = layers_value.As<Napi::Array>();
        for (uint32_t i = 0; i < layers_array.Length(); ++i) {
          Napi::Value l = layers_array.Get(i);
          const double layer = l.IsNumber() ? l.As<Napi::Number>().DoubleValue() : -1;
          if (layer != std::floor(layer) || layer < 0 || layer > 1e6) {
            throw_error(env, kErrorArgument, "options.layers[" + std::to_string(i) + "] must be an integer >= 0");
          }
          layers.push_back(static_cast<int64_t>(layer));
        }
        if (layers.empty()) throw_error(env, kErrorArgument, "options.layers must not be empty (omit it for every layer)");
      }
      const double dropout = number_field(env, o, "options", "dropout", false, 0.0);
      if (!(dropout >= 0.0 && dropout < 1.0)) {
        throw_error(env, kErrorArgument, "options.dropout must be in [0, 1), got " + std::to_string(dropout));
      }
      const int64_t dropout_seed = integer_field(env, o, "options", "dropoutSeed", false, 0, 0);
      model_->add_adapter(name, rank, static_cast<float>(scale), modules, layers);
      model_->set_adapter_dropout(name, static_cast<float>(dropout), static_cast<uint64_t>(dropout_seed));
      return env.Undefined();
    });
  }

  Napi::Value remove_adapter(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      model_->remove_adapter(string_argument(info, 0, "name"));
      return info.Env().Undefined();
    });
  }

  Napi::Value adapter_names(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value { return to_string_array(info.Env(), model_->adapter_names()); });
  }

  struct AdapterSlot {
    std::string adapter;
    int64_t layer;
    int module;
    bool is_b;
  };

  AdapterSlot adapter_slot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    AdapterSlot slot;
    slot.adapter = string_argument(info, 0, "adapter");
    if (info.Length() <= 1 || !info[1].IsNumber()) throw_error(env, kErrorType, "layer must be a number");
    const double layer = info[1].As<Napi::Number>().DoubleValue();
    if (layer != std::floor(layer) || layer < 0 || layer > 1e6) throw_error(env, kErrorArgument, "layer must be an integer >= 0");
    slot.layer = static_cast<int64_t>(layer);
    const std::string module = string_argument(info, 2, "module");
    slot.module = linear_module_from_name(module);
    if (slot.module < 0) throw_error(env, kErrorArgument, "module \"" + module + "\" is not a LoRA target module");
    const std::string which = string_argument(info, 3, "which");
    if (which != "A" && which != "B") throw_error(env, kErrorArgument, "which must be \"A\" or \"B\"");
    slot.is_b = which == "B";
    return slot;
  }

  // setAdapterTensor(adapter, layer, module, "A" | "B", data)
  Napi::Value set_adapter_tensor(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const AdapterSlot slot = adapter_slot(info);
      Napi::Float32Array data = float32_argument(info, 4, "data", -1);
      model_->set_adapter_tensor(slot.adapter, slot.layer, slot.module, slot.is_b, data.Data(),
                                 static_cast<int64_t>(data.ElementLength()));
      return info.Env().Undefined();
    });
  }

  Napi::Value get_adapter_tensor(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const AdapterSlot slot = adapter_slot(info);
      return to_float32_array(info.Env(), model_->get_adapter_tensor(slot.adapter, slot.layer, slot.module, slot.is_b));
    });
  }

  Napi::Value set_active_adapter(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const bool none = info.Length() == 0 || info[0].IsNull() || info[0].IsUndefined();
      model_->set_active_adapter(none ? "" : string_argument(info, 0, "name"));
      return info.Env().Undefined();
    });
  }

  Napi::Value active_adapter(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const std::string name = model_->active_adapter();
      return name.empty() ? info.Env().Null() : Napi::String::New(info.Env(), name);
    });
  }

  // Runs work off the JS thread; result converts its output on the JS thread.
  template <typename Output>
  Napi::Value run_async(const Napi::CallbackInfo& info, std::function<Output()> work,
                        std::function<Napi::Value(Napi::Env, Output&)> convert) {
    auto output = std::make_shared<Output>();
    auto* op = new AsyncOp(
        info.Env(), [work, output] { *output = work(); },
        [convert, output](Napi::Env env) { return convert(env, *output); });
    op->pin(info.This());
    Napi::Promise promise = op->promise();
    op->Queue();
    return promise;
  }

  int64_t batch_of(Napi::Env env, const Napi::Object& options, size_t token_count) {
    const int64_t batch = integer_field(env, options, "options", "batch", false, 1, 1);
    if (static_cast<int64_t>(token_count) % batch != 0) {
      throw_error(env, kErrorShape,
                  std::to_string(token_count) + " tokens cannot be split into " + std::to_string(batch) + " sequences");
    }
    return batch;
  }

  // forward(tokens, { batch, startPosition, useCache, lastOnly, paddings }) -> Promise<Float32Array>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      auto tokens = std::make_shared<std::vector<int32_t>>(int32_vector(info, 0, "tokens"));
      Napi::Object o = optional_object(info, 1, "options");
      const int64_t batch = batch_of(env, o, tokens->size());
      const int64_t start = integer_field(env, o, "options", "startPosition", false, 0, 0);
      const bool use_cache = bool_field(env, o, "options", "useCache", false);
      const bool last_only = bool_field(env, o, "options", "lastOnly", false);
      auto paddings = std::make_shared<std::vector<int32_t>>();
      Napi::Value paddings_value = o.Get("paddings");
      if (!paddings_value.IsUndefined() && !paddings_value.IsNull()) {
        Napi::Int32Array array = int32_value(env, paddings_value, "options.paddings", -1);
        if (static_cast<int64_t>(array.ElementLength()) != batch) {
          throw_error(env, kErrorShape, "options.paddings has length " + std::to_string(array.ElementLength()) +
                                            ", expected " + std::to_string(batch) + " (one per sequence)");
        }
        paddings->assign(array.Data(), array.Data() + array.ElementLength());
      }
      auto model = model_;
      const int64_t seq_len = static_cast<int64_t>(tokens->size()) / batch;
      return run_async<std::vector<float>>(
          info,
          [=] {
            return model->forward(tokens->data(), batch, seq_len, start, use_cache, last_only,
                                  paddings->empty() ? nullptr : paddings->data());
          },
          [](Napi::Env e, std::vector<float>& out) -> Napi::Value { return to_float32_array(e, out); });
    });
  }

  // embed(tokens, { batch }) -> Promise<Float32Array [batch, hidden]>
  Napi::Value embed(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      auto tokens = std::make_shared<std::vector<int32_t>>(int32_vector(info, 0, "tokens"));
      Napi::Object o = optional_object(info, 1, "options");
      const int64_t batch = batch_of(env, o, tokens->size());
      auto model = model_;
      const int64_t seq_len = static_cast<int64_t>(tokens->size()) / batch;
      return run_async<std::vector<float>>(
          info, [=] { return model->embed(tokens->data(), batch, seq_len); },
          [](Napi::Env e, std::vector<float>& out) -> Napi::Value { return to_float32_array(e, out); });
    });
  }

  Napi::Value reset_cache(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      model_->reset_cache();
      return info.Env().Undefined();
    });
  }

  // An integer argument >= minimum (ids and capacities), named in the error.
  static int64_t integer_argument(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t minimum) {
    const double value = finite_number_argument(info, index, name);
    if (value != std::floor(value) || value < static_cast<double>(minimum) || value > 9007199254740991.0) {
      throw_error(info.Env(), kErrorArgument,
                  std::string(name) + " must be an integer >= " + std::to_string(minimum) + ", got " + std::to_string(value));
    }
    return static_cast<int64_t>(value);
  }

  // createSequence(capacity) -> id
  Napi::Value create_sequence(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const int64_t id = model_->create_sequence(integer_argument(info, 0, "capacity", 1));
      return Napi::Number::New(info.Env(), static_cast<double>(id));
    });
  }

  Napi::Value release_sequence(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      model_->release_sequence(integer_argument(info, 0, "sequence", 0));
      return info.Env().Undefined();
    });
  }

  Napi::Value sequence_bytes(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const int64_t bytes = model_->sequence_bytes(integer_argument(info, 0, "capacity", 0));
      return Napi::Number::New(info.Env(), static_cast<double>(bytes));
    });
  }

  Napi::Value sequence_count(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      return Napi::Number::New(info.Env(), static_cast<double>(model_->sequence_count()));
    });
  }

  // forwardSequences(tokens, [{ sequence, start, count, adapter }]) -> Promise<Float32Array [steps, vocab]>
  Napi::Value forward_sequences(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      auto tokens = std::make_shared<std::vector<int32_t>>(int32_vector(info, 0, "tokens"));
      if (info.Length() < 2 || !info[1].IsArray()) throw_error(env, kErrorType, "steps must be an array");
      Napi::Array array = info[1].As<Napi::Array>();
      auto steps = std::make_shared<std::vector<SequenceStep>>(array.Length());
      for (uint32_t i = 0; i < array.Length(); ++i) {
        const std::string name = "steps[" + std::to_string(i) + "]";
        Napi::Value value = array.Get(i);
        if (!value.IsObject()) throw_error(env, kErrorType, name + " must be an object");
        Napi::Object o = value.As<Napi::Object>();
        SequenceStep& step = (*steps)[i];
        step.sequence = integer_field(env, o, name.c_str(), "sequence", true, 0, 0);
        step.start = integer_field(env, o, name.c_str(), "start", true, 0, 0);
        step.count = integer_field(env, o, name.c_str(), "count", true, 0, 1);
        Napi::Value adapter = o.Get("adapter");
        if (!adapter.IsUndefined() && !adapter.IsNull()) {
          if (!adapter.IsString()) throw_error(env, kErrorType, name + ".adapter must be a string or null");
          step.adapter = adapter.As<Napi::String>().Utf8Value();
          if (step.adapter.empty()) throw_error(env, kErrorArgument, name + ".adapter must not be empty (null = base model)");
        }
      }
      auto model = model_;
      const int64_t count = static_cast<int64_t>(tokens->size());
      return run_async<std::vector<float>>(
          info, [=] { return model->forward_sequences(tokens->data(), count, *steps); },
          [](Napi::Env e, std::vector<float>& out) -> Napi::Value { return to_float32_array(e, out); });
    });
  }

  // lossAndGrad(tokens, labels, { batch, mode, accumulate, gradScale, dropoutStep? }) -> Promise<{ lossSum, count }>
  Napi::Value loss_and_grad(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      auto tokens = std::make_shared<std::vector<int32_t>>(int32_vector(info, 0, "tokens"));
      auto labels = std::make_shared<std::vector<int32_t>>(int32_vector(info, 1, "labels"));
      if (labels->size() != tokens->size()) {
        throw_error(env, kErrorShape,
                    "labels has length " + std::to_string(labels->size()) + ", expected " + std::to_string(tokens->size()) +
                        " (one per token)");
      }
      Napi::Object o = object_argument(info, 2, "options");
      const int64_t batch = batch_of(env, o, tokens->size());
      const TrainMode mode = mode_field(env, o);
      const bool accumulate = bool_field(env, o, "options", "accumulate", false);
      const float scale = static_cast<float>(number_field(env, o, "options", "gradScale", false, 1.0));
      const uint64_t dropout_step = static_cast<uint64_t>(integer_field(env, o, "options", "dropoutStep", false, 0, 0));
      auto model = model_;
      const int64_t seq_len = static_cast<int64_t>(tokens->size()) / batch;
      return run_async<LossResult>(
          info,
          [=] {
            return model->loss_and_grad(tokens->data(), labels->data(), batch, seq_len, mode, accumulate, scale,
                                        dropout_step);
          },
          [](Napi::Env e, LossResult& r) -> Napi::Value {
            Napi::Object result = Napi::Object::New(e);
            result.Set("lossSum", r.loss_sum);
            result.Set("count", static_cast<double>(r.counted));
            return result;
          });
    });
  }

  Napi::Value zero_gradients(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      model_->zero_gradients(mode_argument(info, 0));
      return info.Env().Undefined();
    });
  }

  Napi::Value gradients(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Object result = Napi::Object::New(info.Env());
      for (const auto& entry : model_->gradients(mode_argument(info, 0))) {
        result.Set(entry.first, to_float32_array(info.Env(), entry.second));
      }
      return result;
    });
  }

  // adamwStep(mode, { learningRate, beta1, beta2, epsilon, weightDecay, step, maxGradNorm }) -> Promise<{ gradNorm }>
  Napi::Value adamw_step(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      const TrainMode mode = mode_argument(info, 0);
      Napi::Object o = object_argument(info, 1, "options");
      AdamWStepOptions options;
      options.learning_rate = static_cast<float>(number_field(env, o, "options", "learningRate", true, 0));
      options.beta1 = static_cast<float>(number_field(env, o, "options", "beta1", false, 0.9));
      options.beta2 = static_cast<float>(number_field(env, o, "options", "beta2", false, 0.999));
      options.epsilon = static_cast<float>(number_field(env, o, "options", "epsilon", false, 1e-8));
      options.weight_decay = static_cast<float>(number_field(env, o, "options", "weightDecay", false, 0.0));
      options.step = integer_field(env, o, "options", "step", true, 1, 1);
      options.max_grad_norm = static_cast<float>(number_field(env, o, "options", "maxGradNorm", false, 0.0));
      auto model = model_;
      return run_async<double>(
          info, [=] { return model->adamw_step(mode, options); },
          [](Napi::Env e, double& norm) -> Napi::Value {
            Napi::Object result = Napi::Object::New(e);
            result.Set("gradNorm", norm);
            return result;
          });
    });
  }

  Napi::Value optimizer_state(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Napi::Object result = Napi::Object::New(env);
      for (const auto& entry : model_->optimizer_state(mode_argument(info, 0))) {
        Napi::Object moments = Napi::Object::New(env);
        moments.Set("m", to_float32_array(env, entry.second.first));
        moments.Set("v", to_float32_array(env, entry.second.second));
        result.Set(entry.first, moments);
      }
      return result;
    });
  }

  // setOptimizerState(mode, key, m, v)
  Napi::Value set_optimizer_state(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      const TrainMode mode = mode_argument(info, 0);
      const std::string key = string_argument(info, 1, "key");
      Napi::Float32Array m = float32_argument(info, 2, "m", -1);
      Napi::Float32Array v = float32_argument(info, 3, "v", static_cast<int64_t>(m.ElementLength()));
      model_->set_optimizer_state(mode, key, m.Data(), v.Data(), static_cast<int64_t>(m.ElementLength()));
      return info.Env().Undefined();
    });
  }

  Napi::Value reset_optimizer_state(const Napi::CallbackInfo& info) {
    return call(info, [&]() -> Napi::Value {
      model_->reset_optimizer_state(mode_argument(info, 0));
      return info.Env().Undefined();
    });
  }

  std::shared_ptr<LlamaModel> model_;
};

void register_model(Napi::Env env, Napi::Object exports) { exports.Set("LlamaModel", ModelObject::define(env)); }

}  // namespace

PILLOW_REGISTER_BINDING(register_model);

}  // namespace pillow::napi
