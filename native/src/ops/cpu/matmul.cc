#include "ops/cpu/matmul.h"

#include <algorithm>
#include <string>

#include "ops/cpu/kernel_table.h"
#include "runtime/errors.h"
#include "runtime/thread_pool.h"

namespace pillow {

void matmul_forward(float* out, const float* x, const float* w, int64_t tokens, int64_t in_features,
                    int64_t out_features) {
  if (tokens < 1 || in_features < 1 || out_features < 1) {
    throw_shape_error("matmul: tokens, inFeatures and outFeatures must be >= 1 (got " + std::to_string(tokens) +
                      ", " + std::to_string(in_features) + ", " + std::to_string(out_features) + ")");
  }
  const KernelTable& k = kernels();
  // Split the output columns (rows of w) across threads: each thread streams its own slice of w
  // once and reuses it for every token, which is what matters for decode (tokens = 1).
  // Column blocks of 64 keep a w slice (64 x in floats) hot in L2 while the token rows pass over it.
  const int64_t column_block = 64;
  const int64_t blocks = (out_features + column_block - 1) / column_block;
  const int64_t work_per_block = tokens * in_features * std::min(column_block, out_features);
  const int64_t grain = work_per_block >= (1 << 16) ? 1 : std::max<int64_t>(1, (1 << 16) / work_per_block);
  parallel_for(blocks, grain, [&](int64_t block_begin, int64_t block_end) {
    for (int64_t block = block_begin; block < block_end; ++block) {
      const int64_t o_begin = block * column_block;
      const int64_t o_end = std::min(out_features, o_begin + column_block);
      for (int64_t t = 0; t < tokens; t += 64) {
        k.matmul_block(out, x, w, in_features, out_features, t, std::min(tokens, t + 64), o_begin, o_end);
      }
    }
  });
}

}  // namespace pillow
