// LlamaModel's steps: the forward pass (training, prefill and KV-cache decode), the embedding pass,
// and forward + backward for training. Ops are called in llm.c order; activations for the backward
// are kept per layer in the Workspace.
//
// Block (HF LlamaDecoderLayer):  h = x + o_proj(attention(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))
//                                x' = h + down_proj(silu(gate_proj(n2)) ⊙ up_proj(n2))
// with n1 = rmsnorm(x), n2 = rmsnorm(h); logits = lm_head(rmsnorm(x_L)).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/llama_model_internal.h"
#include "ops/cpu/attention.h"
#include "ops/cpu/bias.h"
#include "ops/cpu/cross_entropy.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/cpu/matmul.h"
#include "ops/cpu/residual.h"
#include "ops/cpu/rmsnorm.h"
#include "ops/cpu/rope.h"
#include "ops/cpu/swiglu.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

void add_into(float* destination, const float* source, int64_t count) {
  parallel_for(count, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) destination[i] += source[i];
  });
}

void check_sequence_shape(int64_t batch, int64_t seq_len, int64_t token_count) {
  if (batch < 1 || seq_len < 1) throw_shape_error("model: batch and sequence length must be >= 1");
  if (batch * seq_len != token_count) {
    throw_shape_error("model: " + std::to_string(token_count) + " tokens do not form a batch of " +
                      std::to_string(batch) + " sequences of " + std::to_string(seq_len));
  }
}

}  // namespace

void LlamaModel::reset_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (device_) reset_cache_cuda();
  for (auto& c : cache_k_) std::vector<float>().swap(c);
  for (auto& c : cache_v_) std::vector<float>().swap(c);
  cache_batch_ = cache_capacity_ = cache_length_ = 0;
}

void LlamaModel::ensure_rope(int64_t positions) {
  if (positions <= rope_positions_) return;
  const int64_t half = config_.head_dim / 2;
  const int64_t n = std::max(positions, std::min<int64_t>(config_.max_positions, 4096));
  rope_cos_.resize(static_cast<size_t>(n * half));
  rope_sin_.resize(static_cast<size_t>(n * half));
  rope_tables(rope_cos_.data(), rope_sin_.data(), inv_freq_.data(), n, config_.head_dim);
  rope_positions_ = n;
}

WeightView LlamaModel::lora_view(Parameter& w, int64_t layer, int module, bool backward, int64_t rows) {
  WeightView view = w.view();
  // Decode's few rows go through the GEMV kernel, which reads W itself: writing the factor there
  // would only cost time per token.
  if (rows <= kLoraGemvMaxTokens || w.packed_rows.empty() || !active_ || !active_->targets_slot(layer, module) || w.packed_rank != active_->rank) {
    return view;
  }
  const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
  const int64_t r = active_->rank, nr = w.packed_panel_width;
  const int64_t out = w.shape[0], in = w.shape[1];
  // room[j·stride + p·NR + c] = factor(row j·NR + c of the product's B operand, k step p); 0 past its rows.
  auto fill = [&](float* room, int64_t stride, int64_t operand_rows, auto value) {
    parallel_for((operand_rows + nr - 1) / nr, 16, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        for (int64_t p = 0; p < r; ++p) {
          float* out_step = room + j * stride + p * nr;
          for (int64_t c = 0; c < nr; ++c) out_step[c] = j * nr + c < operand_rows ? value(j * nr + c, p) : 0.0f;
        }
      }
    });
  };
  if (backward) {
    const float* a = active_->a[slot].data();  // [r, in]: B operand (n = input i, k = p) = a[p][i]
    float* room = w.packed_columns.data() + out * nr;
    fill(room, view.packed_columns_stride, in, [&](int64_t i, int64_t p) { return a[p * in + i]; });
    view.packed_columns_lora = room;
  } else {
    const float* b = active_->b[slot].data();  // [out, r]: B operand (n = output o, k = p) = b[o][p]
    float* room = w.packed_rows.data() + in * nr;
    fill(room, view.packed_rows_stride, out, [&](int64_t o, int64_t p) { return b[o * r + p]; });
    view.packed_rows_lora = room;
  }
  return view;
}

