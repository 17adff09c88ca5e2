#include "ops/cpu/lora_matmul.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/common/argument_checks.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_bf16.h"
#include "ops/cpu/kernel_table.h"
#include "ops/cpu/quantized_matvec.h"
#include "runtime/thread_pool.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

void check_scale(const char* op, float scale) { check_lora_scale(op, scale); }

void check_rank(const char* op, int64_t rank, int64_t in_features, int64_t out_features) {
  check_lora_rank(op, rank, in_features, out_features);
}

// uᵀ[r, T] = scale · A[r, in] · x[T, in]ᵀ. Computed transposed on purpose: the GEMM then packs
// the r rows of A as its small operand and streams x through the fast B packing, instead of
// packing all of x a second time; consumers read u through strides.
void lora_down_transposed(float* u_transposed, const float* x, const float* a, int64_t tokens, int64_t in_features,
                          int64_t rank, float scale) {
  const GemmSegment segment{f32_operand(a, in_features, 1), f32_operand(x, in_features, 1), in_features};
  gemm(u_transposed, tokens, rank, tokens, &segment, 1, false);
  if (scale != 1.0f) {
    for (int64_t i = 0; i < tokens * rank; ++i) u_transposed[i] *= scale;
  }
}

// Decode (a few tokens): every W is streamed once by the GEMV kernel, its rows split into blocks
// that the threads take from one shared counter (over all the outputs at once, so several small
// matrices make one parallel region); the rank-r term is a second, tiny GEMV over the same rows of
// B while they are in cache.
constexpr int64_t kGemvBlockRows = 64;
// The region's last rows go in blocks of kGemvTailRows: a thread that finds the counter exhausted
// waits at the join for the others' current blocks, so the last blocks are kept short (a 64-row
// f32 block of a 768-wide matrix streams for ~10 us, and a decode step has ~60 such joins).
constexpr int64_t kGemvTailRows = 16;
constexpr int64_t kGemvTailBlocks = 8;

struct GemvBlock {
  int64_t output;
  int64_t o_begin, o_end;
};

