// common.h: helpers shared by every file of the normnet kernel lab (benchmarks/cuda).
//
// Each lab file is one op: a CPU reference with float64 accumulation, kernels v1..vN from the
// simplest to the fastest, and a main that checks the chosen version against the reference at
// several sizes and then times it. This header holds what they share:
//   CUDA_CHECK / CUDA_CHECK_LAUNCH   every CUDA call and every launch is checked
//   make_random_* / host_alloc       deterministic random inputs (splitmix64, seeded)
//   to_device / device_alloc_poison  uploads; outputs are pre-filled with NaN so a kernel that
//                                    forgets an element fails the check instead of passing on
//                                    stale data
//   validate_result                  max abs / rel difference against the reference; exits with
//                                    status 1 and a loud message on the first op that fails
//   benchmark_kernel                 warm-up, then per repeat: L2 flush, event, launch, event
//   print_timing                     ms, GB/s and GFLOP/s
//   nn_block_sum / nn_block_sum_d    the fixed-tree block sums of src/main/cuda/common.cuh, included
//   warp_sum / warp_max              xor-butterfly warp reductions
//   tickets_scratch                  zeroed integer tickets for the last-block merges (nn_last_block)
//
// Shape letters (as in src/main/cuda): N batch, C input channels, H W input height and width,
// K output channels (or classes), R S filter height and width, P Q output height and width.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifndef LAB_EMULATION
#include <cuda_runtime.h>
#endif

// ----------------------------------------------------------------------------------- checking

#define CUDA_CHECK(call)                                                                     \
    do {                                                                                     \
        cudaError_t err_ = (call);                                                           \
        if (err_ != cudaSuccess) {                                                           \
            fprintf(stderr, "[CUDA ERROR] %s failed at %s:%d: %s (%s)\n", #call, __FILE__,   \
                    __LINE__, cudaGetErrorString(err_), cudaGetErrorName(err_));             \
            exit(EXIT_FAILURE);                                                              \
        }                                                                                    \
    } while (0)

// After every launch: reports a bad configuration (too many threads, too much shared memory,
// no kernel image for this GPU) at the launch that caused it.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

static inline void fail(const char* fmt, const char* what) {
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    exit(EXIT_FAILURE);
}

__host__ __device__ static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// ----------------------------------------------------------------------------------- block sums
// The mainline's helpers (NN_KERNEL, NN_REDUCE_THREADS, nn_block_sum, nn_block_sum_d), which the
// mainline kernels each lab file includes use, and which the lab's own versions share.
#include "../../src/main/cuda/common.cuh"

// Sum over a full warp with a xor butterfly. Every lane ends with the same bits: at each step
// lanes i and i^o add the same two values (float addition is commutative), so the order is fixed.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// ----------------------------------------------------------------------------------- host data

static inline void* host_alloc(size_t bytes) {
    void* p = malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) {
        fprintf(stderr, "out of host memory allocating %zu bytes\n", bytes);
        exit(EXIT_FAILURE);
    }
    return p;
}

// splitmix64: small, seedable, the same sequence on every machine.
static inline uint64_t rng_next(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits (exact in float).
static inline float rng_uniform(uint64_t* state) {
    return (float) (rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

// n floats uniform in [lo, hi).
static inline float* make_random_float(size_t n, float lo, float hi, uint64_t seed) {
    float* a = (float*) host_alloc(n * sizeof(float));
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        a[i] = lo + (hi - lo) * rng_uniform(&s);
    }
    return a;
}

// n class indices in [0, classes), stored as exact integers in float32 (normnet's convention).
static inline float* make_random_labels(size_t n, int classes, uint64_t seed) {
    float* a = (float*) host_alloc(n * sizeof(float));
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        a[i] = (float) (rng_next(&s) % (uint64_t) classes);
    }
    return a;
}

static inline double* make_zeros_double(size_t n) {
    double* a = (double*) host_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        a[i] = 0.0;
    }
    return a;
}