void LlamaModel::finish_attention_inputs(float* q, float* k, float* v, int64_t layer, int64_t rows) {
  const LlamaConfig& c = config_;
  const int64_t QD = c.heads * c.head_dim, KVD = c.kv_heads * c.head_dim;
  if (c.attention_bias) {
    bias_forward(q, layer_parameter(layer, "self_attn.q_proj.bias").f32.data(), rows, QD);
    bias_forward(k, layer_parameter(layer, "self_attn.k_proj.bias").f32.data(), rows, KVD);
    bias_forward(v, layer_parameter(layer, "self_attn.v_proj.bias").f32.data(), rows, KVD);
  }
  const int32_t* positions = work_->positions.data();
  rope_forward(q, q, positions, rope_cos_.data(), rope_sin_.data(), rows, c.heads, c.head_dim, rope_positions_);
  rope_forward(k, k, positions, rope_cos_.data(), rope_sin_.data(), rows, c.kv_heads, c.head_dim, rope_positions_);
}

void LlamaModel::linear_forward(float* y, const float* x, int64_t layer, int module, int64_t rows) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  if (dropout_on_ && active_->targets_slot(layer, module)) {
    linear_forward_dropout(y, x, layer, module, rows);
    return;
  }
  Parameter& w = parameter(linear_weight_name(layer, module));
  if (active_ && active_->targets_slot(layer, module)) {
    const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
    lora_matmul_forward(y, x, lora_view(w, layer, module, false, rows), active_->a[slot].data(), active_->b[slot].data(),
                        rows, in, out, active_->rank, active_->scale);
  } else {
    lora_matmul_forward(y, x, w.view(), nullptr, nullptr, rows, in, out, 0, 0.0f);
  }
}

void LlamaModel::linear_forward_shared_input(float* const* ys, const int* modules, int count, const float* x,
                                             int64_t layer, int64_t rows) {
  if (dropout_on_) {  // training with LoRA dropout: each module draws its own mask
    for (int i = 0; i < count; ++i) linear_forward(ys[i], x, layer, modules[i], rows);
    return;
  }
  LoraMatmulOutput outputs[kLinearModuleCount];
  int64_t in = 0;
  for (int i = 0; i < count; ++i) {
    int64_t out;
    linear_dimensions(config_, modules[i], &in, &out);
    Parameter& w = parameter(linear_weight_name(layer, modules[i]));
    outputs[i] = LoraMatmulOutput{ys[i], lora_view(w, layer, modules[i], false, rows), nullptr, nullptr, out, 0, 0.0f};
    if (active_ && active_->targets_slot(layer, modules[i])) {
      const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + modules[i]);
      outputs[i].a = active_->a[slot].data();
      outputs[i].b = active_->b[slot].data();
      outputs[i].rank = active_->rank;
      outputs[i].scale = active_->scale;
    }
  }
  lora_matmul_forward_shared_input(outputs, count, x, rows, in);
}

// dx (overwritten; may be nullptr) and the trainable gradients (accumulated) of y = linear(x).
void LlamaModel::linear_backward(float* dx, const float* dy, const float* x, int64_t layer, int module, int64_t rows,
                                 TrainMode mode, float* scratch_a, float* scratch_b) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  if (dropout_on_ && mode == TrainMode::Lora && active_->targets_slot(layer, module)) {
    linear_backward_dropout(dx, dy, x, layer, module, rows);
    return;
  }
  Parameter& w = parameter(linear_weight_name(layer, module));
  if (active_ && active_->targets_slot(layer, module)) {
    const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
    const bool train_lora = mode == TrainMode::Lora;
    lora_matmul_backward(dx, train_lora ? scratch_a : nullptr, train_lora ? scratch_b : nullptr, dy, x,
                         dx ? lora_view(w, layer, module, true, rows) : w.view(),
                         active_->a[slot].data(), active_->b[slot].data(), rows, in, out, active_->rank,
                         active_->scale);
    if (train_lora) {
      add_into(active_->grad_a[slot].data(), scratch_a, active_->rank * in);
      add_into(active_->grad_b[slot].data(), scratch_b, out * active_->rank);
    }
  } else if (dx) {
    matmul_backward_input(dx, dy, w.view(), rows, in, out);
  }
  if (mode == TrainMode::Full) {
    matmul_backward_weight(scratch_a, dy, x, rows, in, out);
    add_into(w.grad.data(), scratch_a, in * out);
  }
}

