/*
conv2d_forward: y = conv2d(x, w) + b, cross-correlation as PyTorch, float32 NCHW.
x (N, C, H, W), w (K, C, R, S), b (K) or null, y (N, K, P, Q),
P = (H + 2*pad - R) / stride + 1, Q = (W + 2*pad - S) / stride + 1.

Compile and run:
  make conv2d_forward          (nvcc -O3 -std=c++17 -arch=sm_90 conv2d_forward.cu -o conv2d_forward)
  ./conv2d_forward 2

version 1: one thread per output element, naive loops over (c, r, s)
version 2: one thread per output pixel and 8 output channels, or 6 when K = 6 (register
           accumulators; each input load reused 8 or 6 times), the weights of those channels
           staged in shared memory, laid out (c, r, s, k) (the mainline kernels conv2d_forward
           v2 and conv2d_forward_cb6, included from src/main/cuda/conv2d.cu)
version 3: version 2 plus the input patch of a 2-D tile of output pixels staged in shared
           memory (zero-padded, so the inner loop has no bounds checks); block shape fitted to Q
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void conv2d_forward_cpu(double* y, const float* x, const float* w, const float* b, int N, int C,
                               int H, int W, int K, int R, int S, int P, int Q, int stride, int pad) {
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            for (int p = 0; p < P; p++) {
                for (int q = 0; q < Q; q++) {
                    double acc = b != nullptr ? (double) b[k] : 0.0;
                    for (int c = 0; c < C; c++) {
                        for (int r = 0; r < R; r++) {
                            int ih = p * stride - pad + r;
                            if (ih < 0 || ih >= H) continue;
                            for (int s = 0; s < S; s++) {
                                int iw = q * stride - pad + s;
                                if (iw < 0 || iw >= W) continue;
                                acc += (double) x[((size_t) (n * C + c) * H + ih) * W + iw] *
                                       (double) w[((size_t) (k * C + c) * R + r) * S + s];
                            }
                        }
                    }
                    y[((size_t) (n * K + k) * P + p) * Q + q] = acc;
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------- kernels

// v1: one thread per output element (n, k, p, q).
__global__ void conv2d_forward_kernel1(const float* __restrict__ x,  // (N, C, H, W)
                                       const float* __restrict__ w,  // (K, C, R, S)
                                       const float* __restrict__ b,  // (K) or null
                                       float* __restrict__ y,        // (N, K, P, Q)
                                       int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                       int stride, int pad) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * K * P * Q) return;
    int q = idx % Q;
    int p = (idx / Q) % P;
    int k = (idx / (P * Q)) % K;
    int n = idx / (K * P * Q);
    float acc = b != nullptr ? b[k] : 0.0f;
    for (int c = 0; c < C; c++) {
        for (int r = 0; r < R; r++) {
            int ih = p * stride - pad + r;
            if (ih < 0 || ih >= H) continue;
            for (int s = 0; s < S; s++) {
                int iw = q * stride - pad + s;
                if (iw < 0 || iw >= W) continue;
                acc += x[((size_t) (n * C + c) * H + ih) * W + iw] * w[((size_t) (k * C + c) * R + r) * S + s];
            }
        }
    }
    y[idx] = acc;
}

// v2: the mainline kernel conv2d_forward, included from src/main/cuda/conv2d.cu, which also
// defines CONV_CB (output channels per thread; v3 uses it too).
#include "../../src/main/cuda/conv2d.cu"

// v3: block (TQ, TP) owns a TP x TQ tile of output pixels of image n and CONV_CB output
// channels. Per chunk of cChunk input channels it stages the weights, laid out (c, r, s, kk) as
// in v2, and the input patch the tile reads, IH x IW per channel with IH = (TP-1)*stride + R,
// IW = (TQ-1)*stride + S, zero-filled outside the image. Grid (tilesP * tilesQ, ceil(K / CONV_CB),
// min(N, 65535)), z striding over the batch. Dynamic shared memory:
// cChunk * (R*S*CONV_CB + IH*IW) floats.
__global__ void conv2d_forward_kernel3(const float* __restrict__ x,  // (N, C, H, W)
                                       const float* __restrict__ w,  // (K, C, R, S)
                                       const float* __restrict__ b,  // (K) or null
                                       float* __restrict__ y,        // (N, K, P, Q)
                                       int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                       int stride, int pad, int cChunk, int tilesQ) {
    extern __shared__ float smem[];
    const int TQ = blockDim.x;
    const int TP = blockDim.y;
    const int RS = R * S;
    const int IH = (TP - 1) * stride + R;
    const int IW = (TQ - 1) * stride + S;
    const int IHW = IH * IW;
    float* ws = smem;                         // (cChunk, R, S, CONV_CB)
    float* xs = smem + cChunk * RS * CONV_CB;  // (cChunk, IH, IW)
    const int tid = threadIdx.y * TQ + threadIdx.x;
    const int nthreads = TP * TQ;
    const int p0 = (blockIdx.x / tilesQ) * TP;
    const int q0 = (blockIdx.x % tilesQ) * TQ;
    const int p = p0 + threadIdx.y;
    const int q = q0 + threadIdx.x;
    const bool active = p < P && q < Q;
    const int ihBase = p0 * stride - pad;
    const int iwBase = q0 * stride - pad;
    const int kBase = blockIdx.y * CONV_CB;
    const int PQ = P * Q;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        float acc[CONV_CB];
#pragma unroll
        for (int kk = 0; kk < CONV_CB; kk++) {
            int k = kBase + kk;
            acc[kk] = (b != nullptr && k < K) ? b[k] : 0.0f;
        }
        for (int c0 = 0; c0 < C; c0 += cChunk) {
            const int cn = min(cChunk, C - c0);
            __syncthreads();  // the previous chunk is no longer read
            for (int i = tid; i < cn * RS * CONV_CB; i += nthreads) {
                int kk = i % CONV_CB;
                int crs = i / CONV_CB;
                int k = kBase + kk;
                ws[i] = k < K ? w[((size_t) k * C + c0) * RS + crs] : 0.0f;
            }
            for (int i = tid; i < cn * IHW; i += nthreads) {
                int c = i / IHW;
                int rem = i - c * IHW;
                int ih = ihBase + rem / IW;
                int iw = iwBase + rem % IW;
                xs[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W)
                            ? x[(((size_t) n * C + c0 + c) * H + ih) * W + iw]
                            : 0.0f;
            }
            __syncthreads();
            if (active) {
                for (int c = 0; c < cn; c++) {
                    const float* xc = xs + c * IHW + (threadIdx.y * stride) * IW + threadIdx.x * stride;
                    const float* wc = ws + c * RS * CONV_CB;
                    for (int r = 0; r < R; r++) {
                        for (int s = 0; s < S; s++) {
                            float xv = xc[r * IW + s];
                            const float* wp = wc + (r * S + s) * CONV_CB;
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
                    y[((size_t) n * K + k) * PQ + p * Q + q] = acc[kk];
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------- launchers

static const int kSharedLimit = 48 * 1024;  // bytes of dynamic shared memory without opt-in

struct ConvShape {
    int N, C, H, W, K, R, S, P, Q, stride, pad;
};

static void conv2d_forward1(const float* x, const float* w, const float* b, float* y, ConvShape s) {
    int total = s.N * s.K * s.P * s.Q;
    int block = 256;
    conv2d_forward_kernel1<<<ceil_div(total, block), block>>>(x, w, b, y, s.N, s.C, s.H, s.W, s.K, s.R, s.S,
                                                              s.P, s.Q, s.stride, s.pad);
    CUDA_CHECK_LAUNCH();
}

// Launched as src/main/java/dev/normnet/backend/cuda/CudaConv2d.java launches it: conv2d_forward_cb6
// when 6 output channels per thread leave fewer idle lanes than 8 (K = 6), else conv2d_forward.
static void conv2d_forward2(const float* x, const float* w, const float* b, float* y, ConvShape s) {
    int cb = geometry::conv_channels_per_thread(s.K);
    int cChunk = geometry::conv_chunk(s.C, s.R, s.S, cb);
    int threads = geometry::conv_threads((long long) s.P * s.Q);
    dim3 grid(ceil_div(s.P * s.Q, threads), geometry::channel_blocks(s.K, cb), geometry::batch_grid(s.N));
    size_t smem = geometry::conv_shared_bytes(cChunk, s.R, s.S, cb);
    auto kernel = cb == CONV_CB ? conv2d_forward : conv2d_forward_cb6;  // CONV_CB of conv2d.cu: the kernel without suffix
    kernel<<<grid, threads, smem>>>(x, w, b, y, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride, s.pad, cChunk);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_forward3(const float* x, const float* w, const float* b, float* y, ConvShape s) {
    // Tile: TQ up to 32 columns; TP rows so the block has at most 256 threads, balanced over P.
    int TQ = s.Q < 32 ? s.Q : 32;
    int maxTP = 256 / TQ;
    int tilesP = ceil_div(s.P, maxTP);
    int TP = ceil_div(s.P, tilesP);
    int tilesQ = ceil_div(s.Q, TQ);
    int IH = (TP - 1) * s.stride + s.R;
    int IW = (TQ - 1) * s.stride + s.S;
    int perChannel = (s.R * s.S * CONV_CB + IH * IW) * (int) sizeof(float);
    int cChunk = s.C < kSharedLimit / perChannel ? s.C : kSharedLimit / perChannel;
    if (cChunk < 1) {
        fprintf(stderr, "conv2d_forward3: the input patch of one channel does not fit in shared memory\n");
        exit(EXIT_FAILURE);
    }
    dim3 block(TQ, TP);
    dim3 grid(tilesP * tilesQ, ceil_div(s.K, CONV_CB), s.N < 65535 ? s.N : 65535);
    size_t smem = (size_t) cChunk * perChannel;
    conv2d_forward_kernel3<<<grid, block, smem>>>(x, w, b, y, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q,
                                                  s.stride, s.pad, cChunk, tilesQ);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_forward_run(int version, const float* x, const float* w, const float* b, float* y, ConvShape s) {
    switch (version) {
        case 1: conv2d_forward1(x, w, b, y, s); break;
        case 2: conv2d_forward2(x, w, b, y, s); break;
        case 3: conv2d_forward3(x, w, b, y, s); break;
        default: fprintf(stderr, "conv2d_forward: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, C, H, W, K, R, S, stride, pad;
    bool bias;
    bool cpu;    // checked against the CPU reference (else against version 1 on the device)
    bool timed;
};

int main(int argc, char** argv) {
    const int versions = 3;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    print_device();
    printf("conv2d_forward version %d\n", version);

    const Case cases[] = {
        {"odd 3x5x13x11 -> 7, 3x5 s2 p1, no bias", 3, 5, 13, 11, 7, 3, 5, 2, 1, false, true, false},
        {"odd 2x3x9x17 -> 10, 5x5 s1 p2", 2, 3, 9, 17, 10, 5, 5, 1, 2, true, true, false},
        {"odd 2x67x15x15 -> 9, 7x7 s1 p3 (chunked C)", 2, 67, 15, 15, 9, 7, 7, 1, 3, true, true, false},
        {"odd 1x2x5x5 -> 1, 5x5 s3 p2", 1, 2, 5, 5, 1, 5, 5, 3, 2, true, true, false},
        {"LeNet conv1 256x1x28x28 -> 6, 5x5 p2", 256, 1, 28, 28, 6, 5, 5, 1, 2, true, true, true},
        {"LeNet conv2 256x6x14x14 -> 16, 5x5", 256, 6, 14, 14, 16, 5, 5, 1, 0, true, true, true},
        {"LeNet-BN conv1 256x1x28x28 -> 6, 5x5", 256, 1, 28, 28, 6, 5, 5, 1, 0, true, true, true},
        {"LeNet-BN conv2 256x6x12x12 -> 16, 5x5", 256, 6, 12, 12, 16, 5, 5, 1, 0, true, true, true},
        {"224 conv1 256x1x224x224 -> 6, 5x5", 256, 1, 224, 224, 6, 5, 5, 1, 0, true, false, true},
        {"224 conv2 256x6x110x110 -> 16, 5x5", 256, 6, 110, 110, 16, 5, 5, 1, 0, true, false, true},
    };

    uint64_t seed = 1;
    for (const Case& c : cases) {
        ConvShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.S, 0, 0, c.stride, c.pad};
        s.P = (c.H + 2 * c.pad - c.R) / c.stride + 1;
        s.Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
        size_t nx = (size_t) c.N * c.C * c.H * c.W;
        size_t nw = (size_t) c.K * c.C * c.R * c.S;
        size_t ny = (size_t) c.N * c.K * s.P * s.Q;
        printf("%s: y (%d, %d, %d, %d)\n", c.name, c.N, c.K, s.P, s.Q);
        if (skip_case(ny)) continue;
        float* x = make_random_float(nx, -1.0f, 1.0f, seed++);
        float* w = make_random_float(nw, -1.0f, 1.0f, seed++);
        float* b = make_random_float((size_t) c.K, -1.0f, 1.0f, seed++);
        float* d_x = to_device(x, nx);
        float* d_w = to_device(w, nw);
        float* d_b = c.bias ? to_device(b, (size_t) c.K) : nullptr;
        float* d_y = device_alloc_poison(ny);
        // A float32 sum of C*R*S products of values in [-1, 1] drifts by about 2e-8 per term.
        double terms = (double) c.C * c.R * c.S + 1.0;
        double atol = 1e-6 * terms, rtol = 1e-5;
        conv2d_forward_run(version, d_x, d_w, d_b, d_y, s);
        if (c.cpu) {
            double* ref = (double*) host_alloc(ny * sizeof(double));
            conv2d_forward_cpu(ref, x, w, c.bias ? b : nullptr, c.N, c.C, c.H, c.W, c.K, c.R, c.S, s.P, s.Q,
                               c.stride, c.pad);
            validate_result(d_y, ref, "y", ny, atol, rtol);
            free(ref);
        } else {
            float* d_ref = device_alloc_poison(ny);
            conv2d_forward_run(1, d_x, d_w, d_b, d_ref, s);
            validate_against_device(d_y, d_ref, "y vs v1", ny, atol, rtol);
            CUDA_CHECK(cudaFree(d_ref));
        }
        if (c.timed && timing_enabled()) {
            Timing t = benchmark_kernel(repeats, conv2d_forward_run, version, d_x, d_w, d_b, d_y, s);
            double bytes = (double) (nx + nw + (c.bias ? c.K : 0) + ny) * sizeof(float);
            double flops = 2.0 * (double) ny * c.C * c.R * c.S;
            print_timing("time", t, bytes, flops);
        }
        free(x);
        free(w);
        free(b);
        CUDA_CHECK(cudaFree(d_x));
        CUDA_CHECK(cudaFree(d_w));
        if (d_b != nullptr) CUDA_CHECK(cudaFree(d_b));
        CUDA_CHECK(cudaFree(d_y));
    }
    printf("conv2d_forward version %d: all checks passed\n", version);
    return 0;
}
