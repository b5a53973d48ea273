/*
batchnorm_forward: batch norm with PyTorch's semantics over (N, C) or (N, C, H, W), float32.
Statistics per channel over m = N*L values, L = H*W (1 for 2-D input); element (n, c, l) sits at
(n*C + c)*L + l.
  train: mean = sum(x) / m, var = sum((x - mean)^2) / m (biased, computed stably)
         y = gamma * (x - mean) / sqrt(var + eps) + beta;  saveMean = mean, saveInvStd = 1/sqrt(var + eps)
         runningMean = (1 - momentum) * runningMean + momentum * mean
         runningVar  = (1 - momentum) * runningVar  + momentum * var * m / (m - 1)
  eval:  y = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta

Compile and run:
  make batchnorm_forward    (nvcc -O3 -std=c++17 -arch=sm_90 batchnorm_forward.cu -o batchnorm_forward)
  ./batchnorm_forward 5          training-mode versions (default)
  ./batchnorm_forward 2 eval     eval-mode versions

train version 1: one thread per channel, two passes in double, then y; serial and slow
train version 2: one block per channel: block sum of x - x[first] (fixed tree) -> mean, block sum of
                 (x - mean)^2 -> var, then the same block writes y; reads x three times
train version 3: each channel split over G blocks: per thread, four values at a time merged
                 into a running (count, mean, M2) (Chan), then Chan merges in a fixed tree;
                 partials (C, G, 3) merged in double by one block per channel (in order per
                 thread, then a fixed tree) in a launch of its own; then a grid-stride normalize
                 over all elements: three launches (the mainline's until batchnorm_stats, built
                 here from its helpers)
train version 4: version 3 with the merge folded into the partial pass: the last block of each
                 channel to finish (an integer ticket per channel) merges the channel's
                 partials, the same bits; two launches instead of three (the mainline kernels
                 batchnorm_stats v1 and batchnorm_normalize v2, included from
                 src/main/cuda/batchnorm.cu)
train version 5: version 4, except where each channel is one block (m <= 4096 values, as after
                 a linear layer): that block merges its own partial and normalizes its channel,
                 one launch (the mainline kernel batchnorm_stats_normalize v1), the same bits
eval version 1:  grid-stride, one element per iteration (the mainline kernel
                 batchnorm_forward_eval v2, included from src/main/cuda/batchnorm.cu)
eval version 2:  four elements per iteration with float4 loads and stores when L % 4 == 0
                 (the four share a channel), else version 1
All versions are deterministic.
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void batchnorm_forward_train_cpu(double* y, double* saveMean, double* saveInvStd, double* runningMean,
                                        double* runningVar, const float* x, const float* gamma, const float* beta,
                                        const float* rm0, const float* rv0, int N, int C, int L, float momentum,
                                        float eps) {
    double m = (double) N * L;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) sum += x[((size_t) n * C + c) * L + l];
        double mean = sum / m;
        double sq = 0.0;
        for (int n = 0; n < N; n++) {
            for (int l = 0; l < L; l++) {
                double d = x[((size_t) n * C + c) * L + l] - mean;
                sq += d * d;
            }
        }
        double var = sq / m;
        double invstd = 1.0 / sqrt(var + (double) eps);
        for (int n = 0; n < N; n++) {
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                y[i] = (double) gamma[c] * (x[i] - mean) * invstd + (double) beta[c];
            }
        }
        saveMean[c] = mean;
        saveInvStd[c] = invstd;
        runningMean[c] = (1.0 - momentum) * rm0[c] + momentum * mean;
        runningVar[c] = (1.0 - momentum) * rv0[c] + momentum * sq / (m - 1.0);
    }
}

static void batchnorm_forward_eval_cpu(double* y, const float* x, const float* gamma, const float* beta,
                                       const float* rm, const float* rv, int N, int C, int L, float eps) {
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
            double invstd = 1.0 / sqrt((double) rv[c] + (double) eps);
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                y[i] = (double) gamma[c] * (x[i] - (double) rm[c]) * invstd + (double) beta[c];
            }
        }
    }
}

// ----------------------------------------------------------------------------------- train kernels

// train v1: one thread per channel; sums in double, two passes, then y.
__global__ void batchnorm_forward_train_kernel1(const float* __restrict__ x, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, float* __restrict__ runningMean,
                                                float* __restrict__ runningVar, float* __restrict__ y,
                                                float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                                                int N, int C, int L, float momentum, float eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double m = (double) N * L;
    double sum = 0.0;
    for (int n = 0; n < N; n++)
        for (int l = 0; l < L; l++) sum += x[((size_t) n * C + c) * L + l];
    double mean = sum / m;
    double sq = 0.0;
    for (int n = 0; n < N; n++) {
        for (int l = 0; l < L; l++) {
            double d = x[((size_t) n * C + c) * L + l] - mean;
            sq += d * d;
        }
    }
    float meanF = (float) mean;
    float invstd = (float) (1.0 / sqrt(sq / m + (double) eps));
    for (int n = 0; n < N; n++) {
        for (int l = 0; l < L; l++) {
            size_t i = ((size_t) n * C + c) * L + l;
            y[i] = gamma[c] * ((x[i] - meanF) * invstd) + beta[c];
        }
    }
    saveMean[c] = meanF;
    saveInvStd[c] = invstd;
    runningMean[c] = (float) ((1.0 - momentum) * runningMean[c] + momentum * mean);
    runningVar[c] = (float) ((1.0 - momentum) * runningVar[c] + momentum * sq / (m - 1.0));
}

// train v2: one block per channel (NN_REDUCE_THREADS threads). Pass 1: block sum of x -> mean;
// pass 2: block sum of (x - mean)^2 -> var; pass 3: y. Thread t handles j = t, t + blockDim, ...
// of the channel's m values, j -> (n = j / L, l = j % L).
__global__ void batchnorm_forward_train_kernel2(const float* __restrict__ x, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, float* __restrict__ runningMean,
                                                float* __restrict__ runningVar, float* __restrict__ y,
                                                float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                                                int N, int C, int L, float momentum, float eps) {
    __shared__ float buf[NN_REDUCE_THREADS];
    const int c = blockIdx.x;
    const int m = N * L;
    // Summing x - shift (any value of the channel) keeps the partial sums small when the mean
    // is far from 0, so float32 loses little.
    const float shift = x[(size_t) c * L];
    float sum = 0.0f;
    for (int j = threadIdx.x; j < m; j += blockDim.x) {
        int n = j / L;
        sum += x[((size_t) n * C + c) * L + (j - n * L)] - shift;
    }
    const float mu = shift + nn_block_sum(sum, buf) / (float) m;  // nn_block_sum returns to every thread
    float sq = 0.0f;
    for (int j = threadIdx.x; j < m; j += blockDim.x) {
        int n = j / L;
        float d = x[((size_t) n * C + c) * L + (j - n * L)] - mu;
        sq = fmaf(d, d, sq);
    }
    const float m2 = nn_block_sum(sq, buf);
    __shared__ float shared_invstd;
    if (threadIdx.x == 0) {
        float var = m2 / (float) m;
        float invstd = 1.0f / sqrtf(var + eps);
        shared_invstd = invstd;
        saveMean[c] = mu;
        saveInvStd[c] = invstd;
        runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mu;
        runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * (m2 / (float) (m - 1));
    }
    __syncthreads();
    const float invstd = shared_invstd;
    const float g = gamma[c], b = beta[c];
    for (int j = threadIdx.x; j < m; j += blockDim.x) {
        int n = j / L;
        size_t i = ((size_t) n * C + c) * L + (j - n * L);
        y[i] = g * ((x[i] - mu) * invstd) + b;
    }
}

// train v4: the mainline kernels batchnorm_stats and batchnorm_normalize, and eval v1: the
// mainline batchnorm_forward_eval, included from src/main/cuda/batchnorm.cu (with the helpers
// bn_stats_block and bn_stats_merge, which train v3 launches separately).
#include "../../src/main/cuda/batchnorm.cu"

// train v3 (1 of 3): each block's summary (the mainline's bn_stats_block) written as a partial;
// the mainline's statistics pass up to the ticket.
__global__ void batchnorm_stats_partial_kernel3(const float* __restrict__ x, float* __restrict__ partials,  // (C, G, 3)
                                                int N, int C, int L, int chunk) {
    __shared__ float sn[NN_REDUCE_THREADS];
    __shared__ float sm[NN_REDUCE_THREADS];
    __shared__ float s2[NN_REDUCE_THREADS];
    bn_stats_block(x, partials, sn, sm, s2, N, C, L, chunk);
}

// train v3 (2 of 3): one block per channel (as few threads as give each a partial) merges the
// channel's partials (the mainline's bn_stats_merge) in a launch of its own; y is then written
// by batchnorm_normalize (3 of 3), as in v4.
__global__ void batchnorm_stats_finalize_kernel3(const float* partials, int G, long long m,
                                                 float* __restrict__ runningMean, float* __restrict__ runningVar,
                                                 float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                                                 float momentum, float eps) {
    __shared__ double sn[NN_REDUCE_THREADS];
    __shared__ double sm[NN_REDUCE_THREADS];
    __shared__ double s2[NN_REDUCE_THREADS];
    const int c = blockIdx.x;
    bn_stats_merge(partials + (size_t) c * G * 3, c, G, m, sn, sm, s2, runningMean, runningVar, saveMean, saveInvStd,
                   nullptr, momentum, eps);
}

// ----------------------------------------------------------------------------------- eval kernels

// eval v1: the mainline batchnorm_forward_eval, included above with src/main/cuda/batchnorm.cu.

// eval v2: L % 4 == 0, so each aligned group of four elements lies in one channel; grid-stride
// over total / 4 groups with float4 loads and stores (x and y 16-byte aligned: cudaMalloc).
__global__ void batchnorm_forward_eval_kernel2(const float4* __restrict__ x, const float* __restrict__ gamma,
                                               const float* __restrict__ beta,
                                               const float* __restrict__ runningMean,
                                               const float* __restrict__ runningVar, float4* __restrict__ y,
                                               int C, int L, int total4, float eps) {
    const int L4 = L / 4;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total4; i += gridDim.x * blockDim.x) {
        int c = (i / L4) % C;
        float invstd = 1.0f / sqrtf(runningVar[c] + eps);
        float g = gamma[c], b = beta[c], mu = runningMean[c];
        float4 v = x[i];
        float4 r;
        r.x = g * ((v.x - mu) * invstd) + b;
        r.y = g * ((v.y - mu) * invstd) + b;
        r.z = g * ((v.z - mu) * invstd) + b;
        r.w = g * ((v.w - mu) * invstd) + b;
        y[i] = r;
    }
}

// ----------------------------------------------------------------------------------- launchers

struct BnArgs {
    const float* x;
    const float* gamma;
    const float* beta;
    float* runningMean;
    float* runningVar;
    float* y;
    float* saveMean;
    float* saveInvStd;
    int N, C, L;
    float momentum, eps;
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

static void batchnorm_forward_train_run(int version, BnArgs a) {
    switch (version) {
        case 1:
            batchnorm_forward_train_kernel1<<<ceil_div(a.C, 32), 32>>>(a.x, a.gamma, a.beta, a.runningMean,
                                                                       a.runningVar, a.y, a.saveMean, a.saveInvStd,
                                                                       a.N, a.C, a.L, a.momentum, a.eps);
            CUDA_CHECK_LAUNCH();
            break;
        case 2:
            batchnorm_forward_train_kernel2<<<a.C, NN_REDUCE_THREADS>>>(a.x, a.gamma, a.beta, a.runningMean,
                                                                        a.runningVar, a.y, a.saveMean,
                                                                        a.saveInvStd, a.N, a.C, a.L, a.momentum,
                                                                        a.eps);
            CUDA_CHECK_LAUNCH();
            break;
        case 3: {
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            float* partials = partials_scratch((size_t) 3 * a.C * split.groups);
            dim3 grid(split.groups, a.C);
            batchnorm_stats_partial_kernel3<<<grid, geometry::REDUCE_THREADS>>>(a.x, partials, a.N, a.C, a.L,
                                                                                split.chunk);
            CUDA_CHECK_LAUNCH();
            batchnorm_stats_finalize_kernel3<<<a.C, geometry::batchnorm_finalize_threads(split.groups)>>>(
                partials, split.groups, m, a.runningMean, a.runningVar, a.saveMean, a.saveInvStd, a.momentum, a.eps);
            CUDA_CHECK_LAUNCH();
            int total = a.N * a.C * a.L;
            batchnorm_normalize<<<geometry::stride_blocks(total), geometry::THREADS>>>(
                a.x, a.gamma, a.beta, a.saveMean, a.saveInvStd, a.y, a.C, a.L, total, NN_ACT_IDENTITY);
            CUDA_CHECK_LAUNCH();
            break;
        }
        case 4: {
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaBatchNorm.java launches it;
            // no batch counter here (null): in normnet it is one thread's add in channel 0's merge.
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            float* partials = partials_scratch((size_t) 3 * a.C * split.groups);
            dim3 grid(split.groups, a.C);
            batchnorm_stats<<<grid, geometry::REDUCE_THREADS>>>(a.x, partials, tickets_scratch(a.C), a.N, a.C, a.L,
                                                                split.chunk, m, a.runningMean, a.runningVar, a.saveMean,
                                                                a.saveInvStd, nullptr, a.momentum, a.eps);
            CUDA_CHECK_LAUNCH();
            int total = a.N * a.C * a.L;
            batchnorm_normalize<<<geometry::stride_blocks(total), geometry::THREADS>>>(
                a.x, a.gamma, a.beta, a.saveMean, a.saveInvStd, a.y, a.C, a.L, total, NN_ACT_IDENTITY);
            CUDA_CHECK_LAUNCH();
            break;
        }
        case 5: {
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaBatchNorm.java launches it.
            long long m = (long long) a.N * a.L;
            geometry::Split split = geometry::batchnorm_split(m);
            if (split.groups != 1) {
                batchnorm_forward_train_run(4, a);
                break;
            }
            float* partials = partials_scratch((size_t) 3 * a.C);
            batchnorm_stats_normalize<<<dim3(1, a.C), geometry::REDUCE_THREADS>>>(
                a.x, partials, a.N, a.C, a.L, m, a.runningMean, a.runningVar, a.saveMean, a.saveInvStd, nullptr,
                a.momentum, a.eps, a.gamma, a.beta, a.y, NN_ACT_IDENTITY);
            CUDA_CHECK_LAUNCH();
            break;
        }
        default: fprintf(stderr, "batchnorm_forward train: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

static void batchnorm_forward_eval_run(int version, BnArgs a) {
    int total = a.N * a.C * a.L;
    if (version == 2 && a.L % 4 == 0) {
        batchnorm_forward_eval_kernel2<<<geometry::stride_blocks(total / 4), geometry::THREADS>>>(
            (const float4*) a.x, a.gamma, a.beta, a.runningMean, a.runningVar, (float4*) a.y, a.C, a.L, total / 4,
            a.eps);
    } else if (version == 1 || version == 2) {
        batchnorm_forward_eval<<<geometry::stride_blocks(total), geometry::THREADS>>>(
            a.x, a.gamma, a.beta, a.runningMean, a.runningVar, a.y, a.C, a.L, total, a.eps, NN_ACT_IDENTITY);
    } else {
        fprintf(stderr, "batchnorm_forward eval: no version %d\n", version);
        exit(EXIT_FAILURE);
    }
    CUDA_CHECK_LAUNCH();
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, C, H, W;  // H = W = 0 for a 2-D (N, C) input
    float lo, hi;    // x uniform in [lo, hi)
    bool timed;
};

int main(int argc, char** argv) {
    const bool eval = has_arg(argc, argv, "eval");
    const int versions = eval ? 2 : 5;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    const float momentum = 0.1f, eps = 1e-5f;
    print_device();
    printf("batchnorm_forward %s version %d\n", eval ? "eval" : "train", version);

    const Case cases[] = {
        {"odd 3x5x7x3", 3, 5, 7, 3, -1.0f, 1.0f, false},
        {"odd 2-D 7x10", 7, 10, 0, 0, -1.0f, 1.0f, false},
        {"odd 2-D 2x3 (m = 2)", 2, 3, 0, 0, -1.0f, 1.0f, false},
        {"odd 5x3x33x31, mean 3 (stability)", 5, 3, 33, 31, 2.0f, 4.0f, false},
        {"LeNet BN1 256x6x28x28", 256, 6, 28, 28, -1.0f, 1.0f, true},
        {"LeNet BN2 256x16x10x10", 256, 16, 10, 10, -1.0f, 1.0f, true},
        {"LeNet-BN BN1 256x6x24x24", 256, 6, 24, 24, -1.0f, 1.0f, true},
        {"LeNet-BN BN2 256x16x8x8", 256, 16, 8, 8, -1.0f, 1.0f, true},
        {"BN1d 256x120", 256, 120, 0, 0, -1.0f, 1.0f, true},
        {"BN1d 256x84", 256, 84, 0, 0, -1.0f, 1.0f, true},
        {"large 256x16x106x106, mean 3", 256, 16, 106, 106, 2.0f, 4.0f, true},
    };

    uint64_t seed = 31;
    for (const Case& cs : cases) {
        int N = cs.N, C = cs.C, L = cs.H == 0 ? 1 : cs.H * cs.W;
        size_t nx = (size_t) N * C * L;
        printf("%s: x (%d, %d, %d)\n", cs.name, N, C, L);
        if (skip_case(nx)) continue;
        float* x = make_random_float(nx, cs.lo, cs.hi, seed++);
        float* gamma = make_random_float((size_t) C, 0.5f, 1.5f, seed++);
        float* beta = make_random_float((size_t) C, -0.5f, 0.5f, seed++);
        float* rm = make_random_float((size_t) C, -0.5f, 0.5f, seed++);
        float* rv = make_random_float((size_t) C, 0.5f, 2.0f, seed++);
        BnArgs a;
        a.x = to_device(x, nx);
        a.gamma = to_device(gamma, (size_t) C);
        a.beta = to_device(beta, (size_t) C);
        a.runningMean = to_device(rm, (size_t) C);
        a.runningVar = to_device(rv, (size_t) C);
        a.y = device_alloc_poison(nx);
        a.saveMean = device_alloc_poison((size_t) C);
        a.saveInvStd = device_alloc_poison((size_t) C);
        a.N = N;
        a.C = C;
        a.L = L;
        a.momentum = momentum;
        a.eps = eps;
        double* ref_y = (double*) host_alloc(nx * sizeof(double));
        if (eval) {
            batchnorm_forward_eval_run(version, a);
            batchnorm_forward_eval_cpu(ref_y, x, gamma, beta, rm, rv, N, C, L, eps);
            validate_result(a.y, ref_y, "y", nx, 1e-5, 1e-5);
        } else {
            double* ref_mean = make_zeros_double((size_t) C);
            double* ref_invstd = make_zeros_double((size_t) C);
            double* ref_rm = make_zeros_double((size_t) C);
            double* ref_rv = make_zeros_double((size_t) C);
            batchnorm_forward_train_run(version, a);
            batchnorm_forward_train_cpu(ref_y, ref_mean, ref_invstd, ref_rm, ref_rv, x, gamma, beta, rm, rv, N, C, L,
                                        momentum, eps);
            // y is about N(0, 1) * gamma + beta: float32 statistics of m values drift by ~1e-6.
            validate_result(a.y, ref_y, "y", nx, 5e-5, 1e-5);
            validate_result(a.saveMean, ref_mean, "saveMean", (size_t) C, 1e-5, 1e-5);
            validate_result(a.saveInvStd, ref_invstd, "saveInvStd", (size_t) C, 1e-5, 1e-5);
            validate_result(a.runningMean, ref_rm, "runningMean", (size_t) C, 1e-6, 1e-5);
            validate_result(a.runningVar, ref_rv, "runningVar", (size_t) C, 1e-6, 1e-5);
            free(ref_mean);
            free(ref_invstd);
            free(ref_rm);
            free(ref_rv);
            // Determinism: a second run (running statistics restored first) gives the same bits.
            float* first = from_device(a.y, nx);
            CUDA_CHECK(cudaMemcpy(a.runningMean, rm, C * sizeof(float), cudaMemcpyHostToDevice));
            CUDA_CHECK(cudaMemcpy(a.runningVar, rv, C * sizeof(float), cudaMemcpyHostToDevice));
            poison(a.y, nx);
            poison(a.saveMean, (size_t) C);
            poison(a.saveInvStd, (size_t) C);
            batchnorm_forward_train_run(version, a);
            float* second = from_device(a.y, nx);
            if (memcmp(first, second, nx * sizeof(float)) != 0) {
                fprintf(stderr, "FAILED: two runs of version %d gave different y bits (or left outputs unwritten)\n", version);
                exit(EXIT_FAILURE);
            }
            printf("    y            identical bits on a second run\n");
            free(first);
            free(second);
        }
        free(ref_y);
        if (cs.timed && timing_enabled()) {
            // train reads x twice (statistics, normalize) and writes y; eval reads x once.
            double bytes = (double) nx * sizeof(float) * (eval ? 2.0 : 3.0);
            Timing t = eval ? benchmark_kernel(repeats, batchnorm_forward_eval_run, version, a)
                            : benchmark_kernel(repeats, batchnorm_forward_train_run, version, a);
            print_timing("time", t, bytes, 0.0);
        }
        free(x);
        free(gamma);
        free(beta);
        free(rm);
        free(rv);
        CUDA_CHECK(cudaFree((void*) a.x));
        CUDA_CHECK(cudaFree((void*) a.gamma));
        CUDA_CHECK(cudaFree((void*) a.beta));
        CUDA_CHECK(cudaFree(a.runningMean));
        CUDA_CHECK(cudaFree(a.runningVar));
        CUDA_CHECK(cudaFree(a.y));
        CUDA_CHECK(cudaFree(a.saveMean));
        CUDA_CHECK(cudaFree(a.saveInvStd));
    }
    printf("batchnorm_forward %s version %d: all checks passed\n", eval ? "eval" : "train", version);
    return 0;
}