// ----------------------------------------------------------------------------------- device data

static inline float* to_device(const float* host, size_t n) {
    float* d = nullptr;
    CUDA_CHECK(cudaMalloc(&d, (n == 0 ? 1 : n) * sizeof(float)));
    if (n > 0) {
        CUDA_CHECK(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    return d;
}

// Fills with 0xFF bytes, which is a NaN in float32: an element the kernel does not write fails.
static inline void poison(float* d, size_t n) {
    CUDA_CHECK(cudaMemset(d, 0xFF, n * sizeof(float)));
}

static inline float* device_alloc_poison(size_t n) {
    float* d = nullptr;
    CUDA_CHECK(cudaMalloc(&d, (n == 0 ? 1 : n) * sizeof(float)));
    poison(d, n);
    return d;
}

static inline float* from_device(const float* d, size_t n) {
    float* h = (float*) host_alloc(n * sizeof(float));
    if (n > 0) {
        CUDA_CHECK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    return h;
}

// ----------------------------------------------------------------------------------- comparing

// Compares n floats on the device with a float64 reference. An element passes when
// |gpu - ref| <= atol + rtol * |ref| and gpu is finite. Prints the largest absolute and relative
// differences; on any failure prints the first offending elements and exits with status 1.
// A NaN matches only a NaN in the reference.
static inline void validate_result(const float* d_result, const double* ref, const char* name,
                                   size_t n, double atol, double rtol) {
    float* h = from_device(d_result, n);
    double max_abs = 0.0, max_rel = 0.0;
    size_t bad = 0, printed = 0;
    for (size_t i = 0; i < n; i++) {
        double g = (double) h[i];
        double r = ref[i];
        double d = fabs(g - r);
        bool ok = std::isfinite(g) && d <= atol + rtol * fabs(r);
        if (std::isnan(r) && std::isnan(g)) {
            ok = true;  // a NaN the reference expects (max pooling propagates NaN)
            d = 0.0;
        } else if (!std::isfinite(g)) {
            d = INFINITY;
        }
        if (d > max_abs) max_abs = d;
        double rel = d / (fabs(r) + atol);
        if (rel > max_rel) max_rel = rel;
        if (!ok) {
            if (printed < 5) {
                fprintf(stderr, "  %s[%zu]: gpu %.9g, reference %.9g, difference %.3g\n", name, i, g, r,
                        fabs(g - r));
                printed++;
            }
            bad++;
        }
    }
    free(h);
    if (bad > 0) {
        fprintf(stderr, "FAILED %s: %zu of %zu elements differ by more than %.1e + %.1e * |ref| "
                        "(max abs %.3e, max rel %.3e)\n",
                name, bad, n, atol, rtol, max_abs, max_rel);
        exit(EXIT_FAILURE);
    }
    printf("    %-12s ok  n=%-10zu max abs diff %.3e  max rel diff %.3e\n", name, n, max_abs, max_rel);
}

// Same, against a float reference that lives on the device (used at sizes too large for the
// CPU reference: the result is compared with v1, itself checked against the CPU at smaller sizes).
static inline void validate_against_device(const float* d_result, const float* d_ref, const char* name,
                                           size_t n, double atol, double rtol) {
    float* r = from_device(d_ref, n);
    double* rd = (double*) host_alloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        rd[i] = (double) r[i];
    }
    free(r);
    validate_result(d_result, rd, name, n, atol, rtol);
    free(rd);
}

// ----------------------------------------------------------------------------------- timing

static void* g_flush_buffer = nullptr;
static size_t g_flush_bytes = 0;

// Evicts the L2 cache by writing a buffer twice its size, so a timed launch starts cold.
static inline void l2_flush() {
    if (g_flush_buffer == nullptr) {
        int dev = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        int l2 = 0;
        CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
        g_flush_bytes = 2 * (size_t) (l2 > 0 ? l2 : (64 << 20));
        CUDA_CHECK(cudaMalloc(&g_flush_buffer, g_flush_bytes));
    }
    CUDA_CHECK(cudaMemset(g_flush_buffer, 0, g_flush_bytes));
}

struct Timing {
    float avg_ms;
    float min_ms;
    int repeats;
};

// Runs launch(args...) three times to warm up, then `repeats` times, each preceded by an L2
// flush and bracketed by events. launch must only queue work on the default stream. A launch
// slower than 20 ms (the naive versions at the largest sizes) is repeated only as often as fits
// in about 2 s, at least 3 times, so a full run stays short.
template <class Launch, class... Args>
static Timing benchmark_kernel(int repeats, Launch launch, Args&&... args) {
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    CUDA_CHECK(cudaEventRecord(start));
    launch(args...);
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float first = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&first, start, stop));
    if (first > 20.0f) {
        int fit = (int) (2000.0f / first);
        repeats = fit < 3 ? 3 : (fit < repeats ? fit : repeats);
    } else {
        for (int i = 0; i < 2; i++) {
            launch(args...);
        }
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    float total = 0.0f, best = FLT_MAX;
    for (int i = 0; i < repeats; i++) {
        l2_flush();
        CUDA_CHECK(cudaEventRecord(start));
        launch(args...);
        CUDA_CHECK(cudaEventRecord(stop));
        CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        total += ms;
        if (ms < best) best = ms;
    }
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    return Timing{total / repeats, best, repeats};
}

// One line: label, average and best time, effective bandwidth (bytes that must move at least
// once) and arithmetic rate (flops = 2 per multiply-add; 0 to leave it out).
static inline void print_timing(const char* label, Timing t, double bytes, double flops) {
    printf("    %-24s %9.4f ms avg  %9.4f ms min  %8.1f GB/s", label, t.avg_ms, t.min_ms,
           bytes / (t.avg_ms * 1e-3) / 1e9);
    if (flops > 0) {
        printf("  %9.1f GFLOP/s", flops / (t.avg_ms * 1e-3) / 1e9);
    }
    printf("  (%d runs)\n", t.repeats);
}

// ----------------------------------------------------------------------------------- main helpers

static inline void print_device() {
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    printf("device %d: %s, sm_%d%d, %d SMs, L2 %d MiB\n", dev, prop.name, prop.major, prop.minor,
           prop.multiProcessorCount, prop.l2CacheSize >> 20);
}

// True when an argument equals word.
static inline bool has_arg(int argc, char** argv, const char* word) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], word) == 0) return true;
    }
    return false;
}

