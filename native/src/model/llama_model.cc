// LlamaModel: configuration checks, weight storage, LoRA adapters, gradients and AdamW.
// The forward and backward passes are in llama_step.cc.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "model/llama_model_internal.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/quantized_matvec.h"
#include "ops/cpu/adamw.h"
#include "ops/cpu/gemm.h"
#include "runtime/errors.h"

#include <unistd.h>

namespace pillow {

namespace {

const char* const kModuleNames[kLinearModuleCount] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"};

void require(bool condition, const std::string& message) {
  if (!condition) throw_argument_error("model config: " + message);
}

std::string lora_key(int64_t layer, int module, bool is_b) {
  return "lora." + std::to_string(layer) + "." + kModuleNames[module] + (is_b ? ".B" : ".A");
}

}  // namespace

const char* linear_module_name(int module) {
  return module >= 0 && module < kLinearModuleCount ? kModuleNames[module] : "?";
}

int linear_module_from_name(const std::string& name) {
  for (int m = 0; m < kLinearModuleCount; ++m) {
    if (name == kModuleNames[m]) return m;
  }
  return -1;
}

void validate_llama_config(const LlamaConfig& c) {
  require(c.vocab_size >= 1, "vocab_size must be >= 1");
  require(c.hidden_size >= 1, "hidden_size must be >= 1");
  require(c.intermediate_size >= 1, "intermediate_size must be >= 1");
  require(c.layers >= 1, "num_hidden_layers must be >= 1");
  require(c.heads >= 1, "num_attention_heads must be >= 1");
  require(c.kv_heads >= 1 && c.heads % c.kv_heads == 0,
          "num_key_value_heads must be >= 1 and divide num_attention_heads");
  require(c.head_dim >= 2 && c.head_dim % 2 == 0, "head_dim must be even and >= 2");
  require(c.max_positions >= 1, "max_position_embeddings must be >= 1");
  require(c.rms_eps > 0 && std::isfinite(c.rms_eps), "rms_norm_eps must be > 0");
  require(c.rope_theta > 0 && std::isfinite(c.rope_theta), "rope_theta must be > 0");
  require(c.rope_scaling.factor > 0, "rope_scaling.factor must be > 0");
  if (c.rope_scaling.type == RopeScalingType::Llama3) {
    require(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor,
            "rope_scaling.high_freq_factor must exceed low_freq_factor");
    require(c.rope_scaling.original_max_positions > 0, "rope_scaling.original_max_position_embeddings must be > 0");
  }
  // Every buffer size below is a product of these; keep them far from int64 overflow.
  require(c.vocab_size <= (1 << 24) && c.hidden_size <= (1 << 20) && c.intermediate_size <= (1 << 22) &&
              c.layers <= 4096 && c.heads * c.head_dim <= (1 << 20) && c.max_positions <= (1 << 24),
          "a dimension is unreasonably large");
}

LlamaModel::LlamaModel(const LlamaConfig& config, ModelDevice device)
    : config_(config), work_(std::make_unique<Workspace>()) {
  validate_llama_config(config_);
  const LlamaConfig& c = config_;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool is_linear, bool decays) {
    auto p = std::make_unique<Parameter>();
    p->name = name;
    p->shape = shape;
    p->size = 1;
    for (int64_t d : shape) p->size *= d;
    p->is_linear = is_linear;
    p->decays = decays;
    parameter_index_[name] = parameters_.size();
    parameters_.push_back(std::move(p));
  };
  add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, false, true);
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    add(prefix + "input_layernorm.weight", {c.hidden_size}, false, false);
    for (int m = 0; m < kLinearModuleCount; ++m) {
      int64_t in, out;
      linear_dimensions(c, m, &in, &out);
      add(linear_weight_name(l, m), {out, in}, true, true);
      if (c.attention_bias && m <= kVProj) {
        add(prefix + "self_attn." + kModuleNames[m] + ".bias", {out}, false, false);
      }
    }
    add(prefix + "post_attention_layernorm.weight", {c.hidden_size}, false, false);
  }
  add("model.norm.weight", {c.hidden_size}, false, false);
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, c.hidden_size}, true, true);
  inv_freq_.resize(static_cast<size_t>(c.head_dim / 2));
  rope_inverse_frequencies(inv_freq_.data(), c.head_dim, c.rope_theta, c.rope_scaling);
  cache_k_.resize(static_cast<size_t>(c.layers));
  cache_v_.resize(static_cast<size_t>(c.layers));
  if (device == ModelDevice::Cuda) create_device_state();
}

