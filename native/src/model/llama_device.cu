// LlamaModel on device "cuda": the same steps as llama_step.cc, in the same op order, through the
// CUDA twins of the ops (ops/cuda/). Compiled by nvcc (PILLOW_CUDA=on/auto) or, over the emulation,
// by the host compiler (PILLOW_CUDA=emulate); without a CUDA backend runtime/cuda_absent.cc stands in.
//
// What lives where:
// - weights: uploaded once (on the first step after set_tensor changed them; each Parameter's
//   version says when) and kept on the device; bf16 linear weights stay bf16 there.
// - the active LoRA adapter: A, B, gradients and AdamW moments on the device, uploaded when a host
//   change (set_adapter_tensor, zero_gradients, set/reset_optimizer_state) gave the adapter a new
//   version. Steps that change them on the device (loss_and_grad: gradients; adamw_step: A, B and
//   moments) copy the changed rank-r tensors back into the host mirror, so every host accessor
//   (gradients(), getAdapterTensor, saving) reads current values without a device round trip of
//   its own. The frozen weights are never copied back.
// - the KV cache, rope tables and every activation: device only (the logits of forward and the
//   pooled vectors of embed are copied out, as they are the results).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "model/llama_model_internal.h"
#include "ops/cpu/cross_entropy.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/device_buffer.h"
#include "ops/cuda/lora_matmul_cuda.h"
#include "ops/cuda/model_ops_cuda.h"
#include "runtime/cuda_info.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

template <typename T>
void grow(DeviceBuffer<T>& buffer, int64_t count) {
  if (buffer.count() < count) buffer = DeviceBuffer<T>(count);
}

void grow_layers(std::vector<DeviceBuffer<float>>& buffers, int64_t layers, int64_t count) {
  if (static_cast<int64_t>(buffers.size()) < layers) buffers.resize(static_cast<size_t>(layers));
  for (int64_t l = 0; l < layers; ++l) grow(buffers[static_cast<size_t>(l)], count);
}

void copy_on_device(float* destination, const float* source, int64_t count, const char* what) {
  if (count > 0) {
    check_cuda(cudaMemcpy(destination, source, sizeof(float) * static_cast<size_t>(count), cudaMemcpyDeviceToDevice), what);
  }
}

void clear_on_device(float* data, int64_t count, const char* what) {
  if (count > 0) check_cuda(cudaMemset(data, 0, sizeof(float) * static_cast<size_t>(count)), what);
}

// A device copy of host (resized to `count`); zeros where the host vector is still empty (gradients
// and moments not allocated yet).
void upload_or_zero(DeviceBuffer<float>& device, const std::vector<float>& host, int64_t count) {
  if (device.count() != count) device = DeviceBuffer<float>(count);
  if (static_cast<int64_t>(host.size()) == count) {
    device.upload(host.data());
  } else {
    clear_on_device(device.data(), count, "adapter state clear");
  }
}

void download_into(std::vector<float>& host, const DeviceBuffer<float>& device) {
  host.resize(static_cast<size_t>(device.count()));
  device.download(host.data());
}

}  // namespace

struct LlamaModel::DeviceState {
  struct Tensor {
    DeviceBuffer<float> f32;
    DeviceBuffer<uint16_t> bf16;
    WeightType type = WeightType::F32;
    uint64_t version = 0;
    WeightView view() const {
      return type == WeightType::F32 ? WeightView{f32.data(), WeightType::F32} : WeightView{bf16.data(), WeightType::BF16};
    }
  };
  // Per slot (layer · kLinearModuleCount + module), as LlamaModel::Adapter.
  struct AdapterState {
    uint64_t version = 0;
    std::vector<DeviceBuffer<float>> a, b, grad_a, grad_b, m_a, v_a, m_b, v_b;
  };

