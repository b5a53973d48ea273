// batchnorm.cu: batch norm over (N, C) or (N, C, H, W) with PyTorch's semantics; statistics per
// channel over m = N*L values, L = H*W (L = 1 for 2-D input). Element (n, c, l) sits at
// (n*C + c)*L + l. Slice j in [0, m) of channel c is element (j / L, c, j % L).
//
// Training forward: batchnorm_stats -> batchnorm_normalize (or batchnorm_normalize_pool).
// Backward: batchnorm_backward_reduce -> batchnorm_backward_dx. When each channel is one block
// (m values <= LaunchGeometry.BN_VALUES_PER_BLOCK, as after a linear layer), each pair is one
// launch: batchnorm_stats_normalize and batchnorm_backward_reduce_dx.
// The element-wise kernels take an activation (act, NN_ACT_* of common.cuh) applied to y, so
// that a Sigmoid or ReLU after the batch norm costs no launch: the forward writes act(y), and
// the backward passes take the activation's output and its gradient and find the batch norm's
// output gradient from them element by element (nn_act_grad), where a separate launch would
// have written it to memory. An average pooling over k x k tiles after the activation (stride k,
// no padding, k dividing H and W: LeNet's 2x2 pools) rides along too: batchnorm_normalize_pool
// writes the activation's output and the pooled output, and the backward passes take the pooled
// gradient (pool = k; 0 when no pooling follows) and find each element's share of it (bn_out_grad).
// Every channel is split over G blocks (G from LaunchGeometry.batchNormSplit), so 6 or 16
// channels still fill the GPU; the last block of each channel to finish merges the channel's
// partials in a fixed order and tree, the same whichever block it is: deterministic, and no
// launch of its own.
#include "common.cuh"

// Walks the elements (n, c, l) of one channel c at slice positions j, j + step, j + 2*step, ...
// without a division per element: (n, l) advance by (step / L, step % L) with one carry.
// Every index fits in 32 bits: j < m = N*L and (n*C + c)*L + l < N*C*L <= 2^31 - 1 (NormGeometry
// checks the element count).
struct BnWalk {
    unsigned n, l;              // slice position j = n*L + l
    unsigned dn, dl;            // step = dn*L + dl, dl < L
    unsigned rowStart, rowStep;  // (n*C + c)*L and C*L

    __device__ __forceinline__ BnWalk(unsigned j, unsigned step, int c, int C, int L) {
        n = j / (unsigned) L;
        l = j - n * (unsigned) L;
        dn = step / (unsigned) L;
        dl = step - dn * (unsigned) L;
        rowStep = (unsigned) C * (unsigned) L;
        rowStart = (n * (unsigned) C + (unsigned) c) * (unsigned) L;
    }

    __device__ __forceinline__ unsigned index() const { return rowStart + l; }

    __device__ __forceinline__ void advance(unsigned L) {
        l += dl;
        rowStart += dn * rowStep;
        if (l >= L) {
            l -= L;
            rowStart += rowStep;
        }
    }
};

// Chan's merge of two (count, mean, M2) summaries into the first (T float or double).
template <typename T>
__device__ __forceinline__ void bn_chan_merge(T& na, T& ma, T& m2a, T nb, T mb, T m2b) {
    if (nb == T(0)) return;
    T n = na + nb;
    T delta = mb - ma;
    T fb = nb / n;
    ma = ma + delta * fb;
    m2a = m2a + m2b + delta * delta * na * fb;
    na = n;
}

// Each thread's summary (n, mean, m2) merged over the block in a fixed tree of Chan merges;
// the block's summary ends in sn[0], sm[0], s2[0]. blockDim.x must be a power of two and the
// arrays hold blockDim.x values; every thread must call it.
template <typename T>
__device__ __forceinline__ void bn_chan_tree(T* sn, T* sm, T* s2, T n, T mean, T m2) {
    sn[threadIdx.x] = n;
    sm[threadIdx.x] = mean;
    s2[threadIdx.x] = m2;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            T na = sn[threadIdx.x], ma = sm[threadIdx.x], m2a = s2[threadIdx.x];
            bn_chan_merge(na, ma, m2a, sn[threadIdx.x + s], sm[threadIdx.x + s], s2[threadIdx.x + s]);
            sn[threadIdx.x] = na;
            sm[threadIdx.x] = ma;
            s2[threadIdx.x] = m2a;
        }
        __syncthreads();
    }
}