void lora_matmul_forward_gemv(const LoraMatmulOutput* outputs, int64_t output_count, const float* x, int64_t tokens,
                              int64_t in_features) {
  const KernelTable& kernel = kernels();
  // u_i = scale_i · x·A_iᵀ [T, r_i]
  std::vector<std::vector<float>> u(static_cast<size_t>(output_count));
  for (int64_t i = 0; i < output_count; ++i) {
    const LoraMatmulOutput& output = outputs[i];
    if (output.rank > 0) {
      u[i].resize(static_cast<size_t>(tokens * output.rank));
      kernel.gemv(u[i].data(), output.rank, x, in_features, output.a, 0, in_features, 0, output.rank,
                  static_cast<int>(tokens), false);
      for (float& value : u[i]) value *= output.scale;
    }
  }
  // Blocks in order: every output's rows in kGemvBlockRows, the last output's final rows shorter.
  std::vector<GemvBlock> blocks;
  for (int64_t i = 0; i < output_count; ++i) {
    const int64_t rows = outputs[i].out_features;
    const int64_t tail_begin = i + 1 == output_count ? std::max<int64_t>(0, rows - kGemvTailRows * kGemvTailBlocks) : rows;
    for (int64_t o = 0; o < tail_begin; o += kGemvBlockRows) blocks.push_back({i, o, std::min(tail_begin, o + kGemvBlockRows)});
    for (int64_t o = tail_begin; o < rows; o += kGemvTailRows) blocks.push_back({i, o, std::min(rows, o + kGemvTailRows)});
  }
  const int64_t count = static_cast<int64_t>(blocks.size());
  // x in Q8_0 for the Q8_0 and Q4_0 weights and in Q8_K for the Q4_K ones, each rounded once for
  // all their rows (their integer dot products).
  std::vector<int8_t> x_codes, x_codes_q8_k;
  std::vector<float> x_scales, x_scales_q8_k;
  for (int64_t i = 0; i < output_count; ++i) {
    const InputRounding rounding = input_rounding(outputs[i].w.type);
    if (rounding == InputRounding::Q8_K && x_codes_q8_k.empty()) {
      x_codes_q8_k.resize(static_cast<size_t>(tokens * in_features));
      x_scales_q8_k.resize(static_cast<size_t>(tokens * in_features / kQ4_KBlockValues));
      q8_k_quantize_rows(x_codes_q8_k.data(), x_scales_q8_k.data(), x, tokens, in_features);
    } else if (rounding == InputRounding::Q8_0 && x_codes.empty()) {
      x_codes.resize(static_cast<size_t>(tokens * in_features));
      x_scales.resize(static_cast<size_t>(tokens * in_features / kQ8_0BlockValues));
      q8_0_quantize_rows(x_codes.data(), x_scales.data(), x, tokens, in_features);
    }
  }
  // Threads only when a full block holds enough weights to pay for a hand-off.
  const int64_t minimum_blocks = kGemvBlockRows * in_features >= (int64_t{1} << 14) ? 2 : count + 1;
  parallel_for_dynamic(count, 1, minimum_blocks, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const GemvBlock& block = blocks[index];
      const LoraMatmulOutput& output = outputs[block.output];
      if (output.w.type == WeightType::Q8_0) {
        // The weight's blocks as stored: 34 bytes per 32 weights streamed instead of 128.
        q8_0_gemv_rows(output.y, output.out_features, x_codes.data(), x_scales.data(),
                       static_cast<const uint8_t*>(output.w.data), in_features, block.o_begin, block.o_end,
                       static_cast<int>(tokens), false);
      } else if (output.w.type == WeightType::Q4_0) {
        // 18 bytes per 32 weights.
        q4_0_gemv_rows(output.y, output.out_features, x_codes.data(), x_scales.data(),
                       static_cast<const uint8_t*>(output.w.data), in_features, block.o_begin, block.o_end,
                       static_cast<int>(tokens), false);
      } else if (output.w.type == WeightType::Q4_K) {
        // 144 bytes per 256 weights.
        q4_k_gemv_rows(output.y, output.out_features, x_codes_q8_k.data(), x_scales_q8_k.data(),
                       static_cast<const uint8_t*>(output.w.data), in_features, block.o_begin, block.o_end,
                       static_cast<int>(tokens), false);
      } else {
        const int type = output.w.type == WeightType::BF16 ? 1 : 0;
        kernel.gemv(output.y, output.out_features, x, in_features, output.w.data, type, in_features, block.o_begin,
                    block.o_end, static_cast<int>(tokens), false);
      }
      if (output.rank > 0) {
        kernel.gemv(output.y, output.out_features, u[block.output].data(), output.rank, output.b, 0, output.rank,
                    block.o_begin, block.o_end, static_cast<int>(tokens), true);
      }
    }
  });
}

// Arguments of one product (lora_matmul_forward's checks); returns the output with rank 0 when
// there is no LoRA term.
LoraMatmulOutput checked_output(const char* op, LoraMatmulOutput output, const float* x, int64_t tokens,
                                int64_t in_features) {
  check_matmul_dimensions(op, tokens, in_features, output.out_features);
  check_weight_view(op, output.w, in_features);
  check_rank(op, output.rank, in_features, output.out_features);
  check_scale(op, output.scale);
  if (output.y == nullptr || x == nullptr) throw_argument_error(std::string(op) + ": y and x must not be null");
  const bool with_lora = output.a != nullptr && output.rank > 0;
  if (with_lora && output.b == nullptr) throw_argument_error(std::string(op) + ": b is null while a is given");
  if (!with_lora) {
    output.a = nullptr;
    output.rank = 0;
  }
  return output;
}

// The GEMM form of a bf16 W that has no f32 panels, on a CPU with BF16 dot products: the base
// product in bf16 pairs (gemm_bf16_dot: x rounded to bf16, twice an f32 FMA's multiply-adds per
// instruction), then the rank-r term in f32 as a second, K = r, pass over y: y += uᵀᵀ·Bᵀ with
// uᵀ = s·A·xᵀ. A W with f32 panels (a model training adapters on it) keeps the f32 GEMM, whose
// results do not depend on the CPU's extensions.
// y += s·(x·Aᵀ)·Bᵀ as its own pass (after a base product that did not carry the rank-r columns).
void add_lora_term(const LoraMatmulOutput& output, const float* x, int64_t tokens, int64_t in_features) {
  if (output.rank == 0) return;
  std::vector<float> u_transposed(static_cast<size_t>(output.rank * tokens));
  lora_down_transposed(u_transposed.data(), x, output.a, tokens, in_features, output.rank, output.scale);
  GemmOperand b = f32_operand(output.b, output.rank, 1);
  const GemmSegment segment{f32_operand(u_transposed.data(), 1, tokens), b, output.rank};
  gemm(output.y, output.out_features, tokens, output.out_features, &segment, 1, true);
}