void LlamaModel::throw_cpu_only(const std::string& what) const {
  throw PillowError(kErrorUnsupported, what + " runs on the CPU only for now; this model was loaded with device \"cuda\" "
                                              "(load it with device \"cpu\" for this)");
}

LlamaModel::~LlamaModel() = default;

LlamaModel::Parameter& LlamaModel::parameter(const std::string& name) {
  auto it = parameter_index_.find(name);
  if (it == parameter_index_.end()) {
    throw_argument_error("unknown tensor \"" + name + "\" for this model configuration");
  }
  return *parameters_[it->second];
}

const LlamaModel::Parameter& LlamaModel::parameter(const std::string& name) const {
  return const_cast<LlamaModel*>(this)->parameter(name);
}

LlamaModel::Parameter& LlamaModel::embed_parameter() { return *parameters_[0]; }

void LlamaModel::embedding_rows(float* x, const int32_t* tokens, int64_t count) {
  const Parameter& table = embed_parameter();
  if (is_block_quantized(table.type)) {
    embedding_forward_blocks(x, tokens, table.blocks.data(), table.type, count, config_.vocab_size,
                             config_.hidden_size);
  } else {
    embedding_forward(x, tokens, table.f32.data(), count, config_.vocab_size, config_.hidden_size);
  }
}

LlamaModel::Parameter& LlamaModel::layer_parameter(int64_t layer, const char* suffix) {
  return parameter("model.layers." + std::to_string(layer) + "." + suffix);
}

LlamaModel::Parameter& LlamaModel::lm_head_parameter() {
  return config_.tie_embeddings ? embed_parameter() : parameter("lm_head.weight");
}

std::vector<std::string> LlamaModel::tensor_names() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& p : parameters_) names.push_back(p->name);
  return names;
}

std::vector<std::string> LlamaModel::missing_tensors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& p : parameters_) {
    if (!p->present) names.push_back(p->name);
  }
  return names;
}

std::vector<int64_t> LlamaModel::tensor_shape(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parameter(name).shape;
}

void LlamaModel::check_ready() const {
  for (const auto& p : parameters_) {
    if (!p->present) throw_argument_error("model: tensor \"" + p->name + "\" has not been loaded");
  }
}

void LlamaModel::set_tensor(const std::string& name, const float* data, const uint16_t* bf16_bits, int64_t size,
                            bool store_bf16) {
  std::lock_guard<std::mutex> lock(mutex_);
  Parameter& p = parameter(name);
  if (size != p.size) {
    throw_shape_error("tensor \"" + name + "\" has " + std::to_string(size) + " values, expected " +
                      std::to_string(p.size));
  }
  p.drop_packed();  // packed copies of the old values
  packed_for_training_tried_ = packed_for_inference_tried_ = false;
  const bool as_bf16 = store_bf16 && p.is_linear;
  decltype(p.blocks)().swap(p.blocks);
  if (as_bf16) {
    p.type = WeightType::BF16;
    p.f32.clear();
    p.f32.shrink_to_fit();
    p.bf16.resize(static_cast<size_t>(size));
    if (bf16_bits) {
      std::memcpy(p.bf16.data(), bf16_bits, sizeof(uint16_t) * size);
    } else {
      for (int64_t i = 0; i < size; ++i) p.bf16[i] = f32_to_bf16(data[i]);
    }
  } else {
    p.type = WeightType::F32;
    p.bf16.clear();
    p.bf16.shrink_to_fit();
    p.f32.resize(static_cast<size_t>(size));
    if (bf16_bits) {
      for (int64_t i = 0; i < size; ++i) p.f32[i] = bf16_to_f32(bf16_bits[i]);
    } else {
      std::memcpy(p.f32.data(), data, sizeof(float) * size);
    }
  }
  p.present = true;
  p.version = next_version();
}

void LlamaModel::set_tensor_q8_0(const std::string& name, const uint8_t* blocks, int64_t byte_length) {
  set_tensor_blocks(name, WeightType::Q8_0, kQ8_0BlockBytes, blocks, byte_length);
}

