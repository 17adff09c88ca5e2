// Host-memory wrappers of the CUDA ops (see host_ops_cuda.h): copy in, run, copy out. Device
// buffers are scoped, so an error in a check or a kernel frees them before it propagates.
#include <string>
#include <vector>

#include "ops/common/argument_checks.h"
#include "ops/cuda/device_buffer.h"
#include "ops/cuda/host_ops_cuda.h"
#include "ops/cuda/lora_matmul_cuda.h"
#include "ops/cuda/matmul_cuda.h"
#include "ops/cuda/sample_cuda.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

// A device copy of a frozen weight of `count` elements, f32 or bf16 bits.
struct DeviceWeight {
  DeviceBuffer<uint16_t> bf16;
  DeviceBuffer<float> f32;
  WeightView view;
  DeviceWeight(WeightView w, int64_t count)
      : bf16(w.type == WeightType::BF16 ? count : 0), f32(w.type == WeightType::BF16 ? 0 : count), view(w) {
    if (w.data == nullptr) throw_argument_error("cuda: the weight is null");
    check_weight_on_cuda("cuda", w);
    if (w.type == WeightType::BF16) {
      bf16.upload(static_cast<const uint16_t*>(w.data));
      view = WeightView{bf16.data(), WeightType::BF16};
    } else {
      f32.upload(static_cast<const float*>(w.data));
      view = WeightView{f32.data(), WeightType::F32};
    }
  }
};

}  // namespace

void matmul_forward_cuda_host(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                              int64_t out_features) {
  check_matmul_shape("matmul (cuda)", tokens, in_features, out_features);
  if (out == nullptr || x == nullptr || w == nullptr) throw_argument_error("matmul (cuda): null pointer argument");
  const DeviceBuffer<float> device_x(x, tokens * in_features), device_w(w, out_features * in_features);
  DeviceBuffer<float> device_out(tokens * out_features);
  matmul_forward_cuda(device_out.data(), device_x.data(), device_w.data(), tokens, in_features, out_features);
  device_out.download(out);
}

void lora_matmul_forward_cuda_host(float* y, const float* x, WeightView w, const float* a, const float* b, int64_t tokens,
                                   int64_t in_features, int64_t out_features, int64_t rank, float scale) {
  check_matmul_shape("lora_matmul_forward (cuda)", tokens, in_features, out_features);
  if (y == nullptr || x == nullptr) throw_argument_error("lora_matmul_forward (cuda): y and x must not be null");
  const bool with_lora = a != nullptr && rank > 0;
  const DeviceBuffer<float> device_x(x, tokens * in_features);
  const DeviceWeight device_w(w, out_features * in_features);
  const DeviceBuffer<float> device_a(a, with_lora ? rank * in_features : 0);
  const DeviceBuffer<float> device_b(b, with_lora && b != nullptr ? out_features * rank : 0);
  DeviceBuffer<float> device_y(tokens * out_features);
  lora_matmul_forward_cuda(device_y.data(), device_x.data(), device_w.view, with_lora ? device_a.data() : nullptr,
                           with_lora ? device_b.data() : nullptr, tokens, in_features, out_features, rank, scale);
  device_y.download(y);
}

void lora_matmul_backward_cuda_host(float* dx, float* da, float* db, const float* dy, const float* x, WeightView w,
                                    const float* a, const float* b, int64_t tokens, int64_t in_features,
                                    int64_t out_features, int64_t rank, float scale) {
  check_matmul_shape("lora_matmul_backward (cuda)", tokens, in_features, out_features);
  if (dy == nullptr || x == nullptr) throw_argument_error("lora_matmul_backward (cuda): dy and x must not be null");
  const bool with_lora = a != nullptr && b != nullptr && rank > 0;
  const DeviceBuffer<float> device_dy(dy, tokens * out_features), device_x(x, tokens * in_features);
  const DeviceWeight device_w(w, out_features * in_features);
  const DeviceBuffer<float> device_a(a, with_lora ? rank * in_features : 0), device_b(b, with_lora ? out_features * rank : 0);
  DeviceBuffer<float> device_dx(dx ? tokens * in_features : 0), device_da(with_lora && da ? rank * in_features : 0),
      device_db(with_lora && db ? out_features * rank : 0);
  lora_matmul_backward_cuda(dx ? device_dx.data() : nullptr, with_lora && da ? device_da.data() : nullptr,
                            with_lora && db ? device_db.data() : nullptr, device_dy.data(), device_x.data(), device_w.view,
                            with_lora ? device_a.data() : nullptr, with_lora ? device_b.data() : nullptr, tokens,
                            in_features, out_features, rank, scale);
  if (dx) device_dx.download(dx);
  if (with_lora && da) device_da.download(da);
  if (with_lora && db) device_db.download(db);
}