// The summary (count, mean, M2) of block (g, c)'s slice j in [g*chunk, min(m, (g+1)*chunk)),
// written by thread 0 to partials[c][g] (partials (C, G, 3)): each thread summarizes a strided part, four values at a time (their
// mean and M2, then one Chan merge: one division per four values instead of Welford's one per
// value), the last few one by one (Welford); then a fixed tree of Chan merges in shared memory.
// Every thread of the block must call it.
__device__ __forceinline__ void bn_stats_block(const float* __restrict__ x, float* partials, float* sn, float* sm,
                                               float* s2, int N, int C, int L, int chunk) {
    const int g = blockIdx.x;
    const int c = blockIdx.y;
    const unsigned m = (unsigned) N * (unsigned) L;
    const unsigned step = blockDim.x;
    const unsigned j0 = (unsigned) g * (unsigned) chunk;
    const unsigned j1 = min(m, j0 + (unsigned) chunk);  // j0 + chunk < 2^32: j0 < m < 2^31, chunk <= m
    unsigned j = j0 + threadIdx.x;
    BnWalk at(j, step, c, C, L);
    float count = 0.0f;
    float mean = 0.0f;
    float m2 = 0.0f;
    for (; j + 3 * step < j1; j += 4 * step) {
        float v0 = x[at.index()];
        at.advance(L);
        float v1 = x[at.index()];
        at.advance(L);
        float v2 = x[at.index()];
        at.advance(L);
        float v3 = x[at.index()];
        at.advance(L);
        float qm = ((v0 + v1) + (v2 + v3)) * 0.25f;
        float d0 = v0 - qm, d1 = v1 - qm, d2 = v2 - qm, d3 = v3 - qm;
        float q2 = fmaf(d3, d3, fmaf(d2, d2, fmaf(d1, d1, d0 * d0)));
        bn_chan_merge(count, mean, m2, 4.0f, qm, q2);
    }
    for (; j < j1; j += step) {
        float v = x[at.index()];
        at.advance(L);
        count += 1.0f;
        float delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    bn_chan_tree(sn, sm, s2, count, mean, m2);
    if (threadIdx.x == 0) {
        float* out = partials + ((size_t) c * gridDim.x + g) * 3;
        out[0] = sn[0];
        out[1] = sm[0];
        out[2] = s2[0];
    }
}

// Channel c's statistics from its G partials (count, mean, M2) at part[0..3G), merged by the
// block: thread t merges partials t, t + blockDim, ... in order, then a fixed tree of Chan
// merges, all in double, so the result does not depend on which block merges or when. Thread 0
// writes saveMean, saveInvStd = 1/sqrt(var + eps) with the biased variance, and updates the
// running statistics with PyTorch's convention: momentum weights the new value, and the running
// variance takes the unbiased var * m / (m - 1); for channel 0 it also counts the batch in
// batchesTracked[0] (PyTorch's num_batches_tracked) when that is given. The partials are read
// through L2 (__ldcg): other blocks of the same launch wrote them.
__device__ __forceinline__ void bn_stats_merge(const float* part, int c, int G, long long m, double* sn, double* sm,
                                               double* s2, float* __restrict__ runningMean,
                                               float* __restrict__ runningVar, float* __restrict__ saveMean,
                                               float* __restrict__ saveInvStd, float* __restrict__ batchesTracked,
                                               float momentum, float eps) {
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int g = threadIdx.x; g < G; g += blockDim.x) {
        const float* in = part + (size_t) g * 3;
        bn_chan_merge(n, mean, m2, (double) __ldcg(in), (double) __ldcg(in + 1), (double) __ldcg(in + 2));
    }
    bn_chan_tree(sn, sm, s2, n, mean, m2);
    if (threadIdx.x == 0) {
        double var = s2[0] / (double) m;
        saveMean[c] = (float) sm[0];
        saveInvStd[c] = (float) (1.0 / sqrt(var + (double) eps));
        double unbiased = s2[0] / (double) (m - 1);
        runningMean[c] = (float) ((1.0 - momentum) * runningMean[c] + momentum * sm[0]);
        runningVar[c] = (float) ((1.0 - momentum) * runningVar[c] + momentum * unbiased);
        if (batchesTracked != nullptr && c == 0) {
            batchesTracked[0] += 1.0f;
        }
    }
}