void lora_matmul_forward_bf16_dot(const LoraMatmulOutput& output, const float* x, int64_t tokens, int64_t in_features) {
  gemm_bf16_dot(output.y, output.out_features, tokens, output.out_features, x, in_features,
                static_cast<const uint16_t*>(output.w.data), in_features, in_features, false);
  add_lora_term(output, x, tokens, in_features);
}

// The GEMM form of a Q8_0, Q4_0 or Q4_K W: the base product sees x rounded to Q8_0, or Q8_K for
// Q4_K (`rounded`, RoundedInput's: as the decode GEMV's integer dot products do, and llama.cpp's
// CPU backend), times W dequantized while packing; the rank-r term reads x as it is.
void lora_matmul_forward_blocks(const LoraMatmulOutput& output, const float* x, const float* rounded, int64_t tokens,
                              int64_t in_features) {
  const GemmSegment base{f32_operand(rounded, in_features, 1),
                         GemmOperand{output.w.data, output.w.type, in_features, 1, output.w.packed_rows,
                                     output.w.packed_rows_stride},
                         in_features};
  gemm(output.y, output.out_features, tokens, output.out_features, &base, 1, false);
  add_lora_term(output, x, tokens, in_features);
}

// x rounded to the activation blocks of the block weights among the outputs: to Q8_0
// (q8_0_round_rows) when one has a Q8_0 or Q4_0 W, to Q8_K (q8_k_round_rows) when one has a Q4_K W;
// each computed once for all the products that share x, and empty when none needs it.
struct RoundedInput {
  std::vector<float> q8_0;
  std::vector<float> q8_k;
  // x as a block weight of `type` multiplies it.
  const float* for_weight(WeightType type) const {
    return input_rounding(type) == InputRounding::Q8_K ? q8_k.data() : q8_0.data();
  }
};

RoundedInput rounded_for_blocks(const LoraMatmulOutput* outputs, int64_t output_count, const float* x, int64_t tokens,
                                int64_t in_features) {
  RoundedInput rounded;
  for (int64_t i = 0; i < output_count; ++i) {
    const InputRounding rounding = input_rounding(outputs[i].w.type);
    if (rounding == InputRounding::Q8_K && rounded.q8_k.empty()) {
      rounded.q8_k.resize(static_cast<size_t>(tokens * in_features));
      q8_k_round_rows(rounded.q8_k.data(), x, tokens, in_features);
    } else if (rounding == InputRounding::Q8_0 && rounded.q8_0.empty()) {
      rounded.q8_0.resize(static_cast<size_t>(tokens * in_features));
      q8_0_round_rows(rounded.q8_0.data(), x, tokens, in_features);
    }
  }
  return rounded;
}

