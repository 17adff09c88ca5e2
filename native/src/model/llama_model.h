// A LLaMA-family decoder (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM) held natively:
// weights (f32, or bf16 linear weights with f32 compute), LoRA adapters (several, one active), a KV
// cache, gradients and AdamW state. Each public method is one whole-model step, so TypeScript never
// drives the ops one at a time. Methods lock a mutex: calls from several threads are serialised.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ops/common/weight_view.h"
#include "ops/cpu/rope.h"

namespace pillow {

// The seven linear layers of a block, in PEFT's target_modules spelling.
enum LinearModule : int { kQProj = 0, kKProj, kVProj, kOProj, kGateProj, kUpProj, kDownProj, kLinearModuleCount };
const char* linear_module_name(int module);
// -1 when the name is not one of q_proj … down_proj.
int linear_module_from_name(const std::string& name);

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_positions = 0;
  float rms_eps = 1e-6f;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_embeddings = false;
  bool attention_bias = false;
};

// Throws E_ARGUMENT naming the first invalid field.
void validate_llama_config(const LlamaConfig& config);

enum class TrainMode { Lora = 0, Full = 1 };

struct AdamWStepOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;
  float max_grad_norm = 0.0f;  // <= 0: no clipping
};

// One sequence's share of a forward_sequences step: `count` tokens at positions start … start+count−1
// of sequence `sequence` (from create_sequence), through adapter `adapter` ("" = the base model).
struct SequenceStep {
  int64_t sequence = 0;
  int64_t start = 0;
  int64_t count = 0;
  std::string adapter;
};

// Where a model's weights live and its steps run. Cuda: weights (and the active adapter) are
// uploaded to the device once (again only after set_tensor / set_adapter_tensor change them) and
// forward, decode with the KV cache, embed, LoRA loss_and_grad and adamw_step run the CUDA ops
// (llama_device.cu); full training, LoRA dropout and forward_sequences stay CPU-only for now and
// throw E_UNSUPPORTED on a cuda model rather than falling back silently.
enum class ModelDevice { Cpu = 0, Cuda = 1 };

struct LossResult {
  double loss_sum = 0.0;  // Σ cross-entropy over the counted (non-ignored) targets
  int64_t counted = 0;
};

class LlamaModel {
 public:
  // device Cuda throws E_CUDA (with the reason) when the addon has no CUDA backend or no device answers.
  explicit LlamaModel(const LlamaConfig& config, ModelDevice device = ModelDevice::Cpu);
  ~LlamaModel();

  const LlamaConfig& config() const { return config_; }
  ModelDevice device() const { return device_ ? ModelDevice::Cuda : ModelDevice::Cpu; }

  // ---- weights (HF tensor names, e.g. "model.layers.0.self_attn.q_proj.weight")
  std::vector<std::string> tensor_names() const;
  std::vector<std::string> missing_tensors() const;
  std::vector<int64_t> tensor_shape(const std::string& name) const;
  // data holds size f32 values (bf16_bits == nullptr) or size raw bf16 values. store_bf16 keeps a
  // linear layer's weight in bf16 (ignored for norms, biases and embeddings, always f32).
  void set_tensor(const std::string& name, const float* data, const uint16_t* bf16_bits, int64_t size,
                  bool store_bf16);
  // A linear weight [out, in] as llama.cpp's Q8_0 blocks, kept as they are (decode reads them through
  // the Q8_0 GEMV; GEMMs dequantize them while packing). E_ARGUMENT for a tensor that is not a linear
  // weight, E_SHAPE unless in is a multiple of 32 and byte_length = out · (in/32) · 34.
  void set_tensor_q8_0(const std::string& name, const uint8_t* blocks, int64_t byte_length);
  // The same for llama.cpp's Q4_0 blocks (the Q4_0 GEMV in decode): byte_length = out · (in/32) · 18.
  void set_tensor_q4_0(const std::string& name, const uint8_t* blocks, int64_t byte_length);
  // The same for llama.cpp's Q4_K super-blocks (the Q4_K GEMV in decode, x rounded to Q8_K):
  // byte_length = out · (in/256) · 144, in a multiple of 256.
  void set_tensor_q4_k(const std::string& name, const uint8_t* blocks, int64_t byte_length);
  std::vector<float> get_tensor(const std::string& name) const;

