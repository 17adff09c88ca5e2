#include "ops/cpu/matmul.h"

#include <string>

#include "ops/cpu/gemm.h"
#include "runtime/errors.h"

namespace pillow {

void check_matmul_dimensions(const char* op, int64_t tokens, int64_t in_features, int64_t out_features) {
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

void check_weight_view(const char* op, WeightView w) {
  if (w.data == nullptr) throw_argument_error(std::string(op) + ": w is null");
  if (w.type != WeightType::F32 && w.type != WeightType::BF16) {
    throw_argument_error(std::string(op) + ": unknown weight type " + std::to_string(static_cast<int>(w.type)));
  }
}

void matmul_forward(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                    int64_t out_features) {
  check_matmul_dimensions("matmul", tokens, in_features, out_features);
  if (out == nullptr || x == nullptr || w == nullptr) throw_argument_error("matmul: null pointer argument");
  const GemmSegment segment{f32_operand(x, in_features, 1), f32_operand(w, in_features, 1), in_features};
  gemm(out, out_features, tokens, out_features, &segment, 1, false);
}

void matmul_backward_weight(float* dw, const float* dy, const float* x, int64_t tokens, int64_t in_features,
                            int64_t out_features) {
  check_matmul_dimensions("matmul_backward_weight", tokens, in_features, out_features);
  if (dw == nullptr || dy == nullptr || x == nullptr) throw_argument_error("matmul_backward_weight: null pointer argument");
  // dw(o, i) = Σ_t dy(t, o)·x(t, i): A = dyᵀ indexed (o, t), B = xᵀ indexed (i, t).
  const GemmSegment segment{f32_operand(dy, 1, out_features), f32_operand(x, 1, in_features), tokens};
  gemm(dw, in_features, out_features, in_features, &segment, 1, false);
}

void matmul_backward_input(float* dx, const float* dy, WeightView w, int64_t tokens, int64_t in_features,
                           int64_t out_features) {
  check_matmul_dimensions("matmul_backward_input", tokens, in_features, out_features);
  check_weight_view("matmul_backward_input", w);
  if (dx == nullptr || dy == nullptr) throw_argument_error("matmul_backward_input: null pointer argument");
  // dx(t, i) = Σ_o dy(t, o)·W(o, i): B indexed (i, o) is W read down its columns.
  const GemmSegment segment{f32_operand(dy, out_features, 1), GemmOperand{w.data, w.type, 1, in_features}, out_features};
  gemm(dx, in_features, tokens, in_features, &segment, 1, false);
}

}  // namespace pillow
