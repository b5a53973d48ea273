/*
conv2d_backward_filter: dw and db of a convolution, summed over the batch, float32 NCHW.
x (N, C, H, W), dy (N, K, P, Q), dw (K, C, R, S), db (K) or skipped (both overwritten):
dw[k, c, r, s] = sum over (n, p, q) of dy[n, k, p, q] * x[n, c, p*stride - pad + r, q*stride - pad + s]
db[k] = sum over (n, p, q) of dy[n, k, p, q]
Every version is deterministic: the reduction over m = N*P*Q positions has a fixed order.

Compile and run:
  make conv2d_backward_filter    (nvcc -O3 -std=c++17 -arch=sm_90 conv2d_backward_filter.cu -o conv2d_backward_filter)
  ./conv2d_backward_filter 2

version 1: one thread per dw (and db) element, serial loop over all N*P*Q positions
version 2: the positions cut into G contiguous ranges; thread (output, range) sums its range
           serially into partials (G, T); a second kernel merges the G partials of each output in
           fixed order (in double) (the mainline kernels conv2d_backward_filter_partial v2 and
           partials_merge / partials_merge_serial v1, included from src/main/cuda/conv2d.cu and
           src/main/cuda/reduce.cu)
version 3: implicit GEMM with split reduction: dw (K, C*R*S) and db as one more column are
           the product dy (K, m) * col(x) (m, C*R*S + 1); block tiles of 16 x 64 outputs, 16
           positions per shared-memory stage, 4 outputs per thread; G ranges of positions write
           partials that one thread per output merges in fixed order (in double)
version 4: version 2 in one launch: the last of a column block's G blocks to finish (an integer
           ticket per column block) sums each of its outputs' G partials in increasing g (in
           double: partials_merge_serial's order, whatever G; version 2 uses a block per output
           when G > 32), the partial sums being the mainline's (conv_filter_range_sum)
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void conv2d_backward_filter_cpu(double* dw, double* db, const float* x, const float* dy, int N, int C,
                                       int H, int W, int K, int R, int S, int P, int Q, int stride, int pad) {
    for (int k = 0; k < K; k++) {
        double bsum = 0.0;
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < P * Q; i++) bsum += dy[(size_t) (n * K + k) * P * Q + i];
        }
        db[k] = bsum;
        for (int c = 0; c < C; c++) {
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < S; s++) {
                    double acc = 0.0;
                    for (int n = 0; n < N; n++) {
                        for (int p = 0; p < P; p++) {
                            int ih = p * stride - pad + r;
                            if (ih < 0 || ih >= H) continue;
                            for (int q = 0; q < Q; q++) {
                                int iw = q * stride - pad + s;
                                if (iw < 0 || iw >= W) continue;
                                acc += (double) dy[((size_t) (n * K + k) * P + p) * Q + q] *
                                       (double) x[((size_t) (n * C + c) * H + ih) * W + iw];
                            }
                        }
                    }
                    dw[((size_t) (k * C + c) * R + r) * S + s] = acc;
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------- kernels

// v1: one thread per output o in [0, K*C*R*S + K): dw element, or db[o - K*C*R*S].
__global__ void conv2d_backward_filter_kernel1(const float* __restrict__ x,   // (N, C, H, W)
                                               const float* __restrict__ dy,  // (N, K, P, Q)
                                               float* __restrict__ dw,        // (K, C, R, S)
                                               float* __restrict__ db,        // (K) or null
                                               int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                               int stride, int pad) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    int KCRS = K * C * R * S;
    if (o >= KCRS + (db != nullptr ? K : 0)) return;
    float acc = 0.0f;
    if (o >= KCRS) {
        int k = o - KCRS;
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < P * Q; i++) acc += dy[(size_t) (n * K + k) * P * Q + i];
        }
        db[k] = acc;
        return;
    }
    int s = o % S;
    int r = (o / S) % R;
    int c = (o / (R * S)) % C;
    int k = o / (C * R * S);
    for (int n = 0; n < N; n++) {
        for (int p = 0; p < P; p++) {
            int ih = p * stride - pad + r;
            if (ih < 0 || ih >= H) continue;
            for (int q = 0; q < Q; q++) {
                int iw = q * stride - pad + s;
                if (iw < 0 || iw >= W) continue;
                acc += dy[((size_t) (n * K + k) * P + p) * Q + q] * x[((size_t) (n * C + c) * H + ih) * W + iw];
            }
        }
    }
    dw[o] = acc;
}

// v2: the mainline kernels conv2d_backward_filter_partial (src/main/cuda/conv2d.cu) and
// partials_merge / partials_merge_serial (src/main/cuda/reduce.cu), included.
#include "../../src/main/cuda/conv2d.cu"
#include "../../src/main/cuda/reduce.cu"

#define BF_TK 16  // output channels per block tile
#define BF_TC 64  // (c, r, s) columns per block tile (the db column included)
#define BF_BJ 16  // positions per shared-memory stage

// v3 (1 of 2): block (tile of BF_TK x BF_TC outputs, range g of positions). Outputs are the
// matrix (K, CRSb), CRSb = C*R*S + 1 when db is wanted (its column reads 1 instead of x), else
// C*R*S. 256 threads: ty = tid / 16 owns row k = k0 + ty, tx = tid % 16 owns columns
// col0 + tx + 16*i, i < 4. Each stage loads dy (BF_BJ positions x BF_TK rows) and the matching
// im2col values (BF_BJ x BF_TC), zero outside the image and past the range, then multiplies from
// shared memory. Positions j in [g*jChunk, min(m, (g+1)*jChunk)) are summed in increasing order
// per thread; partials (G, K, CRSb).
__global__ void conv2d_backward_filter_partial_kernel3(const float* __restrict__ x,   // (N, C, H, W)
                                                       const float* __restrict__ dy,  // (N, K, P, Q)
                                                       float* __restrict__ partials,  // (G, K, CRSb)
                                                       int N, int C, int H, int W, int K, int R, int S,
                                                       int P, int Q, int stride, int pad, int CRSb,
                                                       int jChunk) {
    // Rows padded by one float: the stores below, position-major across a warp, would
    // otherwise hit 8 (dys) or 16 (cols) times the same bank.
    __shared__ float dys[BF_BJ][BF_TK + 1];
    __shared__ float cols[BF_BJ][BF_TC + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const int col0 = blockIdx.x * BF_TC;
    const int k0 = blockIdx.y * BF_TK;
    const int g = blockIdx.z;
    const int RS = R * S;
    const int CRS = C * RS;
    const int PQ = P * Q;
    const long long m = (long long) N * PQ;
    const long long j0 = (long long) g * jChunk;
    const long long j1 = min(m, j0 + jChunk);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (long long jt = j0; jt < j1; jt += BF_BJ) {
        {
            int jj = tid % BF_BJ;
            int kk = tid / BF_BJ;
            long long j = jt + jj;
            int k = k0 + kk;
            float v = 0.0f;
            if (j < j1 && k < K) {
                int n = (int) (j / PQ);
                int pq = (int) (j - (long long) n * PQ);
                v = dy[((size_t) n * K + k) * PQ + pq];
            }
            dys[jj][kk] = v;
        }
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int e = tid + 256 * l;
            int jj = e % BF_BJ;
            int cc = e / BF_BJ;
            long long j = jt + jj;
            int col = col0 + cc;
            float v = 0.0f;
            if (j < j1 && col < CRSb) {
                if (col == CRS) {
                    v = 1.0f;  // the db column
                } else {
                    int n = (int) (j / PQ);
                    int pq = (int) (j - (long long) n * PQ);
                    int p = pq / Q;
                    int q = pq - p * Q;
                    int c = col / RS;
                    int rs = col - c * RS;
                    int r = rs / S;
                    int s = rs - r * S;
                    int ih = p * stride - pad + r;
                    int iw = q * stride - pad + s;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                        v = x[(((size_t) n * C + c) * H + ih) * W + iw];
                    }
                }
            }
            cols[jj][cc] = v;
        }
        __syncthreads();
#pragma unroll
        for (int jj = 0; jj < BF_BJ; jj++) {
            float a = dys[jj][ty];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                acc[i] = fmaf(a, cols[jj][tx + 16 * i], acc[i]);
            }
        }
        __syncthreads();
    }
    const int k = k0 + ty;
    if (k < K) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int col = col0 + tx + 16 * i;
            if (col < CRSb) {
                partials[((size_t) g * K + k) * CRSb + col] = acc[i];
            }
        }
    }
}

// v3 (2 of 2): one thread per output (k, col) sums its G partials in increasing g (in double);
// col < C*R*S goes to dw, col == C*R*S to db.
__global__ void conv2d_backward_filter_merge_kernel3(const float* __restrict__ partials,  // (G, K, CRSb)
                                                     float* __restrict__ dw,              // (K, C, R, S)
                                                     float* __restrict__ db,              // (K) or null
                                                     int G, int K, int CRS, int CRSb) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= K * CRSb) return;
    double acc = 0.0;
    for (int g = 0; g < G; g++) {
        acc += (double) partials[(size_t) g * K * CRSb + o];
    }
    int k = o / CRSb;
    int col = o - k * CRSb;
    if (col < CRS) {
        dw[(size_t) k * CRS + col] = (float) acc;
    } else {
        db[k] = (float) acc;
    }
}

// v4: conv2d_backward_filter_partial's sums (conv_filter_range_sum) written as partials, then the
// last block of each column block (nn_last_block on a ticket per blockIdx.x) merges its outputs'
// G partials serially in increasing g, in double, read through L2; every thread takes part in the
// ticket, those past T too. tickets (gridDim.x) must be 0 before the first launch.
__global__ void conv2d_backward_filter_kernel4(const float* __restrict__ x, const float* __restrict__ dy,
                                               float* partials,        // (G, T)
                                               unsigned int* tickets,  // (gridDim.x)
                                               float* __restrict__ dw, float* __restrict__ db,
                                               int N, int C, int H, int W, int K, int R, int S, int P, int Q,
                                               int stride, int pad, int T, int KCRS, int mChunk) {
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    const int G = gridDim.y;
    if (o < T) {
        partials[(size_t) blockIdx.y * T + o] =
            conv_filter_range_sum(x, dy, o, N, C, H, W, K, R, S, P, Q, stride, pad, mChunk);
    }
    if (nn_last_block(&tickets[blockIdx.x], (unsigned) G) && o < T) {
        double acc = 0.0;
        for (int g = 0; g < G; g++) {
            acc += (double) __ldcg(partials + (size_t) g * T + o);
        }
        if (o < KCRS) {
            dw[o] = (float) acc;
        } else {
            db[o - KCRS] = (float) acc;
        }
    }
}

// ----------------------------------------------------------------------------------- launchers

struct ConvShape {
    int N, C, H, W, K, R, S, P, Q, stride, pad;
};

// Scratch for the partials of versions 2 and 3, sized for the largest case (grown when needed).
static float* g_partials = nullptr;
static size_t g_partials_n = 0;
static float* partials_scratch(size_t n) {
    if (n > g_partials_n) {
        if (g_partials != nullptr) CUDA_CHECK(cudaFree(g_partials));
        CUDA_CHECK(cudaMalloc(&g_partials, n * sizeof(float)));
        g_partials_n = n;
    }
    return g_partials;
}

static void conv2d_backward_filter1(const float* x, const float* dy, float* dw, float* db, ConvShape s) {
    int outputs = s.K * s.C * s.R * s.S + (db != nullptr ? s.K : 0);
    conv2d_backward_filter_kernel1<<<ceil_div(outputs, 128), 128>>>(x, dy, dw, db, s.N, s.C, s.H, s.W, s.K, s.R,
                                                                    s.S, s.P, s.Q, s.stride, s.pad);
    CUDA_CHECK_LAUNCH();
}

// The partial pass of versions 2 and 4, as normnet sizes it: outputs (dw, then db when wanted),
// the split of the N*P*Q positions into ranges, the block and grid, and the partials (G, T).
struct FilterPass {
    int kcrs, outputs, threads;
    geometry::Split split;
    dim3 grid;
    float* partials;
};

static FilterPass filter_pass(const float* db, ConvShape s) {
    FilterPass f;
    f.kcrs = s.K * s.C * s.R * s.S;
    f.outputs = f.kcrs + (db != nullptr ? s.K : 0);
    f.split = geometry::filter_split(f.outputs, (long long) s.N * s.P * s.Q);
    f.partials = partials_scratch((size_t) f.outputs * f.split.groups);
    f.threads = geometry::filter_threads(f.outputs);
    f.grid = dim3(ceil_div(f.outputs, f.threads), f.split.groups);
    return f;
}

// Launched as src/main/java/dev/normnet/backend/cuda/CudaBackend.java launches it.
static void conv2d_backward_filter2(const float* x, const float* dy, float* dw, float* db, ConvShape s) {
    FilterPass f = filter_pass(db, s);
    conv2d_backward_filter_partial<<<f.grid, f.threads>>>(x, dy, f.partials, s.N, s.C, s.H, s.W, s.K, s.R, s.S,
                                                          s.P, s.Q, s.stride, s.pad, f.outputs, f.split.chunk);
    CUDA_CHECK_LAUNCH();
    if (f.split.groups <= geometry::SERIAL_MERGE_MAX) {
        partials_merge_serial<<<geometry::stride_blocks(f.outputs), geometry::THREADS>>>(
            f.partials, f.split.groups, f.outputs, dw, f.kcrs, db, nullptr, 1);
    } else {
        int blocks = f.outputs < geometry::MAX_STRIDE_BLOCKS ? f.outputs : geometry::MAX_STRIDE_BLOCKS;
        partials_merge<<<blocks, geometry::REDUCE_THREADS>>>(f.partials, f.split.groups, f.outputs, dw, f.kcrs, db,
                                                             nullptr, 1);
    }
    CUDA_CHECK_LAUNCH();
}

static void conv2d_backward_filter4(const float* x, const float* dy, float* dw, float* db, ConvShape s) {
    FilterPass f = filter_pass(db, s);
    conv2d_backward_filter_kernel4<<<f.grid, f.threads>>>(x, dy, f.partials, tickets_scratch((int) f.grid.x), dw, db,
                                                          s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride,
                                                          s.pad, f.outputs, f.kcrs, f.split.chunk);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_backward_filter3(const float* x, const float* dy, float* dw, float* db, ConvShape s) {
    int CRS = s.C * s.R * s.S;
    int CRSb = CRS + (db != nullptr ? 1 : 0);
    long long m = (long long) s.N * s.P * s.Q;
    int tiles = ceil_div(CRSb, BF_TC) * ceil_div(s.K, BF_TK);
    // About 512 blocks in all, each range at least 256 positions long and a multiple of BF_BJ.
    long long G = geometry::max_ll(1, geometry::min_ll(geometry::ceil_div_ll(512, tiles), geometry::ceil_div_ll(m, 256)));
    long long jChunk = geometry::ceil_div_ll(geometry::ceil_div_ll(m, G), BF_BJ) * BF_BJ;
    G = geometry::ceil_div_ll(m, jChunk);
    float* partials = partials_scratch((size_t) G * s.K * CRSb);
    dim3 grid(ceil_div(CRSb, BF_TC), ceil_div(s.K, BF_TK), (unsigned) G);
    conv2d_backward_filter_partial_kernel3<<<grid, 256>>>(x, dy, partials, s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P,
                                                          s.Q, s.stride, s.pad, CRSb, (int) jChunk);
    CUDA_CHECK_LAUNCH();
    conv2d_backward_filter_merge_kernel3<<<ceil_div(s.K * CRSb, 256), 256>>>(partials, dw, db, (int) G, s.K, CRS,
                                                                             CRSb);
    CUDA_CHECK_LAUNCH();
}

static void conv2d_backward_filter(int version, const float* x, const float* dy, float* dw, float* db,
                                   ConvShape s) {
    switch (version) {
        case 1: conv2d_backward_filter1(x, dy, dw, db, s); break;
        case 2: conv2d_backward_filter2(x, dy, dw, db, s); break;
        case 3: conv2d_backward_filter3(x, dy, dw, db, s); break;
        case 4: conv2d_backward_filter4(x, dy, dw, db, s); break;
        default: fprintf(stderr, "conv2d_backward_filter: no version %d\n", version); exit(EXIT_FAILURE);
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
    const int versions = 4;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    print_device();
    printf("conv2d_backward_filter version %d\n", version);

    const Case cases[] = {
        {"odd 3x5x13x11, K 7, 3x5 s2 p1, no db", 3, 5, 13, 11, 7, 3, 5, 2, 1, false, true, false},
        {"odd 2x3x9x17, K 10, 5x5 s1 p2", 2, 3, 9, 17, 10, 5, 5, 1, 2, true, true, false},
        {"odd 5x7x15x15, K 19, 7x7 s1 p3 (many outputs)", 5, 7, 15, 15, 19, 7, 7, 1, 3, true, true, false},
        {"odd 37x2x9x9, K 3, 3x3 s1 p1 (long reduction)", 37, 2, 9, 9, 3, 3, 3, 1, 1, true, true, false},
        {"LeNet conv1 256x1x28x28, K 6, 5x5 p2", 256, 1, 28, 28, 6, 5, 5, 1, 2, true, true, true},
        {"LeNet conv2 256x6x14x14, K 16, 5x5", 256, 6, 14, 14, 16, 5, 5, 1, 0, true, true, true},
        {"LeNet-BN conv1 256x1x28x28, K 6, 5x5", 256, 1, 28, 28, 6, 5, 5, 1, 0, true, true, true},
        {"LeNet-BN conv2 256x6x12x12, K 16, 5x5", 256, 6, 12, 12, 16, 5, 5, 1, 0, true, true, true},
        {"224 conv2 256x6x110x110, K 16, 5x5", 256, 6, 110, 110, 16, 5, 5, 1, 0, true, false, true},
    };

    uint64_t seed = 21;
    for (const Case& c : cases) {
        ConvShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.S, 0, 0, c.stride, c.pad};
        s.P = (c.H + 2 * c.pad - c.R) / c.stride + 1;
        s.Q = (c.W + 2 * c.pad - c.S) / c.stride + 1;
        size_t nx = (size_t) c.N * c.C * c.H * c.W;
        size_t ndy = (size_t) c.N * c.K * s.P * s.Q;
        size_t nw = (size_t) c.K * c.C * c.R * c.S;
        printf("%s: dw (%d, %d, %d, %d), reduction over %d*%d*%d\n", c.name, c.K, c.C, c.R, c.S, c.N, s.P, s.Q);
        // Emulation cost grows with the work, not the outputs.
        if (skip_case(nw * (size_t) c.N * s.P * s.Q / 64)) continue;
        float* x = make_random_float(nx, -1.0f, 1.0f, seed++);
        float* dy = make_random_float(ndy, -1.0f, 1.0f, seed++);
        float* d_x = to_device(x, nx);
        float* d_dy = to_device(dy, ndy);
        float* d_dw = device_alloc_poison(nw);
        float* d_db = c.bias ? device_alloc_poison((size_t) c.K) : nullptr;
        // Sums of N*P*Q products of values in [-1, 1]: the float32 error grows like the square
        // root of the count times the running sum, about 2e-8 * count in the worst expected case.
        double terms = (double) c.N * s.P * s.Q;
        double atol = 2e-7 * terms + 1e-5, rtol = 1e-5;
        conv2d_backward_filter(version, d_x, d_dy, d_dw, d_db, s);
        if (c.cpu) {
            double* ref_dw = (double*) host_alloc(nw * sizeof(double));
            double* ref_db = (double*) host_alloc((size_t) c.K * sizeof(double));
            conv2d_backward_filter_cpu(ref_dw, ref_db, x, dy, c.N, c.C, c.H, c.W, c.K, c.R, c.S, s.P, s.Q, c.stride,
                                       c.pad);
            validate_result(d_dw, ref_dw, "dw", nw, atol, rtol);
            if (c.bias) validate_result(d_db, ref_db, "db", (size_t) c.K, atol, rtol);
            free(ref_dw);
            free(ref_db);
        } else {
            float* d_ref_dw = device_alloc_poison(nw);
            float* d_ref_db = device_alloc_poison((size_t) c.K);
            conv2d_backward_filter(1, d_x, d_dy, d_ref_dw, c.bias ? d_ref_db : nullptr, s);
            validate_against_device(d_dw, d_ref_dw, "dw vs v1", nw, atol, rtol);
            if (c.bias) validate_against_device(d_db, d_ref_db, "db vs v1", (size_t) c.K, atol, rtol);
            CUDA_CHECK(cudaFree(d_ref_dw));
            CUDA_CHECK(cudaFree(d_ref_db));
        }
        // Determinism: a second run gives the same bits.
        {
            float* first = from_device(d_dw, nw);
            poison(d_dw, nw);
            conv2d_backward_filter(version, d_x, d_dy, d_dw, d_db, s);
            float* second = from_device(d_dw, nw);
            if (memcmp(first, second, nw * sizeof(float)) != 0) {
                fprintf(stderr, "FAILED: two runs of version %d gave different dw bits (or left outputs unwritten)\n", version);
                exit(EXIT_FAILURE);
            }
            printf("    dw           identical bits on a second run\n");
            free(first);
            free(second);
        }
        if (c.timed && timing_enabled()) {
            Timing t = benchmark_kernel(repeats, conv2d_backward_filter, version, d_x, d_dy, d_dw, d_db, s);
            double bytes = (double) (nx + ndy + nw + (c.bias ? c.K : 0)) * sizeof(float);
            double flops = 2.0 * (double) ndy * c.C * c.R * c.S;
            print_timing("time", t, bytes, flops);
        }
        free(x);
        free(dy);
        CUDA_CHECK(cudaFree(d_x));
        CUDA_CHECK(cudaFree(d_dy));
        CUDA_CHECK(cudaFree(d_dw));
        if (d_db != nullptr) CUDA_CHECK(cudaFree(d_db));
    }
    printf("conv2d_backward_filter version %d: all checks passed\n", version);
    return 0;
}
