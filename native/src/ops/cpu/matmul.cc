#include "ops/cpu/matmul.h"

#include <string>

#include "ops/common/argument_checks.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/lora_matmul.h"
#include "runtime/errors.h"

namespace pillow {

void check_matmul_dimensions(const char* op, int64_t tokens, int64_t in_features, int64_t out_features) {
  check_matmul_shape(op, tokens, in_features, out_features);
}

void check_weight_view(const char* op, WeightView w, int64_t in_features) { check_weight_shape(op, w, in_features); }

void matmul_forward(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                    int64_t out_features) {
  check_matmul_dimensions("matmul", tokens, in_features, out_features);
  if (out == nullptr || x == nullptr || w == nullptr) throw_argument_error("matmul: null pointer argument");
  // The LoRA forward with no adapter: GEMV for a few tokens, the packed GEMM otherwise.
  lora_matmul_forward(out, x, WeightView{w, WeightType::F32}, nullptr, nullptr, tokens, in_features, out_features, 0,
                      1.0f);
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
  check_weight_view("matmul_backward_input", w, in_features);
  if (dx == nullptr || dy == nullptr) throw_argument_error("matmul_backward_input: null pointer argument");
  // dx(t, i) = Σ_o dy(t, o)·W(o, i): B indexed (i, o) is W read down its columns.
  const GemmSegment segment{f32_operand(dy, out_features, 1), GemmOperand{w.data, w.type, 1, in_features, w.packed_columns, w.packed_columns_stride}, out_features};
  gemm(dx, in_features, tokens, in_features, &segment, 1, false);
}

}  // namespace pillow
