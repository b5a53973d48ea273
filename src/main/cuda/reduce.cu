// reduce.cu: the fixed-order merge of per-block partials used by the deterministic reductions
// (conv2d backward-filter, split-K GEMM).
#include "common.cuh"

// partials_merge v1: one block per output column o in [0, T); partials (G, T) row-major.
// Thread t sums partials[g][o] for g = t, t + blockDim, ... in increasing g (in double), then a
// fixed tree combines the threads. out0[o] = sum for o < T0, out1[o - T0] = sum otherwise, plus
// bias[(o % biasPeriod)] when bias is not null. The tree shape depends only on blockDim and G,
// so the result is the same bits every run.
NN_KERNEL void partials_merge(const float* __restrict__ partials,  // (G, T)
                              int G, int T,
                              float* __restrict__ out0, int T0,
                              float* __restrict__ out1,
                              const float* __restrict__ bias, int biasPeriod) {
    __shared__ double buf[NN_REDUCE_THREADS];
    for (int o = blockIdx.x; o < T; o += gridDim.x) {
        double acc = 0.0;
        for (int g = threadIdx.x; g < G; g += blockDim.x) {
            acc += (double) partials[(size_t) g * T + o];
        }
        double total = nn_block_sum_d(acc, buf);
        if (threadIdx.x == 0) {
            float r = (float) total;
            if (bias != nullptr) {
                r += bias[o % biasPeriod];
            }
            if (o < T0) {
                out0[o] = r;
            } else {
                out1[o - T0] = r;
            }
        }
    }
}

// partials_merge_serial v1: one thread per output column o; sums partials[g][o] for g = 0..G-1
// in order (in double). Reads are coalesced across threads; used when G is small (split-K GEMM),
// where a block per column would leave most threads idle. Outputs as partials_merge.
NN_KERNEL void partials_merge_serial(const float* __restrict__ partials,  // (G, T)
                                     int G, int T,
                                     float* __restrict__ out0, int T0,
                                     float* __restrict__ out1,
                                     const float* __restrict__ bias, int biasPeriod) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < T; o += gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int g = 0; g < G; g++) {
            acc += (double) partials[(size_t) g * T + o];
        }
        float r = (float) acc;
        if (bias != nullptr) {
            r += bias[o % biasPeriod];
        }
        if (o < T0) {
            out0[o] = r;
        } else {
            out1[o - T0] = r;
        }
    }
}
