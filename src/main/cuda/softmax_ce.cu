// softmax_ce.cu: fused softmax cross-entropy. logits (N, K), labels (N) as exact integers in
// float32. Phase 1 (softmax_ce_rows): one warp per row computes the row's loss with log-sum-exp,
// whether its first arg-max equals the label, and (when dlogits is not null) the gradient of the
// mean loss, (softmax - onehot) / N; per-row results go to scratch. Phase 2
// (softmax_ce_accumulate): one block sums the N per-row values in a fixed order and adds them to
// metrics[0] (loss sum) and metrics[1] (correct count). No atomics: deterministic.
// A label outside [0, K) gives a NaN loss for that row (the device cannot throw).
#include "common.cuh"

#define SCE_WARPS_PER_BLOCK 8

// softmax_ce_rows v2: warp-per-row; lanes stride over the K classes; max and first-arg-max by
// a shuffle tree on (value, index), sum of exp(x - max) by a shuffle tree.
NN_KERNEL void softmax_ce_rows(const float* __restrict__ logits,  // (N, K)
                               const float* __restrict__ labels,  // (N)
                               float* __restrict__ dlogits,       // (N, K) or null
                               float* __restrict__ rowLoss,       // (N)
                               float* __restrict__ rowCorrect,    // (N)
                               int N, int K) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int n = blockIdx.x * SCE_WARPS_PER_BLOCK + warp; n < N; n += gridDim.x * SCE_WARPS_PER_BLOCK) {
        const float* row = logits + (size_t) n * K;
        float best = -INFINITY;
        int arg = K;  // K means "none yet"
        for (int i = lane; i < K; i += 32) {
            float v = row[i];
            if (arg == K || v > best) {
                best = v;
                arg = i;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            float ob = __shfl_xor_sync(0xffffffffu, best, off);
            int oa = __shfl_xor_sync(0xffffffffu, arg, off);
            if (oa != K && (arg == K || ob > best || (ob == best && oa < arg))) {
                best = ob;
                arg = oa;
            }
        }
        float sum = 0.0f;
        for (int i = lane; i < K; i += 32) {
            sum += expf(row[i] - best);
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            sum += __shfl_xor_sync(0xffffffffu, sum, off);
        }
        const float labelF = labels[n];
        const int label = (int) labelF;
        const bool valid = labelF >= 0.0f && label < K && (float) label == labelF;
        const float lse = best + logf(sum);
        if (lane == 0) {
            rowLoss[n] = valid ? lse - row[label] : __int_as_float(0x7fc00000);
            rowCorrect[n] = (valid && arg == label) ? 1.0f : 0.0f;
        }
        if (dlogits != nullptr) {
            const float invN = 1.0f / (float) N;
            const float invSum = 1.0f / sum;
            float* drow = dlogits + (size_t) n * K;
            for (int i = lane; i < K; i += 32) {
                float pr = expf(row[i] - best) * invSum;
                drow[i] = (pr - (i == label ? 1.0f : 0.0f)) * invN;
            }
        }
    }
}

// softmax_ce_accumulate v2: a single block; thread t sums rows t, t + blockDim, ... in order (loss
// in double, count as an integer), then fixed trees; thread 0 adds to metrics.
NN_KERNEL void softmax_ce_accumulate(const float* __restrict__ rowLoss, const float* __restrict__ rowCorrect,
                                     int N, float* __restrict__ metrics) {
    __shared__ double buf[NN_REDUCE_THREADS];
    double loss = 0.0;
    double correct = 0.0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        loss += (double) rowLoss[n];
        correct += (double) rowCorrect[n];
    }
    double totalLoss = nn_block_sum_d(loss, buf);
    double totalCorrect = nn_block_sum_d(correct, buf);
    if (threadIdx.x == 0) {
        metrics[0] = (float) ((double) metrics[0] + totalLoss);
        metrics[1] = (float) ((double) metrics[1] + totalCorrect);
    }
}
