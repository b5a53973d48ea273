// conv2d.cu: 2-D convolution (cross-correlation, as PyTorch), float32 NCHW.
// x (N, C, H, W), w (K, C, R, S), b (K), y (N, K, P, Q),
// P = (H + 2*pad - R) / stride + 1, Q = (W + 2*pad - S) / stride + 1.
#include "common.cuh"

// Output channels (forward) or input channels (backward-data) computed by one thread.
#define CONV_CB 8

// conv2d_forward v2: direct convolution tuned for small channel counts (1->6, 6->16, 5x5).
// Grid (ceil(P*Q / blockDim), ceil(K / CONV_CB), min(N, 65535)); the z dimension strides over
// the batch. Each thread owns one output pixel (p, q) of image n and CONV_CB output channels,
// so every input value it loads is reused CONV_CB times from a register. The weights of the
// block's CONV_CB channels are staged in shared memory cChunk input channels at a time,
// laid out (c, r, s, kk) so the CONV_CB weights a thread needs are contiguous (broadcast reads).
// Dynamic shared memory: cChunk * R * S * CONV_CB floats. Correct for any size, stride, padding.
NN_KERNEL void conv2d_forward(const float* __restrict__ x,  // (N, C, H, W)
                              const float* __restrict__ w,  // (K, C, R, S)
                              const float* __restrict__ b,  // (K) or null
                              float* __restrict__ y,        // (N, K, P, Q)
                              int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                              int stride, int pad, int cChunk) {
    extern __shared__ float ws[];  // (cChunk, R, S, CONV_CB)
    const int RS = R * S;
    const int PQ = P * Q;
    const int kBase = blockIdx.y * CONV_CB;
    const int pq = blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = pq < PQ;
    const int p = active ? pq / Q : 0;
    const int q = active ? pq % Q : 0;
    const int ih0 = p * stride - pad;
    const int iw0 = q * stride - pad;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CONV_CB];
#pragma unroll
        for (int kk = 0; kk < CONV_CB; kk++) {
            int k = kBase + kk;
            acc[kk] = (b != nullptr && k < K) ? b[k] : 0.0f;
        }
        for (int c0 = 0; c0 < C; c0 += cChunk) {
            const int cn = min(cChunk, C - c0);
            __syncthreads();  // the previous chunk's weights are no longer read
            for (int i = threadIdx.x; i < cn * RS * CONV_CB; i += blockDim.x) {
                int kk = i % CONV_CB;
                int crs = i / CONV_CB;  // c * RS + r * S + s within the chunk
                int k = kBase + kk;
                ws[i] = k < K ? w[((size_t) k * C + c0) * RS + crs] : 0.0f;
            }
            __syncthreads();
            if (active) {
                for (int c = 0; c < cn; c++) {
                    const float* xc = x + ((size_t) n * C + c0 + c) * H * W;
                    for (int r = 0; r < R; r++) {
                        int ih = ih0 + r;
                        if (ih < 0 || ih >= H) continue;
                        for (int s = 0; s < S; s++) {
                            int iw = iw0 + s;
                            if (iw < 0 || iw >= W) continue;
                            float xv = xc[ih * W + iw];
                            const float* wp = ws + ((size_t) (c * RS + r * S + s)) * CONV_CB;
#pragma unroll
                            for (int kk = 0; kk < CONV_CB; kk++) {
                                acc[kk] = fmaf(xv, wp[kk], acc[kk]);
                            }
                        }
                    }
                }
            }
        }
        if (active) {
#pragma unroll
            for (int kk = 0; kk < CONV_CB; kk++) {
                int k = kBase + kk;
                if (k < K) {
                    y[((size_t) n * K + k) * PQ + pq] = acc[kk];
                }
            }
        }
    }
}

// The filter taps t in [0, taps) that put padded input position u = i + pad under an output
// position o = (u - t) / stride with (u - t) % stride == 0 and 0 <= o < outs: t = start,
// start + stride, ... up to end (none when start > end); the first has o = first, and o falls by
// one per tap.
struct ConvTaps {
    int start, end, first;
};

__device__ __forceinline__ ConvTaps conv_taps(int u, int taps, int outs, int stride) {
    const int lo = max(0, u - (outs - 1) * stride);  // o <= outs - 1
    const int start = lo + ((u % stride) - (lo % stride) + stride) % stride;
    ConvTaps t;
    t.start = start;
    t.end = min(taps - 1, u);  // o >= 0
    t.first = (u - start) / stride;
    return t;
}

