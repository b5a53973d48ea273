// conv2d.cu: 2-D convolution (cross-correlation, as PyTorch), float32 NCHW.
// x (N, C, H, W), w (K, C, R, S), b (K), y (N, K, P, Q),
// P = (H + 2*pad - R) / stride + 1, Q = (W + 2*pad - S) / stride + 1.
#include "common.cuh"

// Output channels (forward) or input channels (backward-data) computed by one thread: CONV_CB
// in the kernels without suffix, CONV_CB_NARROW in the _cb6 ones. The host picks the one that
// leaves fewer lanes idle (LaunchGeometry.convChannelsPerThread): 6 channels fill one _cb6 block,
// where a CONV_CB block would leave a quarter of its FMAs on padding.
#define CONV_CB 8
#define CONV_CB_NARROW 6

// conv2d_forward v2: direct convolution tuned for small channel counts (1->6, 6->16, 5x5), CB
// output channels per thread (CONV_CB here; conv2d_forward_cb6 below is the same code with
// CONV_CB_NARROW). Grid (ceil(P*Q / blockDim), ceil(K / CB), min(N, 65535)); the z dimension
// strides over the batch. Each thread owns one output pixel (p, q) of image n and CB output
// channels, so every input value it loads is reused CB times from a register. The weights of the
// block's CB channels are staged in shared memory cChunk input channels at a time, laid out
// (c, r, s, kk) so the CB weights a thread needs are contiguous (broadcast reads).
// Dynamic shared memory: cChunk * R * S * CB floats. Correct for any size, stride, padding.
template <int CB>
__device__ __forceinline__ void conv2d_forward_cb(const float* __restrict__ x,  // (N, C, H, W)
                                                  const float* __restrict__ w,  // (K, C, R, S)
                                                  const float* __restrict__ b,  // (K) or null
                                                  float* __restrict__ y,        // (N, K, P, Q)
                                                  int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                                  int stride, int pad, int cChunk) {
    extern __shared__ float ws[];  // (cChunk, R, S, CB)
    const int RS = R * S;
    const int PQ = P * Q;
    const int kBase = blockIdx.y * CB;
    const int pq = blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = pq < PQ;
    const int p = active ? pq / Q : 0;
    const int q = active ? pq % Q : 0;
    const int ih0 = p * stride - pad;
    const int iw0 = q * stride - pad;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CB];
#pragma unroll
        for (int kk = 0; kk < CB; kk++) {
            int k = kBase + kk;
            acc[kk] = (b != nullptr && k < K) ? b[k] : 0.0f;
        }
        for (int c0 = 0; c0 < C; c0 += cChunk) {
            const int cn = min(cChunk, C - c0);
            __syncthreads();  // the previous chunk's weights are no longer read
            for (int i = threadIdx.x; i < cn * RS * CB; i += blockDim.x) {
                int kk = i % CB;
                int crs = i / CB;  // c * RS + r * S + s within the chunk
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
                            const float* wp = ws + ((size_t) (c * RS + r * S + s)) * CB;
#pragma unroll
                            for (int kk = 0; kk < CB; kk++) {
                                acc[kk] = fmaf(xv, wp[kk], acc[kk]);
                            }
                        }
                    }
                }
            }
        }
        if (active) {
#pragma unroll
            for (int kk = 0; kk < CB; kk++) {
                int k = kBase + kk;
                if (k < K) {
                    y[((size_t) n * K + k) * PQ + pq] = acc[kk];
                }
            }
        }
    }
}

NN_KERNEL void conv2d_forward(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                              float* __restrict__ y, int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                              int stride, int pad, int cChunk) {
    conv2d_forward_cb<CONV_CB>(x, w, b, y, N, C, H, W, K, R, S, P, Q, stride, pad, cChunk);
}