// The GEMM form (T > kLoraGemvMaxTokens) of one checked product; `rounded` is rounded_for_blocks's x.
void lora_matmul_forward_gemm(const LoraMatmulOutput& output, const float* x, const RoundedInput& rounded,
                              int64_t tokens, int64_t in_features) {
  if (output.w.type == WeightType::BF16 && output.w.packed_rows == nullptr && gemm_bf16_dot_available()) {
    lora_matmul_forward_bf16_dot(output, x, tokens, in_features);
    return;
  }
  if (is_block_quantized(output.w.type)) {
    lora_matmul_forward_blocks(output, x, rounded.for_weight(output.w.type), tokens, in_features);
    return;
  }
  GemmSegment segments[2];
  segments[0] =
      GemmSegment{f32_operand(x, in_features, 1),
                  GemmOperand{output.w.data, output.w.type, in_features, 1, output.w.packed_rows, output.w.packed_rows_stride},
                  in_features};
  if (output.rank == 0) {
    gemm(output.y, output.out_features, tokens, output.out_features, segments, 1, false);
    return;
  }
  // y = [x | s·xAᵀ] · [W | B]ᵀ: the rank-r columns are r more steps of the base GEMM's K loop, and
  // u = s·xAᵀ itself is derived inside the GEMM from x's packed rows (no separate pass over x).
  const GemmDerivedOperand down{f32_operand(output.a, in_features, 1), output.scale, 0};
  GemmOperand b = f32_operand(output.b, output.rank, 1);
  b.prepacked = output.w.packed_rows_lora;
  b.panel_stride = output.w.packed_rows_stride;
  segments[1] = GemmSegment{GemmOperand{nullptr, WeightType::F32, 0, 0}, b, output.rank, &down};
  gemm(output.y, output.out_features, tokens, output.out_features, segments, 2, false);
}

}  // namespace

void lora_matmul_forward(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                         int64_t in_features, int64_t out_features, int64_t rank, float scale) {
  const LoraMatmulOutput output =
      checked_output("lora_matmul_forward", LoraMatmulOutput{y, w, a, b, out_features, rank, scale}, x, tokens, in_features);
  if (tokens <= kLoraGemvMaxTokens) {
    lora_matmul_forward_gemv(&output, 1, x, tokens, in_features);
  } else {
    lora_matmul_forward_gemm(output, x, rounded_for_blocks(&output, 1, x, tokens, in_features), tokens, in_features);
  }
}

void lora_matmul_forward_shared_input(const LoraMatmulOutput* outputs, int64_t output_count, const float* x,
                                      int64_t tokens, int64_t in_features) {
  const char* op = "lora_matmul_forward_shared_input";
  if (outputs == nullptr || output_count < 1) {
    throw_argument_error(std::string(op) + ": at least one output is needed");
  }
  std::vector<LoraMatmulOutput> checked(static_cast<size_t>(output_count));
  for (int64_t i = 0; i < output_count; ++i) checked[i] = checked_output(op, outputs[i], x, tokens, in_features);
  if (tokens <= kLoraGemvMaxTokens) {
    lora_matmul_forward_gemv(checked.data(), output_count, x, tokens, in_features);
  } else {
    const RoundedInput rounded = rounded_for_blocks(checked.data(), output_count, x, tokens, in_features);
    for (const LoraMatmulOutput& output : checked) lora_matmul_forward_gemm(output, x, rounded, tokens, in_features);
  }
}

void lora_matmul_backward(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                          const float* a, const float* b, int64_t tokens, int64_t in_features, int64_t out_features,
                          int64_t rank, float scale) {
  const char* op = "lora_matmul_backward";
  check_matmul_dimensions(op, tokens, in_features, out_features);
  check_rank(op, rank, in_features, out_features);
  check_scale(op, scale);
  if (dy == nullptr) throw_argument_error(std::string(op) + ": dy must not be null");
  if (dx != nullptr) check_weight_view(op, w, in_features);
  const bool with_lora = a != nullptr && rank > 0;
  if (with_lora && b == nullptr) throw_argument_error(std::string(op) + ": b is null while a is given");
  if (with_lora && (da != nullptr || db != nullptr) && x == nullptr) {
    throw_argument_error(std::string(op) + ": x is needed for da/db");
  }
  if (!with_lora && (da != nullptr || db != nullptr) && rank > 0) {
    throw_argument_error(std::string(op) + ": da/db requested without an adapter (a is null)");
  }

  if (!with_lora) {
    if (dx != nullptr) matmul_backward_input(dx, dy, w, tokens, in_features, out_features);
    return;
  }
  // gᵀ[r, T] = scale · Bᵀ · dyᵀ, i.e. g = scale · dy · B kept transposed (see lora_down_transposed).
  std::vector<float> g_transposed(static_cast<size_t>(tokens * rank));
  {
    const GemmSegment segment{f32_operand(b, 1, rank), f32_operand(dy, out_features, 1), out_features};
    gemm(g_transposed.data(), tokens, rank, tokens, &segment, 1, false);
    for (float& value : g_transposed) value *= scale;
  }
  if (dx != nullptr) {
    // dx = dy·W + g·A as one GEMM over K = out + r.
    GemmOperand a_operand = f32_operand(a, 1, in_features);
    a_operand.prepacked = w.packed_columns_lora;
    a_operand.panel_stride = w.packed_columns_stride;
    const GemmSegment segments[2] = {
        GemmSegment{f32_operand(dy, out_features, 1),
                    GemmOperand{w.data, w.type, 1, in_features, w.packed_columns, w.packed_columns_stride}, out_features},
        GemmSegment{f32_operand(g_transposed.data(), 1, tokens), a_operand, rank}};
    gemm(dx, in_features, tokens, in_features, segments, 2, false);
  }
  if (da != nullptr) {
    // da(j, i) = Σ_t g(t, j)·x(t, i)
    const GemmSegment segment{f32_operand(g_transposed.data(), tokens, 1), f32_operand(x, 1, in_features), tokens};
    gemm(da, in_features, rank, in_features, &segment, 1, false);
  }
  if (db != nullptr) {
    // db(o, j) = Σ_t dy(t, o)·u(t, j) with u = scale · x·Aᵀ
    std::vector<float> u_transposed(static_cast<size_t>(tokens * rank));
    lora_down_transposed(u_transposed.data(), x, a, tokens, in_features, rank, scale);
    const GemmSegment segment{f32_operand(dy, 1, out_features), f32_operand(u_transposed.data(), tokens, 1), tokens};
    gemm(db, rank, out_features, rank, &segment, 1, false);
  }
}

