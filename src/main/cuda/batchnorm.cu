// batchnorm.cu: batch norm over (N, C) or (N, C, H, W) with PyTorch's semantics; statistics per
// channel over m = N*L values, L = H*W (L = 1 for 2-D input). Element (n, c, l) sits at
// (n*C + c)*L + l. Slice j in [0, m) of channel c is element (j / L, c, j % L).
//
// Training forward: batchnorm_stats_partial -> batchnorm_stats_finalize -> batchnorm_normalize.
// Backward: batchnorm_backward_partial -> batchnorm_backward_finalize -> batchnorm_backward_dx.
// Every channel is split over G blocks (G from LaunchGeometry.batchNormGroups), so 6 or 16
// channels still fill the GPU; partials are merged in fixed order: deterministic.
#include "common.cuh"

// j < m = N*L <= N*C*L <= 2^31 - 1 (NormGeometry checks the element count), so the division is
// done in 32 bits, not per element in 64.
__device__ __forceinline__ size_t bn_index(long long j, int c, int C, int L) {
    const unsigned n = (unsigned) j / (unsigned) L;
    const unsigned l = (unsigned) j - n * (unsigned) L;
    return ((size_t) n * C + c) * L + l;
}

// Chan's merge of two (count, mean, M2) summaries into the first.
__device__ __forceinline__ void bn_chan_merge(float& na, float& ma, float& m2a, float nb, float mb, float m2b) {
    float n = na + nb;
    if (nb == 0.0f) return;
    float delta = mb - ma;
    float fb = nb / n;
    ma = ma + delta * fb;
    m2a = m2a + m2b + delta * delta * na * fb;
    na = n;
}

// batchnorm_stats_partial v3: Welford per thread over a strided part of the block's slice, then
// a fixed tree of Chan merges in shared memory. Grid (G, C); block (g, c) covers
// j in [g*chunk, min(m, (g+1)*chunk)). Writes partials[c][g] = (count, mean, M2).
NN_KERNEL void batchnorm_stats_partial(const float* __restrict__ x,  // (N, C, L)
                                       float* __restrict__ partials,  // (C, G, 3)
                                       int N, int C, int L, int chunk) {
    __shared__ float sn[NN_REDUCE_THREADS];
    __shared__ float sm[NN_REDUCE_THREADS];
    __shared__ float s2[NN_REDUCE_THREADS];
    const int g = blockIdx.x;
    const int G = gridDim.x;
    const int c = blockIdx.y;
    const long long m = (long long) N * L;
    const long long j0 = (long long) g * chunk;
    const long long j1 = min(m, j0 + chunk);
    int count = 0;
    float mean = 0.0f;
    float m2 = 0.0f;
    for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        float v = x[bn_index(j, c, C, L)];
        count++;
        float delta = v - mean;
        mean += delta / (float) count;
        m2 += delta * (v - mean);
    }
    sn[threadIdx.x] = (float) count;
    sm[threadIdx.x] = mean;
    s2[threadIdx.x] = m2;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float na = sn[threadIdx.x], ma = sm[threadIdx.x], m2a = s2[threadIdx.x];
            bn_chan_merge(na, ma, m2a, sn[threadIdx.x + s], sm[threadIdx.x + s], s2[threadIdx.x + s]);
            sn[threadIdx.x] = na;
            sm[threadIdx.x] = ma;
            s2[threadIdx.x] = m2a;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        float* out = partials + ((size_t) c * G + g) * 3;
        out[0] = sn[0];
        out[1] = sm[0];
        out[2] = s2[0];
    }
}

// batchnorm_stats_finalize v3: one thread per channel merges its G partials in order (Chan, in
// double), then writes saveMean, saveInvStd = 1/sqrt(var + eps) with the biased variance, and
// updates the running statistics with PyTorch's convention: momentum weights the new value, and
// the running variance takes the unbiased var * m / (m - 1).
NN_KERNEL void batchnorm_stats_finalize(const float* __restrict__ partials,  // (C, G, 3)
                                        int C, int G, long long m,
                                        float* __restrict__ runningMean,  // (C)
                                        float* __restrict__ runningVar,   // (C)
                                        float* __restrict__ saveMean,     // (C)
                                        float* __restrict__ saveInvStd,   // (C)
                                        float momentum, float eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int g = 0; g < G; g++) {
        const float* in = partials + ((size_t) c * G + g) * 3;
        double nb = in[0];
        if (nb == 0.0) continue;
        double mb = in[1], m2b = in[2];
        double total = n + nb;
        double delta = mb - mean;
        mean += delta * nb / total;
        m2 += m2b + delta * delta * n * nb / total;
        n = total;
    }
    double var = m2 / (double) m;
    saveMean[c] = (float) mean;
    saveInvStd[c] = (float) (1.0 / sqrt(var + (double) eps));
    double unbiased = m2 / (double) (m - 1);
    runningMean[c] = (float) ((1.0 - momentum) * runningMean[c] + momentum * mean);
    runningVar[c] = (float) ((1.0 - momentum) * runningVar[c] + momentum * unbiased);
}