// conv2d_backward_data v2: dx in gather form (no atomics): each thread owns one input pixel
// (ih, iw) of image n and CONV_CB input channels, and sums dy[n, k, p, q] * w[k, c, r, s] over
// every (k, r, s) whose window covers it: p = (ih + pad - r) / stride when that divides exactly
// and 0 <= p < P (q likewise). The taps that qualify (r = start, start + stride, ... up to end)
// are found once per thread (conv_taps), so the loops test no divisibility per tap; they run in
// increasing (k, r, s), the order of the tap-by-tap test this replaced, so the sums are the same. Grid (ceil(H*W / blockDim), ceil(C / CONV_CB), min(N, 65535)).
// Weights staged in shared memory kChunk output channels at a time, laid out (k, r, s, cc).
// Pixels no window covers get 0. Dynamic shared memory: kChunk * R * S * CONV_CB floats.
NN_KERNEL void conv2d_backward_data(const float* __restrict__ dy,  // (N, K, P, Q)
                                    const float* __restrict__ w,   // (K, C, R, S)
                                    float* __restrict__ dx,        // (N, C, H, W)
                                    int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                    int stride, int pad, int kChunk) {
    extern __shared__ float ws[];  // (kChunk, R, S, CONV_CB)
    const int RS = R * S;
    const int PQ = P * Q;
    const int HW = H * W;
    const int cBase = blockIdx.y * CONV_CB;
    const int hw = blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = hw < HW;
    const int ih = active ? hw / W : 0;
    const int iw = active ? hw % W : 0;
    const ConvTaps rTaps = conv_taps(ih + pad, R, P, stride);
    const ConvTaps sTaps = conv_taps(iw + pad, S, Q, stride);
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CONV_CB];
#pragma unroll
        for (int cc = 0; cc < CONV_CB; cc++) {
            acc[cc] = 0.0f;
        }
        for (int k0 = 0; k0 < K; k0 += kChunk) {
            const int kn = min(kChunk, K - k0);
            __syncthreads();
            for (int i = threadIdx.x; i < kn * RS * CONV_CB; i += blockDim.x) {
                int cc = i % CONV_CB;
                int t = i / CONV_CB;  // kl * RS + rs
                int rs = t % RS;
                int kl = t / RS;
                int c = cBase + cc;
                ws[i] = c < C ? w[((size_t) (k0 + kl) * C + c) * RS + rs] : 0.0f;
            }
            __syncthreads();
            if (active) {
                for (int kl = 0; kl < kn; kl++) {
                    const float* dyk = dy + ((size_t) n * K + k0 + kl) * PQ;
                    for (int r = rTaps.start, p = rTaps.first; r <= rTaps.end; r += stride, p--) {
                        for (int s = sTaps.start, q = sTaps.first; s <= sTaps.end; s += stride, q--) {
                            float g = dyk[p * Q + q];
                            const float* wp = ws + ((size_t) (kl * RS + r * S + s)) * CONV_CB;
#pragma unroll
                            for (int cc = 0; cc < CONV_CB; cc++) {
                                acc[cc] = fmaf(g, wp[cc], acc[cc]);
                            }
                        }
                    }
                }
            }
        }
        if (active) {
#pragma unroll
            for (int cc = 0; cc < CONV_CB; cc++) {
                int c = cBase + cc;
                if (c < C) {
                    dx[((size_t) n * C + c) * HW + hw] = acc[cc];
                }
            }
        }
    }
}

// conv2d_backward_filter_partial v2: deterministic dw and db, phase 1 of 2.
// Outputs o in [0, T), T = K*C*R*S (+ K when db is wanted): o < K*C*R*S is dw[k, c, r, s],
// o >= K*C*R*S is db[o - K*C*R*S]. The reduction index m = (n, p, q) in [0, N*P*Q) is cut into
// G contiguous ranges of mChunk; grid (ceil(T / blockDim), G), blockDim from
// LaunchGeometry.filterThreads (T rounded up to whole warps when T < 256). Thread (o, g) sums its range
// serially in increasing m and writes partials[g][o]; neighbouring threads share (k, c), so dy
// loads are broadcasts and x loads fall in one window. Phase 2 is partials_merge (fixed order).
NN_KERNEL void conv2d_backward_filter_partial(const float* __restrict__ x,   // (N, C, H, W)
                                              const float* __restrict__ dy,  // (N, K, P, Q)
                                              float* __restrict__ partials,  // (G, T)
                                              int N, int C, int H, int W, int K, int R, int S,
                                              int P, int Q, int stride, int pad,
                                              int T, int mChunk) {
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= T) return;
    const int g = blockIdx.y;
    const int RS = R * S;
    const int PQ = P * Q;
    const int KCRS = K * C * RS;
    const long long M = (long long) N * PQ;
    const long long m0 = (long long) g * mChunk;
    const long long m1 = min(M, m0 + mChunk);
    float acc = 0.0f;
    if (m0 < m1) {
        int n = (int) (m0 / PQ);
        int pq = (int) (m0 % PQ);
        int p = pq / Q;
        int q = pq % Q;
        if (o < KCRS) {
            const int k = o / (C * RS);
            const int crs = o % (C * RS);
            const int c = crs / RS;
            const int r = (crs % RS) / S;
            const int s = crs % S;
            for (long long m = m0; m < m1; m++) {
                int ih = p * stride - pad + r;
                int iw = q * stride - pad + s;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                    acc = fmaf(dy[((size_t) n * K + k) * PQ + p * Q + q],
                               x[(((size_t) n * C + c) * H + ih) * W + iw], acc);
                }
                if (++q == Q) {
                    q = 0;
                    if (++p == P) {
                        p = 0;
                        n++;
                    }
                }
            }
        } else {
            const int k = o - KCRS;
            for (long long m = m0; m < m1; m++) {
                acc += dy[((size_t) n * K + k) * PQ + p * Q + q];
                if (++q == Q) {
                    q = 0;
                    if (++p == P) {
                        p = 0;
                        n++;
                    }
                }
            }
        }
    }
    partials[(size_t) g * T + o] = acc;
}