void LlamaModel::check_step_positions(int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache) const {
  const LlamaConfig& c = config_;
  if (start_position < 0) throw_argument_error("model: startPosition must be >= 0");
  if (start_position + seq_len > c.max_positions) {
    throw_argument_error("model: positions up to " + std::to_string(start_position + seq_len) +
                         " exceed max_position_embeddings (" + std::to_string(c.max_positions) + ")");
  }
  if (use_cache) {
    if (start_position > cache_length_ || (cache_batch_ != batch && start_position != 0)) {
      throw_argument_error("model: startPosition " + std::to_string(start_position) +
                           " is past the cached sequence length " + std::to_string(cache_length_) +
                           " (or the batch size changed); start a new sequence at 0");
    }
  } else if (start_position != 0) {
    throw_argument_error("model: startPosition must be 0 without the KV cache");
  }
}

int64_t LlamaModel::grown_cache_capacity(int64_t batch, int64_t start_position, int64_t seq_len) const {
  const int64_t needed = start_position + seq_len;
  if (cache_batch_ == batch && needed <= cache_capacity_) return 0;
  return cache_batch_ != batch ? std::min(config_.max_positions, std::max<int64_t>(needed, 256))
                               : std::min(config_.max_positions, std::max(needed, 2 * cache_capacity_));
}

const int32_t* LlamaModel::step_positions(int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache,
                                          const int32_t* paddings) {
  // Left padding: given with the tokens, or remembered by the KV cache from its prefill.
  const int32_t* padding = paddings;
  if (use_cache) {
    if (paddings) {
      if (start_position != 0) throw_argument_error("model: paddings can only be given with startPosition 0");
      cache_padding_.assign(paddings, paddings + batch);
    } else if (start_position == 0) {
      cache_padding_.clear();
    }
    padding = cache_padding_.empty() ? nullptr : cache_padding_.data();
  }
  if (padding) {
    for (int64_t b = 0; b < batch; ++b) {
      if (padding[b] < 0 || (paddings && padding[b] >= seq_len)) {
        throw_argument_error("model: paddings[" + std::to_string(b) + "] = " + std::to_string(padding[b]) +
                             " must be in [0, " + std::to_string(seq_len) + ")");
      }
    }
  }
  const int64_t N = batch * seq_len;
  work_->rows = N;
  work_->positions.resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const int64_t position = start_position + n % seq_len - (padding ? padding[n / seq_len] : 0);
    work_->positions[n] = static_cast<int32_t>(std::max<int64_t>(position, 0));
  }
  return padding;
}

void LlamaModel::shift_labels(const int32_t* labels, int64_t batch, int64_t seq_len) {
  const int64_t N = batch * seq_len, V = config_.vocab_size;
  // HF semantics: labels are aligned with the inputs; position t predicts labels[t + 1].
  work_->targets.resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    if (labels[n] != kIgnoreIndex && (labels[n] < 0 || labels[n] >= V)) {
      throw_argument_error("lossAndGrad: label " + std::to_string(labels[n]) + " at index " + std::to_string(n) +
                           " is outside the vocabulary [0, " + std::to_string(V) + ") and is not -100");
    }
    const int64_t t = n % seq_len;
    work_->targets[n] = t + 1 < seq_len ? labels[n + 1] : kIgnoreIndex;
  }
}