// batchnorm_normalize v1: y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c], grid-stride over
// the N*C*L elements. Used by training (saved statistics) after batchnorm_stats_finalize.
NN_KERNEL void batchnorm_normalize(const float* __restrict__ x, const float* __restrict__ gamma,
                                   const float* __restrict__ beta, const float* __restrict__ mean,
                                   const float* __restrict__ invstd, float* __restrict__ y,
                                   int C, int L, int total) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        y[i] = gamma[c] * ((x[i] - mean[c]) * invstd[c]) + beta[c];
    }
}

// batchnorm_forward_eval v1: y = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta.
NN_KERNEL void batchnorm_forward_eval(const float* __restrict__ x, const float* __restrict__ gamma,
                                      const float* __restrict__ beta,
                                      const float* __restrict__ runningMean,
                                      const float* __restrict__ runningVar, float* __restrict__ y,
                                      int C, int L, int total, float eps) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        float invstd = 1.0f / sqrtf(runningVar[c] + eps);
        y[i] = gamma[c] * ((x[i] - runningMean[c]) * invstd) + beta[c];
    }
}

// batchnorm_backward_partial v2: per block (g, c), the sums of dy and dy * xhat over the block's
// slice (xhat = (x - saveMean) * saveInvStd), each thread strided, then a fixed tree.
// Writes partials[c][g] = (sum dy, sum dy * xhat).
NN_KERNEL void batchnorm_backward_partial(const float* __restrict__ x, const float* __restrict__ dy,
                                          const float* __restrict__ saveMean,
                                          const float* __restrict__ saveInvStd,
                                          float* __restrict__ partials,  // (C, G, 2)
                                          int N, int C, int L, int chunk) {
    __shared__ float buf[NN_REDUCE_THREADS];
    const int g = blockIdx.x;
    const int G = gridDim.x;
    const int c = blockIdx.y;
    const long long m = (long long) N * L;
    const long long j0 = (long long) g * chunk;
    const long long j1 = min(m, j0 + chunk);
    const float mean = saveMean[c];
    const float invstd = saveInvStd[c];
    float sdy = 0.0f;
    float sdyx = 0.0f;
    for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        size_t i = bn_index(j, c, C, L);
        float d = dy[i];
        sdy += d;
        sdyx = fmaf(d, (x[i] - mean) * invstd, sdyx);
    }
    float a = nn_block_sum(sdy, buf);
    float b = nn_block_sum(sdyx, buf);
    if (threadIdx.x == 0) {
        float* out = partials + ((size_t) c * G + g) * 2;
        out[0] = a;
        out[1] = b;
    }
}

// batchnorm_backward_finalize v2: one thread per channel sums its G partials in order (double):
// dbeta = sum(dy), dgamma = sum(dy * xhat).
NN_KERNEL void batchnorm_backward_finalize(const float* __restrict__ partials,  // (C, G, 2)
                                           int C, int G,
                                           float* __restrict__ dgamma, float* __restrict__ dbeta) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0.0, b = 0.0;
    for (int g = 0; g < G; g++) {
        a += partials[((size_t) c * G + g) * 2];
        b += partials[((size_t) c * G + g) * 2 + 1];
    }
    dbeta[c] = (float) a;
    dgamma[c] = (float) b;
}

// batchnorm_backward_dx v1: dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma).
// dx may alias dy (each element is read before it is written by the same thread).
NN_KERNEL void batchnorm_backward_dx(const float* x, const float* dy,
                                     const float* __restrict__ gamma,
                                     const float* __restrict__ saveMean,
                                     const float* __restrict__ saveInvStd,
                                     const float* __restrict__ dgamma,
                                     const float* __restrict__ dbeta,
                                     float* dx, int C, int L, int total, float m) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        float invstd = saveInvStd[c];
        float xhat = (x[i] - saveMean[c]) * invstd;
        dx[i] = gamma[c] * invstd / m * (m * dy[i] - dbeta[c] - xhat * dgamma[c]);
    }
}