// The first argument that is a positive integer is the version; the default otherwise.
// "--versions" prints the number of versions and exits (used by run.sh and emu_run.sh).
// Integer tickets for the kernels whose last block merges (nn_last_block): at least n of them,
// zeroed when allocated; every launch leaves them at 0 again, so one allocation serves all runs.
static unsigned int* g_tickets = nullptr;
static int g_tickets_n = 0;
static inline unsigned int* tickets_scratch(int n) {
    if (n > g_tickets_n) {
        if (g_tickets != nullptr) CUDA_CHECK(cudaFree(g_tickets));
        CUDA_CHECK(cudaMalloc(&g_tickets, n * sizeof(unsigned int)));
        CUDA_CHECK(cudaMemset(g_tickets, 0, n * sizeof(unsigned int)));
        g_tickets_n = n;
    }
    return g_tickets;
}

static inline int parse_version(int argc, char** argv, int default_version, int max_version) {
    if (has_arg(argc, argv, "--versions")) {
        printf("%d\n", max_version);
        exit(EXIT_SUCCESS);
    }
    int v = default_version;
    for (int i = 1; i < argc; i++) {
        char* end = nullptr;
        long x = strtol(argv[i], &end, 10);
        if (end != argv[i] && *end == '\0') {
            v = (int) x;
            break;
        }
    }
    if (v < 1 || v > max_version) {
        fprintf(stderr, "%s: version must be in 1..%d, got %d\n", argv[0], max_version, v);
        exit(EXIT_FAILURE);
    }
    return v;
}

