/*
softmax_ce: fused softmax cross-entropy, float32. logits (N, K), labels (N) holding class
indices as exact integers in float32, dlogits (N, K) or skipped, metrics (2), accumulated:
  metrics[0] += sum over rows of -log softmax(logits)[label]   (log-sum-exp)
  metrics[1] += number of rows whose first arg-max equals the label
  dlogits = (softmax(logits) - onehot(label)) / N                (gradient of the mean loss)
A label outside [0, K) gives that row a NaN loss and no one-hot (the device cannot throw).
Every version is deterministic (fixed-order sums, no float atomics).

Compile and run:
  make softmax_ce    (nvcc -O3 -std=c++17 -arch=sm_90 softmax_ce.cu -o softmax_ce)
  ./softmax_ce 3

version 1: one thread per row writes the row's loss and hit to scratch; one thread sums them
           in order (in double) into metrics
version 2: one warp per row, max / first-arg-max and the sum of exp by xor-shuffle trees; one
           block sums the per-row scratch with fixed trees (in double) in a launch of its own:
           two launches (the mainline's until softmax_ce, built here from its helpers)
version 3: one launch: the warp-per-row pass of version 2, each block sums its rows in a fixed
           order into a per-block partial; the last block to finish (an integer ticket, after
           __threadfence) merges the partials in block order and resets the ticket
version 4: one launch: version 2 with the summing block's work done by the last block to finish
           (an integer ticket), the same bits as version 2 (the mainline kernel softmax_ce v1,
           included from src/main/cuda/softmax_ce.cu)
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

static void softmax_ce_cpu(double* metrics, double* dlogits, const float* logits, const float* labels, int N,
                           int K) {
    double loss = 0.0, correct = 0.0;
    for (int n = 0; n < N; n++) {
        const float* row = logits + (size_t) n * K;
        int arg = 0;
        for (int i = 1; i < K; i++) {
            if (row[i] > row[arg]) arg = i;
        }
        double mx = row[arg];
        double sum = 0.0;
        for (int i = 0; i < K; i++) sum += exp((double) row[i] - mx);
        float lf = labels[n];
        int label = (int) lf;
        bool valid = lf >= 0.0f && label < K && (float) label == lf;
        loss += valid ? mx + log(sum) - (double) row[label] : NAN;
        correct += (valid && arg == label) ? 1.0 : 0.0;
        if (dlogits != nullptr) {
            for (int i = 0; i < K; i++) {
                double p = exp((double) row[i] - mx) / sum;
                dlogits[(size_t) n * K + i] = (p - (valid && i == label ? 1.0 : 0.0)) / N;
            }
        }
    }
    metrics[0] += loss;
    metrics[1] += correct;
}

// ----------------------------------------------------------------------------------- kernels

// v1 (1 of 2): one thread per row.
__global__ void softmax_ce_rows_kernel1(const float* __restrict__ logits, const float* __restrict__ labels,
                                        float* __restrict__ dlogits, float* __restrict__ rowLoss,
                                        float* __restrict__ rowCorrect, int N, int K) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float* row = logits + (size_t) n * K;
    float best = row[0];
    int arg = 0;
    for (int i = 1; i < K; i++) {
        if (row[i] > best) {
            best = row[i];
            arg = i;
        }
    }
    float sum = 0.0f;
    for (int i = 0; i < K; i++) sum += expf(row[i] - best);
    const float labelF = labels[n];
    const int label = (int) labelF;
    const bool valid = labelF >= 0.0f && label < K && (float) label == labelF;
    rowLoss[n] = valid ? best + logf(sum) - row[label] : __int_as_float(0x7fc00000);
    rowCorrect[n] = (valid && arg == label) ? 1.0f : 0.0f;
    if (dlogits != nullptr) {
        for (int i = 0; i < K; i++) {
            float p = expf(row[i] - best) / sum;
            dlogits[(size_t) n * K + i] = (p - (i == label ? 1.0f : 0.0f)) / (float) N;
        }
    }
}

// v1 (2 of 2): one thread adds the rows in order.
__global__ void softmax_ce_accumulate_kernel1(const float* __restrict__ rowLoss,
                                              const float* __restrict__ rowCorrect, int N,
                                              float* __restrict__ metrics) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double loss = 0.0, correct = 0.0;
    for (int n = 0; n < N; n++) {
        loss += rowLoss[n];
        correct += rowCorrect[n];
    }
    metrics[0] = (float) ((double) metrics[0] + loss);
    metrics[1] = (float) ((double) metrics[1] + correct);
}

// v4: the mainline kernel softmax_ce, included from src/main/cuda/softmax_ce.cu with its helpers
// sce_rows and sce_accumulate (which v2 launches separately) and SCE_WARPS_PER_BLOCK (v3 uses it
// too).
#include "../../src/main/cuda/softmax_ce.cu"

// v2 (1 of 2): the mainline's rows (sce_rows), each row's loss and hit to scratch.
__global__ void softmax_ce_rows_kernel2(const float* __restrict__ logits, const float* __restrict__ labels,
                                        float* __restrict__ dlogits, float* rowLoss, float* rowCorrect, int N, int K) {
    sce_rows(logits, labels, dlogits, rowLoss, rowCorrect, N, K);
}

// v2 (2 of 2): one block sums the rows (the mainline's sce_accumulate) in a launch of its own.
__global__ void softmax_ce_accumulate_kernel2(const float* rowLoss, const float* rowCorrect, int N,
                                              float* __restrict__ metrics) {
    __shared__ double buf[NN_REDUCE_THREADS];
    sce_accumulate(rowLoss, rowCorrect, N, metrics, buf);
}

// v3: one launch. Rows as in v2 (warp w of block b takes rows b*8 + w, + gridDim.x*8, ...); lane
// 0 of each warp adds its rows' loss and hit in order (double); thread 0 adds the 8 warps in
// order into partials[b]; the last block to take a ticket adds partials[0..G) in order to
// metrics and resets the ticket to 0 (so a captured graph can replay it).
__global__ void softmax_ce_kernel3(const float* __restrict__ logits,  // (N, K)
                                   const float* __restrict__ labels,  // (N)
                                   float* __restrict__ dlogits,       // (N, K) or null
                                   float* __restrict__ metrics,       // (2)
                                   double* partials,                  // (G, 2)
                                   unsigned int* ticket,              // (1), 0 between launches
                                   int N, int K) {
    __shared__ double warpLoss[SCE_WARPS_PER_BLOCK];
    __shared__ double warpCorrect[SCE_WARPS_PER_BLOCK];
    __shared__ bool isLast;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    double myLoss = 0.0, myCorrect = 0.0;  // lane 0's running sums
    for (int n = blockIdx.x * SCE_WARPS_PER_BLOCK + warp; n < N; n += gridDim.x * SCE_WARPS_PER_BLOCK) {
        const float* row = logits + (size_t) n * K;
        float best = -INFINITY;
        int arg = K;
        for (int i = lane; i < K; i += 32) {
            float v = row[i];
            if (arg == K || v > best) {
                best = v;
                arg = i;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            float ob = __shfl_xor_sync(0xffffffffu, best, off);
            int oa = __shfl_xor_sync(0xffffffffu, arg, off);
            if (oa != K && (arg == K || ob > best || (ob == best && oa < arg))) {
                best = ob;
                arg = oa;
            }
        }
        float sum = 0.0f;
        for (int i = lane; i < K; i += 32) {
            sum += expf(row[i] - best);
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            sum += __shfl_xor_sync(0xffffffffu, sum, off);
        }
        const float labelF = labels[n];
        const int label = (int) labelF;
        const bool valid = labelF >= 0.0f && label < K && (float) label == labelF;
        if (lane == 0) {
            myLoss += valid ? (double) (best + logf(sum) - row[label]) : (double) NAN;
            myCorrect += (valid && arg == label) ? 1.0 : 0.0;
        }
        if (dlogits != nullptr) {
            const float invN = 1.0f / (float) N;
            const float invSum = 1.0f / sum;
            float* drow = dlogits + (size_t) n * K;
            for (int i = lane; i < K; i += 32) {
                float pr = expf(row[i] - best) * invSum;
                drow[i] = (pr - (i == label ? 1.0f : 0.0f)) * invN;
            }
        }
    }
    if (lane == 0) {
        warpLoss[warp] = myLoss;
        warpCorrect[warp] = myCorrect;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double l = 0.0, c = 0.0;
        for (int w = 0; w < SCE_WARPS_PER_BLOCK; w++) {
            l += warpLoss[w];
            c += warpCorrect[w];
        }
        partials[2 * blockIdx.x] = l;
        partials[2 * blockIdx.x + 1] = c;
        __threadfence();  // the partial is visible to every block before the ticket is taken
        unsigned int t = atomicAdd(ticket, 1u);
        isLast = t == gridDim.x - 1;
    }
    __syncthreads();
    if (isLast && threadIdx.x == 0) {
        __threadfence();
        const volatile double* vp = partials;
        double l = 0.0, c = 0.0;
        for (int b = 0; b < (int) gridDim.x; b++) {
            l += vp[2 * b];
            c += vp[2 * b + 1];
        }
        metrics[0] = (float) ((double) metrics[0] + l);
        metrics[1] = (float) ((double) metrics[1] + c);
        *ticket = 0u;
    }
}

// ----------------------------------------------------------------------------------- launchers

struct SceArgs {
    const float* logits;
    const float* labels;
    float* dlogits;
    float* metrics;
    float* rowLoss;      // (N) scratch for versions 1, 2 and 4
    float* rowCorrect;   // (N)
    double* partials;    // (G, 2) scratch for version 3
    unsigned int* ticket;
    int N, K;
};

static void softmax_ce_run(int version, SceArgs a) {
    switch (version) {
        case 1:
            softmax_ce_rows_kernel1<<<ceil_div(a.N, 128), 128>>>(a.logits, a.labels, a.dlogits, a.rowLoss,
                                                                 a.rowCorrect, a.N, a.K);
            CUDA_CHECK_LAUNCH();
            softmax_ce_accumulate_kernel1<<<1, 1>>>(a.rowLoss, a.rowCorrect, a.N, a.metrics);
            CUDA_CHECK_LAUNCH();
            break;
        case 2:
            softmax_ce_rows_kernel2<<<geometry::softmax_blocks(a.N), 32 * geometry::SOFTMAX_ROWS_PER_BLOCK>>>(
                a.logits, a.labels, a.dlogits, a.rowLoss, a.rowCorrect, a.N, a.K);
            CUDA_CHECK_LAUNCH();
            softmax_ce_accumulate_kernel2<<<1, geometry::REDUCE_THREADS>>>(a.rowLoss, a.rowCorrect, a.N, a.metrics);
            CUDA_CHECK_LAUNCH();
            break;
        case 3:
            softmax_ce_kernel3<<<geometry::softmax_blocks(a.N), 32 * SCE_WARPS_PER_BLOCK>>>(
                a.logits, a.labels, a.dlogits, a.metrics, a.partials, a.ticket, a.N, a.K);
            CUDA_CHECK_LAUNCH();
            break;
        case 4:
            // Launched as src/main/java/dev/normnet/backend/cuda/CudaSoftmaxCrossEntropy.java launches it.
            softmax_ce<<<geometry::softmax_blocks(a.N), 32 * geometry::SOFTMAX_ROWS_PER_BLOCK>>>(
                a.logits, a.labels, a.dlogits, a.rowLoss, a.rowCorrect, a.ticket, a.metrics, a.N, a.K);
            CUDA_CHECK_LAUNCH();
            break;
        default: fprintf(stderr, "softmax_ce: no version %d\n", version); exit(EXIT_FAILURE);
    }
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, K;
    bool ties;          // logits rounded to multiples of 0.5 (many ties for the arg-max)
    bool badLabel;      // row 0's label is K (outside [0, K))
    bool withGradient;  // dlogits computed
    bool timed;
};

int main(int argc, char** argv) {
    const int versions = 4;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    print_device();
    printf("softmax_ce version %d\n", version);

    const Case cases[] = {
        {"odd 7x3", 7, 3, false, false, true, false},
        {"odd 5x37 (K > 32)", 5, 37, false, false, true, false},
        {"odd 3x1", 3, 1, false, false, true, false},
        {"odd 33x10, ties", 33, 10, true, false, true, false},
        {"odd 9x10, metrics only", 9, 10, false, false, false, false},
        {"odd 6x10, a label out of range", 6, 10, false, true, true, false},
        {"LeNet 256x10", 256, 10, false, false, true, true},
        {"LeNet 256x10, metrics only (eval)", 256, 10, false, false, false, true},
        {"test set 10000x10", 10000, 10, false, false, false, true},
        {"large 4096x1000", 4096, 1000, false, false, true, true},
    };

    uint64_t seed = 61;
    for (const Case& cs : cases) {
        int N = cs.N, K = cs.K;
        size_t nl = (size_t) N * K;
        printf("%s: logits (%d, %d)\n", cs.name, N, K);
        if (skip_case(nl)) continue;
        float* logits = make_random_float(nl, -4.0f, 4.0f, seed++);
        if (cs.ties) {
            for (size_t i = 0; i < nl; i++) logits[i] = roundf(logits[i] * 0.5f) * 2.0f;
        }
        float* labels = make_random_labels((size_t) N, K, seed++);
        if (cs.badLabel) labels[0] = (float) K;
        float metrics0[2] = {1.5f, 3.0f};
        SceArgs a;
        a.logits = to_device(logits, nl);
        a.labels = to_device(labels, (size_t) N);
        a.dlogits = cs.withGradient ? device_alloc_poison(nl) : nullptr;
        a.metrics = to_device(metrics0, 2);
        a.rowLoss = device_alloc_poison((size_t) N);
        a.rowCorrect = device_alloc_poison((size_t) N);
        int G = geometry::softmax_blocks(N);
        CUDA_CHECK(cudaMalloc(&a.partials, (size_t) G * 2 * sizeof(double)));
        CUDA_CHECK(cudaMalloc(&a.ticket, sizeof(unsigned int)));
        CUDA_CHECK(cudaMemset(a.ticket, 0, sizeof(unsigned int)));
        a.N = N;
        a.K = K;
        double ref_metrics[2] = {metrics0[0], metrics0[1]};
        double* ref_dlogits = cs.withGradient ? (double*) host_alloc(nl * sizeof(double)) : nullptr;
        softmax_ce_cpu(ref_metrics, ref_dlogits, logits, labels, N, K);
        softmax_ce_run(version, a);
        // The loss sum adds N values of size ~log K; the count is exact.
        float* m = from_device(a.metrics, 2);
        double lossRef[1] = {ref_metrics[0]}, correctRef[1] = {ref_metrics[1]};
        validate_result(a.metrics, lossRef, "loss sum", 1, 1e-6 * N + 1e-5, 1e-6);
        validate_result(a.metrics + 1, correctRef, "correct", 1, 0.0, 0.0);
        if (cs.withGradient) validate_result(a.dlogits, ref_dlogits, "dlogits", nl, 1e-7, 1e-5);
        // A second call accumulates again: the metrics double (less the start), same bits.
        softmax_ce_run(version, a);
        float* m2 = from_device(a.metrics, 2);
        double again[2] = {(double) m[0] + (ref_metrics[0] - metrics0[0]), (double) m[1] + (ref_metrics[1] - metrics0[1])};
        validate_result(a.metrics, again, "accumulated", 1, 1e-6 * N + 1e-5, 1e-6);
        validate_result(a.metrics + 1, again + 1, "accumulated", 1, 0.0, 0.0);
        free(m);
        free(m2);
        if (cs.timed && timing_enabled()) {
            double bytes = (double) nl * 4 * (cs.withGradient ? 2.0 : 1.0) + (double) N * 4;
            Timing t = benchmark_kernel(repeats, softmax_ce_run, version, a);
            print_timing("time", t, bytes, 0.0);
        }
        free(logits);
        free(labels);
        free(ref_dlogits);
        CUDA_CHECK(cudaFree((void*) a.logits));
        CUDA_CHECK(cudaFree((void*) a.labels));
        if (a.dlogits != nullptr) CUDA_CHECK(cudaFree(a.dlogits));
        CUDA_CHECK(cudaFree(a.metrics));
        CUDA_CHECK(cudaFree(a.rowLoss));
        CUDA_CHECK(cudaFree(a.rowCorrect));
        CUDA_CHECK(cudaFree(a.partials));
        CUDA_CHECK(cudaFree(a.ticket));
    }
    printf("softmax_ce version %d: all checks passed\n", version);
    return 0;
}
