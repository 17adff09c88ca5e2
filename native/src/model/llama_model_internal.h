// The private parts of LlamaModel shared by llama_model.cc (storage, adapters, optimizer) and
// llama_step.cc (forward and backward).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "ops/common/bf16.h"
#include "ops/cpu/adamw.h"
#include "runtime/huge_page_allocator.h"
#include "runtime/thread_pool.h"

namespace pillow {

struct LlamaModel::Parameter {
  std::string name;
  std::vector<int64_t> shape;
  int64_t size = 0;
  bool is_linear = false;  // may be stored in bf16, Q8_0, Q4_0 or Q4_K
  bool decays = false;     // weight decay applies in full training (not to norms and biases)
  bool present = false;
  uint64_t version = 0;  // LlamaModel::next_version() at the last set_tensor (a cuda model's upload check)
  WeightType type = WeightType::F32;
  // Weights on huge pages where the system allows: decode streams all of them once per token.
  std::vector<float, HugePageAllocator<float>> f32;
  std::vector<uint16_t, HugePageAllocator<uint16_t>> bf16;
  // Q8_0, Q4_0 or Q4_K blocks (type says which; WeightView), linear weights only.
  std::vector<uint8_t, HugePageAllocator<uint8_t>> blocks;
  std::vector<float> grad, m, v;  // full training, allocated on first use
  // The weight in the GEMM's packed B layouts (gemm_prepack) for x·Wᵀ and for dy·W, made by
  // prepare_packed_weights for LoRA training while the weight is frozen (packed_rows alone for
  // forward_sequences); empty otherwise.
  // Each panel has room for packed_rank more k steps after W's: the active adapter's LoRA factor,
  // written there before each product (lora_view in llama_step.cc).
  std::vector<float, HugePageAllocator<float>> packed_rows, packed_columns;
  int64_t packed_rank = 0;
  int64_t packed_panel_width = 0;  // NR of the GEMM that packed them

  WeightView view() const {
    WeightView view = type == WeightType::F32    ? WeightView{f32.data(), WeightType::F32}
                      : type == WeightType::BF16 ? WeightView{bf16.data(), WeightType::BF16}
                                                 : WeightView{blocks.data(), type};
    if (!packed_rows.empty()) {
      view.packed_rows = packed_rows.data();
      view.packed_rows_stride = (shape[1] + packed_rank) * packed_panel_width;
      view.packed_columns = packed_columns.data();
      view.packed_columns_stride = (shape[0] + packed_rank) * packed_panel_width;
    }
    return view;
  }
  void drop_packed() {
    decltype(packed_rows)().swap(packed_rows);
    decltype(packed_columns)().swap(packed_columns);
    packed_rank = 0;
  }
};

struct LlamaModel::Adapter {
  std::string name;
  int64_t rank = 0;
  float scale = 1.0f;
  std::array<bool, kLinearModuleCount> targets{};
  std::vector<bool> layers;  // PEFT layers_to_transform: the layers adapted (all by default)
  float dropout = 0.0f;       // PEFT lora_dropout, applied in Lora-mode loss_and_grad only
  uint64_t dropout_seed = 0;
  // next_version() at the last host change of A, B, gradients or moments (a cuda model's upload check).
  uint64_t version = 0;

  bool targets_slot(int64_t layer, int module) const { return targets[module] && layers[static_cast<size_t>(layer)]; }
  // [layer · kLinearModuleCount + module]; A is [rank, in], B is [out, rank] (PEFT layouts)
  std::vector<std::vector<float>> a, b, grad_a, grad_b, m_a, v_a, m_b, v_b;
};

// The KV cache of one sequence (forward_sequences): per layer [capacity, kv_heads·head_dim] keys and
// values, layer after layer in one allocation each.
struct LlamaModel::SequenceCache {
  int64_t capacity = 0;
  int64_t length = 0;  // positions written so far
  std::vector<float> k, v;
};

// Activations kept by a training forward for the backward, and scratch buffers; resized per call.
struct LlamaModel::Workspace {
  int64_t rows = 0;
  std::vector<int32_t> positions, targets;
  std::vector<float> x;  // the residual stream [N, H]
  // per layer
  std::vector<std::vector<float>> layer_input, normed1, rstd1, q, k, v, attention, lse, middle, normed2, rstd2, gate,
      up, activation;
  std::vector<float> final_input, final_normed, final_rstd, logits;
  // scratch
  std::vector<float> q_now, k_now, v_now, attention_now, lse_now, gate_now, up_now, activation_now, normed_now,
      rstd_now, projection;
  // backward scratch
  std::vector<float> scratch_a, scratch_b, dx, dh, dh_part, dact, dgate, dup, datt, dq, dk, dv;
  // LoRA dropout scratch: the dropped input [N, in], rank-r rows [N, r] and a wide product [N, max(in, out)]
  std::vector<float> dropped, low_a, low_b, wide;

