// LlamaModel's sequences for continuous batching: each sequence owns its KV cache, and one
// forward_sequences step advances any mix of them (prefill chunks and one-token decodes), each
// row through its own adapter (the multi-adapter product, Punica-style) or the base model.
//
// Batch invariance: every linear product goes through lora_matmul_multi_forward, whose GEMM sums
// each output element in an order fixed by K alone (K blocks, then the micro-kernel's FMA chain
// per row), so a row's result does not depend on how many rows share the product; attention runs
// per sequence over that sequence's own cache. The decode GEMV kernels (used by forward() for up to
// kLoraGemvMaxTokens rows) sum in another order and are never used here.
#include <algorithm>
#include <cstring>

#include "model/llama_model_internal.h"
#include "ops/cpu/attention.h"
#include "ops/cpu/embedding.h"
#include "ops/cpu/lora_matmul.h"
#include "ops/cpu/residual.h"
#include "ops/cpu/rmsnorm.h"
#include "ops/cpu/rope.h"
#include "ops/cpu/swiglu.h"
#include "runtime/errors.h"

namespace pillow {

int64_t LlamaModel::sequence_bytes(int64_t capacity) const {
  const LlamaConfig& c = config_;
  return 2 * c.layers * capacity * c.kv_heads * c.head_dim * static_cast<int64_t>(sizeof(float));
}

int64_t LlamaModel::create_sequence(int64_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  const LlamaConfig& c = config_;
  if (capacity < 1 || capacity > c.max_positions) {
    throw_argument_error("createSequence: capacity " + std::to_string(capacity) + " must be in [1, " +
                         std::to_string(c.max_positions) + "] (max_position_embeddings)");
  }
  auto cache = std::make_unique<SequenceCache>();
  cache->capacity = capacity;
  const size_t floats = static_cast<size_t>(c.layers * capacity * c.kv_heads * c.head_dim);
  cache->k.assign(floats, 0.0f);
  cache->v.assign(floats, 0.0f);
  const int64_t id = next_sequence_++;
  sequences_.emplace(id, std::move(cache));
  return id;
}

void LlamaModel::release_sequence(int64_t sequence) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sequences_.erase(sequence) == 0) {
    throw_argument_error("releaseSequence: " + std::to_string(sequence) + " is not a live sequence");
  }
}

int64_t LlamaModel::sequence_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(sequences_.size());
}