// Number of timed repeats: $LAB_REPEATS or the default.
static inline int repeats_from_env(int default_repeats) {
    const char* s = getenv("LAB_REPEATS");
    if (s == nullptr) return default_repeats;
    int r = atoi(s);
    return r > 0 ? r : default_repeats;
}

// Under the CPU emulation (src/test/cuda/cuda_emu.h), cases with more than $LAB_EMU_MAX (default 2,000,000) output
// elements are skipped, and nothing is timed; on a GPU every case runs.
static inline bool skip_case(size_t elements) {
#ifdef LAB_EMULATION
    const char* s = getenv("LAB_EMU_MAX");
    size_t limit = s != nullptr ? (size_t) atoll(s) : (size_t) 2000000;
    if (elements > limit) {
        printf("    skipped under emulation (%zu elements)\n", elements);
        return true;
    }
#else
    (void) elements;
#endif
    return false;
}

static inline bool timing_enabled() {
#ifdef LAB_EMULATION
    return false;
#else
    return true;
#endif
}

// ----------------------------------------------------------------------------------- batch norm
// Element (n, c, l) of slice position j in [0, m = N*L) of channel c: the per-element index of the
// lab's ticket versions (the mainline walks its slice with BnWalk instead). 32-bit arithmetic:
// every element count fits in int.
__device__ __forceinline__ size_t bn_index(long long j, int c, int C, int L) {
    const unsigned n = (unsigned) j / (unsigned) L;
    const unsigned l = (unsigned) j - n * (unsigned) L;
    return ((size_t) n * C + c) * L + l;
}

// ----------------------------------------------------------------------------------- launch geometry
// The mainline's launch arithmetic (src/main/java/dev/normnet/backend/cuda/LaunchGeometry.java),
// so the mainline kernels the lab includes run here with the grids the Java side gives them.

