// The residual connection: out = a + b, element-wise. Its backward passes the gradient unchanged
// to both inputs, so it is an accumulation into each.
#pragma once
#include <cstdint>

namespace pillow {

// out[n] = a[n] + b[n]; out may alias a or b.
void residual_forward(float* out, const float* a, const float* b, int64_t count);

// da[n] += dout[n] and db[n] += dout[n]; either may be nullptr.
void residual_backward(float* da, float* db, const float* dout, int64_t count);

}  // namespace pillow
