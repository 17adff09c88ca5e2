// Argument checks shared by the CPU ops and their CUDA twins (host code only): every public op
// validates dimensions, pointers and values with these before any kernel runs.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "ops/common/weight_view.h"
#include "runtime/errors.h"

namespace pillow {

// E_SHAPE unless tokens, in_features and out_features are >= 1 and their products fit.
inline void check_matmul_shape(const char* op, int64_t tokens, int64_t in_features, int64_t out_features) {
  if (tokens < 1 || in_features < 1 || out_features < 1) {
    throw_shape_error(std::string(op) + ": tokens, inFeatures and outFeatures must be >= 1 (got " +
                      std::to_string(tokens) + ", " + std::to_string(in_features) + ", " +
                      std::to_string(out_features) + ")");
  }
  const int64_t limit = int64_t{1} << 40;  // elements; far beyond any real layer, far below overflow
  if (tokens > limit / in_features || tokens > limit / out_features || out_features > limit / in_features) {
    throw_shape_error(std::string(op) + ": shape too large");
  }
}

// E_ARGUMENT for a null weight or an unknown weight type.
inline void check_weight(const char* op, WeightView w) {
  if (w.data == nullptr) throw_argument_error(std::string(op) + ": w is null");
  if (w.type != WeightType::F32 && w.type != WeightType::BF16 && !is_block_quantized(w.type)) {
    throw_argument_error(std::string(op) + ": unknown weight type " + std::to_string(static_cast<int>(w.type)));
  }
}

// check_weight plus E_SHAPE unless a Q8_0, Q4_0 or Q4_K weight's in_features is a multiple of its
// block (32, 256 for Q4_K).
inline void check_weight_shape(const char* op, WeightView w, int64_t in_features) {
  check_weight(op, w);
  if (is_block_quantized(w.type) && in_features % block_values(w.type) != 0) {
    throw_shape_error(std::string(op) + ": a " + weight_type_name(w.type) + " weight needs inFeatures divisible by " +
                      std::to_string(block_values(w.type)) + ", got " + std::to_string(in_features));
  }
}

// E_UNSUPPORTED for a weight type the CUDA kernels do not read (Q8_0, Q4_0 and Q4_K run on the CPU only).
inline void check_weight_on_cuda(const char* op, WeightView w) {
  check_weight(op, w);
  if (is_block_quantized(w.type)) {
    throw PillowError(kErrorUnsupported, std::string(op) + ": " + weight_type_name(w.type) +
                                             " weights are not supported on CUDA (run the model on the CPU, or load "
                                             "it dequantized to f32)");
  }
}

// E_SHAPE for a negative or oversized rank.
inline void check_lora_rank(const char* op, int64_t rank, int64_t in_features, int64_t out_features) {
  if (rank < 0) throw_shape_error(std::string(op) + ": rank must be >= 0, got " + std::to_string(rank));
  const int64_t limit = int64_t{1} << 40;
  if (rank > 0 && (rank > limit / in_features || rank > limit / out_features)) {
    throw_shape_error(std::string(op) + ": rank too large");
  }
}

// E_ARGUMENT for a NaN or infinite scale.
inline void check_lora_scale(const char* op, float scale) {
  if (!std::isfinite(scale)) throw_argument_error(std::string(op) + ": scale must be finite, got " + std::to_string(scale));
}

}  // namespace pillow