namespace geometry {
const int THREADS = 256;
const int REDUCE_THREADS = 256;
const int CONV_CB = 8;
const int CONV_CB_NARROW = 6;
const int CONV_SMEM_FLOATS = 6144;
const int MAX_STRIDE_BLOCKS = 1 << 16;
const int MAX_GRID_YZ = 65535;
const int SOFTMAX_ROWS_PER_BLOCK = 8;
const int GEMM_TILE = 64;
const int GEMM_BK = 16;
const int GEMM_TARGET_BLOCKS = 128;
const int GEMM_MIN_SPLIT_K = 512;
const long long BN_VALUES_PER_BLOCK = 4096;
const long long BN_MAX_GROUPS = 1024;
const long long FILTER_TARGET_THREADS = 1 << 17;
const long long FILTER_MIN_CHUNK = 64;
const long long FILTER_MAX_CHUNK = 4096;
const long long FILTER_MAX_GROUPS = 4096;
const int SERIAL_MERGE_MAX = 32;

inline long long ceil_div_ll(long long a, long long b) { return (a + b - 1) / b; }
inline long long min_ll(long long a, long long b) { return a < b ? a : b; }
inline long long max_ll(long long a, long long b) { return a > b ? a : b; }

inline int stride_blocks(long long n) { return (int) max_ll(1, min_ll(ceil_div_ll(n, THREADS), MAX_STRIDE_BLOCKS)); }
inline int batch_grid(int n) { return (int) max_ll(1, min_ll(n, MAX_GRID_YZ)); }
// 6 channels per thread (the _cb6 kernels) when that leaves fewer padding lanes than 8.
inline int conv_channels_per_thread(int channels) {
    long long idleWide = ceil_div_ll(channels, CONV_CB) * CONV_CB - channels;
    long long idleNarrow = ceil_div_ll(channels, CONV_CB_NARROW) * CONV_CB_NARROW - channels;
    return idleNarrow < idleWide ? CONV_CB_NARROW : CONV_CB;
}
inline int channel_blocks(int channels, int perThread) { return (int) ceil_div_ll(channels, perThread); }
inline int conv_chunk(int channels, int r, int s, int perThread) {
    long long perChannel = (long long) r * s * perThread;
    if (perChannel * 4 > 48 * 1024) {
        fprintf(stderr, "conv2d: filter %dx%d is too large for the kernels\n", r, s);
        exit(EXIT_FAILURE);
    }
    return (int) max_ll(1, min_ll(channels, CONV_SMEM_FLOATS / perChannel));
}
inline int conv_shared_bytes(int chunk, int r, int s, int perThread) { return chunk * r * s * perThread * 4; }

struct Split {
    int groups, chunk;
};
inline Split filter_split(int outputs, long long m) {
    long long groups = ceil_div_ll(FILTER_TARGET_THREADS, outputs);
    groups = min_ll(groups, ceil_div_ll(m, FILTER_MIN_CHUNK));
    groups = max_ll(groups, ceil_div_ll(m, FILTER_MAX_CHUNK));
    groups = max_ll(1, min_ll(groups, FILTER_MAX_GROUPS));
    long long chunk = ceil_div_ll(m, groups);
    return Split{(int) ceil_div_ll(m, chunk), (int) chunk};
}
inline Split batchnorm_split(long long m) {
    long long groups = max_ll(1, min_ll(ceil_div_ll(m, BN_VALUES_PER_BLOCK), BN_MAX_GROUPS));
    long long chunk = ceil_div_ll(m, groups);
    return Split{(int) ceil_div_ll(m, chunk), (int) chunk};
}
// Threads per block of the one-pixel-per-thread convolution kernels over a plane of `pixels`:
// whole warps, one block up to THREADS pixels, else the block of 128 to THREADS threads that
// leaves the fewest idle (the larger on a tie).
inline int conv_threads(long long pixels) {
    if (pixels <= THREADS) return (int) ceil_div_ll(max_ll(pixels, 1), 32) * 32;
    int best = THREADS;
    long long bestIdle = ceil_div_ll(pixels, THREADS) * THREADS - pixels;
    for (int t = THREADS - 32; t >= 128; t -= 32) {
        long long idle = ceil_div_ll(pixels, t) * t - pixels;
        if (idle < bestIdle) {
            best = t;
            bestIdle = idle;
        }
    }
    return best;
}
inline int filter_threads(int outputs) { return outputs >= THREADS ? THREADS : (int) ceil_div_ll(max_ll(outputs, 1), 32) * 32; }
// Threads of a block that merges one channel's batch-norm partials in a launch of its own (the
// lab's three-launch versions; normnet's own kernels merge in the last block of each channel).
inline int batchnorm_finalize_threads(int groups) {
    int threads = 32;
    while (threads < groups && threads < REDUCE_THREADS) threads <<= 1;
    return threads;
}
inline Split gemm_split(int m, int n, int k) {
    long long tiles = ceil_div_ll(m, GEMM_TILE) * ceil_div_ll(n, GEMM_TILE);
    long long splits = 1;
    if (tiles < GEMM_TARGET_BLOCKS) {
        splits = max_ll(1, min_ll(ceil_div_ll(GEMM_TARGET_BLOCKS, tiles), ceil_div_ll(k, GEMM_MIN_SPLIT_K)));
    }
    long long chunk = ceil_div_ll(ceil_div_ll(max_ll(k, 1), splits), GEMM_BK) * GEMM_BK;
    return Split{(int) max_ll(1, ceil_div_ll(k, chunk)), (int) chunk};
}
inline int softmax_blocks(int n) { return (int) max_ll(1, min_ll(ceil_div_ll(n, SOFTMAX_ROWS_PER_BLOCK), MAX_STRIDE_BLOCKS)); }
}  // namespace geometry
