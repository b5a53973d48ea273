// pool.cu: 2-D average and max pooling, forward and backward, float32 NCHW.
// x (N, C, H, W), y (N, C, P, Q), window k, stride st, zero padding pad <= k/2,
// P = (H + 2*pad - k) / st + 1 (floor). Every image plane (n, c) is independent: planes = N*C.
// Backward passes are in gather form: one thread per input pixel sums over the windows that
// cover it, in increasing (p, q), so there are no atomics and the result is deterministic.
#include "common.cuh"

// First and one-past-last output index whose window covers input index i along one axis.
__device__ __forceinline__ void pool_cover(int i, int k, int st, int pad, int P, int& lo, int& hi) {
    int t = i + pad;
    lo = t < k ? 0 : (t - k) / st + 1;
    hi = min(t / st + 1, P);
}

// Flat index (within the plane) of the first maximum in row-major order of the window whose
// top-left corner is (h0, w0), ignoring padding; NaN wins, as in PyTorch. -1 if the window holds
// no input pixel (impossible while pad <= k/2).
__device__ __forceinline__ int pool_argmax(const float* __restrict__ xp, int H, int W, int h0, int w0, int k) {
    float best = -INFINITY;
    int arg = -1;
    for (int r = 0; r < k; r++) {
        int ih = h0 + r;
        if (ih < 0 || ih >= H) continue;
        for (int s = 0; s < k; s++) {
            int iw = w0 + s;
            if (iw < 0 || iw >= W) continue;
            float v = xp[ih * W + iw];
            if (arg < 0 || v > best || isnan(v)) {
                if (isnan(best)) continue;  // the first NaN stays the maximum
                best = v;
                arg = ih * W + iw;
            }
        }
    }
    return arg;
}

// avg_pool2d_forward v2: index division in 32 bits (v1: 64); one thread per output element; padded zeros count in the divisor k*k
// (count_include_pad=True; with pad <= k/2 and floor mode every window has k*k positions).
NN_KERNEL void avg_pool2d_forward(const float* __restrict__ x, float* __restrict__ y,
                                  int planes, int H, int W, int P, int Q, int k, int st, int pad) {
    const long long total = (long long) planes * P * Q;
    const float inv = 1.0f / (float) (k * k);
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        const unsigned u = (unsigned) i;  // i < total <= 2^31 - 1 (PoolGeometry checks): 32-bit division
        const unsigned row = u / (unsigned) Q;
        int q = (int) (u - row * (unsigned) Q);
        int p = (int) (row % (unsigned) P);
        long long plane = row / (unsigned) P;
        const float* xp = x + plane * H * W;
        int h0 = p * st - pad, w0 = q * st - pad;
        float sum = 0.0f;
        for (int r = 0; r < k; r++) {
            int ih = h0 + r;
            if (ih < 0 || ih >= H) continue;
            for (int s = 0; s < k; s++) {
                int iw = w0 + s;
                if (iw < 0 || iw >= W) continue;
                sum += xp[ih * W + iw];
            }
        }
        y[i] = sum * inv;
    }
}

// avg_pool2d_backward v2: index division in 32 bits (v1: 64); dx[ih, iw] = sum over covering windows of dy[p, q] / (k*k).
NN_KERNEL void avg_pool2d_backward(const float* __restrict__ dy, float* __restrict__ dx,
                                   int planes, int H, int W, int P, int Q, int k, int st, int pad) {
    const long long total = (long long) planes * H * W;
    const float inv = 1.0f / (float) (k * k);
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        const unsigned u = (unsigned) i;  // i < total <= 2^31 - 1 (PoolGeometry checks): 32-bit division
        const unsigned row = u / (unsigned) W;
        int iw = (int) (u - row * (unsigned) W);
        int ih = (int) (row % (unsigned) H);
        long long plane = row / (unsigned) H;
        const float* dyp = dy + plane * P * Q;
        int p0, p1, q0, q1;
        pool_cover(ih, k, st, pad, P, p0, p1);
        pool_cover(iw, k, st, pad, Q, q0, q1);
        float sum = 0.0f;
        for (int p = p0; p < p1; p++) {
            for (int q = q0; q < q1; q++) {
                sum += dyp[p * Q + q];
            }
        }
        dx[i] = sum * inv;
    }
}

// max_pool2d_forward v2: index division in 32 bits (v1: 64); one thread per output element; the first maximum in row-major order.
NN_KERNEL void max_pool2d_forward(const float* __restrict__ x, float* __restrict__ y,
                                  int planes, int H, int W, int P, int Q, int k, int st, int pad) {
    const long long total = (long long) planes * P * Q;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        const unsigned u = (unsigned) i;  // i < total <= 2^31 - 1 (PoolGeometry checks): 32-bit division
        const unsigned row = u / (unsigned) Q;
        int q = (int) (u - row * (unsigned) Q);
        int p = (int) (row % (unsigned) P);
        long long plane = row / (unsigned) P;
        const float* xp = x + plane * H * W;
        int arg = pool_argmax(xp, H, W, p * st - pad, q * st - pad, k);
        y[i] = arg < 0 ? -INFINITY : xp[arg];
    }
}

// max_pool2d_backward v2: index division in 32 bits (v1: 64); gather form; each input pixel sums dy over the covering windows whose
// recomputed argmax (same pool_argmax as the forward pass, from x) is this pixel.
NN_KERNEL void max_pool2d_backward(const float* __restrict__ x, const float* __restrict__ dy,
                                   float* __restrict__ dx,
                                   int planes, int H, int W, int P, int Q, int k, int st, int pad) {
    const long long total = (long long) planes * H * W;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        const unsigned u = (unsigned) i;  // i < total <= 2^31 - 1 (PoolGeometry checks): 32-bit division
        const unsigned row = u / (unsigned) W;
        int iw = (int) (u - row * (unsigned) W);
        int ih = (int) (row % (unsigned) H);
        long long plane = row / (unsigned) H;
        const float* xp = x + plane * H * W;
        const float* dyp = dy + plane * P * Q;
        const int self = ih * W + iw;
        int p0, p1, q0, q1;
        pool_cover(ih, k, st, pad, P, p0, p1);
        pool_cover(iw, k, st, pad, Q, q0, q1);
        float sum = 0.0f;
        for (int p = p0; p < p1; p++) {
            for (int q = q0; q < q1; q++) {
                if (pool_argmax(xp, H, W, p * st - pad, q * st - pad, k) == self) {
                    sum += dyp[p * Q + q];
                }
            }
        }
        dx[i] = sum;
    }
}