  std::vector<Tensor> tensors;  // in parameters_ order
  std::map<std::string, AdapterState> adapters;
  AdapterState* active = nullptr;  // the active adapter's state for the step running now
  DeviceBuffer<float> rope_cos, rope_sin;
  int64_t rope_positions = 0;
  std::vector<DeviceBuffer<float>> cache_k, cache_v;  // per layer [cache_batch, cache_capacity, KVD]
  DeviceBuffer<int32_t> tokens, positions, targets, padding;
  // activations: the residual stream, per-layer training activations, one-layer inference scratch
  DeviceBuffer<float> x, projection, final_input, final_normed, final_rstd, logits, last, losses;
  std::vector<DeviceBuffer<float>> layer_input, normed1, rstd1, q, k, v, attention, lse, middle, normed2, rstd2, gate,
      up, activation;
  DeviceBuffer<float> normed_now, rstd_now, q_now, k_now, v_now, attention_now, gate_now, up_now, activation_now;
  // backward
  DeviceBuffer<float> scratch_a, scratch_b, dx, dh, dh_part, dact, dgate, dup, datt, dq, dk, dv;

  const Tensor& tensor(const LlamaModel& model, const std::string& name) const {
    auto it = model.parameter_index_.find(name);
    if (it == model.parameter_index_.end()) throw_argument_error("unknown tensor \"" + name + "\"");
    return tensors[it->second];
  }
  const float* f32(const LlamaModel& model, const std::string& name) const { return tensor(model, name).f32.data(); }

  // Uploads each weight whose host copy changed since its last upload.
  void sync_weights(const LlamaModel& model) {
    for (size_t i = 0; i < model.parameters_.size(); ++i) {
      const Parameter& p = *model.parameters_[i];
      Tensor& t = tensors[i];
      if (t.version == p.version) continue;
      if (is_block_quantized(p.type)) {
        throw PillowError(kErrorUnsupported, "cuda model: tensor \"" + p.name + "\" is stored in " +
                                                 weight_type_name(p.type) +
                                                 ", which the CUDA path does not run (run the model on the CPU, or "
                                                 "load it dequantized to f32)");
      }
      t.type = p.type;
      if (p.type == WeightType::BF16) {
        t.f32 = DeviceBuffer<float>(0);
        t.bf16 = DeviceBuffer<uint16_t>(p.bf16.data(), p.size);
      } else {
        t.bf16 = DeviceBuffer<uint16_t>(0);
        t.f32 = DeviceBuffer<float>(p.f32.data(), p.size);
      }
      t.version = p.version;
    }
  }

  void sync_rope(const LlamaModel& model) {
    if (rope_positions == model.rope_positions_) return;
    rope_cos = DeviceBuffer<float>(model.rope_cos_.data(), static_cast<int64_t>(model.rope_cos_.size()));
    rope_sin = DeviceBuffer<float>(model.rope_sin_.data(), static_cast<int64_t>(model.rope_sin_.size()));
    rope_positions = model.rope_positions_;
  }

  // The active adapter's device state, uploaded when its host copy changed; nullptr without one.
  // States of removed adapters are freed here.
  AdapterState* sync_adapter(const LlamaModel& model) {
    for (auto it = adapters.begin(); it != adapters.end();) {
      it = model.adapters_.count(it->first) ? std::next(it) : adapters.erase(it);
    }
    const Adapter* a = model.active_;
    active = nullptr;
    if (!a) return nullptr;
    AdapterState& s = adapters[a->name];
    if (s.version != a->version) {
      const size_t slots = a->a.size();
      for (auto* v : {&s.a, &s.b, &s.grad_a, &s.grad_b, &s.m_a, &s.v_a, &s.m_b, &s.v_b}) v->resize(slots);
      for (size_t slot = 0; slot < slots; ++slot) {
        const int64_t a_size = static_cast<int64_t>(a->a[slot].size()), b_size = static_cast<int64_t>(a->b[slot].size());
        upload_or_zero(s.a[slot], a->a[slot], a_size);
        upload_or_zero(s.b[slot], a->b[slot], b_size);
        upload_or_zero(s.grad_a[slot], a->grad_a[slot], a_size);
        upload_or_zero(s.grad_b[slot], a->grad_b[slot], b_size);
        upload_or_zero(s.m_a[slot], a->m_a[slot], a_size);
        upload_or_zero(s.v_a[slot], a->v_a[slot], a_size);
        upload_or_zero(s.m_b[slot], a->m_b[slot], b_size);
        upload_or_zero(s.v_b[slot], a->v_b[slot], b_size);
      }
      s.version = a->version;
    }
    active = &s;
    return active;
  }
};

