#include "ops/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/common/rope_math.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

namespace {

void check(const char* op, const int32_t* positions, int64_t rows, int64_t heads, int64_t head_dim,
           int64_t table_positions) {
  if (rows < 1 || heads < 1 || head_dim < 2 || head_dim % 2 != 0) {
    throw_shape_error(std::string(op) + ": rows, heads >= 1 and an even head_dim >= 2 are required (head_dim " +
                      std::to_string(head_dim) + ")");
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (positions[r] < 0 || positions[r] >= table_positions) {
      throw_argument_error(std::string(op) + ": position " + std::to_string(positions[r]) + " is outside [0, " +
                           std::to_string(table_positions) + ")");
    }
  }
}

}  // namespace

void rope_inverse_frequencies(float* inv_freq, int64_t head_dim, double theta, const RopeScaling& scaling) {
  if (head_dim < 2 || head_dim % 2 != 0) throw_shape_error("rope: head_dim must be even and >= 2");
  if (!(theta > 0)) throw_argument_error("rope: rope_theta must be > 0");
  if (!(scaling.factor > 0)) throw_argument_error("rope: rope_scaling.factor must be > 0");
  const int64_t half = head_dim / 2;
  const double pi = 3.14159265358979323846;
  for (int64_t i = 0; i < half; ++i) {
    // HF computes base ** (2i / dim) in f32; the rounding of that f32 is reproduced here.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float base = static_cast<float>(std::pow(theta, static_cast<double>(exponent)));
    float f = 1.0f / base;
    if (scaling.type == RopeScalingType::Linear) {
      f = static_cast<float>(f / scaling.factor);
    } else if (scaling.type == RopeScalingType::Llama3) {
      const double low_wavelength = scaling.original_max_positions / scaling.low_freq_factor;
      const double high_wavelength = scaling.original_max_positions / scaling.high_freq_factor;
      const double wavelength = 2.0 * pi / f;
      if (wavelength > low_wavelength) {
        f = static_cast<float>(f / scaling.factor);
      } else if (wavelength >= high_wavelength) {
        // Between the two bands: interpolate between the scaled and the original frequency.
        const double smooth = (scaling.original_max_positions / wavelength - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / scaling.factor + smooth * f);
      }
    }
    inv_freq[i] = f;
  }
}

void rope_tables(float* cos_table, float* sin_table, const float* inv_freq, int64_t positions, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];
      cos_table[p * half + i] = std::cos(angle);
      sin_table[p * half + i] = std::sin(angle);
    }
  }
}

void rope_forward(float* out, const float* x, const int32_t* positions, const float* cos_table,
                  const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions) {
  check("rope_forward", positions, rows, heads, head_dim, table_positions);
  const int half = static_cast<int>(head_dim / 2);
  parallel_for(rows, std::max<int64_t>(1, 4096 / (heads * head_dim)), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(head_dim));
    for (int64_t r = begin; r < end; ++r) {
      const float* c = cos_table + static_cast<int64_t>(positions[r]) * half;
      const float* s = sin_table + static_cast<int64_t>(positions[r]) * half;
      for (int64_t h = 0; h < heads; ++h) {
        const float* in = x + (r * heads + h) * head_dim;
        std::copy(in, in + head_dim, scratch.begin());  // out may alias x
        rope_rotate(out + (r * heads + h) * head_dim, scratch.data(), c, s, half);
      }
    }
  });
}

void rope_backward(float* dx, const float* dout, const int32_t* positions, const float* cos_table,
                   const float* sin_table, int64_t rows, int64_t heads, int64_t head_dim, int64_t table_positions) {
  check("rope_backward", positions, rows, heads, head_dim, table_positions);
  const int half = static_cast<int>(head_dim / 2);
  parallel_for(rows, std::max<int64_t>(1, 4096 / (heads * head_dim)), [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(head_dim));
    for (int64_t r = begin; r < end; ++r) {
      const float* c = cos_table + static_cast<int64_t>(positions[r]) * half;
      const float* s = sin_table + static_cast<int64_t>(positions[r]) * half;
      for (int64_t h = 0; h < heads; ++h) {
        const float* in = dout + (r * heads + h) * head_dim;
        std::copy(in, in + head_dim, scratch.begin());
        rope_rotate_backward(dx + (r * heads + h) * head_dim, scratch.data(), c, s, half);
      }
    }
  });
}

}  // namespace pillow