void lora_matmul_multi_forward(float* y, const float* x, WeightView w, const float* const* a, const float* const* b,
                               const int64_t* ranks, const float* scales, int64_t adapter_count,
                               const int32_t* adapter_index, int64_t tokens, int64_t in_features,
                               int64_t out_features) {
  const char* op = "lora_matmul_multi_forward";
  check_matmul_dimensions(op, tokens, in_features, out_features);
  check_weight_view(op, w, in_features);
  if (y == nullptr || x == nullptr || adapter_index == nullptr) {
    throw_argument_error(std::string(op) + ": y, x and adapter_index must not be null");
  }
  if (adapter_count < 0) throw_argument_error(std::string(op) + ": adapter count must be >= 0");
  for (int64_t j = 0; j < adapter_count; ++j) {
    const std::string which = "adapters[" + std::to_string(j) + "]";
    if (ranks[j] < 1) throw_shape_error(std::string(op) + ": " + which + ".rank must be >= 1");
    check_rank(op, ranks[j], in_features, out_features);
    if (a[j] == nullptr || b[j] == nullptr) throw_argument_error(std::string(op) + ": " + which + " a/b is null");
    if (!std::isfinite(scales[j])) throw_argument_error(std::string(op) + ": " + which + ".scale must be finite");
  }
  for (int64_t t = 0; t < tokens; ++t) {
    if (adapter_index[t] < -1 || adapter_index[t] >= adapter_count) {
      throw_argument_error(std::string(op) + ": adapterIndex[" + std::to_string(t) + "] = " +
                           std::to_string(adapter_index[t]) + " is not -1 or an adapter index below " +
                           std::to_string(adapter_count));
    }
  }

  // No adapter: one GEMM straight from x into y (grouping would only copy x and y around; the
  // product is the same, its sums in the same order).
  // A Q8_0, Q4_0 or Q4_K W multiplies x rounded to Q8_0 or Q8_K (lora_matmul_forward_blocks); the
  // adapters read x as it is.
  const LoraMatmulOutput base_output{y, w, nullptr, nullptr, out_features, 0, 0.0f};
  const RoundedInput rounded_input = rounded_for_blocks(&base_output, 1, x, tokens, in_features);
  const float* rounded = is_block_quantized(w.type) ? rounded_input.for_weight(w.type) : nullptr;
  if (adapter_count == 0) {
    const GemmSegment base{f32_operand(rounded == nullptr ? x : rounded, in_features, 1), GemmOperand{w.data, w.type, in_features, 1, w.packed_rows, w.packed_rows_stride},
                           in_features};
    gemm(y, out_features, tokens, out_features, &base, 1, false);
    return;
  }
  // Rows grouped by adapter (group 0: base only), so each group is a contiguous GEMM whose K
  // loop carries its own adapter's rank-r columns; all groups then run as one parallel job.
  const int64_t groups = adapter_count + 1;
  std::vector<int64_t> group_start(static_cast<size_t>(groups + 1), 0);
  for (int64_t t = 0; t < tokens; ++t) group_start[adapter_index[t] + 2] += 1;
  for (int64_t g = 0; g < groups; ++g) group_start[g + 1] += group_start[g];
  std::vector<int64_t> order(static_cast<size_t>(tokens));  // sorted position -> token
  {
    std::vector<int64_t> fill(group_start.begin(), group_start.end() - 1);
    for (int64_t t = 0; t < tokens; ++t) order[fill[adapter_index[t] + 1]++] = t;
  }
  std::vector<float> x_sorted(static_cast<size_t>(tokens * in_features));
  for (int64_t i = 0; i < tokens; ++i) {
    std::copy(x + order[i] * in_features, x + (order[i] + 1) * in_features, x_sorted.begin() + i * in_features);
  }
  // u_j = s_j · x_j · A_jᵀ for every group at once.
  std::vector<int64_t> u_offset(static_cast<size_t>(groups + 1), 0);
  for (int64_t g = 1; g < groups; ++g) {
    u_offset[g + 1] = u_offset[g] + (group_start[g + 1] - group_start[g]) * ranks[g - 1];
  }
  std::vector<float> u(static_cast<size_t>(u_offset[groups]));
  std::vector<GemmSegment> down_segments(static_cast<size_t>(groups));
  std::vector<GemmProblem> down_problems;
  for (int64_t g = 1; g < groups; ++g) {
    const int64_t rows = group_start[g + 1] - group_start[g];
    if (rows == 0) continue;
    down_segments[g] = GemmSegment{f32_operand(x_sorted.data() + group_start[g] * in_features, in_features, 1),
                                   f32_operand(a[g - 1], in_features, 1), in_features};
    down_problems.push_back(GemmProblem{u.data() + u_offset[g], ranks[g - 1], rows, ranks[g - 1], &down_segments[g], 1});
  }
  gemm_batched(down_problems.data(), static_cast<int64_t>(down_problems.size()), false);
  for (int64_t g = 1; g < groups; ++g) {
    for (int64_t i = u_offset[g]; i < u_offset[g + 1]; ++i) u[i] *= scales[g - 1];
  }
  // y_sorted = x_sorted·Wᵀ over all rows (W packed once), then each group adds u_j·B_jᵀ.
  std::vector<float> y_sorted(static_cast<size_t>(tokens * out_features));
  if (rounded != nullptr) {
    for (int64_t i = 0; i < tokens; ++i) {
      std::copy(rounded + order[i] * in_features, rounded + (order[i] + 1) * in_features,
                x_sorted.begin() + i * in_features);
    }
  }
  const GemmSegment base{f32_operand(x_sorted.data(), in_features, 1), GemmOperand{w.data, w.type, in_features, 1, w.packed_rows, w.packed_rows_stride},
                         in_features};
  gemm(y_sorted.data(), out_features, tokens, out_features, &base, 1, false);
  std::vector<GemmSegment> up_segments(static_cast<size_t>(groups));
  std::vector<GemmProblem> up_problems;
  for (int64_t g = 1; g < groups; ++g) {
    const int64_t rows = group_start[g + 1] - group_start[g];
    if (rows == 0) continue;
    up_segments[g] = GemmSegment{f32_operand(u.data() + u_offset[g], ranks[g - 1], 1),
                                 f32_operand(b[g - 1], ranks[g - 1], 1), ranks[g - 1]};
    up_problems.push_back(GemmProblem{y_sorted.data() + group_start[g] * out_features, out_features, rows,
                                      out_features, &up_segments[g], 1});
  }
  gemm_batched(up_problems.data(), static_cast<int64_t>(up_problems.size()), true);
  for (int64_t i = 0; i < tokens; ++i) {
    std::copy(y_sorted.begin() + i * out_features, y_sorted.begin() + (i + 1) * out_features, y + order[i] * out_features);
  }
}

}  // namespace pillow