  // ---- LoRA adapters
  // layers: the adapted layers (PEFT layers_to_transform); empty = every layer.
  void add_adapter(const std::string& name, int64_t rank, float scale, const std::vector<int>& modules,
                   const std::vector<int64_t>& layers);
  // LoRA dropout (PEFT lora_dropout): during loss_and_grad in Lora mode, each adapted module's
  // LoRA branch sees its input with elements zeroed with this probability and the rest scaled by
  // 1/(1-p); the base weight's input is untouched. forward/generation never drop. The mask is a
  // pure function of (seed, step, layer, module, row, feature): see lora_dropout_keep().
  void set_adapter_dropout(const std::string& name, float probability, uint64_t seed);
  void remove_adapter(const std::string& name);
  std::vector<std::string> adapter_names() const;
  void set_adapter_tensor(const std::string& adapter, int64_t layer, int module, bool is_b, const float* data,
                          int64_t size);
  std::vector<float> get_adapter_tensor(const std::string& adapter, int64_t layer, int module, bool is_b) const;
  // "" = no adapter.
  void set_active_adapter(const std::string& name);
  std::string active_adapter() const;

  // ---- steps
  // logits[B·(last_only ? 1 : T), V] for tokens[B·T] at positions start_position … start_position+T−1.
  // With use_cache the keys/values are written to (and attention reads) the KV cache, so a prefill
  // followed by one-token decode steps continues a sequence; start_position must be <= the cached
  // length (smaller values rewind). Without use_cache, start_position must be 0.
  // paddings (optional, [B]): sequence b starts with paddings[b] padding tokens (a left-padded ragged
  // batch): they are masked out of attention and positions count from the first real token. With the
  // KV cache they are given at startPosition 0 and kept for the following decode steps.
  std::vector<float> forward(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position,
                             bool use_cache, bool last_only, const int32_t* paddings = nullptr);
  // Mean over the T positions of the final (normalised) hidden states: [B, H].
  std::vector<float> embed(const int32_t* tokens, int64_t batch, int64_t seq_len);
  void reset_cache();

  // ---- sequences (continuous batching, llama_sequences.cc)
  // A sequence owns a KV cache of `capacity` positions, allocated here at once (the caller budgets
  // memory with sequence_bytes); ids are never reused. Independent of forward()'s KV cache and of
  // the active adapter.
  int64_t create_sequence(int64_t capacity);
  void release_sequence(int64_t sequence);
  // Bytes of KV cache a sequence of `capacity` positions holds.
  int64_t sequence_bytes(int64_t capacity) const;
  int64_t sequence_count() const;
  // One step over several sequences: tokens[Σ count] (each step's tokens in order) continue their
  // sequences (start must equal the sequence's cached length), each row through its own adapter.
  // Returns the logits of each step's last token, [steps, V]. Every linear product runs on the
  // GEMM (never the GEMV decode kernels, which sum in another order) and attention runs per
  // sequence, so a row's numbers depend on its own sequence alone, never on its companions: a
  // greedy continuation is the same text alone or in any batch.
  std::vector<float> forward_sequences(const int32_t* tokens, int64_t token_count,
                                       const std::vector<SequenceStep>& steps);