// The shared memory of the statistics kernels: the block's tree of (count, mean, M2) in float
// (bn_stats_block), and the merge's in double (bn_stats_merge).
struct BnStatsShared {
    float n[NN_REDUCE_THREADS], mean[NN_REDUCE_THREADS], m2[NN_REDUCE_THREADS];
    double dn[NN_REDUCE_THREADS], dmean[NN_REDUCE_THREADS], dm2[NN_REDUCE_THREADS];
};

// batchnorm_stats v1: the training statistics in one launch. Grid (G, C), blockDim
// NN_REDUCE_THREADS: block (g, c) summarizes its slice (bn_stats_block) into partials[c][g] =
// (count, mean, M2); the last block of channel c to finish (nn_last_block on an integer ticket per
// channel) merges the channel's G partials (bn_stats_merge). The same bits as a separate merge
// launch (which it replaces) in any block order. tickets (C) must be 0 before the first launch.
NN_KERNEL void batchnorm_stats(const float* __restrict__ x,  // (N, C, L)
                               float* partials,                // (C, G, 3)
                               unsigned int* tickets,          // (C)
                               int N, int C, int L, int chunk, long long m,
                               float* __restrict__ runningMean,  // (C)
                               float* __restrict__ runningVar,   // (C)
                               float* __restrict__ saveMean,     // (C)
                               float* __restrict__ saveInvStd,   // (C)
                               float* __restrict__ batchesTracked,  // (1) or null
                               float momentum, float eps) {
    __shared__ BnStatsShared sh;
    const int G = gridDim.x;
    const int c = blockIdx.y;
    bn_stats_block(x, partials, sh.n, sh.mean, sh.m2, N, C, L, chunk);
    if (nn_last_block(&tickets[c], (unsigned) G)) {
        bn_stats_merge(partials + (size_t) c * G * 3, c, G, m, sh.dn, sh.dmean, sh.dm2, runningMean, runningVar,
                       saveMean, saveInvStd, batchesTracked, momentum, eps);
    }
}

// The value act(gamma * ((x - mean) * invstd) + beta) of one element: every normalizing kernel
// computes it here, so that they give the same bits.
__device__ __forceinline__ float bn_act_value(int act, float x, float mean, float invstd, float gamma, float beta) {
    return nn_act(act, gamma * ((x - mean) * invstd) + beta);
}

// batchnorm_normalize v2: y = act(gamma[c] * (x - mean[c]) * invstd[c] + beta[c]), grid-stride
// over the N*C*L elements. Used by training (saved statistics) after batchnorm_stats.
NN_KERNEL void batchnorm_normalize(const float* __restrict__ x, const float* __restrict__ gamma,
                                   const float* __restrict__ beta, const float* __restrict__ mean,
                                   const float* __restrict__ invstd, float* __restrict__ y,
                                   int C, int L, int total, int act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        y[i] = bn_act_value(act, x[i], mean[c], invstd[c], gamma[c], beta[c]);
    }
}

// batchnorm_forward_eval v2: y = act(gamma * (x - runningMean) / sqrt(runningVar + eps) + beta).
NN_KERNEL void batchnorm_forward_eval(const float* __restrict__ x, const float* __restrict__ gamma,
                                      const float* __restrict__ beta,
                                      const float* __restrict__ runningMean,
                                      const float* __restrict__ runningVar, float* __restrict__ y,
                                      int C, int L, int total, float eps, int act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        float invstd = 1.0f / sqrtf(runningVar[c] + eps);
        y[i] = bn_act_value(act, x[i], runningMean[c], invstd, gamma[c], beta[c]);
    }
}

