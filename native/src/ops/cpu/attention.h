// Causal grouped-query attention (GQA), softmax(q·kᵀ/√D)·v per head; query head h reads key/value
// head h / (heads / kv_heads). Used for training (q_len == kv_len) and for KV-cache prefill/decode
// (the queries are the last q_len positions of the kv_len keys).
#pragma once
#include <cstdint>

namespace pillow {

struct AttentionShape {
  int64_t batch;
  int64_t q_len;            // query rows per sequence
  int64_t kv_len;           // key rows attended per sequence; query i sits at position kv_len − q_len + i
  int64_t kv_batch_stride;  // rows between sequences in k / v (>= kv_len; the KV cache capacity)
  int64_t heads;
  int64_t kv_heads;         // divides heads
  int64_t head_dim;
  // Optional, forward only: key_begin[b] masks keys 0 … key_begin[b]−1 of sequence b (left padding of
  // a ragged batch). A query row with no key left (a padding row) attends to itself only.
  const int32_t* key_begin = nullptr;
};

// out[B, q_len, heads·D]; lse[B, heads, q_len] (log-sum-exp of each softmax row, kept for the
// backward; may be nullptr); q[B, q_len, heads·D]; k, v[B, kv_batch_stride, kv_heads·D].
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& shape);

// One query row per sequence, each over its own cache (continuous batching's decode rows): a row's
// query q[heads·D] attends to keys/values k, v [kv_len, kv_heads·D] (positions 0 … kv_len−1, the
// last its own) into out[heads·D]. Every row and head in one parallel region; each row's numbers
// equal attention_forward's for that sequence alone with q_len = 1.
struct AttentionDecodeRow {
  float* out;
  const float* q;
  const float* k;
  const float* v;
  int64_t kv_len;
};
void attention_decode_rows(const AttentionDecodeRow* rows, int64_t row_count, int64_t heads, int64_t kv_heads,
                           int64_t head_dim);

// Training form only (q_len == kv_len == kv_batch_stride = T). Overwrites dq[B,T,heads·D] and
// dk, dv[B,T,kv_heads·D] from dout[B,T,heads·D] and the forward's q, k, v, out and lse. The
// probabilities are recomputed from lse (flash-attention style), never stored.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const AttentionShape& shape);

}  // namespace pillow