  // Forward + backward over tokens/labels [B·T] (labels aligned with tokens; the shift to next-token
  // targets happens inside, per sequence). Gradients of gradient_scale·loss_sum are added to the
  // gradient buffers (set accumulate=false to overwrite them). Lora mode: the active adapter's A/B;
  // Full mode: every weight (requires f32 weights and no active adapter).
  // dropout_step picks the LoRA dropout masks of this call (callers pass their micro-step count).
  LossResult loss_and_grad(const int32_t* tokens, const int32_t* labels, int64_t batch, int64_t seq_len,
                           TrainMode mode, bool accumulate, float gradient_scale, uint64_t dropout_step = 0);
  void zero_gradients(TrainMode mode);
  // Keys: "lora.<layer>.<module>.A|B" (active adapter) or HF tensor names (full).
  std::map<std::string, std::vector<float>> gradients(TrainMode mode) const;
  // Clips (if max_grad_norm > 0) and applies AdamW to every trainable tensor; returns the gradient
  // norm before clipping.
  double adamw_step(TrainMode mode, const AdamWStepOptions& options);
  // Optimizer moments keyed as gradients(); missing moments are zeros.
  std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> optimizer_state(TrainMode mode) const;
  void set_optimizer_state(TrainMode mode, const std::string& key, const float* m, const float* v, int64_t size);
  void reset_optimizer_state(TrainMode mode);

 private:
  struct Parameter;
  struct Adapter;
  struct Workspace;
  struct SequenceCache;
  // The device copies of a cuda model (llama_device.cu); freed by a function of that file, so the
  // CPU-only build never needs its definition.
  struct DeviceState;
  struct DeviceStateDeleter {
    void operator()(DeviceState* state) const;
  };
  struct Trainable {
    std::string key;
    float* param;
    float* grad;
    std::vector<float>* m;
    std::vector<float>* v;
    int64_t size;
    bool decays;
  };