void LlamaModel::set_tensor_q4_0(const std::string& name, const uint8_t* blocks, int64_t byte_length) {
  set_tensor_blocks(name, WeightType::Q4_0, kQ4_0BlockBytes, blocks, byte_length);
}

void LlamaModel::set_tensor_q4_k(const std::string& name, const uint8_t* blocks, int64_t byte_length) {
  set_tensor_blocks(name, WeightType::Q4_K, kQ4_KBlockBytes, blocks, byte_length);
}

void LlamaModel::set_tensor_blocks(const std::string& name, WeightType type, int64_t block_bytes,
                                   const uint8_t* blocks, int64_t byte_length) {
  std::lock_guard<std::mutex> lock(mutex_);
  Parameter& p = parameter(name);
  const std::string stored_as = weight_type_name(type);
  // The token embedding too: its rows are decoded when looked up, and a tied model's output layer
  // multiplies its blocks as llama.cpp's does.
  if ((!p.is_linear && &p != &embed_parameter()) || p.shape.size() != 2) {
    throw_argument_error("tensor \"" + name + "\" cannot be stored in " + stored_as +
                         ": only the linear weights and the token embedding can");
  }
  const int64_t out = p.shape[0], in = p.shape[1];
  const int64_t values = block_values(type);
  if (in % values != 0) {
    throw_shape_error("tensor \"" + name + "\" cannot be stored in " + stored_as + ": its " + std::to_string(in) +
                      " inputs are not a multiple of " + std::to_string(values));
  }
  const int64_t expected = out * (in / values) * block_bytes;
  if (byte_length != expected) {
    throw_shape_error("tensor \"" + name + "\" in " + stored_as + " has " + std::to_string(byte_length) +
                      " bytes, expected " + std::to_string(expected) + " (" + std::to_string(out) + " rows x " +
                      std::to_string(in / values) + " blocks x " + std::to_string(block_bytes) + ")");
  }
  if (blocks == nullptr) throw_argument_error("tensor \"" + name + "\": " + stored_as + " data is null");
  p.drop_packed();
  packed_for_training_tried_ = packed_for_inference_tried_ = false;
  p.type = type;
  decltype(p.f32)().swap(p.f32);
  decltype(p.bf16)().swap(p.bf16);
  p.blocks.resize(static_cast<size_t>(byte_length));
  std::memcpy(p.blocks.data(), blocks, static_cast<size_t>(byte_length));
  p.present = true;
  p.version = next_version();
}

std::vector<float> LlamaModel::get_tensor(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Parameter& p = parameter(name);
  if (!p.present) throw_argument_error("tensor \"" + name + "\" has not been loaded");
  if (p.type == WeightType::F32) return std::vector<float>(p.f32.begin(), p.f32.end());
  std::vector<float> out(static_cast<size_t>(p.size));
  if (is_block_quantized(p.type)) {
    block_dequantize_range(p.type, out.data(), p.blocks.data(), 0, p.size);
    return out;
  }
  for (int64_t i = 0; i < p.size; ++i) out[i] = bf16_to_f32(p.bf16[i]);
  return out;
}

// ---------------------------------------------------------------- adapters

LlamaModel::Adapter& LlamaModel::adapter(const std::string& name) {
  auto it = adapters_.find(name);
  if (it == adapters_.end()) throw_argument_error("no adapter named \"" + name + "\"");
  return *it->second;
}

const LlamaModel::Adapter& LlamaModel::adapter(const std::string& name) const {
  return const_cast<LlamaModel*>(this)->adapter(name);
}