void LlamaModel::DeviceStateDeleter::operator()(DeviceState* state) const { delete state; }

void LlamaModel::create_device_state() {
  const CudaInfo info = cuda_info();
  if (!info.compiled || info.devices < 1) {
    throw PillowError(kErrorCuda, std::string("device \"cuda\": ") + (info.compiled ? "no CUDA device is usable: " : "") +
                                      info.error);
  }
  device_.reset(new DeviceState());
  device_->tensors.resize(parameters_.size());
  device_->cache_k.resize(static_cast<size_t>(config_.layers));
  device_->cache_v.resize(static_cast<size_t>(config_.layers));
}

void LlamaModel::reset_cache_cuda() {
  for (auto& cache : device_->cache_k) cache = DeviceBuffer<float>(0);
  for (auto& cache : device_->cache_v) cache = DeviceBuffer<float>(0);
}

void LlamaModel::linear_forward_cuda(float* y, const float* x, int64_t layer, int module, int64_t rows) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  const WeightView w = device_->tensor(*this, linear_weight_name(layer, module)).view();
  if (active_ && active_->targets_slot(layer, module)) {
    const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
    lora_matmul_forward_cuda(y, x, w, device_->active->a[slot].data(), device_->active->b[slot].data(), rows, in, out,
                             active_->rank, active_->scale);
  } else {
    lora_matmul_forward_cuda(y, x, w, nullptr, nullptr, rows, in, out, 0, 0.0f);
  }
}

// dx (overwritten; may be nullptr) and the active adapter's gradients (accumulated on the device).
void LlamaModel::linear_backward_cuda(float* dx, const float* dy, const float* x, int64_t layer, int module,
                                      int64_t rows, float* scratch_a, float* scratch_b) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  const WeightView w = device_->tensor(*this, linear_weight_name(layer, module)).view();
  if (active_ && active_->targets_slot(layer, module)) {
    const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
    DeviceState::AdapterState& s = *device_->active;
    lora_matmul_backward_cuda(dx, scratch_a, scratch_b, dy, x, w, s.a[slot].data(), s.b[slot].data(), rows, in, out,
                              active_->rank, active_->scale);
    residual_forward_cuda(s.grad_a[slot].data(), s.grad_a[slot].data(), scratch_a, active_->rank * in);
    residual_forward_cuda(s.grad_b[slot].data(), s.grad_b[slot].data(), scratch_b, out * active_->rank);
  } else if (dx) {
    matmul_backward_input_cuda(dx, dy, w, rows, in, out);
  }
}