void lora_matmul_multi_forward_cuda_host(float* y, const float* x, WeightView w, const float* const* a,
                                         const float* const* b, const int64_t* ranks, const float* scales,
                                         int64_t adapter_count, const int32_t* adapter_index, int64_t tokens,
                                         int64_t in_features, int64_t out_features) {
  check_matmul_shape("lora_matmul_multi_forward (cuda)", tokens, in_features, out_features);
  if (y == nullptr || x == nullptr || adapter_index == nullptr || adapter_count < 0) {
    throw_argument_error("lora_matmul_multi_forward (cuda): y, x and adapter_index must not be null");
  }
  std::vector<DeviceBuffer<float>> device_a, device_b;
  std::vector<const float*> a_pointers, b_pointers;
  for (int64_t j = 0; j < adapter_count; ++j) {
    if (ranks[j] < 1 || a[j] == nullptr || b[j] == nullptr) {
      throw_argument_error("lora_matmul_multi_forward (cuda): adapters[" + std::to_string(j) + "] needs rank >= 1, a and b");
    }
    device_a.emplace_back(a[j], ranks[j] * in_features);
    device_b.emplace_back(b[j], out_features * ranks[j]);
    a_pointers.push_back(device_a.back().data());
    b_pointers.push_back(device_b.back().data());
  }
  const DeviceBuffer<float> device_x(x, tokens * in_features);
  const DeviceWeight device_w(w, out_features * in_features);
  const DeviceBuffer<int32_t> device_index(adapter_index, tokens);
  DeviceBuffer<float> device_y(tokens * out_features);
  lora_matmul_multi_forward_cuda(device_y.data(), device_x.data(), device_w.view, a_pointers.data(), b_pointers.data(), ranks,
                                 scales, adapter_count, device_index.data(), tokens, in_features, out_features);
  device_y.download(y);
}

void sample_forward_cuda_host(int32_t* tokens, float* logprobs, const float* logits, int64_t rows, int64_t vocab,
                              const SamplingOptions& options, const uint64_t* seeds,
                              const int32_t* const* previous_tokens, const int64_t* previous_counts) {
  if (rows < 1 || vocab < 1 || rows > (int64_t{1} << 40) / vocab) {
    throw_shape_error("sample (cuda): rows and vocab must be >= 1 and the logits at most 2^40 values");
  }
  if (tokens == nullptr || logprobs == nullptr || logits == nullptr || seeds == nullptr) {
    throw_argument_error("sample (cuda): null pointer argument");
  }
  const DeviceBuffer<float> device_logits(logits, rows * vocab);
  const DeviceBuffer<uint64_t> device_seeds(seeds, rows);
  std::vector<DeviceBuffer<int32_t>> device_history;
  std::vector<const int32_t*> history_pointers;
  if (previous_tokens != nullptr) {
    if (previous_counts == nullptr) throw_argument_error("sample (cuda): previous_counts is null");
    for (int64_t r = 0; r < rows; ++r) {
      device_history.emplace_back(previous_tokens[r], previous_counts[r]);
      history_pointers.push_back(device_history.back().data());
    }
  }
  DeviceBuffer<int32_t> device_tokens(rows);
  DeviceBuffer<float> device_logprobs(rows);
  sample_forward_cuda(device_tokens.data(), device_logprobs.data(), device_logits.data(), rows, vocab, options,
                      device_seeds.data(), previous_tokens ? history_pointers.data() : nullptr, previous_counts);
  device_tokens.download(tokens);
  device_logprobs.download(logprobs);
}

}  // namespace pillow
