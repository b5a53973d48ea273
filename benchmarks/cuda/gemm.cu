/*
gemm: the three products of the linear layer, float32, row-major. x (N, I), w (O, I), b (O).
  forward          y (N, O)  = x w^T + b
  backward_data    dx (N, I) = dy (N, O) w
  backward_weight  dw (O, I) = dy^T x,  db (O) = sum over n of dy
Each is C (M, Nc) = A (M, Kd) B (Kd, Nc) with A and B read through element strides
(A[m, k] = A[m*sam + k*sak], B[k, n] = B[k*sbk + n*sbn]), as src/main/cuda/gemm.cu does:
  forward          A = x    (sam = I, sak = 1)   B = w^T (sbk = 1, sbn = I)   M = N, Nc = O, Kd = I
  backward_data    A = dy   (sam = O, sak = 1)   B = w   (sbk = I, sbn = 1)   M = N, Nc = I, Kd = O
  backward_weight  A = dy^T (sam = 1, sak = O)   B = x   (sbk = I, sbn = 1)   M = O, Nc = I, Kd = N
Every output is summed in a fixed order: deterministic in every version but cuBLAS.

Compile and run:
  make gemm                 (nvcc -O3 -std=c++17 -arch=sm_90 gemm.cu -o gemm [-DLAB_CUBLAS -lcublas])
  make gemm USE_CUBLAS=1    with the cuBLAS ceiling (version 4)
  ./gemm 2                  all three products
  ./gemm 4 forward          one product

version 1: one thread per output, naive loop over k
version 2: 64x64 output tile per block of 256 threads, 16-deep k tiles in shared memory, 4x4
           outputs per thread; split-K with a fixed-order merge when the output has fewer than
           128 tiles and k > 512 (the mainline kernels sgemm_strided v2, column_sum v1 and
           partials_merge / partials_merge_serial v1, included from src/main/cuda/gemm.cu and
           src/main/cuda/reduce.cu)
version 3: 32x32 output tile per block of 256 threads, 2x2 outputs per thread, same loads as
           version 2; split-K (k ranges of at least 128) until about 128 blocks, merged in fixed
           order: more blocks for LeNet's small products
version 4: cuBLAS cublasSgemm (FP32, default math mode), the ceiling to beat; bias by a
           broadcast kernel and beta = 1; db by column_sum. Only with USE_CUBLAS=1.
*/
#include "common.h"
#ifdef LAB_CUBLAS
#include <cublas_v2.h>
#endif

// ----------------------------------------------------------------------------------- CPU reference

static void gemm_cpu(double* C, const float* A, long long sam, long long sak, const float* B, long long sbk,
                     long long sbn, const float* bias, int M, int Nc, int Kd) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < Nc; n++) {
            double acc = bias != nullptr ? (double) bias[n] : 0.0;
            for (int k = 0; k < Kd; k++) acc += (double) A[m * sam + k * sak] * (double) B[k * sbk + n * sbn];
            C[(size_t) m * Nc + n] = acc;
        }
    }
}

static void column_sum_cpu(double* db, const float* dy, int N, int O) {
    for (int o = 0; o < O; o++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) acc += dy[(size_t) n * O + o];
        db[o] = acc;
    }
}

// ----------------------------------------------------------------------------------- kernels

// v1: one thread per output (m, n).
__global__ void sgemm_kernel1(const float* __restrict__ A, long long sam, long long sak, const float* __restrict__ B,
                              long long sbk, long long sbn, float* __restrict__ Cmat, const float* __restrict__ bias,
                              int M, int N, int Kd) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < Kd; k++) acc = fmaf(A[m * sam + k * sak], B[k * sbk + n * sbn], acc);
    Cmat[(size_t) m * N + n] = acc + (bias != nullptr ? bias[n] : 0.0f);
}

// v2: the mainline kernels sgemm_strided and column_sum (src/main/cuda/gemm.cu, which also
// defines GEMM_BM, GEMM_BN, GEMM_BK) and partials_merge / partials_merge_serial
// (src/main/cuda/reduce.cu), included. column_sum gives db in every version.
#include "../../src/main/cuda/gemm.cu"
#include "../../src/main/cuda/reduce.cu"

