// quantizedMatvecQ8_0 / quantizedMatvecQ4_0 / quantizedMatvecQ4_K(x, w, shape): out[rows] = W · x
// with W [rows, columns] in llama.cpp's Q8_0, Q4_0 or Q4_K blocks (a Uint8Array of rows·columns/32·34
// or ·18, or rows·columns/256·144 bytes, as a GGUF file stores it), x f32 (rounded to Q8_0 inside,
// to Q8_K for Q4_K). CPU only.
#include "napi/arguments.h"
#include "napi/bindings.h"
#include "ops/cpu/quantized_matvec.h"

namespace pillow::napi {

namespace {

// One binding per block format: `name` for errors, `matrix_bytes` checks the shape (columns a
// multiple of the block) before the arrays' lengths are compared with it, `matvec` runs the product.
template <int64_t (*matrix_bytes)(const char*, int64_t, int64_t),
          void (*matvec)(float*, const float*, const uint8_t*, int64_t, int64_t)>
Napi::Value quantized_matvec_binding(const Napi::CallbackInfo& info, const char* name) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object shape = object_argument(info, 2, "shape");
    const int64_t rows = dimension_field(env, shape, "shape", "rows");
    const int64_t columns = dimension_field(env, shape, "shape", "columns");
    const int64_t bytes = matrix_bytes(name, rows, columns);
    Napi::Float32Array x = float32_argument(info, 0, "x", columns);
    Napi::Uint8Array w = typed_array_argument<uint8_t>(info, 1, "w", bytes);
    Napi::Float32Array out = Napi::Float32Array::New(env, rows);
    matvec(out.Data(), x.Data(), w.Data(), rows, columns);
    return out;
  });
}

Napi::Value quantized_matvec_q8_0_binding(const Napi::CallbackInfo& info) {
  return quantized_matvec_binding<q8_0_matrix_bytes, quantized_matvec_q8_0>(info, "quantizedMatvecQ8_0");
}

Napi::Value quantized_matvec_q4_0_binding(const Napi::CallbackInfo& info) {
  return quantized_matvec_binding<q4_0_matrix_bytes, quantized_matvec_q4_0>(info, "quantizedMatvecQ4_0");
}

Napi::Value quantized_matvec_q4_k_binding(const Napi::CallbackInfo& info) {
  return quantized_matvec_binding<q4_k_matrix_bytes, quantized_matvec_q4_k>(info, "quantizedMatvecQ4_K");
}

}  // namespace

void register_quantized_matvec(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizedMatvecQ8_0", Napi::Function::New(env, quantized_matvec_q8_0_binding, "quantizedMatvecQ8_0"));
  exports.Set("quantizedMatvecQ4_0", Napi::Function::New(env, quantized_matvec_q4_0_binding, "quantizedMatvecQ4_0"));
  exports.Set("quantizedMatvecQ4_K", Napi::Function::New(env, quantized_matvec_q4_k_binding, "quantizedMatvecQ4_K"));
}

PILLOW_REGISTER_BINDING(register_quantized_matvec);

}  // namespace pillow::napi