void LlamaModel::run_forward_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position,
                                  bool use_cache, bool training, const int32_t* paddings) {
  const LlamaConfig& c = config_;
  DeviceState& d = *device_;
  const int64_t N = batch * seq_len, H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  const int64_t QD = c.heads * D, KVD = c.kv_heads * D;
  check_step_positions(batch, seq_len, start_position, use_cache);
  if (use_cache) {
    if (const int64_t capacity = grown_cache_capacity(batch, start_position, seq_len)) {
      const int64_t keep = cache_batch_ == batch ? std::min(start_position, cache_length_) : 0;
      for (int64_t l = 0; l < c.layers; ++l) {
        for (auto* cache : {&d.cache_k[l], &d.cache_v[l]}) {
          DeviceBuffer<float> grown(batch * capacity * KVD);
          clear_on_device(grown.data(), grown.count(), "KV cache clear");
          for (int64_t b = 0; b < batch && keep > 0; ++b) {
            copy_on_device(grown.data() + b * capacity * KVD, cache->data() + b * cache_capacity_ * KVD, keep * KVD,
                           "KV cache grow");
          }
          *cache = std::move(grown);
        }
      }
      cache_batch_ = batch;
      cache_capacity_ = capacity;
    }
  }
  ensure_rope(start_position + seq_len);
  const int32_t* padding = step_positions(batch, seq_len, start_position, use_cache, paddings);
  d.sync_weights(*this);
  d.sync_rope(*this);
  d.sync_adapter(*this);
  grow(d.tokens, N);
  d.tokens.upload_prefix(tokens, N);
  grow(d.positions, N);
  d.positions.upload_prefix(work_->positions.data(), N);
  if (padding) {
    grow(d.padding, batch);
    d.padding.upload_prefix(padding, batch);
  }
  size_step_activations(
      d, c, batch, seq_len, training, [](DeviceBuffer<float>& buffer, int64_t count) { grow(buffer, count); }, grow_layers);

  float* x = d.x.data();
  const int32_t* positions = d.positions.data();
  embedding_forward_cuda(x, d.tokens.data(), d.f32(*this, "model.embed_tokens.weight"), N, c.vocab_size, H);
  for (int64_t l = 0; l < c.layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    float* normed1 = training ? d.normed1[li].data() : d.normed_now.data();
    float* rstd1 = training ? d.rstd1[li].data() : d.rstd_now.data();
    float* q = training ? d.q[li].data() : d.q_now.data();
    float* k = training ? d.k[li].data() : d.k_now.data();
    float* v = training ? d.v[li].data() : d.v_now.data();
    float* attention = training ? d.attention[li].data() : d.attention_now.data();
    float* normed2 = training ? d.normed2[li].data() : d.normed_now.data();
    float* rstd2 = training ? d.rstd2[li].data() : d.rstd_now.data();
    float* gate = training ? d.gate[li].data() : d.gate_now.data();
    float* up = training ? d.up[li].data() : d.up_now.data();
    float* activation = training ? d.activation[li].data() : d.activation_now.data();
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    if (training) copy_on_device(d.layer_input[li].data(), x, N * H, "layer input copy");

    rmsnorm_forward_cuda(normed1, rstd1, x, d.f32(*this, prefix + "input_layernorm.weight"), N, H, c.rms_eps);
    linear_forward_cuda(q, normed1, l, kQProj, N);
    linear_forward_cuda(k, normed1, l, kKProj, N);
    linear_forward_cuda(v, normed1, l, kVProj, N);
    if (c.attention_bias) {
      bias_forward_cuda(q, d.f32(*this, prefix + "self_attn.q_proj.bias"), N, QD);
      bias_forward_cuda(k, d.f32(*this, prefix + "self_attn.k_proj.bias"), N, KVD);
      bias_forward_cuda(v, d.f32(*this, prefix + "self_attn.v_proj.bias"), N, KVD);
    }
    rope_forward_cuda(q, q, positions, d.rope_cos.data(), d.rope_sin.data(), N, c.heads, D, rope_positions_);
    rope_forward_cuda(k, k, positions, d.rope_cos.data(), d.rope_sin.data(), N, c.kv_heads, D, rope_positions_);
    AttentionShape shape{batch, seq_len, seq_len, seq_len, c.heads, c.kv_heads, D};
    shape.key_begin = padding ? d.padding.data() : nullptr;
    if (use_cache) {
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t row = b * cache_capacity_ + start_position;
        copy_on_device(d.cache_k[li].data() + row * KVD, k + b * seq_len * KVD, seq_len * KVD, "KV cache write");
        copy_on_device(d.cache_v[li].data() + row * KVD, v + b * seq_len * KVD, seq_len * KVD, "KV cache write");
      }
      shape.kv_len = start_position + seq_len;
      shape.kv_batch_stride = cache_capacity_;
      attention_forward_cuda(attention, nullptr, q, d.cache_k[li].data(), d.cache_v[li].data(), shape);
    } else {
      attention_forward_cuda(attention, training ? d.lse[li].data() : nullptr, q, k, v, shape);
    }
    linear_forward_cuda(d.projection.data(), attention, l, kOProj, N);
    residual_forward_cuda(x, x, d.projection.data(), N * H);
    if (training) copy_on_device(d.middle[li].data(), x, N * H, "residual copy");

    rmsnorm_forward_cuda(normed2, rstd2, x, d.f32(*this, prefix + "post_attention_layernorm.weight"), N, H, c.rms_eps);
    linear_forward_cuda(gate, normed2, l, kGateProj, N);
    linear_forward_cuda(up, normed2, l, kUpProj, N);
    swiglu_forward_cuda(activation, gate, up, N * I);
    linear_forward_cuda(d.projection.data(), activation, l, kDownProj, N);
    residual_forward_cuda(x, x, d.projection.data(), N * H);
  }
  if (training) copy_on_device(d.final_input.data(), x, N * H, "final input copy");
  rmsnorm_forward_cuda(d.final_normed.data(), d.final_rstd.data(), x, d.f32(*this, "model.norm.weight"), N, H,
                       c.rms_eps);
  if (use_cache) cache_length_ = start_position + seq_len;
}

