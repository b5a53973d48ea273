/*
conv2d_backward_data: dx = gradient of the convolution with respect to x, float32 NCHW.
dy (N, K, P, Q), w (K, C, R, S), dx (N, C, H, W) (overwritten):
dx[n, c, h, w'] = sum over (k, r, s) with p = (h + pad - r) / stride, q = (w' + pad - s) / stride
exact and in range of dy[n, k, p, q] * w[k, c, r, s].

Compile and run:
  make conv2d_backward_data    (nvcc -O3 -std=c++17 -arch=sm_90 conv2d_backward_data.cu -o conv2d_backward_data)
  ./conv2d_backward_data 2

version 1: one thread per dx element, gathers over (k, r, s), naive
version 2: one thread per input pixel and 8 input channels, or 6 when C = 6, the weights of
           those channels staged in shared memory, laid out (k, r, s, c); gather form, no atomics
           (the mainline kernels conv2d_backward_data v2 and conv2d_backward_data_cb6, included
           from src/main/cuda/conv2d.cu)
version 3: version 2 plus the dy patch a 2-D tile of input pixels reads staged in shared memory
           (zero outside dy), so the inner loop reads only shared memory
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void conv2d_backward_data_cpu(double* dx, const float* dy, const float* w, int N, int C, int H, int W,
                                     int K, int R, int S, int P, int Q, int stride, int pad) {
    for (size_t i = 0; i < (size_t) N * C * H * W; i++) dx[i] = 0.0;
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            for (int p = 0; p < P; p++) {
                for (int q = 0; q < Q; q++) {
                    double g = dy[((size_t) (n * K + k) * P + p) * Q + q];
                    for (int c = 0; c < C; c++) {
                        for (int r = 0; r < R; r++) {
                            int ih = p * stride - pad + r;
                            if (ih < 0 || ih >= H) continue;
                            for (int s = 0; s < S; s++) {
                                int iw = q * stride - pad + s;
                                if (iw < 0 || iw >= W) continue;
                                dx[((size_t) (n * C + c) * H + ih) * W + iw] +=
                                    g * (double) w[((size_t) (k * C + c) * R + r) * S + s];
                            }
                        }
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------- kernels

// v1: one thread per dx element (n, c, h, w).
__global__ void conv2d_backward_data_kernel1(const float* __restrict__ dy,  // (N, K, P, Q)
                                             const float* __restrict__ w,   // (K, C, R, S)
                                             float* __restrict__ dx,        // (N, C, H, W)
                                             int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                             int stride, int pad) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * C * H * W) return;
    int iw = idx % W;
    int ih = (idx / W) % H;
    int c = (idx / (H * W)) % C;
    int n = idx / (C * H * W);
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
        for (int r = 0; r < R; r++) {
            int tp = ih + pad - r;
            if (tp < 0 || tp % stride != 0 || tp / stride >= P) continue;
            int p = tp / stride;
            for (int s = 0; s < S; s++) {
                int tq = iw + pad - s;
                if (tq < 0 || tq % stride != 0 || tq / stride >= Q) continue;
                int q = tq / stride;
                acc += dy[((size_t) (n * K + k) * P + p) * Q + q] * w[((size_t) (k * C + c) * R + r) * S + s];
            }
        }
    }
    dx[idx] = acc;
}

// v2: the mainline kernel conv2d_backward_data, included from src/main/cuda/conv2d.cu, which
// also defines CONV_CB (input channels per thread; v3 uses it too).
#include "../../src/main/cuda/conv2d.cu"

// floor(a / b) for b > 0 and any sign of a.
__device__ __forceinline__ int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// v3: block (TW, TH) owns a TH x TW tile of input pixels of image n and CONV_CB input channels.
// The tile reads dy rows p in [pStart, pStart + PH) and columns q in [qStart, qStart + PW) with
// pStart = floor((h0 + pad - R + 1) / stride), PH = (TH + R - 2) / stride + 2 (an upper bound
// for every tile position; the same for PW). Per chunk of kChunk output channels it stages the
// weights (k, r, s, cc) and that dy patch, zero outside dy, then each thread gathers from
// shared memory only. Grid (tilesH * tilesW, ceil(C / CONV_CB), min(N, 65535)). Dynamic shared
// memory: kChunk * (R*S*CONV_CB + PH*PW) floats.
__global__ void conv2d_backward_data_kernel3(const float* __restrict__ dy,  // (N, K, P, Q)
                                             const float* __restrict__ w,   // (K, C, R, S)
                                             float* __restrict__ dx,        // (N, C, H, W)
                                             int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                             int stride, int pad, int kChunk, int tilesW) {
    extern __shared__ float smem[];
    const int TW = blockDim.x;
    const int TH = blockDim.y;
    const int RS = R * S;
    const int PH = (TH + R - 2) / stride + 2;
    const int PW = (TW + S - 2) / stride + 2;
    const int PHW = PH * PW;
    float* ws = smem;                          // (kChunk, R, S, CONV_CB)
    float* gs = smem + kChunk * RS * CONV_CB;  // (kChunk, PH, PW)
    const int tid = threadIdx.y * TW + threadIdx.x;
    const int nthreads = TH * TW;
    const int h0 = (blockIdx.x / tilesW) * TH;
    const int w0 = (blockIdx.x % tilesW) * TW;
    const int ih = h0 + threadIdx.y;
    const int iw = w0 + threadIdx.x;
    const bool active = ih < H && iw < W;
    const int pStart = floor_div(h0 + pad - R + 1, stride);
    const int qStart = floor_div(w0 + pad - S + 1, stride);
    const int cBase = blockIdx.y * CONV_CB;
    const int PQ = P * Q;
    const int HW = H * W;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CONV_CB];
#pragma unroll
        for (int cc = 0; cc < CONV_CB; cc++) {
            acc[cc] = 0.0f;
        }
        for (int k0 = 0; k0 < K; k0 += kChunk) {
            const int kn = min(kChunk, K - k0);
            __syncthreads();  // the previous chunk is no longer read
            for (int i = tid; i < kn * RS * CONV_CB; i += nthreads) {
                int cc = i % CONV_CB;
                int t = i / CONV_CB;
                int rs = t % RS;
                int kl = t / RS;
                int c = cBase + cc;
                ws[i] = c < C ? w[((size_t) (k0 + kl) * C + c) * RS + rs] : 0.0f;
            }
            for (int i = tid; i < kn * PHW; i += nthreads) {
                int kl = i / PHW;
                int rem = i - kl * PHW;
                int p = pStart + rem / PW;
                int q = qStart + rem % PW;
                gs[i] = (p >= 0 && p < P && q >= 0 && q < Q) ? dy[((size_t) n * K + k0 + kl) * PQ + p * Q + q] : 0.0f;
            }
            __syncthreads();
            if (active) {
                for (int kl = 0; kl < kn; kl++) {
                    const float* gk = gs + kl * PHW;
                    const float* wk = ws + kl * RS * CONV_CB;
                    for (int r = 0; r < R; r++) {
                        int tp = ih + pad - r;
                        // tp / stride is exact here, so it equals floor(tp / stride) >= pStart.
                        if (tp % stride != 0) continue;
                        int pl = tp / stride - pStart;
                        for (int s = 0; s < S; s++) {
                            int tq = iw + pad - s;
                            if (tq % stride != 0) continue;
                            int ql = tq / stride - qStart;
                            float g = gk[pl * PW + ql];
                            const float* wp = wk + (r * S + s) * CONV_CB;
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
                    dx[((size_t) n * C + c) * HW + ih * W + iw] = acc[cc];
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------- launchers

struct ConvShape {
    int N, C, H, W, K, R, S, P, Q, stride, pad;
};

static void conv2d_backward_data1(const float* dy, const float* w, float* dx, ConvShape s) {
    int total = s.N * s.C * s.H * s.W;
    conv2d_backward_data_kernel1<<<ceil_div(total, 256), 256>>>(dy, w, dx, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P,
                                                                s.Q, s.stride, s.pad);
    CUDA_CHECK_LAUNCH();
}

// Launched as src/main/java/dev/normnet/backend/cuda/CudaConv2d.java launches it:
// conv2d_backward_data_cb6 when 6 input channels per thread leave fewer idle lanes than 8 (C = 6).
static void conv2d_backward_data2(const float* dy, const float* w, float* dx, ConvShape s) {
    int cb = geometry::conv_channels_per_thread(s.C);
    int kChunk = geometry::conv_chunk(s.K, s.R, s.S, cb);
    int threads = geometry::conv_threads((long long) s.H * s.W);
    dim3 grid(ceil_div(s.H * s.W, threads), geometry::channel_blocks(s.C, cb), geometry::batch_grid(s.N));
    size_t smem = geometry::conv_shared_bytes(kChunk, s.R, s.S, cb);
    auto kernel = cb == CONV_CB ? conv2d_backward_data : conv2d_backward_data_cb6;  // CONV_CB of conv2d.cu: the kernel without suffix
    kernel<<<grid, threads, smem>>>(dy, w, dx, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride, s.pad, kChunk);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_backward_data3(const float* dy, const float* w, float* dx, ConvShape s) {
    int TW = s.W < 32 ? s.W : 32;
    int maxTH = 256 / TW;
    int tilesH = ceil_div(s.H, maxTH);
    int TH = ceil_div(s.H, tilesH);
    int tilesW = ceil_div(s.W, TW);
    int PH = (TH + s.R - 2) / s.stride + 2;
    int PW = (TW + s.S - 2) / s.stride + 2;
    int perChannel = (s.R * s.S * CONV_CB + PH * PW) * (int) sizeof(float);
    int limit = 48 * 1024 / perChannel;
    int kChunk = s.K < limit ? s.K : limit;
    if (kChunk < 1) {
        fprintf(stderr, "conv2d_backward_data3: the dy patch of one channel does not fit in shared memory\n");
        exit(EXIT_FAILURE);
    }
    dim3 block(TW, TH);
    dim3 grid(tilesH * tilesW, ceil_div(s.C, CONV_CB), geometry::batch_grid(s.N));
    size_t smem = (size_t) kChunk * perChannel;
    conv2d_backward_data_kernel3<<<grid, block, smem>>>(dy, w, dx, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q,
                                                        s.stride, s.pad, kChunk, tilesW);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_backward_data_run(int version, const float* dy, const float* w, float* dx, ConvShape s) {
    switch (version) {
        case 1: conv2d_backward_data1(dy, w, dx, s); break;
        case 2: conv2d_backward_data2(dy, w, dx, s); break;
        case 3: conv2d_backward_data3(dy, w, dx, s); break;
        default: fprintf(stderr, "conv2d_backward_data: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, C, H, W, K, R, S, stride, pad;
    bool cpu;    // checked against the CPU reference (else against version 1 on the device)
    bool timed;
};

int main(int argc, char** argv) {
    const int versions = 3;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    print_device();
    printf("conv2d_backward_data version %d\n", version);

    const Case cases[] = {
        {"odd 3x5x13x11 <- 7, 3x5 s2 p1", 3, 5, 13, 11, 7, 3, 5, 2, 1, true, false},
        {"odd 2x3x9x17 <- 10, 5x5 s1 p2", 2, 3, 9, 17, 10, 5, 5, 1, 2, true, false},
        {"odd 2x11x15x15 <- 67, 7x7 s1 p3 (chunked K)", 2, 11, 15, 15, 67, 7, 7, 1, 3, true, false},
        {"odd 1x2x8x7 <- 3, 2x3 s3 p1 (uncovered pixels)", 1, 2, 8, 7, 3, 2, 3, 3, 1, true, false},
        {"odd 2x3x40x37 <- 4, 3x3 s2 p0 (several tiles)", 2, 3, 40, 37, 4, 3, 3, 2, 0, true, false},
        {"LeNet conv1 256x1x28x28 <- 6, 5x5 p2", 256, 1, 28, 28, 6, 5, 5, 1, 2, true, true},
        {"LeNet conv2 256x6x14x14 <- 16, 5x5", 256, 6, 14, 14, 16, 5, 5, 1, 0, true, true},
        {"LeNet-BN conv2 256x6x12x12 <- 16, 5x5", 256, 6, 12, 12, 16, 5, 5, 1, 0, true, true},
        {"224 conv2 256x6x110x110 <- 16, 5x5", 256, 6, 110, 110, 16, 5, 5, 1, 0, false, true},
    };

    uint64_t seed = 11;
    for (const Case& c : cases) {
        ConvShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.S, 0, 0, c.stride, c.pad};
        s.P = (c.H + 2 * c.pad - c.R) / c.stride + 1;
        s.Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
        size_t ndy = (size_t) c.N * c.K * s.P * s.Q;
        size_t nw = (size_t) c.K * c.C * c.R * c.S;
        size_t ndx = (size_t) c.N * c.C * c.H * c.W;
        printf("%s: dx (%d, %d, %d, %d)\n", c.name, c.N, c.C, c.H, c.W);
        if (skip_case(ndx)) continue;
        float* dy = make_random_float(ndy, -1.0f, 1.0f, seed++);
        float* w = make_random_float(nw, -1.0f, 1.0f, seed++);
        float* d_dy = to_device(dy, ndy);
        float* d_w = to_device(w, nw);
        float* d_dx = device_alloc_poison(ndx);
        double terms = (double) c.K * c.R * c.S + 1.0;
        double atol = 1e-6 * terms, rtol = 1e-5;
        conv2d_backward_data_run(version, d_dy, d_w, d_dx, s);
        if (c.cpu) {
            double* ref = (double*) host_alloc(ndx * sizeof(double));
            conv2d_backward_data_cpu(ref, dy, w, c.N, c.C, c.H, c.W, c.K, c.R, c.S, s.P, s.Q, c.stride, c.pad);
            validate_result(d_dx, ref, "dx", ndx, atol, rtol);
            free(ref);
        } else {
            float* d_ref = device_alloc_poison(ndx);
            conv2d_backward_data_run(1, d_dy, d_w, d_ref, s);
            validate_against_device(d_dx, d_ref, "dx vs v1", ndx, atol, rtol);
            CUDA_CHECK(cudaFree(d_ref));
        }
        if (c.timed && timing_enabled()) {
            Timing t = benchmark_kernel(repeats, conv2d_backward_data_run, version, d_dy, d_w, d_dx, s);
            double bytes = (double) (ndy + nw + ndx) * sizeof(float);
            double flops = 2.0 * (double) ndy * c.C * c.R * c.S;
            print_timing("time", t, bytes, flops);
        }
        free(dy);
        free(w);
        CUDA_CHECK(cudaFree(d_dy));
        CUDA_CHECK(cudaFree(d_w));
        CUDA_CHECK(cudaFree(d_dx));
    }
    printf("conv2d_backward_data version %d: all checks passed\n", version);
    return 0;
}