void LlamaModel::add_adapter(const std::string& name, int64_t rank, float scale, const std::vector<int>& modules,
                             const std::vector<int64_t>& layers) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (name.empty()) throw_argument_error("adapter name must not be empty");
  if (adapters_.count(name)) throw_argument_error("an adapter named \"" + name + "\" already exists");
  if (rank < 1 || rank > 65536) throw_argument_error("adapter rank must be in [1, 65536], got " + std::to_string(rank));
  if (!std::isfinite(scale)) throw_argument_error("adapter scale must be finite");
  if (modules.empty()) throw_argument_error("adapter needs at least one target module");
  auto a = std::make_unique<Adapter>();
  a->name = name;
  a->rank = rank;
  a->scale = scale;
  for (int m : modules) {
    if (m < 0 || m >= kLinearModuleCount) throw_argument_error("unknown target module index " + std::to_string(m));
    a->targets[m] = true;
  }
  a->layers.assign(static_cast<size_t>(config_.layers), layers.empty());
  for (int64_t l : layers) {
    if (l < 0 || l >= config_.layers) {
      throw_argument_error("adapter layer " + std::to_string(l) + " is outside [0, " + std::to_string(config_.layers) + ")");
    }
    a->layers[static_cast<size_t>(l)] = true;
  }
  const size_t slots = static_cast<size_t>(config_.layers * kLinearModuleCount);
  for (auto* v : {&a->a, &a->b, &a->grad_a, &a->grad_b, &a->m_a, &a->v_a, &a->m_b, &a->v_b}) v->resize(slots);
  for (int64_t l = 0; l < config_.layers; ++l) {
    for (int m = 0; m < kLinearModuleCount; ++m) {
      if (!a->targets_slot(l, m)) continue;
      int64_t in, out;
      linear_dimensions(config_, m, &in, &out);
      const size_t slot = static_cast<size_t>(l * kLinearModuleCount + m);
      a->a[slot].assign(static_cast<size_t>(rank * in), 0.0f);
      a->b[slot].assign(static_cast<size_t>(out * rank), 0.0f);
    }
  }
  a->version = next_version();
  adapters_[name] = std::move(a);
}

void LlamaModel::remove_adapter(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  Adapter& a = adapter(name);
  if (active_ == &a) active_ = nullptr;
  adapters_.erase(name);
}

std::vector<std::string> LlamaModel::adapter_names() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& entry : adapters_) names.push_back(entry.first);
  return names;
}

namespace {

void check_slot(const LlamaConfig& c, int64_t layer, int module) {
  if (layer < 0 || layer >= c.layers) {
    throw_argument_error("layer " + std::to_string(layer) + " is outside [0, " + std::to_string(c.layers) + ")");
  }
  if (module < 0 || module >= kLinearModuleCount) throw_argument_error("unknown module index " + std::to_string(module));
}

}  // namespace

void LlamaModel::set_adapter_tensor(const std::string& name, int64_t layer, int module, bool is_b, const float* data,
                                    int64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  Adapter& a = adapter(name);
  check_slot(config_, layer, module);
  if (!a.targets_slot(layer, module)) {
    throw_argument_error("adapter \"" + name + "\" does not target " + kModuleNames[module] + " of layer " +
                         std::to_string(layer));
  }
  std::vector<float>& slot = (is_b ? a.b : a.a)[static_cast<size_t>(layer * kLinearModuleCount + module)];
  if (size != static_cast<int64_t>(slot.size())) {
    throw_shape_error("adapter \"" + name + "\" layer " + std::to_string(layer) + " " + kModuleNames[module] +
                      (is_b ? " lora_B" : " lora_A") + " has " + std::to_string(size) + " values, expected " +
                      std::to_string(slot.size()));
  }
  std::memcpy(slot.data(), data, sizeof(float) * size);
  a.version = next_version();
}

std::vector<float> LlamaModel::get_adapter_tensor(const std::string& name, int64_t layer, int module,
                                                  bool is_b) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Adapter& a = adapter(name);
  check_slot(config_, layer, module);
  if (!a.targets_slot(layer, module)) {
    throw_argument_error("adapter \"" + name + "\" does not target " + kModuleNames[module] + " of layer " +
                         std::to_string(layer));
  }
  return (is_b ? a.b : a.a)[static_cast<size_t>(layer * kLinearModuleCount + module)];
}

void LlamaModel::set_active_adapter(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  active_ = name.empty() ? nullptr : &adapter(name);
}

std::string LlamaModel::active_adapter() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_ ? active_->name : "";
}

// ---------------------------------------------------------------- training state

