// Rotary position embedding (RoPE) in Hugging Face's rotate_half layout, with the frequency
// schedules of LLaMA (plain rope_theta), linear position scaling and Llama-3 rope_scaling.
#pragma once
#include <cstdint>

namespace pillow {

enum class RopeScalingType { None = 0, Linear = 1, Llama3 = 2 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;             // llama3 only
  double high_freq_factor = 4.0;            // llama3 only
  double original_max_positions = 8192.0;   // llama3 only
};

// inv_freq[head_dim / 2]: the per-pair angular frequency, with the scaling applied.
void rope_inverse_frequencies(float* inv_freq, int64_t head_dim, double theta, const RopeScaling& scaling);

// cos_table, sin_table [positions, head_dim / 2]: angle = position · inv_freq[i] (in f32, as HF).
void rope_tables(float* cos_table, float* sin_table, const float* inv_freq, int64_t positions, int64_t head_dim);

// out[N, heads·head_dim] = x rotated per head by the angle of positions[n]; out may equal x.
// cos_table / sin_table [table_positions, head_dim/2]; every positions[n] in [0, table_positions).
void rope_forward(float* out, const float* x, const int32_t* positions, const float* cos_table,
                  const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions);

// dx = the transpose rotation of dout (overwrites; dx may equal dout).
void rope_backward(float* dx, const float* dout, const int32_t* positions, const float* cos_table,
                   const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions);

}  // namespace pillow