  // Grows the one-layer scratch an inference forward of N rows reuses layer after layer.
};

// Whether LoRA dropout keeps element (row, feature) of module `module` in layer `layer` at step
// `step`: splitmix64 over a counter unique to the element, its top 53 bits as u in [0, 1), kept
// iff u >= probability. Pure and portable, so a reference (the TypeScript test) can rebuild masks.
inline bool lora_dropout_keep(uint64_t seed, uint64_t step, int64_t layers, int64_t layer, int module, int64_t rows,
                              int64_t row, int64_t in, int64_t feature, double probability) {
  const uint64_t counter =
      ((((step * static_cast<uint64_t>(layers) + static_cast<uint64_t>(layer)) * kLinearModuleCount +
         static_cast<uint64_t>(module)) *
            static_cast<uint64_t>(rows) +
        static_cast<uint64_t>(row)) *
           static_cast<uint64_t>(in) +
       static_cast<uint64_t>(feature));
  uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 >= probability;
}

// Grows (never shrinks) a buffer to at least n floats.
inline void ensure(std::vector<float>& buffer, int64_t n) {
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
}

// One buffer per layer, each of at least n floats.
inline void ensure_layers(std::vector<std::vector<float>>& buffers, int64_t layers, int64_t n) {
  if (static_cast<int64_t>(buffers.size()) < layers) buffers.resize(static_cast<size_t>(layers));
  for (int64_t l = 0; l < layers; ++l) ensure(buffers[static_cast<size_t>(l)], n);
}

// pooled[B, H] = the mean over each sequence's T rows of hidden[B·T, H] (embed()).
inline std::vector<float> mean_over_positions(const float* hidden, int64_t batch, int64_t seq_len, int64_t H) {
  std::vector<float> pooled(static_cast<size_t>(batch * H), 0.0f);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < seq_len; ++t) {
      const float* row = hidden + (b * seq_len + t) * H;
      for (int64_t i = 0; i < H; ++i) pooled[b * H + i] += row[i];
    }
    for (int64_t i = 0; i < H; ++i) pooled[b * H + i] /= static_cast<float>(seq_len);
  }
  return pooled;
}

// The AdamW update's options for a step whose gradient norm (before clipping) is `norm`:
// torch.nn.utils.clip_grad_norm_ scales by max_norm / (norm + 1e-6) when that is below 1.
inline AdamWOptions adamw_options(const AdamWStepOptions& o, double norm) {
  AdamWOptions options;
  options.learning_rate = o.learning_rate;
  options.beta1 = o.beta1;
  options.beta2 = o.beta2;
  options.epsilon = o.epsilon;
  options.step = o.step;
  if (o.max_grad_norm > 0) {
    const double factor = o.max_grad_norm / (norm + 1e-6);
    if (factor < 1.0) options.gradient_scale = static_cast<float>(factor);
  }
  return options;
}

// The activations one forward step writes for N = batch · seq_len tokens: with `training`, every
// layer's (kept for the backward pass), else one layer's worth reused across layers. One list for
// the CPU workspace and the CUDA model's device buffers (the members share their names), so the
// two cannot drift apart; `grow(buffer, count)` and `grow_layers(buffers, layers, count)` size a
// buffer of that kind to at least `count` floats.
template <typename Buffers, typename Grow, typename GrowLayers>
void size_step_activations(Buffers& b, const LlamaConfig& c, int64_t batch, int64_t seq_len, bool training, Grow&& grow,
                           GrowLayers&& grow_layers) {
  const int64_t N = batch * seq_len, H = c.hidden_size, I = c.intermediate_size;
  const int64_t QD = c.heads * c.head_dim, KVD = c.kv_heads * c.head_dim;
  grow(b.x, N * H);
  grow(b.projection, N * H);
  if (training) {
    for (auto* buffers : {&b.layer_input, &b.normed1, &b.middle, &b.normed2}) grow_layers(*buffers, c.layers, N * H);
    grow_layers(b.rstd1, c.layers, N);
    grow_layers(b.rstd2, c.layers, N);
    grow_layers(b.q, c.layers, N * QD);
    grow_layers(b.attention, c.layers, N * QD);
    grow_layers(b.k, c.layers, N * KVD);
    grow_layers(b.v, c.layers, N * KVD);
    grow_layers(b.lse, c.layers, batch * c.heads * seq_len);
    grow_layers(b.gate, c.layers, N * I);
    grow_layers(b.up, c.layers, N * I);
    grow_layers(b.activation, c.layers, N * I);
    grow(b.final_input, N * H);
  } else {
    grow(b.normed_now, N * H);
    grow(b.rstd_now, N);
    grow(b.q_now, N * QD);
    grow(b.attention_now, N * QD);
    grow(b.k_now, N * KVD);
    grow(b.v_now, N * KVD);
    grow(b.gate_now, N * I);
    grow(b.up_now, N * I);
    grow(b.activation_now, N * I);
  }
  grow(b.final_normed, N * H);
  grow(b.final_rstd, N);
}

// Input/output widths of a linear module.
inline void linear_dimensions(const LlamaConfig& c, int module, int64_t* in, int64_t* out) {
  const int64_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
  switch (module) {
    case kQProj: *in = c.hidden_size; *out = q; break;
    case kKProj: *in = c.hidden_size; *out = kv; break;
    case kVProj: *in = c.hidden_size; *out = kv; break;
    case kOProj: *in = q; *out = c.hidden_size; break;
    case kGateProj: *in = c.hidden_size; *out = c.intermediate_size; break;
    case kUpProj: *in = c.hidden_size; *out = c.intermediate_size; break;
    default: *in = c.intermediate_size; *out = c.hidden_size; break;
  }
}

inline std::string linear_weight_name(int64_t layer, int module) {
  const bool attention = module <= kOProj;
  return "model.layers." + std::to_string(layer) + (attention ? ".self_attn." : ".mlp.") + linear_module_name(module) +
         ".weight";
}

}  // namespace pillow