#define G3_BM 32
#define G3_BN 32
#define G3_BK 16

// v3: version 2's scheme with a 32x32 output tile: 256 threads, tx = tid % 16, ty = tid / 16,
// outputs at rows ty + 16*i and columns tx + 16*j, i, j < 2. Tile loads: 512 elements of A and
// of B per stage, two per thread, mapped by which stride is 1 so global reads coalesce.
// Grid (ceil(N / 32), ceil(M / 32), splits), split z covering k in [z*kChunk, ...).
__global__ void sgemm_kernel3(const float* __restrict__ A, long long sam, long long sak,
                              const float* __restrict__ B, long long sbk, long long sbn,
                              float* __restrict__ Cmat, const float* __restrict__ bias,
                              int M, int N, int Kd, int kChunk) {
    __shared__ float As[G3_BK][G3_BM + 1];
    __shared__ float Bs[G3_BK][G3_BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const int rowBase = blockIdx.y * G3_BM;
    const int colBase = blockIdx.x * G3_BN;
    const int k0 = blockIdx.z * kChunk;
    const int k1 = min(Kd, k0 + kChunk);
    float acc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    for (int kt = k0; kt < k1; kt += G3_BK) {
#pragma unroll
        for (int l = 0; l < 2; l++) {
            int idx = tid + l * 256;
            int mm, kk;
            if (sak == 1) {
                kk = idx % G3_BK;
                mm = idx / G3_BK;
            } else {
                mm = idx % G3_BM;
                kk = idx / G3_BM;
            }
            int gm = rowBase + mm;
            int gk = kt + kk;
            As[kk][mm] = (gm < M && gk < k1) ? A[gm * sam + gk * sak] : 0.0f;
            int nn;
            if (sbk == 1) {
                kk = idx % G3_BK;
                nn = idx / G3_BK;
            } else {
                nn = idx % G3_BN;
                kk = idx / G3_BN;
            }
            int gn = colBase + nn;
            gk = kt + kk;
            Bs[kk][nn] = (gn < N && gk < k1) ? B[gk * sbk + gn * sbn] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < G3_BK; kk++) {
            float a0 = As[kk][ty], a1 = As[kk][ty + 16];
            float b0 = Bs[kk][tx], b1 = Bs[kk][tx + 16];
            acc[0][0] = fmaf(a0, b0, acc[0][0]);
            acc[0][1] = fmaf(a0, b1, acc[0][1]);
            acc[1][0] = fmaf(a1, b0, acc[1][0]);
            acc[1][1] = fmaf(a1, b1, acc[1][1]);
        }
        __syncthreads();
    }
    float* out = Cmat + (size_t) blockIdx.z * M * N;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int gm = rowBase + ty + 16 * i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 2; j++) {
            int gn = colBase + tx + 16 * j;
            if (gn >= N) continue;
            float v = acc[i][j];
            if (bias != nullptr) v += bias[gn];
            out[(size_t) gm * N + gn] = v;
        }
    }
}

// For cuBLAS: C[m, n] = bias[n] before a beta = 1 product.
__global__ void broadcast_rows(float* __restrict__ Cmat, const float* __restrict__ bias, int M, int N) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < (long long) M * N;
         i += (long long) gridDim.x * blockDim.x) {
        Cmat[i] = bias[i % N];
    }
}

// ----------------------------------------------------------------------------------- launchers

struct Gemm {
    const float* A;
    long long sam, sak;
    const float* B;
    long long sbk, sbn;
    float* C;
    const float* bias;
    int M, N, Kd;
};

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