void LlamaModel::run_forward(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position,
                             bool use_cache, bool training, const int32_t* paddings) {
  const LlamaConfig& c = config_;
  Workspace& w = *work_;
  const int64_t N = batch * seq_len, H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  const int64_t KVD = c.kv_heads * D;
  check_step_positions(batch, seq_len, start_position, use_cache);
  if (use_cache) {
    if (const int64_t capacity = grown_cache_capacity(batch, start_position, seq_len)) {
      const int64_t keep = cache_batch_ == batch ? std::min(start_position, cache_length_) : 0;
      for (int64_t l = 0; l < c.layers; ++l) {
        for (auto* cache : {&cache_k_[l], &cache_v_[l]}) {
          std::vector<float> grown(static_cast<size_t>(batch * capacity * KVD), 0.0f);
          for (int64_t b = 0; b < batch && keep > 0; ++b) {
            std::memcpy(grown.data() + b * capacity * KVD, cache->data() + b * cache_capacity_ * KVD,
                        sizeof(float) * keep * KVD);
          }
          cache->swap(grown);
        }
      }
      cache_batch_ = batch;
      cache_capacity_ = capacity;
    }
  }
  ensure_rope(start_position + seq_len);
  const int32_t* padding = step_positions(batch, seq_len, start_position, use_cache, paddings);
  size_step_activations(
      w, c, batch, seq_len, training, [](std::vector<float>& buffer, int64_t count) { ensure(buffer, count); }, ensure_layers);

  float* x = w.x.data();
  embedding_rows(x, tokens, N);
  for (int64_t l = 0; l < c.layers; ++l) {
    float* normed1 = training ? w.normed1[l].data() : w.normed_now.data();
    float* rstd1 = training ? w.rstd1[l].data() : w.rstd_now.data();
    float* q = training ? w.q[l].data() : w.q_now.data();
    float* k = training ? w.k[l].data() : w.k_now.data();
    float* v = training ? w.v[l].data() : w.v_now.data();
    float* attention = training ? w.attention[l].data() : w.attention_now.data();
    float* normed2 = training ? w.normed2[l].data() : w.normed_now.data();
    float* rstd2 = training ? w.rstd2[l].data() : w.rstd_now.data();
    float* gate = training ? w.gate[l].data() : w.gate_now.data();
    float* up = training ? w.up[l].data() : w.up_now.data();
    float* activation = training ? w.activation[l].data() : w.activation_now.data();
    if (training) std::memcpy(w.layer_input[l].data(), x, sizeof(float) * N * H);

    rmsnorm_forward(normed1, rstd1, x, layer_parameter(l, "input_layernorm.weight").f32.data(), N, H, c.rms_eps);
    {
      float* const qkv[] = {q, k, v};
      const int modules[] = {kQProj, kKProj, kVProj};
      linear_forward_shared_input(qkv, modules, 3, normed1, l, N);
    }
    finish_attention_inputs(q, k, v, l, N);
    AttentionShape shape{batch, seq_len, seq_len, seq_len, c.heads, c.kv_heads, D};
    shape.key_begin = padding;
    if (use_cache) {
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t row = b * cache_capacity_ + start_position;
        std::memcpy(cache_k_[l].data() + row * KVD, k + b * seq_len * KVD, sizeof(float) * seq_len * KVD);
        std::memcpy(cache_v_[l].data() + row * KVD, v + b * seq_len * KVD, sizeof(float) * seq_len * KVD);
      }
      shape.kv_len = start_position + seq_len;
      shape.kv_batch_stride = cache_capacity_;
      attention_forward(attention, nullptr, q, cache_k_[l].data(), cache_v_[l].data(), shape);
    } else {
      attention_forward(attention, training ? w.lse[l].data() : nullptr, q, k, v, shape);
    }
    linear_forward(w.projection.data(), attention, l, kOProj, N);
    residual_forward(x, x, w.projection.data(), N * H);
    if (training) std::memcpy(w.middle[l].data(), x, sizeof(float) * N * H);

    rmsnorm_forward(normed2, rstd2, x, layer_parameter(l, "post_attention_layernorm.weight").f32.data(), N, H,
                    c.rms_eps);
    {
      float* const gate_up[] = {gate, up};
      const int modules[] = {kGateProj, kUpProj};
      linear_forward_shared_input(gate_up, modules, 2, normed2, l, N);
    }
    swiglu_forward(activation, gate, up, N * I);
    linear_forward(w.projection.data(), activation, l, kDownProj, N);
    residual_forward(x, x, w.projection.data(), N * H);
  }
  if (training) std::memcpy(w.final_input.data(), x, sizeof(float) * N * H);
  rmsnorm_forward(w.final_normed.data(), w.final_rstd.data(), x, parameter("model.norm.weight").f32.data(), N, H,
                  c.rms_eps);
  if (use_cache) cache_length_ = start_position + seq_len;
}

std::vector<float> LlamaModel::forward(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position,
                                       bool use_cache, bool last_only, const int32_t* paddings) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_ready();
  check_sequence_shape(batch, seq_len, batch * seq_len);
  if (device_) return forward_cuda(tokens, batch, seq_len, start_position, use_cache, last_only, paddings);
  run_forward(tokens, batch, seq_len, start_position, use_cache, false, paddings);
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  const int64_t rows = last_only ? batch : batch * seq_len;
  const float* hidden = work_->final_normed.data();
  std::vector<float> last;
  if (last_only) {
    last.resize(static_cast<size_t>(batch * H));
    for (int64_t b = 0; b < batch; ++b) {
      std::memcpy(last.data() + b * H, hidden + (b * seq_len + seq_len - 1) * H, sizeof(float) * H);
    }
    hidden = last.data();
  }
  std::vector<float> logits(static_cast<size_t>(rows * V));
  lora_matmul_forward(logits.data(), hidden, lm_head_parameter().view(), nullptr, nullptr, rows, H, V, 0, 0.0f);
  return logits;
}