std::vector<LlamaModel::Trainable> LlamaModel::trainables(TrainMode mode, bool allocate) {
  std::vector<Trainable> list;
  if (mode == TrainMode::Lora) {
    if (!active_) throw_argument_error("LoRA training needs an active adapter (setActiveAdapter)");
    Adapter& a = *active_;
    for (int64_t l = 0; l < config_.layers; ++l) {
      for (int m = 0; m < kLinearModuleCount; ++m) {
        if (!a.targets_slot(l, m)) continue;
        const size_t slot = static_cast<size_t>(l * kLinearModuleCount + m);
        for (int which = 0; which < 2; ++which) {
          std::vector<float>& param = which ? a.b[slot] : a.a[slot];
          std::vector<float>& grad = which ? a.grad_b[slot] : a.grad_a[slot];
          std::vector<float>& m1 = which ? a.m_b[slot] : a.m_a[slot];
          std::vector<float>& m2 = which ? a.v_b[slot] : a.v_a[slot];
          if (allocate && grad.size() != param.size()) grad.assign(param.size(), 0.0f);
          list.push_back({lora_key(l, m, which == 1), param.data(), grad.empty() ? nullptr : grad.data(), &m1, &m2,
                          static_cast<int64_t>(param.size()), true});
        }
      }
    }
  } else {
    for (auto& p : parameters_) {
      if (allocate && p->type != WeightType::F32) {
        throw_argument_error("full training needs f32 weights; tensor \"" + p->name + "\" is stored in " +
                             weight_type_name(p->type));
      }
      if (allocate && p->grad.size() != static_cast<size_t>(p->size)) p->grad.assign(static_cast<size_t>(p->size), 0.0f);
      list.push_back({p->name, p->f32.data(), p->grad.empty() ? nullptr : p->grad.data(), &p->m, &p->v, p->size,
                      p->decays});
    }
  }
  return list;
}

void LlamaModel::zero_gradients(TrainMode mode) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Trainable& t : trainables(mode, true)) std::fill(t.grad, t.grad + t.size, 0.0f);
  if (mode == TrainMode::Lora) active_->version = next_version();
}

std::map<std::string, std::vector<float>> LlamaModel::gradients(TrainMode mode) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::vector<float>> out;
  for (const Trainable& t : const_cast<LlamaModel*>(this)->trainables(mode, false)) {
    out[t.key] = t.grad ? std::vector<float>(t.grad, t.grad + t.size) : std::vector<float>(t.size, 0.0f);
  }
  return out;
}

double LlamaModel::adamw_step(TrainMode mode, const AdamWStepOptions& o) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mode == TrainMode::Full) drop_packed_weights();
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay)) throw_argument_error("weight decay must be >= 0");
  if (!std::isfinite(o.max_grad_norm)) throw_argument_error("maxGradNorm must be finite");
  if (device_) {
    if (mode == TrainMode::Full) throw_cpu_only("full-parameter training (adamwStep mode \"full\")");
    return adamw_step_cuda(o);
  }
  std::vector<Trainable> list = trainables(mode, true);
  std::vector<const float*> grads;
  std::vector<int64_t> sizes;
  for (const Trainable& t : list) {
    grads.push_back(t.grad);
    sizes.push_back(t.size);
  }
  const double norm = std::sqrt(gradient_squared_norm(grads.data(), sizes.data(), static_cast<int64_t>(list.size())));
  if (!std::isfinite(norm)) {
    throw PillowError(kErrorArgument, "gradient norm is not finite (NaN or Inf in the gradients); step skipped");
  }
  const AdamWOptions options = adamw_options(o, norm);
  std::vector<AdamWTensor> tensors;
  for (Trainable& t : list) {
    if (t.m->size() != static_cast<size_t>(t.size)) t.m->assign(static_cast<size_t>(t.size), 0.0f);
    if (t.v->size() != static_cast<size_t>(t.size)) t.v->assign(static_cast<size_t>(t.size), 0.0f);
    tensors.push_back({t.param, t.grad, t.m->data(), t.v->data(), t.size, t.decays ? o.weight_decay : 0.0f});
  }
  adamw_update(tensors.data(), static_cast<int64_t>(tensors.size()), options);
  if (mode == TrainMode::Lora) active_->version = next_version();
  else for (auto& p : parameters_) p->version = next_version();
  return norm;
}