static void merge_partials(const float* partials, int groups, int outputs, float* out, const float* bias,
                           int biasPeriod) {
    if (groups <= geometry::SERIAL_MERGE_MAX) {
        partials_merge_serial<<<geometry::stride_blocks(outputs), geometry::THREADS>>>(partials, groups, outputs, out,
                                                                                       outputs, nullptr, bias,
                                                                                       biasPeriod);
    } else {
        int blocks = outputs < geometry::MAX_STRIDE_BLOCKS ? outputs : geometry::MAX_STRIDE_BLOCKS;
        partials_merge<<<blocks, geometry::REDUCE_THREADS>>>(partials, groups, outputs, out, outputs, nullptr, bias,
                                                             biasPeriod);
    }
    CUDA_CHECK_LAUNCH();
}

#ifdef LAB_CUBLAS
static cublasHandle_t g_cublas = nullptr;
#define CUBLAS_CHECK(call)                                                                          \
    do {                                                                                            \
        cublasStatus_t st_ = (call);                                                                \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            fprintf(stderr, "[CUBLAS ERROR] %s failed at %s:%d: status %d\n", #call, __FILE__, __LINE__, \
                    (int) st_);                                                                     \
            exit(EXIT_FAILURE);                                                                     \
        }                                                                                           \
    } while (0)
#endif