std::vector<float> LlamaModel::forward_sequences(const int32_t* tokens, int64_t token_count,
                                                 const std::vector<SequenceStep>& steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (device_) throw_cpu_only("forwardSequences (continuous batching)");
  check_ready();
  const LlamaConfig& c = config_;
  const int64_t S = static_cast<int64_t>(steps.size());
  if (S == 0) throw_shape_error("forwardSequences: steps is empty");
  // Every argument is checked before any work, so a bad step changes no cache.
  std::vector<SequenceCache*> caches(static_cast<size_t>(S));
  std::vector<int64_t> row_begin(static_cast<size_t>(S + 1), 0);
  std::vector<Adapter*> adapters;
  std::vector<int32_t> step_adapter(static_cast<size_t>(S), -1);
  int64_t positions_needed = 0;
  for (int64_t i = 0; i < S; ++i) {
    const SequenceStep& step = steps[static_cast<size_t>(i)];
    const std::string where = "forwardSequences: steps[" + std::to_string(i) + "]";
    auto found = sequences_.find(step.sequence);
    if (found == sequences_.end()) {
      throw_argument_error(where + ".sequence = " + std::to_string(step.sequence) + " is not a live sequence");
    }
    for (int64_t j = 0; j < i; ++j) {
      if (steps[static_cast<size_t>(j)].sequence == step.sequence) {
        throw_argument_error(where + ".sequence = " + std::to_string(step.sequence) + " also appears in steps[" +
                             std::to_string(j) + "]");
      }
    }
    SequenceCache& cache = *found->second;
    if (step.count < 1) throw_shape_error(where + ".count must be >= 1");
    if (step.start != cache.length) {
      throw_argument_error(where + ".start = " + std::to_string(step.start) + " must equal the sequence's cached length " +
                           std::to_string(cache.length));
    }
    if (step.start + step.count > cache.capacity) {
      throw_argument_error(where + ": positions up to " + std::to_string(step.start + step.count) +
                           " exceed the sequence's capacity " + std::to_string(cache.capacity));
    }
    if (!step.adapter.empty()) {
      Adapter* a = &adapter(step.adapter);
      auto at = std::find(adapters.begin(), adapters.end(), a);
      step_adapter[static_cast<size_t>(i)] = static_cast<int32_t>(at - adapters.begin());
      if (at == adapters.end()) adapters.push_back(a);
    }
    caches[static_cast<size_t>(i)] = &cache;
    row_begin[static_cast<size_t>(i + 1)] = row_begin[static_cast<size_t>(i)] + step.count;
    positions_needed = std::max(positions_needed, step.start + step.count);
  }
  if (row_begin.back() != token_count) {
    throw_shape_error("forwardSequences: the steps count " + std::to_string(row_begin.back()) + " tokens, " +
                      std::to_string(token_count) + " were given");
  }
  for (int64_t n = 0; n < token_count; ++n) {
    if (tokens[n] < 0 || tokens[n] >= c.vocab_size) {
      throw_argument_error("forwardSequences: tokens[" + std::to_string(n) + "] = " + std::to_string(tokens[n]) +
                           " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
  }

  const int64_t N = token_count, H = c.hidden_size, I = c.intermediate_size, D = c.head_dim, V = c.vocab_size;
  const int64_t QD = c.heads * D, KVD = c.kv_heads * D;
  Workspace& w = *work_;
  ensure_rope(positions_needed);
  // Every product here is a GEMM over W's packed panels: packed once, not again every step (the
  // panels hold the same numbers, so the sums and the results are the same).
  prepare_packed_weights(false);
  w.positions.resize(static_cast<size_t>(N));
  std::vector<int32_t> row_adapter(static_cast<size_t>(N));
  for (int64_t i = 0; i < S; ++i) {
    for (int64_t r = row_begin[i]; r < row_begin[i + 1]; ++r) {
      w.positions[r] = static_cast<int32_t>(steps[static_cast<size_t>(i)].start + (r - row_begin[i]));
      row_adapter[r] = step_adapter[static_cast<size_t>(i)];
    }
  }
  // One row per token, each its own "sequence" of length 1 as far as the buffers go.
  size_step_activations(
      w, c, 1, N, false, [](std::vector<float>& buffer, int64_t count) { ensure(buffer, count); }, ensure_layers);

  // y = module(x) for every row, each through its row's adapter where that adapter targets the slot.
  std::vector<const float*> a_factors, b_factors;
  std::vector<int64_t> ranks;
  std::vector<float> scales;
  std::vector<int32_t> index(static_cast<size_t>(N)), compact(adapters.size());
  auto linear = [&](float* y, const float* x, int64_t layer, int module) {
    int64_t in, out;
    linear_dimensions(c, module, &in, &out);
    const size_t slot = static_cast<size_t>(layer * kLinearModuleCount + module);
    a_factors.clear();
    b_factors.clear();
    ranks.clear();
    scales.clear();
    for (size_t j = 0; j < adapters.size(); ++j) {
      compact[j] = -1;
      if (!adapters[j]->targets_slot(layer, module)) continue;
      compact[j] = static_cast<int32_t>(ranks.size());
      a_factors.push_back(adapters[j]->a[slot].data());
      b_factors.push_back(adapters[j]->b[slot].data());
      ranks.push_back(adapters[j]->rank);
      scales.push_back(adapters[j]->scale);
    }
    for (int64_t r = 0; r < N; ++r) index[r] = row_adapter[r] < 0 ? -1 : compact[static_cast<size_t>(row_adapter[r])];
    lora_matmul_multi_forward(y, x, parameter(linear_weight_name(layer, module)).view(), a_factors.data(),
                              b_factors.data(), ranks.data(), scales.data(), static_cast<int64_t>(ranks.size()),
                              index.data(), N, in, out);
  };

  float* x = w.x.data();
  float *normed = w.normed_now.data(), *rstd = w.rstd_now.data(), *q = w.q_now.data(), *k = w.k_now.data(),
        *v = w.v_now.data(), *attention = w.attention_now.data(), *gate = w.gate_now.data(), *up = w.up_now.data(),
        *activation = w.activation_now.data(), *projection = w.projection.data();
  embedding_rows(x, tokens, N);
  std::vector<AttentionDecodeRow> decode_rows;
  for (int64_t l = 0; l < c.layers; ++l) {
    rmsnorm_forward(normed, rstd, x, layer_parameter(l, "input_layernorm.weight").f32.data(), N, H, c.rms_eps);
    linear(q, normed, l, kQProj);
    linear(k, normed, l, kKProj);
    linear(v, normed, l, kVProj);
    finish_attention_inputs(q, k, v, l, N);
    // Decode rows (one token) share one parallel region; prefill chunks run attention per sequence.
    decode_rows.clear();
    for (int64_t i = 0; i < S; ++i) {
      SequenceCache& cache = *caches[static_cast<size_t>(i)];
      const SequenceStep& step = steps[static_cast<size_t>(i)];
      const int64_t layer_offset = l * cache.capacity * KVD;
      const int64_t rows = row_begin[i + 1] - row_begin[i];
      std::memcpy(cache.k.data() + layer_offset + step.start * KVD, k + row_begin[i] * KVD, sizeof(float) * rows * KVD);
      std::memcpy(cache.v.data() + layer_offset + step.start * KVD, v + row_begin[i] * KVD, sizeof(float) * rows * KVD);
      if (rows == 1) {
        decode_rows.push_back(AttentionDecodeRow{attention + row_begin[i] * QD, q + row_begin[i] * QD,
                                                 cache.k.data() + layer_offset, cache.v.data() + layer_offset,
                                                 step.start + 1});
        continue;
      }
      const AttentionShape shape{1, rows, step.start + rows, cache.capacity, c.heads, c.kv_heads, D};
      attention_forward(attention + row_begin[i] * QD, nullptr, q + row_begin[i] * QD, cache.k.data() + layer_offset,
                        cache.v.data() + layer_offset, shape);
    }
    if (!decode_rows.empty()) {
      attention_decode_rows(decode_rows.data(), static_cast<int64_t>(decode_rows.size()), c.heads, c.kv_heads, D);
    }
    linear(projection, attention, l, kOProj);
    residual_forward(x, x, projection, N * H);
    rmsnorm_forward(normed, rstd, x, layer_parameter(l, "post_attention_layernorm.weight").f32.data(), N, H,
                    c.rms_eps);
    linear(gate, normed, l, kGateProj);
    linear(up, normed, l, kUpProj);
    swiglu_forward(activation, gate, up, N * I);
    linear(projection, activation, l, kDownProj);
    residual_forward(x, x, projection, N * H);
  }
  // Only each step's last row needs the final norm and the output layer.
  std::vector<float> last(static_cast<size_t>(S * H)), last_normed(static_cast<size_t>(S * H)),
      last_rstd(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) std::memcpy(last.data() + i * H, x + (row_begin[i + 1] - 1) * H, sizeof(float) * H);
  rmsnorm_forward(last_normed.data(), last_rstd.data(), last.data(), parameter("model.norm.weight").f32.data(), S, H,
                  c.rms_eps);
  std::vector<float> logits(static_cast<size_t>(S * V));
  const std::vector<int32_t> base_rows(static_cast<size_t>(S), -1);
  lora_matmul_multi_forward(logits.data(), last_normed.data(), lm_head_parameter().view(), nullptr, nullptr, nullptr,
                            nullptr, 0, base_rows.data(), S, H, V);
  for (int64_t i = 0; i < S; ++i) caches[static_cast<size_t>(i)]->length += steps[static_cast<size_t>(i)].count;
  return logits;
}

}  // namespace pillow