// conv2d_forward_cb6 v1: conv2d_forward v2 with CONV_CB_NARROW (6) output channels per thread,
// for K = 6 (LeNet's conv1), where 8 would spend a quarter of the FMAs on padding channels.
NN_KERNEL void conv2d_forward_cb6(const float* __restrict__ x, const float* __restrict__ w,
                                  const float* __restrict__ b, float* __restrict__ y, int N, int C, int H, int W,
                                  int K, int R, int S, int P, int Q, int stride, int pad, int cChunk) {
    conv2d_forward_cb<CONV_CB_NARROW>(x, w, b, y, N, C, H, W, K, R, S, P, Q, stride, pad, cChunk);
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

// conv2d_backward_data v2: dx in gather form (no atomics), CB input channels per thread
// (CONV_CB here; conv2d_backward_data_cb6 below is the same code with CONV_CB_NARROW). Each
// thread owns one input pixel (ih, iw) of image n and CB input channels, and sums
// dy[n, k, p, q] * w[k, c, r, s] over every (k, r, s) whose window covers it:
// p = (ih + pad - r) / stride when that divides exactly and 0 <= p < P (q likewise). The taps that
// qualify (r = start, start + stride, ... up to end) are found once per thread (conv_taps), so
// the loops test no divisibility per tap; they run in increasing (k, r, s), the order of the
// tap-by-tap test this replaced, so the sums are the same. Grid (ceil(H*W / blockDim),
// ceil(C / CB), min(N, 65535)). Weights staged in shared memory kChunk output channels at a time,
// laid out (k, r, s, cc). Pixels no window covers get 0. Dynamic shared memory:
// kChunk * R * S * CB floats.
template <int CB>
__device__ __forceinline__ void conv2d_backward_data_cb(const float* __restrict__ dy,  // (N, K, P, Q)
                                                        const float* __restrict__ w,   // (K, C, R, S)
                                                        float* __restrict__ dx,        // (N, C, H, W)
                                                        int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                                        int stride, int pad, int kChunk) {
    extern __shared__ float ws[];  // (kChunk, R, S, CB)
    const int RS = R * S;
    const int PQ = P * Q;
    const int HW = H * W;
    const int cBase = blockIdx.y * CB;
    const int hw = blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = hw < HW;
    const int ih = active ? hw / W : 0;
    const int iw = active ? hw % W : 0;
    const ConvTaps rTaps = conv_taps(ih + pad, R, P, stride);
    const ConvTaps sTaps = conv_taps(iw + pad, S, Q, stride);
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CB];
#pragma unroll
        for (int cc = 0; cc < CB; cc++) {
            acc[cc] = 0.0f;
        }
        for (int k0 = 0; k0 < K; k0 += kChunk) {
            const int kn = min(kChunk, K - k0);
            __syncthreads();
            for (int i = threadIdx.x; i < kn * RS * CB; i += blockDim.x) {
                int cc = i % CB;
                int t = i / CB;  // kl * RS + rs
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
                            const float* wp = ws + ((size_t) (kl * RS + r * S + s)) * CB;
#pragma unroll
                            for (int cc = 0; cc < CB; cc++) {
                                acc[cc] = fmaf(g, wp[cc], acc[cc]);
                            }
                        }
                    }
                }
            }
        }
        if (active) {
#pragma unroll
            for (int cc = 0; cc < CB; cc++) {
                int c = cBase + cc;
                if (c < C) {
                    dx[((size_t) n * C + c) * HW + hw] = acc[cc];
                }
            }
        }
    }
}

NN_KERNEL void conv2d_backward_data(const float* __restrict__ dy, const float* __restrict__ w, float* __restrict__ dx,
                                    int N, int C, int H, int W, int K, int R, int S, int P, int Q, int stride,
                                    int pad, int kChunk) {
    conv2d_backward_data_cb<CONV_CB>(dy, w, dx, N, C, H, W, K, R, S, P, Q, stride, pad, kChunk);
}

// conv2d_backward_data_cb6 v1: conv2d_backward_data v2 with CONV_CB_NARROW (6) input channels
// per thread, for C = 6 (LeNet's conv2), where 8 would spend a quarter of the FMAs on padding.
NN_KERNEL void conv2d_backward_data_cb6(const float* __restrict__ dy, const float* __restrict__ w,
                                        float* __restrict__ dx, int N, int C, int H, int W, int K, int R, int S,
                                        int P, int Q, int stride, int pad, int kChunk) {
    conv2d_backward_data_cb<CONV_CB_NARROW>(dy, w, dx, N, C, H, W, K, R, S, P, Q, stride, pad, kChunk);
}

// Thread (o, g)'s sum for conv2d_backward_filter_partial: output o in [0, T) (o < K*C*R*S is
// dw[k, c, r, s], o >= K*C*R*S is db[o - K*C*R*S]) over range g = blockIdx.y of the reduction
// index m = (n, p, q), [g*mChunk, min(N*P*Q, (g+1)*mChunk)), serially in increasing m (fmaf).
__device__ __forceinline__ float conv_filter_range_sum(const float* __restrict__ x, const float* __restrict__ dy, int o,
                                                       int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                                       int stride, int pad, int mChunk) {
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
    return acc;
}

// conv2d_backward_filter_partial v2: deterministic dw and db, phase 1 of 2.
// Outputs o in [0, T), T = K*C*R*S (+ K when db is wanted): o < K*C*R*S is dw[k, c, r, s],
// o >= K*C*R*S is db[o - K*C*R*S]. The reduction index m = (n, p, q) in [0, N*P*Q) is cut into
// G contiguous ranges of mChunk; grid (ceil(T / blockDim), G), blockDim from
// LaunchGeometry.filterThreads (T rounded up to whole warps when T < 256). Thread (o, g) sums its range
// serially in increasing m (conv_filter_range_sum) and writes partials[g][o]; neighbouring threads
// share (k, c), so dy loads are broadcasts and x loads fall in one window. Phase 2 is
// partials_merge (fixed order).
NN_KERNEL void conv2d_backward_filter_partial(const float* __restrict__ x,   // (N, C, H, W)
                                              const float* __restrict__ dy,  // (N, K, P, Q)
                                              float* __restrict__ partials,  // (G, T)
                                              int N, int C, int H, int W, int K, int R, int S,
                                              int P, int Q, int stride, int pad,
                                              int T, int mChunk) {
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= T) return;
    partials[(size_t) blockIdx.y * T + o] =
        conv_filter_range_sum(x, dy, o, N, C, H, W, K, R, S, P, Q, stride, pad, mChunk);
}