// batchnorm_normalize_pool v1: batchnorm_normalize (eval == 0: mean and scale are saveMean and
// saveInvStd) or batchnorm_forward_eval (eval != 0: the running mean and variance, invstd =
// 1 / sqrtf(var + eps)), then average pooling over k x k tiles (stride k, no padding; k divides
// H and W), in one pass: one thread per pooled output (n, c, p, q) writes the k*k values of its
// tile to y and pooled = (their sum from 0, row-major) * (1 / (k*k)), as avg_pool2d_forward
// sums: the bits of the two launches it replaces. total = N*C*(H/k)*(W/k) < 2^31.
NN_KERNEL void batchnorm_normalize_pool(const float* __restrict__ x, const float* __restrict__ gamma,
                                        const float* __restrict__ beta, const float* __restrict__ mean,
                                        const float* __restrict__ scale, float* __restrict__ y,
                                        float* __restrict__ pooled, int C, int H, int W, int k, int total,
                                        float eps, int eval, int act) {
    const unsigned P = (unsigned) (H / k), Q = (unsigned) (W / k);
    const float inv = 1.0f / (float) (k * k);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        const unsigned row = (unsigned) i / Q;
        const unsigned q = (unsigned) i - row * Q;
        const unsigned plane = row / P;
        const unsigned p = row - plane * P;
        const int c = (int) (plane % (unsigned) C);
        const float mu = mean[c];
        const float invstd = eval ? 1.0f / sqrtf(scale[c] + eps) : scale[c];
        const float g = gamma[c];
        const float b = beta[c];
        const size_t base = ((size_t) plane * H + p * k) * W + q * k;
        float sum = 0.0f;
        for (int r = 0; r < k; r++) {
            for (int s = 0; s < k; s++) {
                const size_t j = base + (size_t) r * W + s;
                float v = bn_act_value(act, x[j], mu, invstd, g, b);
                y[j] = v;
                sum += v;
            }
        }
        pooled[i] = sum * inv;
    }
}

// The gradient of the activation's output at element i of (planes, H, W) = (N*C, L / W, W):
// ady[i]; or, when an average pooling over k x k tiles follows (pool = k > 0: stride k, no
// padding, k divides H and W) and ady is its output's gradient (planes, H/k, W/k), the pooling's
// backward at i as avg_pool2d_backward computes it: (0 + ady[i's tile]) * inv, inv = 1 / (k*k).
__device__ __forceinline__ float bn_out_grad(const float* ady, unsigned i, int pool, int L, int W, float inv) {
    if (pool == 0) {
        return ady[i];
    }
    const unsigned row = i / (unsigned) W;  // plane * H + h
    const unsigned w = i - row * (unsigned) W;
    const unsigned H = (unsigned) (L / W);
    const unsigned plane = row / H;
    const unsigned h = row - plane * H;
    const unsigned P = H / (unsigned) pool, Q = (unsigned) W / (unsigned) pool;
    float sum = 0.0f;
    sum += ady[((size_t) plane * P + h / (unsigned) pool) * Q + w / (unsigned) pool];
    return sum * inv;
}

// 1 / (k*k) for bn_out_grad (avg_pool2d_backward's factor); unused without pooling.
__device__ __forceinline__ float bn_pool_inv(int pool) {
    return pool == 0 ? 1.0f : 1.0f / (float) (pool * pool);
}

// The sums of dy and dy * xhat over block (g, c)'s slice (xhat = (x - saveMean) * saveInvStd),
// each thread strided (BnWalk, no division per element), then a fixed tree; thread 0 writes them
// to partials[c][g] (partials (C, G, 2)). dy is the batch norm's output gradient,
// nn_act_grad(act, ay, i, bn_out_grad(ady, i, ...)) from the activation's output ay and its
// gradient (ady, or the gradient of the average pooling after it when pool > 0; W is the plane
// width); ay is not read for the identity. Every thread of the block must call it.
__device__ __forceinline__ void bn_backward_block(const float* __restrict__ x, const float* __restrict__ ay,
                                                  const float* __restrict__ ady,
                                                  const float* __restrict__ saveMean,
                                                  const float* __restrict__ saveInvStd, float* partials, float* buf,
                                                  int N, int C, int L, int chunk, int act, int pool, int W) {
    const int g = blockIdx.x;
    const int c = blockIdx.y;
    const unsigned m = (unsigned) N * (unsigned) L;
    const unsigned step = blockDim.x;
    const unsigned j0 = (unsigned) g * (unsigned) chunk;
    const unsigned j1 = min(m, j0 + (unsigned) chunk);
    const float mean = saveMean[c];
    const float invstd = saveInvStd[c];
    const float inv = bn_pool_inv(pool);
    unsigned j = j0 + threadIdx.x;
    BnWalk at(j, step, c, C, L);
    float sdy = 0.0f;
    float sdyx = 0.0f;
    for (; j < j1; j += step) {
        unsigned i = at.index();
        at.advance(L);
        float d = nn_act_grad(act, ay, i, bn_out_grad(ady, i, pool, L, W, inv));
        sdy += d;
        sdyx = fmaf(d, (x[i] - mean) * invstd, sdyx);
    }
    float a = nn_block_sum(sdy, buf);
    float b = nn_block_sum(sdyx, buf);
    if (threadIdx.x == 0) {
        float* out = partials + ((size_t) c * gridDim.x + g) * 2;
        out[0] = a;
        out[1] = b;
    }
}

