// Softmax cross-entropy over the vocabulary with an ignore index, per row.
// Targets are already the *next* tokens: the model shifts HF-style labels (aligned with the input
// ids) by one before calling this, so targets[t] = labels[t + 1] and the last row is ignored.
#pragma once
#include <cstdint>

namespace pillow {

inline constexpr int32_t kIgnoreIndex = -100;

// losses[N] = −log softmax(logits[n])[targets[n]], 0 where targets[n] == −100. logits[N, V].
// Returns the number of rows that were not ignored. Targets outside [0, V) ∪ {−100} are an error.
int64_t cross_entropy_forward(float* losses, const float* logits, const int32_t* targets, int64_t rows,
                              int64_t vocab);

// dlogits[N, V] = (softmax(logits[n]) − onehot(targets[n])) · loss_scale, zero rows where ignored
// (overwrites). dlogits may alias logits.
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, float loss_scale,
                            int64_t rows, int64_t vocab);

// Both at once, as one training step needs them: losses as cross_entropy_forward and dlogits as
// cross_entropy_backward, bit for bit, with each row's max and log-sum computed once and the row
// still in cache for its gradient (the separate calls read the 32 000-word rows five times, this
// three). dlogits may alias logits. Returns the number of rows that were not ignored.
int64_t cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int32_t* targets,
                                       float loss_scale, int64_t rows, int64_t vocab);

}  // namespace pillow
