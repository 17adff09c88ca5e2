// LoRA dropout during training (PEFT lora_dropout): y = x·Wᵀ + s·(x̃·Aᵀ)·Bᵀ with x̃ = x ⊙ m/(1-p),
// m a Bernoulli(1-p) mask per element. Composed from the matmul ops, since the fused LoRA GEMM
// feeds one input to both branches. The mask is recomputed in the backward from its counter
// (lora_dropout_keep) instead of being stored.
//
// Backward, with g = s·dy·B [N, r]:
//   dx = dy·W + (m/(1-p)) ⊙ (g·A)      dA = gᵀ·x̃      dB = dyᵀ·(s·x̃·Aᵀ)
#include <algorithm>
#include <cmath>
#include <string>

#include "model/llama_model_internal.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/cpu/matmul.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

void add_into(float* destination, const float* source, int64_t count) {
  parallel_for(count, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) destination[i] += source[i];
  });
}

}  // namespace

void LlamaModel::set_adapter_dropout(const std::string& name, float probability, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!(probability >= 0.0f && probability < 1.0f)) {
    throw_argument_error("adapter dropout must be in [0, 1), got " + std::to_string(probability));
  }
  Adapter& a = adapter(name);
  a.dropout = probability;
  a.dropout_seed = seed;
}

void LlamaModel::apply_lora_dropout(float* dropped, const float* x, int64_t layer, int module, int64_t rows,
                                    int64_t in) const {
  const double p = active_->dropout;
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  const uint64_t seed = active_->dropout_seed, step = dropout_step_;
  const int64_t layers = config_.layers;
  parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t i = 0; i < in; ++i) {
        const bool keep = lora_dropout_keep(seed, step, layers, layer, module, rows, r, in, i, p);
        dropped[r * in + i] = keep ? x[r * in + i] * keep_scale : 0.0f;
      }
    }
  });
}

void LlamaModel::linear_forward_dropout(float* y, const float* x, int64_t layer, int module, int64_t rows) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
  const int64_t r = active_->rank;
  Workspace& w = *work_;
  ensure(w.dropped, rows * in);
  ensure(w.low_a, rows * r);
  ensure(w.wide, rows * out);
  const Parameter& weight = parameter(linear_weight_name(layer, module));
  lora_matmul_forward(y, x, weight.view(), nullptr, nullptr, rows, in, out, 0, 0.0f);
  apply_lora_dropout(w.dropped.data(), x, layer, module, rows, in);
  // u = s·x̃·Aᵀ [N, r], then y += u·Bᵀ
  matmul_forward(w.low_a.data(), w.dropped.data(), active_->a[slot].data(), rows, in, r);
  for (int64_t i = 0; i < rows * r; ++i) w.low_a[i] *= active_->scale;
  matmul_forward(w.wide.data(), w.low_a.data(), active_->b[slot].data(), rows, r, out);
  add_into(y, w.wide.data(), rows * out);
}

void LlamaModel::linear_backward_dropout(float* dx, const float* dy, const float* x, int64_t layer, int module,
                                         int64_t rows) {
  int64_t in, out;
  linear_dimensions(config_, module, &in, &out);
  const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
  const int64_t r = active_->rank;
  const float s = active_->scale;
  const float* a = active_->a[slot].data();
  const float* b = active_->b[slot].data();
  Workspace& w = *work_;
  ensure(w.dropped, rows * in);
  ensure(w.low_a, rows * r);
  ensure(w.low_b, rows * r);
  ensure(w.wide, rows * std::max(in, out));
  ensure(w.scratch_a, r * in);
  ensure(w.scratch_b, out * r);
  apply_lora_dropout(w.dropped.data(), x, layer, module, rows, in);
  // g = s·dy·B [N, r]
  float* g = w.low_b.data();
  matmul_backward_input(g, dy, WeightView{b, WeightType::F32}, rows, r, out);
  for (int64_t i = 0; i < rows * r; ++i) g[i] *= s;
  if (dx != nullptr) {
    const Parameter& weight = parameter(linear_weight_name(layer, module));
    matmul_backward_input(dx, dy, weight.view(), rows, in, out);
    // dx += (m/(1-p)) ⊙ (g·A): x̃ = 0 exactly where the mask dropped, else x·keep_scale.
    matmul_backward_input(w.wide.data(), g, WeightView{a, WeightType::F32}, rows, in, r);
    const float keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(active_->dropout)));
    const double p = active_->dropout;
    const uint64_t seed = active_->dropout_seed, step = dropout_step_;
    const int64_t layers = config_.layers;
    const float* wide = w.wide.data();
    parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        for (int64_t i = 0; i < in; ++i) {
          if (lora_dropout_keep(seed, step, layers, layer, module, rows, row, in, i, p)) {
            dx[row * in + i] += keep_scale * wide[row * in + i];
          }
        }
      }
    });
  }
  // dA += gᵀ·x̃ [r, in]
  matmul_backward_weight(w.scratch_a.data(), g, w.dropped.data(), rows, in, r);
  add_into(active_->grad_a[slot].data(), w.scratch_a.data(), r * in);
  // dB += dyᵀ·u [out, r], u = s·x̃·Aᵀ
  float* u = w.low_a.data();
  matmul_forward(u, w.dropped.data(), a, rows, in, r);
  for (int64_t i = 0; i < rows * r; ++i) u[i] *= s;
  matmul_backward_weight(w.scratch_b.data(), dy, u, rows, r, out);
  add_into(active_->grad_b[slot].data(), w.scratch_b.data(), out * r);
}

}  // namespace pillow