std::vector<float> LlamaModel::forward_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len,
                                            int64_t start_position, bool use_cache, bool last_only,
                                            const int32_t* paddings) {
  run_forward_cuda(tokens, batch, seq_len, start_position, use_cache, false, paddings);
  DeviceState& d = *device_;
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  const int64_t rows = last_only ? batch : batch * seq_len;
  const float* hidden = d.final_normed.data();
  if (last_only) {
    grow(d.last, batch * H);
    for (int64_t b = 0; b < batch; ++b) {
      copy_on_device(d.last.data() + b * H, d.final_normed.data() + (b * seq_len + seq_len - 1) * H, H, "last rows");
    }
    hidden = d.last.data();
  }
  grow(d.logits, rows * V);
  const WeightView head = d.tensors[parameter_index_.at(lm_head_parameter().name)].view();
  lora_matmul_forward_cuda(d.logits.data(), hidden, head, nullptr, nullptr, rows, H, V, 0, 0.0f);
  std::vector<float> logits(static_cast<size_t>(rows * V));
  d.logits.download_prefix(logits.data(), rows * V);
  return logits;
}

std::vector<float> LlamaModel::embed_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len) {
  run_forward_cuda(tokens, batch, seq_len, 0, false, false, nullptr);
  const int64_t H = config_.hidden_size;
  std::vector<float> hidden(static_cast<size_t>(batch * seq_len * H));
  device_->final_normed.download_prefix(hidden.data(), batch * seq_len * H);
  return mean_over_positions(hidden.data(), batch, seq_len, H);
}

