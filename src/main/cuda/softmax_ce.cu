// softmax_ce.cu: fused softmax cross-entropy. logits (N, K), labels (N) as exact integers in
// float32. One launch (softmax_ce): one warp per row computes the row's loss with log-sum-exp,
// whether its first arg-max equals the label, and (when dlogits is not null) the gradient of the
// mean loss, (softmax - onehot) / N; per-row results go to scratch, and the last block to finish
// (nn_last_block) sums the N per-row values in a fixed order and adds them to metrics[0] (loss
// sum) and metrics[1] (correct count). No float atomics: deterministic.
// A label outside [0, K) gives a NaN loss for that row (the device cannot throw) and no one-hot in
// its gradient. dlogits may be logits (the gradient written over the logits, in place): each lane
// writes only the classes it read, after the warp's lane 0 has read the label's logit.
#include "common.cuh"

#define SCE_WARPS_PER_BLOCK 8

// The rows of this block: warp w of block b takes rows b*8 + w, + gridDim.x*8, ...; lanes stride
// over the K classes; max and first-arg-max by a shuffle tree on (value, index), sum of
// exp(x - max) by a shuffle tree. Lane 0 writes rowLoss[n] and rowCorrect[n].
__device__ __forceinline__ void sce_rows(const float* logits, const float* __restrict__ labels, float* dlogits,
                                         float* rowLoss, float* rowCorrect, int N, int K) {
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
            __syncwarp();  // lane 0 has read row[label] before any lane writes the row (in place)
            const float invN = 1.0f / (float) N;
            const float invSum = 1.0f / sum;
            float* drow = dlogits + (size_t) n * K;
            for (int i = lane; i < K; i += 32) {
                float pr = expf(row[i] - best) * invSum;
                drow[i] = (pr - ((valid && i == label) ? 1.0f : 0.0f)) * invN;
            }
        }
    }
}

// The N per-row results summed by the block and added to metrics: thread t sums rows t,
// t + blockDim, ... in order (in double; read through L2, __ldcg: other blocks wrote them), then
// fixed trees; thread 0 adds to metrics. blockDim.x a power of two, at most NN_REDUCE_THREADS.
__device__ __forceinline__ void sce_accumulate(const float* rowLoss, const float* rowCorrect, int N,
                                               float* __restrict__ metrics, double* buf) {
    double loss = 0.0;
    double correct = 0.0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        loss += (double) __ldcg(rowLoss + n);
        correct += (double) __ldcg(rowCorrect + n);
    }
    double totalLoss = nn_block_sum_d(loss, buf);
    double totalCorrect = nn_block_sum_d(correct, buf);
    if (threadIdx.x == 0) {
        metrics[0] = (float) ((double) metrics[0] + totalLoss);
        metrics[1] = (float) ((double) metrics[1] + totalCorrect);
    }
}

// softmax_ce v1: one launch, blockDim 32 * SCE_WARPS_PER_BLOCK (= NN_REDUCE_THREADS): each block's
// rows (sce_rows), then the last block to finish (nn_last_block) sums every row's results into
// metrics (sce_accumulate). The same bits as a separate summing launch of NN_REDUCE_THREADS
// threads (which it replaces) in any block order. *ticket must be 0 before the first launch.
NN_KERNEL void softmax_ce(const float* logits,               // (N, K)
                          const float* __restrict__ labels,  // (N)
                          float* dlogits,                    // (N, K), logits itself, or null
                          float* rowLoss,                    // (N)
                          float* rowCorrect,                 // (N)
                          unsigned int* ticket,              // (1)
                          float* __restrict__ metrics,       // (2)
                          int N, int K) {
    __shared__ double buf[32 * SCE_WARPS_PER_BLOCK];
    sce_rows(logits, labels, dlogits, rowLoss, rowCorrect, N, K);
    if (nn_last_block(ticket, gridDim.x)) {
        sce_accumulate(rowLoss, rowCorrect, N, metrics, buf);
    }
}