std::vector<float> LlamaModel::embed(const int32_t* tokens, int64_t batch, int64_t seq_len) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_ready();
  check_sequence_shape(batch, seq_len, batch * seq_len);
  if (device_) return embed_cuda(tokens, batch, seq_len);
  run_forward(tokens, batch, seq_len, 0, false, false);
  return mean_over_positions(work_->final_normed.data(), batch, seq_len, config_.hidden_size);
}

LossResult LlamaModel::loss_and_grad(const int32_t* tokens, const int32_t* labels, int64_t batch, int64_t seq_len,
                                     TrainMode mode, bool accumulate, float gradient_scale, uint64_t dropout_step) {
  std::lock_guard<std::mutex> lock(mutex_);
  // LoRA dropout only inside this call (forward/generation never drop), whatever way it exits.
  struct DropoutScope {
    bool& on;
    ~DropoutScope() { on = false; }
  } dropout_scope{dropout_on_};
  dropout_on_ = mode == TrainMode::Lora && active_ != nullptr && active_->dropout > 0.0f;
  dropout_step_ = dropout_step;
  check_ready();
  check_sequence_shape(batch, seq_len, batch * seq_len);
  if (!std::isfinite(gradient_scale)) throw_argument_error("lossAndGrad: gradScale must be finite");
  if (mode == TrainMode::Full && active_) {
    throw_argument_error("full training with an active LoRA adapter is not supported; setActiveAdapter(null) first");
  }
  const LlamaConfig& c = config_;
  const int64_t N = batch * seq_len, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, D = c.head_dim;
  const int64_t QD = c.heads * D, KVD = c.kv_heads * D;
  Workspace& w = *work_;
  shift_labels(labels, batch, seq_len);
  if (device_) {
    if (mode == TrainMode::Full) throw_cpu_only("full-parameter training (lossAndGrad mode \"full\")");
    if (dropout_on_) throw_cpu_only("LoRA dropout in lossAndGrad");
    return loss_and_grad_cuda(tokens, batch, seq_len, accumulate, gradient_scale);
  }
  if (mode == TrainMode::Full) {
    drop_packed_weights();  // the weights are about to change
  } else {
    prepare_packed_weights(true);
  }
  std::vector<Trainable> trainable = trainables(mode, true);
  if (!accumulate) {
    for (Trainable& t : trainable) std::fill(t.grad, t.grad + t.size, 0.0f);
  }

  run_forward(tokens, batch, seq_len, 0, false, true);
  ensure(w.logits, N * V);
  Parameter& lm_head = lm_head_parameter();
  lora_matmul_forward(w.logits.data(), w.final_normed.data(), lm_head.view(), nullptr, nullptr, N, H, V, 0, 0.0f);
  std::vector<float> losses(static_cast<size_t>(N));
  LossResult result;
  // The losses and, in place, their gradients with respect to the logits, in one pass per row.
  std::vector<float>& dlogits = w.logits;
  result.counted =
      cross_entropy_forward_backward(losses.data(), dlogits.data(), w.logits.data(), w.targets.data(), gradient_scale, N, V);
  for (float l : losses) result.loss_sum += l;
  if (result.counted == 0) return result;  // nothing to learn from: gradients unchanged

  // Scratch for the backward (ensure() only grows, so steady-state training allocates nothing).
  int64_t scratch_size = mode == TrainMode::Full ? std::max(V * H, std::max(I * H, QD * H)) : 0;
  if (mode == TrainMode::Lora) {
    scratch_size = active_->rank * std::max(std::max(H, I), std::max(QD, V));
  }
  std::vector<float>&scratch_a = w.scratch_a, &scratch_b = w.scratch_b, &dx = w.dx, &dh = w.dh, &dh_part = w.dh_part,
                     &dact = w.dact, &dgate = w.dgate, &dup = w.dup, &datt = w.datt, &dq = w.dq, &dk = w.dk,
                     &dv = w.dv;
  ensure(scratch_a, scratch_size);
  ensure(scratch_b, scratch_size);
  for (auto* buffer : {&dx, &dh, &dh_part}) ensure(*buffer, N * H);
  for (auto* buffer : {&dact, &dgate, &dup}) ensure(*buffer, N * I);
  for (auto* buffer : {&datt, &dq}) ensure(*buffer, N * QD);
  for (auto* buffer : {&dk, &dv}) ensure(*buffer, N * KVD);
  const bool full = mode == TrainMode::Full;

  // lm_head, final norm
  matmul_backward_input(dh.data(), dlogits.data(), lm_head.view(), N, H, V);
  if (full) {
    matmul_backward_weight(scratch_a.data(), dlogits.data(), w.final_normed.data(), N, H, V);
    add_into(lm_head.grad.data(), scratch_a.data(), V * H);
  }
  std::fill(dx.begin(), dx.begin() + N * H, 0.0f);
  Parameter& final_norm = parameter("model.norm.weight");
  rmsnorm_backward(dx.data(), full ? final_norm.grad.data() : nullptr, dh.data(), w.final_input.data(),
                   final_norm.f32.data(), w.final_rstd.data(), N, H);

  for (int64_t l = c.layers - 1; l >= 0; --l) {
    // MLP: x_next = middle + down(silu(gate(n2)) ⊙ up(n2)); dx holds ∂L/∂x_next.
    linear_backward(dact.data(), dx.data(), w.activation[l].data(), l, kDownProj, N, mode, scratch_a.data(),
                    scratch_b.data());
    swiglu_backward(dgate.data(), dup.data(), dact.data(), w.gate[l].data(), w.up[l].data(), N * I);
    linear_backward(dh.data(), dgate.data(), w.normed2[l].data(), l, kGateProj, N, mode, scratch_a.data(),
                    scratch_b.data());
    linear_backward(dh_part.data(), dup.data(), w.normed2[l].data(), l, kUpProj, N, mode, scratch_a.data(),
                    scratch_b.data());
    add_into(dh.data(), dh_part.data(), N * H);
    Parameter& post_norm = layer_parameter(l, "post_attention_layernorm.weight");
    rmsnorm_backward(dx.data(), full ? post_norm.grad.data() : nullptr, dh.data(), w.middle[l].data(),
                     post_norm.f32.data(), w.rstd2[l].data(), N, H);
    // Attention: middle = input + o(attention(q, k, v)); dx now holds ∂L/∂middle.
    linear_backward(datt.data(), dx.data(), w.attention[l].data(), l, kOProj, N, mode, scratch_a.data(),
                    scratch_b.data());
    const AttentionShape shape{batch, seq_len, seq_len, seq_len, c.heads, c.kv_heads, D};
    attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), w.q[l].data(), w.k[l].data(), w.v[l].data(),
                       w.attention[l].data(), w.lse[l].data(), shape);
    rope_backward(dq.data(), dq.data(), w.positions.data(), rope_cos_.data(), rope_sin_.data(), N, c.heads, D,
                  rope_positions_);
    rope_backward(dk.data(), dk.data(), w.positions.data(), rope_cos_.data(), rope_sin_.data(), N, c.kv_heads, D,
                  rope_positions_);
    if (full && c.attention_bias) {
      bias_backward(layer_parameter(l, "self_attn.q_proj.bias").grad.data(), dq.data(), N, QD);
      bias_backward(layer_parameter(l, "self_attn.k_proj.bias").grad.data(), dk.data(), N, KVD);
      bias_backward(layer_parameter(l, "self_attn.v_proj.bias").grad.data(), dv.data(), N, KVD);
    }
    // Below layer 0's attention input lies only the embedding: without full training nothing there
    // learns, so the q/k/v input gradients (3 of the step's ~85 weight products) are not computed.
    const bool input_gradient = full || l > 0;
    linear_backward(input_gradient ? dh.data() : nullptr, dq.data(), w.normed1[l].data(), l, kQProj, N, mode,
                    scratch_a.data(), scratch_b.data());
    linear_backward(input_gradient ? dh_part.data() : nullptr, dk.data(), w.normed1[l].data(), l, kKProj, N, mode,
                    scratch_a.data(), scratch_b.data());
    if (input_gradient) add_into(dh.data(), dh_part.data(), N * H);
    linear_backward(input_gradient ? dh_part.data() : nullptr, dv.data(), w.normed1[l].data(), l, kVProj, N, mode,
                    scratch_a.data(), scratch_b.data());
    if (!input_gradient) break;  // l == 0: the loop's last step
    add_into(dh.data(), dh_part.data(), N * H);
    Parameter& input_norm = layer_parameter(l, "input_layernorm.weight");
    rmsnorm_backward(dx.data(), full ? input_norm.grad.data() : nullptr, dh.data(), w.layer_input[l].data(),
                     input_norm.f32.data(), w.rstd1[l].data(), N, H);
  }
  if (full) embedding_backward(embed_parameter().grad.data(), dx.data(), tokens, N, V, H);
  return result;
}

}  // namespace pillow