// Channel c's dbeta = sum(dy) and dgamma = sum(dy * xhat) from its G partials at part[0..2G),
// summed by the block: thread t sums partials t, t + blockDim, ... in order, then a fixed tree,
// all in double. Read through L2 (__ldcg), as in bn_stats_merge.
__device__ __forceinline__ void bn_backward_merge(const float* part, int c, int G, double* buf,
                                                  float* __restrict__ dgamma, float* __restrict__ dbeta) {
    double a = 0.0, b = 0.0;
    for (int g = threadIdx.x; g < G; g += blockDim.x) {
        a += __ldcg(part + (size_t) g * 2);
        b += __ldcg(part + (size_t) g * 2 + 1);
    }
    a = nn_block_sum_d(a, buf);
    b = nn_block_sum_d(b, buf);
    if (threadIdx.x == 0) {
        dbeta[c] = (float) a;
        dgamma[c] = (float) b;
    }
}

// batchnorm_backward_reduce v2: v1 with the pooled gradient of a fused average pooling (pool, W;
// pool = 0: none). Grid (G, C), blockDim NN_REDUCE_THREADS: block (g, c) sums dy and dy * xhat
// over its slice (bn_backward_block) into partials[c][g]; the last block of channel c to finish
// (nn_last_block) sums the channel's G partials (bn_backward_merge). The same bits as a separate
// merge launch (which it replaces) in any block order. tickets (C) must be 0 before the first
// launch.
NN_KERNEL void batchnorm_backward_reduce(const float* __restrict__ x, const float* __restrict__ ay,
                                         const float* __restrict__ ady,
                                         const float* __restrict__ saveMean,
                                         const float* __restrict__ saveInvStd,
                                         float* partials,        // (C, G, 2)
                                         unsigned int* tickets,  // (C)
                                         float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         int N, int C, int L, int chunk, int act, int pool, int W) {
    __shared__ float buf[NN_REDUCE_THREADS];
    __shared__ double dbuf[NN_REDUCE_THREADS];
    const int G = gridDim.x;
    const int c = blockIdx.y;
    bn_backward_block(x, ay, ady, saveMean, saveInvStd, partials, buf, N, C, L, chunk, act, pool, W);
    if (nn_last_block(&tickets[c], (unsigned) G)) {
        bn_backward_merge(partials + (size_t) c * G * 2, c, G, dbuf, dgamma, dbeta);
    }
}

// dx of one element: gamma * invstd / m * (m * dy - dbeta - xhat * dgamma), xhat = (x - mean) *
// invstd; every kernel that writes dx computes it here, so that they give the same bits.
__device__ __forceinline__ float bn_dx_value(float x, float dy, float mean, float invstd, float gamma, float dgamma,
                                             float dbeta, float m) {
    float xhat = (x - mean) * invstd;
    return gamma * invstd / m * (m * dy - dbeta - xhat * dgamma);
}

// batchnorm_backward_dx v3: dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma), dy as in
// batchnorm_backward_reduce from the activation's output ay and gradient ady, or the pooled
// gradient ady when pool > 0 (v2 had no pooling). Without pooling dx may alias ady (each element
// is read before it is written by the same thread).
NN_KERNEL void batchnorm_backward_dx(const float* x, const float* ay, const float* ady,
                                     const float* __restrict__ gamma,
                                     const float* __restrict__ saveMean,
                                     const float* __restrict__ saveInvStd,
                                     const float* __restrict__ dgamma,
                                     const float* __restrict__ dbeta,
                                     float* dx, int C, int L, int total, float m, int act, int pool, int W) {
    const float inv = bn_pool_inv(pool);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        int c = (i / L) % C;
        float dy = nn_act_grad(act, ay, i, bn_out_grad(ady, (unsigned) i, pool, L, W, inv));
        dx[i] = bn_dx_value(x[i], dy, saveMean[c], saveInvStd[c], gamma[c], dgamma[c], dbeta[c], m);
    }
}