LossResult LlamaModel::loss_and_grad_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len, bool accumulate,
                                          float gradient_scale) {
  const LlamaConfig& c = config_;
  const int64_t N = batch * seq_len, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, D = c.head_dim;
  const int64_t QD = c.heads * D, KVD = c.kv_heads * D;
  std::vector<Trainable> trainable = trainables(TrainMode::Lora, true);  // E_ARGUMENT without an active adapter
  DeviceState& d = *device_;
  run_forward_cuda(tokens, batch, seq_len, 0, false, true, nullptr);
  DeviceState::AdapterState& s = *d.active;
  Adapter& adapter = *active_;
  // Every targeted slot, in trainables() order: the gradients copied back to the host mirror.
  std::vector<size_t> slots;
  for (int64_t l = 0; l < c.layers; ++l) {
    for (int m = 0; m < kLinearModuleCount; ++m) {
      if (adapter.targets_slot(l, m)) slots.push_back(static_cast<size_t>(l * kLinearModuleCount + m));
    }
  }
  auto copy_gradients_back = [&] {
    for (size_t slot : slots) {
      download_into(adapter.grad_a[slot], s.grad_a[slot]);
      download_into(adapter.grad_b[slot], s.grad_b[slot]);
    }
  };
  if (!accumulate) {
    for (size_t slot : slots) {
      clear_on_device(s.grad_a[slot].data(), s.grad_a[slot].count(), "gradient clear");
      clear_on_device(s.grad_b[slot].data(), s.grad_b[slot].count(), "gradient clear");
    }
    for (Trainable& t : trainable) std::fill(t.grad, t.grad + t.size, 0.0f);
  }

  grow(d.logits, N * V);
  const Parameter& lm_head = lm_head_parameter();
  const WeightView head = d.tensors[parameter_index_.at(lm_head.name)].view();
  lora_matmul_forward_cuda(d.logits.data(), d.final_normed.data(), head, nullptr, nullptr, N, H, V, 0, 0.0f);
  grow(d.targets, N);
  d.targets.upload_prefix(work_->targets.data(), N);
  grow(d.losses, N);
  LossResult result;
  result.counted = cross_entropy_forward_cuda(d.losses.data(), d.logits.data(), d.targets.data(), N, V);
  std::vector<float> losses(static_cast<size_t>(N));
  d.losses.download_prefix(losses.data(), N);
  for (float l : losses) result.loss_sum += l;
  if (result.counted == 0) return result;  // nothing to learn from: gradients unchanged

  float* dlogits = d.logits.data();  // in place
  cross_entropy_backward_cuda(dlogits, d.logits.data(), d.targets.data(), gradient_scale, N, V);
  const int64_t scratch_size = adapter.rank * std::max(std::max(H, I), std::max(QD, V));
  grow(d.scratch_a, scratch_size);
  grow(d.scratch_b, scratch_size);
  for (auto* buffer : {&d.dx, &d.dh, &d.dh_part}) grow(*buffer, N * H);
  for (auto* buffer : {&d.dact, &d.dgate, &d.dup}) grow(*buffer, N * I);
  for (auto* buffer : {&d.datt, &d.dq}) grow(*buffer, N * QD);
  for (auto* buffer : {&d.dk, &d.dv}) grow(*buffer, N * KVD);
  float *scratch_a = d.scratch_a.data(), *scratch_b = d.scratch_b.data(), *dx = d.dx.data(), *dh = d.dh.data(),
        *dh_part = d.dh_part.data(), *dact = d.dact.data(), *dgate = d.dgate.data(), *dup = d.dup.data(),
        *datt = d.datt.data(), *dq = d.dq.data(), *dk = d.dk.data(), *dv = d.dv.data();

  // lm_head, final norm
  matmul_backward_input_cuda(dh, dlogits, head, N, H, V);
  clear_on_device(dx, N * H, "dx clear");
  rmsnorm_backward_cuda(dx, nullptr, dh, d.final_input.data(), d.f32(*this, "model.norm.weight"), d.final_rstd.data(),
                        N, H);
  for (int64_t l = c.layers - 1; l >= 0; --l) {
    const size_t li = static_cast<size_t>(l);
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    // MLP: x_next = middle + down(silu(gate(n2)) ⊙ up(n2)); dx holds ∂L/∂x_next.
    linear_backward_cuda(dact, dx, d.activation[li].data(), l, kDownProj, N, scratch_a, scratch_b);
    swiglu_backward_cuda(dgate, dup, dact, d.gate[li].data(), d.up[li].data(), N * I);
    linear_backward_cuda(dh, dgate, d.normed2[li].data(), l, kGateProj, N, scratch_a, scratch_b);
    linear_backward_cuda(dh_part, dup, d.normed2[li].data(), l, kUpProj, N, scratch_a, scratch_b);
    residual_forward_cuda(dh, dh, dh_part, N * H);
    rmsnorm_backward_cuda(dx, nullptr, dh, d.middle[li].data(), d.f32(*this, prefix + "post_attention_layernorm.weight"),
                          d.rstd2[li].data(), N, H);
    // Attention: middle = input + o(attention(q, k, v)); dx now holds ∂L/∂middle.
    linear_backward_cuda(datt, dx, d.attention[li].data(), l, kOProj, N, scratch_a, scratch_b);
    const AttentionShape shape{batch, seq_len, seq_len, seq_len, c.heads, c.kv_heads, D};
    attention_backward_cuda(dq, dk, dv, datt, d.q[li].data(), d.k[li].data(), d.v[li].data(), d.attention[li].data(),
                            d.lse[li].data(), shape);
    rope_backward_cuda(dq, dq, d.positions.data(), d.rope_cos.data(), d.rope_sin.data(), N, c.heads, D, rope_positions_);
    rope_backward_cuda(dk, dk, d.positions.data(), d.rope_cos.data(), d.rope_sin.data(), N, c.kv_heads, D,
                       rope_positions_);
    // Below layer 0's attention input lies only the embedding, which LoRA does not train.
    const bool input_gradient = l > 0;
    linear_backward_cuda(input_gradient ? dh : nullptr, dq, d.normed1[li].data(), l, kQProj, N, scratch_a, scratch_b);
    linear_backward_cuda(input_gradient ? dh_part : nullptr, dk, d.normed1[li].data(), l, kKProj, N, scratch_a,
                         scratch_b);
    if (input_gradient) residual_forward_cuda(dh, dh, dh_part, N * H);
    linear_backward_cuda(input_gradient ? dh_part : nullptr, dv, d.normed1[li].data(), l, kVProj, N, scratch_a,
                         scratch_b);
    if (!input_gradient) break;  // l == 0: the loop's last step
    residual_forward_cuda(dh, dh, dh_part, N * H);
    rmsnorm_backward_cuda(dx, nullptr, dh, d.layer_input[li].data(), d.f32(*this, prefix + "input_layernorm.weight"),
                          d.rstd1[li].data(), N, H);
  }
  copy_gradients_back();
  return result;
}