std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> LlamaModel::optimizer_state(
    TrainMode mode) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> out;
  for (const Trainable& t : const_cast<LlamaModel*>(this)->trainables(mode, false)) {
    auto& entry = out[t.key];
    entry.first = t.m->size() == static_cast<size_t>(t.size) ? *t.m : std::vector<float>(t.size, 0.0f);
    entry.second = t.v->size() == static_cast<size_t>(t.size) ? *t.v : std::vector<float>(t.size, 0.0f);
  }
  return out;
}

void LlamaModel::set_optimizer_state(TrainMode mode, const std::string& key, const float* m, const float* v,
                                     int64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Trainable& t : trainables(mode, false)) {
    if (t.key != key) continue;
    if (size != t.size) {
      throw_shape_error("optimizer state \"" + key + "\" has " + std::to_string(size) + " values, expected " +
                        std::to_string(t.size));
    }
    t.m->assign(m, m + size);
    t.v->assign(v, v + size);
    if (mode == TrainMode::Lora) active_->version = next_version();
    return;
  }
  throw_argument_error("optimizer state \"" + key + "\" matches no trainable tensor");
}

void LlamaModel::reset_optimizer_state(TrainMode mode) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Trainable& t : trainables(mode, false)) {
    t.m->clear();
    t.v->clear();
  }
  if (mode == TrainMode::Lora && active_) active_->version = next_version();
}

// ---------------------------------------------------------------- packed weights

void LlamaModel::drop_packed_weights() {
  for (auto& p : parameters_) p->drop_packed();
  packed_for_training_tried_ = packed_for_inference_tried_ = false;
}

void LlamaModel::prepare_packed_weights(bool for_training) {
  bool& tried = for_training ? packed_for_training_tried_ : packed_for_inference_tried_;
  if (tried) return;
  tried = true;
  // The matmul weights [out, in]: the seven linear modules of every layer and the output layer.
  std::vector<Parameter*> weights;
  for (auto& p : parameters_) {
    if (p->is_linear && p->shape.size() == 2) weights.push_back(p.get());
  }
  Parameter* head = &lm_head_parameter();
  if (std::find(weights.begin(), weights.end(), head) == weights.end()) weights.push_back(head);
  // For training, linear weights get room for the active adapter's rank after their k steps (see
  // lora_view). Inference takes packed rows with any room (the view's stride skips it).
  const int64_t rank = for_training && active_ ? active_->rank : 0;
  auto room = [&](const Parameter* p) { return p == head ? int64_t{0} : rank; };
  auto current = [&](const Parameter* p) {
    return !p->packed_rows.empty() && (for_training ? p->packed_rank == room(p) && !p->packed_columns.empty() : true);
  };
  int64_t floats = 0;
  for (const Parameter* p : weights) {
    if (current(p)) continue;
    floats += gemm_prepacked_size(p->shape[0], p->shape[1] + room(p));
    if (for_training) floats += gemm_prepacked_size(p->shape[1], p->shape[0] + room(p));
  }
  int64_t budget_mb = 0;
  if (const char* setting = std::getenv("PILLOW_PACKED_WEIGHTS_MB")) {
    budget_mb = std::max<long long>(0, std::atoll(setting));
  } else {
    const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    budget_mb = pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size / 4 / (1 << 20) : 0;
  }
  if (floats * static_cast<int64_t>(sizeof(float)) > budget_mb * (int64_t{1} << 20)) return;
  try {
    const int64_t nr = gemm_panel_width();
    for (Parameter* p : weights) {
      const int64_t out = p->shape[0], in = p->shape[1], r = room(p);
      if (current(p)) continue;  // still current (setTensor drops only its own)
      p->drop_packed();
      const WeightView w = p->view();
      p->packed_rows.resize(static_cast<size_t>(gemm_prepacked_size(out, in + r)));
      gemm_prepack(p->packed_rows.data(), GemmOperand{w.data, w.type, in, 1}, out, in, (in + r) * nr);
      if (for_training) {
        p->packed_columns.resize(static_cast<size_t>(gemm_prepacked_size(in, out + r)));
        gemm_prepack(p->packed_columns.data(), GemmOperand{w.data, w.type, 1, in}, in, out, (out + r) * nr);
      }
      p->packed_rank = r;
      p->packed_panel_width = nr;
    }
  } catch (const std::bad_alloc&) {
    // Out of memory after all: train without them (slower, the same results).
    for (Parameter* p : weights) p->drop_packed();
  }
}

}  // namespace pillow