static void gemm_run(int version, Gemm g) {
    switch (version) {
        case 1: {
            dim3 block(32, 8);
            dim3 grid(ceil_div(g.N, 32), ceil_div(g.M, 8));
            sgemm_kernel1<<<grid, block>>>(g.A, g.sam, g.sak, g.B, g.sbk, g.sbn, g.C, g.bias, g.M, g.N, g.Kd);
            CUDA_CHECK_LAUNCH();
            break;
        }
        case 2: {
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaBackend.java launches it.
            geometry::Split split = geometry::gemm_split(g.M, g.N, g.Kd);
            dim3 grid(ceil_div(g.N, geometry::GEMM_TILE), ceil_div(g.M, geometry::GEMM_TILE), split.groups);
            if (split.groups == 1) {
                sgemm_strided<<<grid, 256>>>(g.A, g.sam, g.sak, g.B, g.sbk, g.sbn, g.C, g.bias, g.M, g.N, g.Kd,
                                             split.chunk);
                CUDA_CHECK_LAUNCH();
            } else {
                float* partials = partials_scratch((size_t) g.M * g.N * split.groups);
                sgemm_strided<<<grid, 256>>>(g.A, g.sam, g.sak, g.B, g.sbk, g.sbn, partials, nullptr, g.M, g.N, g.Kd,
                                             split.chunk);
                CUDA_CHECK_LAUNCH();
                merge_partials(partials, split.groups, g.M * g.N, g.C, g.bias, g.N);
            }
            break;
        }
        case 3: {
            long long tiles = (long long) ceil_div(g.M, G3_BM) * ceil_div(g.N, G3_BN);
            long long splits = 1;
            if (tiles < 128) {
                splits = geometry::max_ll(1, geometry::min_ll(geometry::ceil_div_ll(128, tiles),
                                                              geometry::ceil_div_ll(g.Kd, 128)));
            }
            int chunk = (int) (geometry::ceil_div_ll(geometry::ceil_div_ll(geometry::max_ll(g.Kd, 1), splits), G3_BK) *
                               G3_BK);
            int groups = (int) geometry::max_ll(1, geometry::ceil_div_ll(g.Kd, chunk));
            dim3 grid(ceil_div(g.N, G3_BN), ceil_div(g.M, G3_BM), groups);
            if (groups == 1) {
                sgemm_kernel3<<<grid, 256>>>(g.A, g.sam, g.sak, g.B, g.sbk, g.sbn, g.C, g.bias, g.M, g.N, g.Kd, chunk);
                CUDA_CHECK_LAUNCH();
            } else {
                float* partials = partials_scratch((size_t) g.M * g.N * groups);
                sgemm_kernel3<<<grid, 256>>>(g.A, g.sam, g.sak, g.B, g.sbk, g.sbn, partials, nullptr, g.M, g.N, g.Kd,
                                             chunk);
                CUDA_CHECK_LAUNCH();
                merge_partials(partials, groups, g.M * g.N, g.C, g.bias, g.N);
            }
            break;
        }
#ifdef LAB_CUBLAS
        case 4: {
            if (g_cublas == nullptr) CUBLAS_CHECK(cublasCreate(&g_cublas));
            float alpha = 1.0f, beta = 0.0f;
            if (g.bias != nullptr) {
                broadcast_rows<<<geometry::stride_blocks((long long) g.M * g.N), geometry::THREADS>>>(g.C, g.bias, g.M,
                                                                                                      g.N);
                CUDA_CHECK_LAUNCH();
                beta = 1.0f;
            }
            // Row-major C (M, N) is column-major C^T (N, M) = B^T A^T.
            cublasOperation_t opB = g.sbn == 1 ? CUBLAS_OP_N : CUBLAS_OP_T;
            int ldb = (int) (g.sbn == 1 ? g.sbk : g.sbn);
            cublasOperation_t opA = g.sak == 1 ? CUBLAS_OP_N : CUBLAS_OP_T;
            int lda = (int) (g.sak == 1 ? g.sam : g.sak);
            CUBLAS_CHECK(cublasSgemm(g_cublas, opB, opA, g.N, g.M, g.Kd, &alpha, g.B, ldb, g.A, lda, &beta, g.C, g.N));
            break;
        }
#endif
        default: fprintf(stderr, "gemm: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

static void column_sum_run(const float* dy, float* db, int N, int O) {
    column_sum<<<geometry::stride_blocks(O), geometry::THREADS>>>(dy, db, N, O);
    CUDA_CHECK_LAUNCH();
}

// ----------------------------------------------------------------------------------- main

enum Op { FORWARD, BACKWARD_DATA, BACKWARD_WEIGHT };
static const char* kOpNames[] = {"forward", "backward_data", "backward_weight"};

// One product of the linear layer (with db for backward_weight), as timed.
static void linear_op(int version, Op op, Gemm g, const float* dy, float* db, int N, int O) {
    gemm_run(version, g);
    if (op == BACKWARD_WEIGHT) column_sum_run(dy, db, N, O);
}

struct Case {
    const char* name;
    int N, I, O;  // batch, in features, out features
    bool cpu;     // checked against the CPU reference (else against version 1 on the device)
    bool timed;
};

int main(int argc, char** argv) {
#ifdef LAB_CUBLAS
    const int versions = 4;
#else
    const int versions = 3;
#endif
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    bool selected[3] = {false, false, false};
    bool any = false;
    for (int o = 0; o < 3; o++) {
        if (has_arg(argc, argv, kOpNames[o])) selected[o] = any = true;
    }
    for (int o = 0; o < 3; o++) {
        if (!any) selected[o] = true;
    }
    print_device();
    printf("gemm version %d%s\n", version, version == 4 ? " (cuBLAS)" : "");

    const Case cases[] = {
        {"odd N 7, 3 -> 5", 7, 3, 5, true, false},
        {"odd N 1, 1 -> 1", 1, 1, 1, true, false},
        {"odd N 33, 17 -> 65", 33, 17, 65, true, false},
        {"odd N 70, 1100 -> 130 (split-K)", 70, 1100, 130, true, false},
        {"odd N 3, 2000 -> 5 (split-K, tiny output)", 3, 2000, 5, true, false},
        {"LeNet linear1 N 256, 400 -> 120", 256, 400, 120, true, true},
        {"LeNet-BN linear1 N 256, 256 -> 120", 256, 256, 120, true, true},
        {"LeNet linear2 N 256, 120 -> 84", 256, 120, 84, true, true},
        {"LeNet linear3 N 256, 84 -> 10", 256, 84, 10, true, true},
        {"MLP N 256, 784 -> 32", 256, 784, 32, true, true},
        {"224 linear1 N 256, 44944 -> 120", 256, 44944, 120, false, true},
        {"square N 2048, 2048 -> 2048", 2048, 2048, 2048, false, true},
    };

    uint64_t seed = 71;
    for (const Case& cs : cases) {
        int N = cs.N, I = cs.I, O = cs.O;
        size_t nx = (size_t) N * I, nw = (size_t) O * I, ny = (size_t) N * O;
        printf("%s\n", cs.name);
        if (skip_case((size_t) N * I * O / 32)) continue;
        float* x = make_random_float(nx, -1.0f, 1.0f, seed++);
        float* w = make_random_float(nw, -1.0f, 1.0f, seed++);
        float* b = make_random_float((size_t) O, -1.0f, 1.0f, seed++);
        float* dy = make_random_float(ny, -1.0f, 1.0f, seed++);
        float* d_x = to_device(x, nx);
        float* d_w = to_device(w, nw);
        float* d_b = to_device(b, (size_t) O);
        float* d_dy = to_device(dy, ny);
        for (int o = 0; o < 3; o++) {
            if (!selected[o]) continue;
            Op op = (Op) o;
            Gemm g;
            size_t nc;
            const float* hA;
            const float* hB;
            if (op == FORWARD) {
                g = Gemm{d_x, I, 1, d_w, 1, I, nullptr, d_b, N, O, I};
                hA = x;
                hB = w;
                nc = ny;
            } else if (op == BACKWARD_DATA) {
                g = Gemm{d_dy, O, 1, d_w, I, 1, nullptr, nullptr, N, I, O};
                hA = dy;
                hB = w;
                nc = nx;
            } else {
                g = Gemm{d_dy, 1, O, d_x, I, 1, nullptr, nullptr, O, I, N};
                hA = dy;
                hB = x;
                nc = nw;
            }
            g.C = device_alloc_poison(nc);
            float* d_db = op == BACKWARD_WEIGHT ? device_alloc_poison((size_t) O) : nullptr;
            // Sums of Kd products of values in [-1, 1]: about 2e-8 * Kd of float32 drift.
            double atol = 2e-7 * g.Kd + 1e-6, rtol = 1e-5;
            linear_op(version, op, g, d_dy, d_db, N, O);
            char name[48];
            snprintf(name, sizeof(name), "%s", kOpNames[o]);
            if (cs.cpu) {
                double* ref = (double*) host_alloc(nc * sizeof(double));
                gemm_cpu(ref, hA, g.sam, g.sak, hB, g.sbk, g.sbn, op == FORWARD ? b : nullptr, g.M, g.N, g.Kd);
                validate_result(g.C, ref, name, nc, atol, rtol);
                free(ref);
                if (op == BACKWARD_WEIGHT) {
                    double* ref_db = (double*) host_alloc((size_t) O * sizeof(double));
                    column_sum_cpu(ref_db, dy, N, O);
                    validate_result(d_db, ref_db, "db", (size_t) O, 2e-7 * N + 1e-6, rtol);
                    free(ref_db);
                }
            } else {
                Gemm r = g;
                r.C = device_alloc_poison(nc);
                gemm_run(1, r);
                snprintf(name, sizeof(name), "%s vs v1", kOpNames[o]);
                validate_against_device(g.C, r.C, name, nc, atol, rtol);
                CUDA_CHECK(cudaFree(r.C));
            }
            if (cs.timed && timing_enabled()) {
                Timing t = benchmark_kernel(repeats, linear_op, version, op, g, d_dy, d_db, N, O);
                double bytes = ((double) g.M * g.Kd + (double) g.Kd * g.N + (double) g.M * g.N) * 4;
                double flops = 2.0 * g.M * g.N * (double) g.Kd;
                char label[64];
                snprintf(label, sizeof(label), "time %s", kOpNames[o]);
                print_timing(label, t, bytes, flops);
            }
            CUDA_CHECK(cudaFree(g.C));
            if (d_db != nullptr) CUDA_CHECK(cudaFree(d_db));
        }
        free(x);
        free(w);
        free(b);
        free(dy);
        CUDA_CHECK(cudaFree(d_x));
        CUDA_CHECK(cudaFree(d_w));
        CUDA_CHECK(cudaFree(d_b));
        CUDA_CHECK(cudaFree(d_dy));
    }
    printf("gemm version %d: all checks passed\n", version);
    return 0;
}