// batchnorm_stats_normalize v1: batchnorm_stats then batchnorm_normalize in one launch, for
// channels of one block each (G == 1: m <= LaunchGeometry.BN_VALUES_PER_BLOCK, as after a linear
// layer). Grid (1, C), blockDim NN_REDUCE_THREADS: block c summarizes its channel
// (bn_stats_block), merges its one partial (bn_stats_merge, as the last block of a one-block
// channel does in batchnorm_stats: no ticket, the block is alone), then writes
// y = act(gamma * xhat + beta) over the channel from the saveMean and saveInvStd it wrote: the
// bits of the two launches.
NN_KERNEL void batchnorm_stats_normalize(const float* __restrict__ x, float* partials,  // (C, 1, 3)
                                         int N, int C, int L, long long m,
                                         float* __restrict__ runningMean, float* __restrict__ runningVar,
                                         float* saveMean, float* saveInvStd,
                                         float* __restrict__ batchesTracked,  // (1) or null
                                         float momentum, float eps, const float* __restrict__ gamma,
                                         const float* __restrict__ beta, float* __restrict__ y, int act) {
    __shared__ BnStatsShared sh;
    const int c = blockIdx.y;
    bn_stats_block(x, partials, sh.n, sh.mean, sh.m2, N, C, L, (int) m);
    __syncthreads();  // thread 0 wrote the partial; thread 0 merges it
    bn_stats_merge(partials + (size_t) c * 3, c, 1, m, sh.dn, sh.dmean, sh.dm2, runningMean, runningVar, saveMean,
                   saveInvStd, batchesTracked, momentum, eps);
    __syncthreads();  // saveMean and saveInvStd, written by thread 0, for every thread
    const float mean = saveMean[c];
    const float invstd = saveInvStd[c];
    const float g = gamma[c];
    const float b = beta[c];
    unsigned j = threadIdx.x;
    BnWalk at(j, blockDim.x, c, C, L);
    for (; j < (unsigned) m; j += blockDim.x) {
        unsigned i = at.index();
        at.advance(L);
        y[i] = bn_act_value(act, x[i], mean, invstd, g, b);
    }
}

// batchnorm_backward_reduce_dx v1: batchnorm_backward_reduce then batchnorm_backward_dx (no
// pooling) in one launch, for channels of one block each (G == 1). Grid (1, C), blockDim
// NN_REDUCE_THREADS: block c sums its channel (bn_backward_block), merges its one partial
// (bn_backward_merge: dbeta, dgamma), then writes dx over the channel from the dgamma and dbeta
// it wrote: the bits of the two launches. dx may alias ady: the channel's elements are this
// block's alone, and each is read before this thread writes it.
NN_KERNEL void batchnorm_backward_reduce_dx(const float* x, const float* ay, const float* ady,
                                            const float* __restrict__ gamma,
                                            const float* __restrict__ saveMean,
                                            const float* __restrict__ saveInvStd,
                                            float* partials,  // (C, 1, 2)
                                            float* dgamma, float* dbeta, float* dx,
                                            int N, int C, int L, float m, int act) {
    __shared__ float buf[NN_REDUCE_THREADS];
    __shared__ double dbuf[NN_REDUCE_THREADS];
    const int c = blockIdx.y;
    const unsigned values = (unsigned) N * (unsigned) L;
    bn_backward_block(x, ay, ady, saveMean, saveInvStd, partials, buf, N, C, L, (int) values, act, 0, 1);
    __syncthreads();  // thread 0 wrote the partial; thread 0 merges it
    bn_backward_merge(partials + (size_t) c * 2, c, 1, dbuf, dgamma, dbeta);
    __syncthreads();  // dgamma and dbeta, written by thread 0, for every thread
    const float mean = saveMean[c];
    const float invstd = saveInvStd[c];
    const float g = gamma[c];
    const float dg = dgamma[c];
    const float db = dbeta[c];
    unsigned j = threadIdx.x;
    BnWalk at(j, blockDim.x, c, C, L);
    for (; j < values; j += blockDim.x) {
        unsigned i = at.index();
        at.advance(L);
        float dy = nn_act_grad(act, ay, i, ady[i]);
        dx[i] = bn_dx_value(x[i], dy, mean, invstd, g, dg, db, m);
    }
}