double LlamaModel::adamw_step_cuda(const AdamWStepOptions& o) {
  std::vector<Trainable> list = trainables(TrainMode::Lora, true);  // E_ARGUMENT without an active adapter
  DeviceState::AdapterState& s = *device_->sync_adapter(*this);
  Adapter& adapter = *active_;
  std::vector<const float*> grads;
  std::vector<int64_t> sizes;
  std::vector<AdamWTensor> tensors;
  std::vector<size_t> slots;
  for (int64_t l = 0; l < config_.layers; ++l) {
    for (int m = 0; m < kLinearModuleCount; ++m) {
      if (!adapter.targets_slot(l, m)) continue;
      const size_t slot = static_cast<size_t>(l * kLinearModuleCount + m);
      slots.push_back(slot);
      // A then B, as trainables() lists them.
      for (int which = 0; which < 2; ++which) {
        DeviceBuffer<float>& param = which ? s.b[slot] : s.a[slot];
        DeviceBuffer<float>& grad = which ? s.grad_b[slot] : s.grad_a[slot];
        DeviceBuffer<float>& m1 = which ? s.m_b[slot] : s.m_a[slot];
        DeviceBuffer<float>& m2 = which ? s.v_b[slot] : s.v_a[slot];
        grads.push_back(grad.data());
        sizes.push_back(param.count());
        tensors.push_back({param.data(), grad.data(), m1.data(), m2.data(), param.count(), o.weight_decay});
      }
    }
  }
  const double norm =
      std::sqrt(gradient_squared_norm_cuda(grads.data(), sizes.data(), static_cast<int64_t>(grads.size())));
  if (!std::isfinite(norm)) {
    throw PillowError(kErrorArgument, "gradient norm is not finite (NaN or Inf in the gradients); step skipped");
  }
  const AdamWOptions options = adamw_options(o, norm);
  adamw_update_cuda(tensors.data(), static_cast<int64_t>(tensors.size()), options);
  // The host mirror of what changed (rank-r tensors; see the top of this file).
  for (size_t slot : slots) {
    download_into(adapter.a[slot], s.a[slot]);
    download_into(adapter.b[slot], s.b[slot]);
    download_into(adapter.m_a[slot], s.m_a[slot]);
    download_into(adapter.v_a[slot], s.v_a[slot]);
    download_into(adapter.m_b[slot], s.m_b[slot]);
    download_into(adapter.v_b[slot], s.v_b[slot]);
  }
  return norm;
}

}  // namespace pillow