  Parameter& parameter(const std::string& name);
  const Parameter& parameter(const std::string& name) const;
  Parameter& embed_parameter();
  // x[count, H] = the embedding rows of tokens[count], whether the table is f32 or blocks.
  void embedding_rows(float* x, const int32_t* tokens, int64_t count);
  Parameter& layer_parameter(int64_t layer, const char* suffix);
  Parameter& lm_head_parameter();
  Adapter& adapter(const std::string& name);
  const Adapter& adapter(const std::string& name) const;
  void check_ready() const;
  // set_tensor_q8_0 / set_tensor_q4_0 / set_tensor_q4_k: blocks of `type` (block_bytes each) for a linear weight.
  void set_tensor_blocks(const std::string& name, WeightType type, int64_t block_bytes, const uint8_t* blocks,
                         int64_t byte_length);
  void ensure_rope(int64_t positions);
  void linear_forward(float* y, const float* x, int64_t layer, int module, int64_t rows);
  // q/k/v of `rows` rows after their projections: the biases (Qwen2) and rope at work_->positions.
  void finish_attention_inputs(float* q, float* k, float* v, int64_t layer, int64_t rows);
  // linear_forward of `count` modules of one layer that read the same x (q/k/v, gate/up): ys[i] =
  // modules[i](x). Decode runs them as one parallel region (lora_matmul_forward_shared_input).
  void linear_forward_shared_input(float* const* ys, const int* modules, int count, const float* x, int64_t layer,
                                   int64_t rows);
  void linear_backward(float* dx, const float* dy, const float* x, int64_t layer, int module, int64_t rows,
                       TrainMode mode, float* scratch_a, float* scratch_b);
  // The dropout twins of linear_forward/linear_backward (llama_dropout.cc).
  void apply_lora_dropout(float* dropped, const float* x, int64_t layer, int module, int64_t rows, int64_t in) const;
  void linear_forward_dropout(float* y, const float* x, int64_t layer, int module, int64_t rows);
  void linear_backward_dropout(float* dx, const float* dy, const float* x, int64_t layer, int module, int64_t rows);
  void run_forward(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache,
                   bool training, const int32_t* paddings = nullptr);
  // The checks every forward step makes of its positions against the context and the KV cache.
  void check_step_positions(int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache) const;
  // The KV cache capacity a step needs: 0 when the current one holds it, else the new capacity.
  int64_t grown_cache_capacity(int64_t batch, int64_t start_position, int64_t seq_len) const;
  // Left padding of the step (given, or remembered by the KV cache; checked) and work_->positions;
  // returns the padding per sequence or nullptr.
  const int32_t* step_positions(int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache,
                                const int32_t* paddings);
  // HF label shift into work_->targets, checking every label against the vocabulary.
  void shift_labels(const int32_t* labels, int64_t batch, int64_t seq_len);
  // ---- the cuda model's steps (llama_device.cu; the CPU-only build's stubs throw E_CUDA)
  void create_device_state();
  void run_forward_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position, bool use_cache,
                        bool training, const int32_t* paddings);
  std::vector<float> forward_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len, int64_t start_position,
                                  bool use_cache, bool last_only, const int32_t* paddings);
  std::vector<float> embed_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len);
  LossResult loss_and_grad_cuda(const int32_t* tokens, int64_t batch, int64_t seq_len, bool accumulate,
                                float gradient_scale);
  double adamw_step_cuda(const AdamWStepOptions& options);
  void reset_cache_cuda();
  void linear_forward_cuda(float* y, const float* x, int64_t layer, int module, int64_t rows);
  void linear_backward_cuda(float* dx, const float* dy, const float* x, int64_t layer, int module, int64_t rows,
                            float* scratch_a, float* scratch_b);
  [[noreturn]] void throw_cpu_only(const std::string& what) const;
  // A host change of a tensor gets a new version, so the device copy knows to upload it again.
  uint64_t next_version() { return ++version_counter_; }
  uint64_t version_counter_ = 0;
  std::vector<Trainable> trainables(TrainMode mode, bool allocate);
  // Packs every frozen matmul weight (and the output layer) once, when they fit the budget
  // (PILLOW_PACKED_WEIGHTS_MB, default a quarter of the machine's memory; 0 turns it off):
  // for_training (LoRA training) in both layouts the steps use, with room for the active adapter's
  // rank; otherwise (forward_sequences, whose every product is a GEMM) the x·Wᵀ layout only, so no
  // step packs W again. drop_packed_weights frees them (weights about to change).
  void prepare_packed_weights(bool for_training);
  // The view of weight w for module `module` of `layer`: when its packed copies have room for the
  // active adapter's rank, that adapter's factor (B for the forward, A for the backward's dx) is
  // written into the room first and the view points at it (products of more than 4 rows only).
  WeightView lora_view(Parameter& w, int64_t layer, int module, bool backward, int64_t rows);
  void drop_packed_weights();
  bool packed_for_training_tried_ = false;
  bool packed_for_inference_tried_ = false;

  LlamaConfig config_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Parameter>> parameters_;
  std::map<std::string, size_t> parameter_index_;
  std::map<std::string, std::unique_ptr<Adapter>> adapters_;
  Adapter* active_ = nullptr;
  // Set for the duration of a Lora-mode loss_and_grad whose adapter has dropout; else false.
  bool dropout_on_ = false;
  uint64_t dropout_step_ = 0;
  std::vector<float> inv_freq_, rope_cos_, rope_sin_;
  int64_t rope_positions_ = 0;
  // KV cache: per layer [cache_batch, cache_capacity, kv_heads·head_dim]
  std::vector<std::vector<float>> cache_k_, cache_v_;
  int64_t cache_batch_ = 0, cache_capacity_ = 0, cache_length_ = 0;
  std::vector<int32_t> cache_padding_;  // left padding per cached sequence (empty = none)
  std::unique_ptr<Workspace> work_;
  std::map<int64_t, std::unique_ptr<SequenceCache>> sequences_;
  int64_t next_sequence_ = 1;
  std::unique_ptr<DeviceState, DeviceStateDeleter> device_;
};

}  // namespace pillow
