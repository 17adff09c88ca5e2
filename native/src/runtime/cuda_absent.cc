// Linked when the addon is built without CUDA (PILLOW_CUDA=off or no nvcc): the backend reports
// itself absent, and every host entry point of the CUDA ops (ops/cuda/host_ops_cuda.h) throws E_CUDA.
#include <string>

#include "model/llama_model.h"
#include "ops/cuda/host_ops_cuda.h"
#include "runtime/cuda_info.h"
#include "runtime/errors.h"

namespace pillow {

namespace {

constexpr const char* kAbsent = "built without the CUDA backend (PILLOW_CUDA=off or nvcc not found at build time)";

[[noreturn]] void throw_absent(const char* op) {
  throw PillowError(kErrorCuda, std::string(op) + ": device \"cuda\" is not available: " + kAbsent);
}

}  // namespace

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.error = kAbsent;
  return info;
}

void matmul_forward_cuda_host(float*, const float*, const float*, int64_t, int64_t, int64_t) { throw_absent("matmul"); }

void lora_matmul_forward_cuda_host(float*, const float*, WeightView, const float*, const float*, int64_t, int64_t, int64_t,
                                   int64_t, float) {
  throw_absent("loraMatmul");
}

void lora_matmul_backward_cuda_host(float*, float*, float*, const float*, const float*, WeightView, const float*,
                                    const float*, int64_t, int64_t, int64_t, int64_t, float) {
  throw_absent("loraMatmulBackward");
}

void lora_matmul_multi_forward_cuda_host(float*, const float*, WeightView, const float* const*, const float* const*,
                                         const int64_t*, const float*, int64_t, const int32_t*, int64_t, int64_t, int64_t) {
  throw_absent("loraMatmulMulti");
}

// LlamaModel with device "cuda": refused at construction, so the steps below are never reached.
struct LlamaModel::DeviceState {};
void LlamaModel::DeviceStateDeleter::operator()(DeviceState* state) const { delete state; }
void LlamaModel::create_device_state() {
  throw PillowError(kErrorCuda, std::string("LlamaModel: device \"cuda\" is not available: ") + kAbsent);
}
void LlamaModel::run_forward_cuda(const int32_t*, int64_t, int64_t, int64_t, bool, bool, const int32_t*) {
  create_device_state();
}
std::vector<float> LlamaModel::forward_cuda(const int32_t*, int64_t, int64_t, int64_t, bool, bool, const int32_t*) {
  create_device_state();
  return {};
}
std::vector<float> LlamaModel::embed_cuda(const int32_t*, int64_t, int64_t) {
  create_device_state();
  return {};
}
LossResult LlamaModel::loss_and_grad_cuda(const int32_t*, int64_t, int64_t, bool, float) {
  create_device_state();
  return {};
}
double LlamaModel::adamw_step_cuda(const AdamWStepOptions&) {
  create_device_state();
  return 0.0;
}
void LlamaModel::reset_cache_cuda() {}
void LlamaModel::linear_forward_cuda(float*, const float*, int64_t, int, int64_t) { create_device_state(); }
void LlamaModel::linear_backward_cuda(float*, const float*, const float*, int64_t, int, int64_t, float*, float*) {
  create_device_state();
}

void sample_forward_cuda_host(int32_t*, float*, const float*, int64_t, int64_t, const SamplingOptions&, const uint64_t*,
                              const int32_t* const*, const int64_t*) {
  throw_absent("sample");
}

}  // namespace pillow
