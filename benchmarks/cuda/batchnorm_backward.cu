/*
batchnorm_backward: backward of training-mode batch norm, float32, (N, C) or (N, C, H, W).
Statistics per channel over m = N*L values, L = H*W (1 for 2-D input). With the statistics
saved by the forward pass and xhat = (x - saveMean) * saveInvStd:
  dbeta  = sum(dy);  dgamma = sum(dy * xhat)
  dx = gamma * saveInvStd / m * (m * dy - dbeta - xhat * dgamma)

Compile and run:
  make batchnorm_backward    (nvcc -O3 -std=c++17 -arch=sm_90 batchnorm_backward.cu -o batchnorm_backward)
  ./batchnorm_backward 2

version 1: one thread per channel: sums in double, then dx; serial and slow
version 2: each channel split over G blocks that write (sum dy, sum dy * xhat) partials from
           fixed trees; one block per channel merges them in double (in order per thread, then
           a fixed tree) in a launch of its own; a grid-stride pass writes dx: three launches
           (the mainline's until batchnorm_backward_reduce, built here from its helpers)
version 3: version 2 with the merge folded into the partial pass: the last block of each channel
           to finish (an integer ticket per channel) merges the channel's partials, the same bits;
           two launches instead of three (the mainline kernels batchnorm_backward_reduce v2 and
           batchnorm_backward_dx v3, included from src/main/cuda/batchnorm.cu)
version 4: version 3, except where each channel is one block (m <= 4096 values, as after a linear
           layer): that block merges its own partial and writes its channel's dx, one launch (the
           mainline kernel batchnorm_backward_reduce_dx v1), the same bits
All versions are deterministic.
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void batchnorm_backward_cpu(double* dx, double* dgamma, double* dbeta, const float* x, const float* dy,
                                   const float* gamma, const float* saveMean, const float* saveInvStd, int N, int C,
                                   int L) {
    double m = (double) N * L;
    for (int c = 0; c < C; c++) {
        double mean = saveMean[c], invstd = saveInvStd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                sdy += dy[i];
                sdyx += (double) dy[i] * (x[i] - mean) * invstd;
            }
        }
        dbeta[c] = sdy;
        dgamma[c] = sdyx;
        for (int n = 0; n < N; n++) {
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                double xhat = (x[i] - mean) * invstd;
                dx[i] = (double) gamma[c] * invstd / m * (m * dy[i] - sdy - xhat * sdyx);
            }
        }
    }
}

// ----------------------------------------------------------------------------------- kernels

// v1: one thread per channel.
__global__ void batchnorm_backward_kernel1(const float* __restrict__ x, const float* __restrict__ dy,
                                           const float* __restrict__ gamma, const float* __restrict__ saveMean,
                                           const float* __restrict__ saveInvStd, float* __restrict__ dx,
                                           float* __restrict__ dgamma, float* __restrict__ dbeta, int N, int C,
                                           int L) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const float mean = saveMean[c], invstd = saveInvStd[c];
    double sdy = 0.0, sdyx = 0.0;
    for (int n = 0; n < N; n++) {
        for (int l = 0; l < L; l++) {
            size_t i = ((size_t) n * C + c) * L + l;
            sdy += dy[i];
            sdyx += (double) (dy[i] * ((x[i] - mean) * invstd));
        }
    }
    const float db = (float) sdy, dg = (float) sdyx, m = (float) N * L;
    dbeta[c] = db;
    dgamma[c] = dg;
    for (int n = 0; n < N; n++) {
        for (int l = 0; l < L; l++) {
            size_t i = ((size_t) n * C + c) * L + l;
            float xhat = (x[i] - mean) * invstd;
            dx[i] = gamma[c] * invstd / m * (m * dy[i] - db - xhat * dg);
        }
    }
}

// v3: the mainline kernels batchnorm_backward_reduce and batchnorm_backward_dx, included from
// src/main/cuda/batchnorm.cu (with their helpers bn_backward_block and bn_backward_merge, which
// v2 launches separately).
#include "../../src/main/cuda/batchnorm.cu"

// v2 (1 of 2): each block's sums (the mainline's bn_backward_block) written as partials; the
// mainline's partial pass up to the ticket.
__global__ void batchnorm_backward_partial_kernel2(const float* __restrict__ x, const float* __restrict__ dy,
                                                   const float* __restrict__ saveMean,
                                                   const float* __restrict__ saveInvStd,
                                                   float* __restrict__ partials,  // (C, G, 2)
                                                   int N, int C, int L, int chunk) {
    __shared__ float buf[NN_REDUCE_THREADS];
    bn_backward_block(x, nullptr, dy, saveMean, saveInvStd, partials, buf, N, C, L, chunk, NN_ACT_IDENTITY, 0, 1);
}

// v2 (2 of 2): one block per channel (as few threads as give each a partial) merges the
// channel's partials (the mainline's bn_backward_merge) in a launch of its own; dx is then
// written by batchnorm_backward_dx, as in v3.
__global__ void batchnorm_backward_finalize_kernel2(const float* partials, int G, float* __restrict__ dgamma,
                                                    float* __restrict__ dbeta) {
    __shared__ double buf[NN_REDUCE_THREADS];
    const int c = blockIdx.x;
    bn_backward_merge(partials + (size_t) c * G * 2, c, G, buf, dgamma, dbeta);
}

// ----------------------------------------------------------------------------------- launchers

struct BnArgs {
    const float* x;
    const float* dy;
    const float* gamma;
    const float* saveMean;
    const float* saveInvStd;
    float* dx;
    float* dgamma;
    float* dbeta;
    int N, C, L;
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

static void batchnorm_backward(int version, BnArgs a) {
    switch (version) {
        case 1:
            batchnorm_backward_kernel1<<<ceil_div(a.C, 32), 32>>>(a.x, a.dy, a.gamma, a.saveMean, a.saveInvStd, a.dx,
                                                                  a.dgamma, a.dbeta, a.N, a.C, a.L);
            CUDA_CHECK_LAUNCH();
            break;
        case 2: {
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            float* partials = partials_scratch((size_t) 2 * a.C * split.groups);
            dim3 grid(split.groups, a.C);
            batchnorm_backward_partial_kernel2<<<grid, geometry::REDUCE_THREADS>>>(a.x, a.dy, a.saveMean, a.saveInvStd,
                                                                                   partials, a.N, a.C, a.L, split.chunk);
            CUDA_CHECK_LAUNCH();
            batchnorm_backward_finalize_kernel2<<<a.C, geometry::batchnorm_finalize_threads(split.groups)>>>(
                partials, split.groups, a.dgamma, a.dbeta);
            CUDA_CHECK_LAUNCH();
            int total = a.N * a.C * a.L;
            batchnorm_backward_dx<<<geometry::stride_blocks(total), geometry::THREADS>>>(
                a.x, nullptr, a.dy, a.gamma, a.saveMean, a.saveInvStd, a.dgamma, a.dbeta, a.dx, a.C, a.L, total,
                (float) m, NN_ACT_IDENTITY, 0, 1);
            CUDA_CHECK_LAUNCH();
            break;
        }
        case 3: {
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaBatchNorm.java launches it.
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            float* partials = partials_scratch((size_t) 2 * a.C * split.groups);
            dim3 grid(split.groups, a.C);
            batchnorm_backward_reduce<<<grid, geometry::REDUCE_THREADS>>>(
                a.x, nullptr, a.dy, a.saveMean, a.saveInvStd, partials, tickets_scratch(a.C), a.dgamma, a.dbeta, a.N,
                a.C, a.L, split.chunk, NN_ACT_IDENTITY, 0, 1);
            CUDA_CHECK_LAUNCH();
            int total = a.N * a.C * a.L;
            batchnorm_backward_dx<<<geometry::stride_blocks(total), geometry::THREADS>>>(
                a.x, nullptr, a.dy, a.gamma, a.saveMean, a.saveInvStd, a.dgamma, a.dbeta, a.dx, a.C, a.L, total,
                (float) m, NN_ACT_IDENTITY, 0, 1);
            CUDA_CHECK_LAUNCH();
            break;
        }
        case 4: {
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaBatchNorm.java launches it.
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            if (split.groups != 1) {
                batchnorm_backward(3, a);
                break;
            }
            float* partials = partials_scratch((size_t) 2 * a.C);
            batchnorm_backward_reduce_dx<<<dim3(1, a.C), geometry::REDUCE_THREADS>>>(
                a.x, nullptr, a.dy, a.gamma, a.saveMean, a.saveInvStd, partials, a.dgamma, a.dbeta, a.dx, a.N, a.C, a.L,
                (float) m, NN_ACT_IDENTITY);
            CUDA_CHECK_LAUNCH();
            break;
        }
        default: fprintf(stderr, "batchnorm_backward: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, C, H, W;  // H = W = 0 for a 2-D (N, C) input
    bool timed;
};

int main(int argc, char** argv) {
    const int versions = 4;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    print_device();
    printf("batchnorm_backward version %d\n", version);

    const Case cases[] = {
        {"odd 3x5x7x3", 3, 5, 7, 3, false},
        {"odd 2-D 7x10", 7, 10, 0, 0, false},
        {"odd 2-D 2x3 (m = 2)", 2, 3, 0, 0, false},
        {"odd 5x3x33x31", 5, 3, 33, 31, false},
        {"LeNet BN1 256x6x28x28", 256, 6, 28, 28, true},
        {"LeNet BN2 256x16x10x10", 256, 16, 10, 10, true},
        {"LeNet-BN BN1 256x6x24x24", 256, 6, 24, 24, true},
        {"LeNet-BN BN2 256x16x8x8", 256, 16, 8, 8, true},
        {"BN1d 256x120", 256, 120, 0, 0, true},
        {"BN1d 256x84", 256, 84, 0, 0, true},
        {"large 256x16x106x106", 256, 16, 106, 106, true},
    };

    uint64_t seed = 41;
    for (const Case& cs : cases) {
        int N = cs.N, C = cs.C, L = cs.H == 0 ? 1 : cs.H * cs.W;
        size_t nx = (size_t) N * C * L;
        printf("%s: x (%d, %d, %d)\n", cs.name, N, C, L);
        if (skip_case(nx)) continue;
        float* x = make_random_float(nx, -1.0f, 3.0f, seed++);
        float* dy = make_random_float(nx, -1.0f, 1.0f, seed++);
        float* gamma = make_random_float((size_t) C, 0.5f, 1.5f, seed++);
        // Statistics as a forward pass would save them (float32), from the data itself.
        float* mean = (float*) host_alloc(C * sizeof(float));
        float* invstd = (float*) host_alloc(C * sizeof(float));
        for (int c = 0; c < C; c++) {
            double s = 0.0, sq = 0.0, m = (double) N * L;
            for (int n = 0; n < N; n++)
                for (int l = 0; l < L; l++) s += x[((size_t) n * C + c) * L + l];
            for (int n = 0; n < N; n++) {
                for (int l = 0; l < L; l++) {
                    double d = x[((size_t) n * C + c) * L + l] - s / m;
                    sq += d * d;
                }
            }
            mean[c] = (float) (s / m);
            invstd[c] = (float) (1.0 / sqrt(sq / m + 1e-5));
        }
        BnArgs a;
        a.x = to_device(x, nx);
        a.dy = to_device(dy, nx);
        a.gamma = to_device(gamma, (size_t) C);
        a.saveMean = to_device(mean, (size_t) C);
        a.saveInvStd = to_device(invstd, (size_t) C);
        a.dx = device_alloc_poison(nx);
        a.dgamma = device_alloc_poison((size_t) C);
        a.dbeta = device_alloc_poison((size_t) C);
        a.N = N;
        a.C = C;
        a.L = L;
        double* ref_dx = (double*) host_alloc(nx * sizeof(double));
        double* ref_dgamma = make_zeros_double((size_t) C);
        double* ref_dbeta = make_zeros_double((size_t) C);
        batchnorm_backward(version, a);
        batchnorm_backward_cpu(ref_dx, ref_dgamma, ref_dbeta, x, dy, gamma, mean, invstd, N, C, L);
        // dgamma and dbeta are sums of m terms of size ~1 (error ~2e-8 * m); dx subtracts them
        // divided by m, so its error stays ~1e-6 relative to the largest term.
        double m = (double) N * L;
        validate_result(a.dbeta, ref_dbeta, "dbeta", (size_t) C, 2e-7 * m + 1e-5, 1e-5);
        validate_result(a.dgamma, ref_dgamma, "dgamma", (size_t) C, 2e-7 * m + 1e-5, 1e-5);
        validate_result(a.dx, ref_dx, "dx", nx, 2e-5, 1e-4);
        float* first = from_device(a.dgamma, (size_t) C);
        poison(a.dgamma, (size_t) C);
        poison(a.dbeta, (size_t) C);
        poison(a.dx, nx);
        batchnorm_backward(version, a);
        float* second = from_device(a.dgamma, (size_t) C);
        if (memcmp(first, second, C * sizeof(float)) != 0) {
            fprintf(stderr, "FAILED: two runs of version %d gave different dgamma bits (or left outputs unwritten)\n", version);
            exit(EXIT_FAILURE);
        }
        printf("    dgamma       identical bits on a second run\n");
        free(first);
        free(second);
        if (cs.timed && timing_enabled()) {
            // reads x and dy twice (sums, dx), writes dx
            double bytes = (double) nx * sizeof(float) * 5.0;
            Timing t = benchmark_kernel(repeats, batchnorm_backward, version, a);
            print_timing("time", t, bytes, 0.0);
        }
        free(ref_dx);
        free(ref_dgamma);
        free(ref_dbeta);
        free(x);
        free(dy);
        free(gamma);
        free(mean);
        free(invstd);
        CUDA_CHECK(cudaFree((void*) a.x));
        CUDA_CHECK(cudaFree((void*) a.dy));
        CUDA_CHECK(cudaFree((void*) a.gamma));
        CUDA_CHECK(cudaFree((void*) a.saveMean));
        CUDA_CHECK(cudaFree((void*) a.saveInvStd));
        CUDA_CHECK(cudaFree(a.dx));
        CUDA_CHECK(cudaFree(a.dgamma));
        CUDA_CHECK(cudaFree(a.dbeta));
    }
    printf("batchnorm_backward version %d: all checks passed\n", version);
    return 0;
}
