/*
pool: 2-D average and max pooling, forward and backward, float32 NCHW.
x (N, C, H, W), y (N, C, P, Q), window k, stride st, zero padding pad <= k/2,
P = (H + 2*pad - k) / st + 1 (floor). planes = N*C image planes, each independent.
  avg_forward:  y = sum of the window / (k*k)  (padded zeros count: count_include_pad=True)
  avg_backward: dx = sum over the windows covering the pixel of dy / (k*k)
  max_forward:  y = the window's first maximum in row-major order, padding never wins, NaN wins
  max_backward: dx = sum over the windows whose first maximum (recomputed from x) is the pixel of dy
Backward passes overwrite dx and are deterministic (gather form, no atomics).

Compile and run:
  make pool    (nvcc -O3 -std=c++17 -arch=sm_90 pool.cu -o pool)
  ./pool 2                 all four ops, version 2
  ./pool 1 max_backward    one op

version 1: grid-stride, one thread per output (forward) or per input pixel (backward,
           gathering from every covering window) (the mainline kernels avg_pool2d_forward,
           avg_pool2d_backward, max_pool2d_forward and max_pool2d_backward v1, included from
           src/main/cuda/pool.cu)
version 2: for the LeNet case k = 2, stride 2, pad 0 with H and W even: one thread per output
           reads its 2x2 window as two float2 loads (forward) or writes it as two float2
           stores (backward: each input pixel belongs to exactly one window); other shapes
           fall back to version 1
*/
#include "common.h"

// ----------------------------------------------------------------------------------- CPU reference

// Flat index of the first maximum in row-major order of the window at (h0, w0); NaN wins and the
// first NaN stays (PyTorch's rule).
static int pool_argmax_cpu(const float* xp, int H, int W, int h0, int w0, int k) {
    float best = -INFINITY;
    int arg = -1;
    for (int r = 0; r < k; r++) {
        for (int s = 0; s < k; s++) {
            int ih = h0 + r, iw = w0 + s;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            float v = xp[ih * W + iw];
            if (arg >= 0 && std::isnan(best)) continue;
            if (arg < 0 || v > best || std::isnan(v)) {
                best = v;
                arg = ih * W + iw;
            }
        }
    }
    return arg;
}

static void avg_forward_cpu(double* y, const float* x, int planes, int H, int W, int P, int Q, int k, int st,
                            int pad) {
    for (int pl = 0; pl < planes; pl++) {
        for (int p = 0; p < P; p++) {
            for (int q = 0; q < Q; q++) {
                double sum = 0.0;
                for (int r = 0; r < k; r++) {
                    for (int s = 0; s < k; s++) {
                        int ih = p * st - pad + r, iw = q * st - pad + s;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) sum += x[((size_t) pl * H + ih) * W + iw];
                    }
                }
                y[((size_t) pl * P + p) * Q + q] = sum / (k * k);
            }
        }
    }
}

static void avg_backward_cpu(double* dx, const float* dy, int planes, int H, int W, int P, int Q, int k, int st,
                             int pad) {
    for (size_t i = 0; i < (size_t) planes * H * W; i++) dx[i] = 0.0;
    for (int pl = 0; pl < planes; pl++) {
        for (int p = 0; p < P; p++) {
            for (int q = 0; q < Q; q++) {
                double g = dy[((size_t) pl * P + p) * Q + q] / (double) (k * k);
                for (int r = 0; r < k; r++) {
                    for (int s = 0; s < k; s++) {
                        int ih = p * st - pad + r, iw = q * st - pad + s;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) dx[((size_t) pl * H + ih) * W + iw] += g;
                    }
                }
            }
        }
    }
}

static void max_forward_cpu(double* y, const float* x, int planes, int H, int W, int P, int Q, int k, int st,
                            int pad) {
    for (int pl = 0; pl < planes; pl++) {
        const float* xp = x + (size_t) pl * H * W;
        for (int p = 0; p < P; p++) {
            for (int q = 0; q < Q; q++) {
                int arg = pool_argmax_cpu(xp, H, W, p * st - pad, q * st - pad, k);
                y[((size_t) pl * P + p) * Q + q] = xp[arg];
            }
        }
    }
}

static void max_backward_cpu(double* dx, const float* x, const float* dy, int planes, int H, int W, int P, int Q,
                             int k, int st, int pad) {
    for (size_t i = 0; i < (size_t) planes * H * W; i++) dx[i] = 0.0;
    for (int pl = 0; pl < planes; pl++) {
        const float* xp = x + (size_t) pl * H * W;
        for (int p = 0; p < P; p++) {
            for (int q = 0; q < Q; q++) {
                int arg = pool_argmax_cpu(xp, H, W, p * st - pad, q * st - pad, k);
                dx[(size_t) pl * H * W + arg] += dy[((size_t) pl * P + p) * Q + q];
            }
        }
    }
}

// ----------------------------------------------------------------------------------- v1 kernels

// v1: the mainline kernels avg_pool2d_forward, avg_pool2d_backward, max_pool2d_forward and
// max_pool2d_backward, included from src/main/cuda/pool.cu (with its helpers pool_cover and
// pool_argmax).
#include "../../src/main/cuda/pool.cu"

// ----------------------------------------------------------------------------------- v2 kernels
// k = 2, stride 2, pad 0, H and W even (so P = H/2, Q = W/2 and the windows tile the plane):
// one thread per output (plane, p, q); its window is the float2 at row 2p, column 2q and the
// float2 below it (8-byte aligned: W even and cudaMalloc alignment).

__global__ void avg_pool2d_forward_2x2(const float* __restrict__ x, float* __restrict__ y, int planes, int H,
                                       int W, int P, int Q) {
    const long long total = (long long) planes * P * Q;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        int q = (int) (i % Q);
        long long row = i / Q;  // plane * P + p
        const float* top = x + (size_t) row * 2 * W + 2 * q;
        float2 a = *(const float2*) top;
        float2 b = *(const float2*) (top + W);
        y[i] = ((a.x + a.y) + (b.x + b.y)) * 0.25f;
    }
}

__global__ void avg_pool2d_backward_2x2(const float* __restrict__ dy, float* __restrict__ dx, int planes, int H,
                                        int W, int P, int Q) {
    const long long total = (long long) planes * P * Q;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        int q = (int) (i % Q);
        long long row = i / Q;
        float g = dy[i] * 0.25f;
        float* top = dx + (size_t) row * 2 * W + 2 * q;
        *(float2*) top = make_float2(g, g);
        *(float2*) (top + W) = make_float2(g, g);
    }
}

// The window's first maximum in row-major order among (a.x, a.y, b.x, b.y), with pool_argmax's
// rule (NaN wins, the first NaN stays); returns its position 0..3.
__device__ __forceinline__ int argmax4(float2 a, float2 b, float& best) {
    float v[4] = {a.x, a.y, b.x, b.y};
    best = v[0];
    int arg = 0;
#pragma unroll
    for (int j = 1; j < 4; j++) {
        if (isnan(best)) break;
        if (v[j] > best || isnan(v[j])) {
            best = v[j];
            arg = j;
        }
    }
    return arg;
}

__global__ void max_pool2d_forward_2x2(const float* __restrict__ x, float* __restrict__ y, int planes, int H,
                                       int W, int P, int Q) {
    const long long total = (long long) planes * P * Q;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        int q = (int) (i % Q);
        long long row = i / Q;
        const float* top = x + (size_t) row * 2 * W + 2 * q;
        float best;
        argmax4(*(const float2*) top, *(const float2*) (top + W), best);
        y[i] = best;
    }
}

__global__ void max_pool2d_backward_2x2(const float* __restrict__ x, const float* __restrict__ dy,
                                        float* __restrict__ dx, int planes, int H, int W, int P, int Q) {
    const long long total = (long long) planes * P * Q;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total;
         i += (long long) gridDim.x * blockDim.x) {
        int q = (int) (i % Q);
        long long row = i / Q;
        size_t offset = (size_t) row * 2 * W + 2 * q;
        float best;
        int arg = argmax4(*(const float2*) (x + offset), *(const float2*) (x + offset + W), best);
        float g = dy[i];
        *(float2*) (dx + offset) = make_float2(arg == 0 ? g : 0.0f, arg == 1 ? g : 0.0f);
        *(float2*) (dx + offset + W) = make_float2(arg == 2 ? g : 0.0f, arg == 3 ? g : 0.0f);
    }
}

// ----------------------------------------------------------------------------------- launchers

enum Op { AVG_FORWARD, AVG_BACKWARD, MAX_FORWARD, MAX_BACKWARD };
static const char* kOpNames[] = {"avg_forward", "avg_backward", "max_forward", "max_backward"};

struct PoolArgs {
    const float* x;   // (planes, H, W)
    const float* dy;  // (planes, P, Q)
    float* y;         // (planes, P, Q)
    float* dx;        // (planes, H, W)
    int planes, H, W, P, Q, k, st, pad;
};

static void pool_run(int version, Op op, PoolArgs a) {
    const bool special = version == 2 && a.k == 2 && a.st == 2 && a.pad == 0 && a.H % 2 == 0 && a.W % 2 == 0;
    const long long outputs = (long long) a.planes * a.P * a.Q;
    const long long inputs = (long long) a.planes * a.H * a.W;
    if (version != 1 && version != 2) {
        fprintf(stderr, "pool: no version %d\n", version);
        exit(EXIT_FAILURE);
    }
    const int T = geometry::THREADS;
    if (special) {
        int blocks = geometry::stride_blocks(outputs);
        switch (op) {
            case AVG_FORWARD: avg_pool2d_forward_2x2<<<blocks, T>>>(a.x, a.y, a.planes, a.H, a.W, a.P, a.Q); break;
            case AVG_BACKWARD: avg_pool2d_backward_2x2<<<blocks, T>>>(a.dy, a.dx, a.planes, a.H, a.W, a.P, a.Q); break;
            case MAX_FORWARD: max_pool2d_forward_2x2<<<blocks, T>>>(a.x, a.y, a.planes, a.H, a.W, a.P, a.Q); break;
            case MAX_BACKWARD:
                max_pool2d_backward_2x2<<<blocks, T>>>(a.x, a.dy, a.dx, a.planes, a.H, a.W, a.P, a.Q);
                break;
        }
    } else {
        // Launched as src/main/java/dev/normnet/backend/cuda/CudaBackend.java launches them.
        switch (op) {
            case AVG_FORWARD:
                avg_pool2d_forward<<<geometry::stride_blocks(outputs), T>>>(a.x, a.y, a.planes, a.H, a.W, a.P, a.Q,
                                                                            a.k, a.st, a.pad);
                break;
            case AVG_BACKWARD:
                avg_pool2d_backward<<<geometry::stride_blocks(inputs), T>>>(a.dy, a.dx, a.planes, a.H, a.W, a.P, a.Q,
                                                                            a.k, a.st, a.pad);
                break;
            case MAX_FORWARD:
                max_pool2d_forward<<<geometry::stride_blocks(outputs), T>>>(a.x, a.y, a.planes, a.H, a.W, a.P, a.Q,
                                                                            a.k, a.st, a.pad);
                break;
            case MAX_BACKWARD:
                max_pool2d_backward<<<geometry::stride_blocks(inputs), T>>>(a.x, a.dy, a.dx, a.planes, a.H, a.W, a.P,
                                                                            a.Q, a.k, a.st, a.pad);
                break;
        }
    }
    CUDA_CHECK_LAUNCH();
}

// ----------------------------------------------------------------------------------- main

struct Case {
    const char* name;
    int N, C, H, W, k, st, pad;
    bool special;  // x holds ties (multiples of 0.25) and a few NaNs
    bool timed;
};

int main(int argc, char** argv) {
    const int versions = 2;
    int version = parse_version(argc, argv, versions, versions);
    int repeats = repeats_from_env(50);
    bool selected[4] = {false, false, false, false};
    bool any = false;
    for (int o = 0; o < 4; o++) {
        if (has_arg(argc, argv, kOpNames[o])) selected[o] = any = true;
    }
    for (int o = 0; o < 4; o++) {
        if (!any) selected[o] = true;
    }
    print_device();
    printf("pool version %d\n", version);

    const Case cases[] = {
        {"odd 3x5x7x9, k3 s2 p1", 3, 5, 7, 9, 3, 2, 1, false, false},
        {"odd 2x3x7x9, k2 s2 (uncovered row and column)", 2, 3, 7, 9, 2, 2, 0, false, false},
        {"odd 2x3x8x6, k3 s1 p1 (overlapping windows)", 2, 3, 8, 6, 3, 1, 1, false, false},
        {"odd 2x3x8x10, k2 s2, ties and NaNs", 2, 3, 8, 10, 2, 2, 0, true, false},
        {"odd 2x3x9x7, k3 s2 p1, ties and NaNs", 2, 3, 9, 7, 3, 2, 1, true, false},
        {"LeNet pool1 256x6x28x28, k2 s2", 256, 6, 28, 28, 2, 2, 0, false, true},
        {"LeNet pool2 256x16x10x10, k2 s2", 256, 16, 10, 10, 2, 2, 0, false, true},
        {"LeNet-BN pool1 256x6x24x24, k2 s2", 256, 6, 24, 24, 2, 2, 0, false, true},
        {"LeNet-BN pool2 256x16x8x8, k2 s2", 256, 16, 8, 8, 2, 2, 0, false, true},
        {"224 pool1 256x6x220x220, k2 s2", 256, 6, 220, 220, 2, 2, 0, false, true},
        {"224 pool2 256x16x106x106, k2 s2", 256, 16, 106, 106, 2, 2, 0, false, true},
    };

    uint64_t seed = 51;
    for (const Case& cs : cases) {
        PoolArgs a;
        a.planes = cs.N * cs.C;
        a.H = cs.H;
        a.W = cs.W;
        a.k = cs.k;
        a.st = cs.st;
        a.pad = cs.pad;
        a.P = (cs.H + 2 * cs.pad - cs.k) / cs.st + 1;
        a.Q = (cs.W + 2 * cs.pad - cs.k) / cs.st + 1;
        size_t nx = (size_t) a.planes * a.H * a.W;
        size_t ny = (size_t) a.planes * a.P * a.Q;
        printf("%s: y (%d, %d, %d, %d)\n", cs.name, cs.N, cs.C, a.P, a.Q);
        if (skip_case(nx)) continue;
        float* x = make_random_float(nx, -1.0f, 1.0f, seed++);
        float* dy = make_random_float(ny, -1.0f, 1.0f, seed++);
        if (cs.special) {
            uint64_t s = seed++;
            for (size_t i = 0; i < nx; i++) {
                x[i] = roundf(x[i] * 4.0f) / 4.0f;
                if (rng_next(&s) % 16 == 0) x[i] = NAN;
            }
        }
        a.x = to_device(x, nx);
        a.dy = to_device(dy, ny);
        a.y = device_alloc_poison(ny);
        a.dx = device_alloc_poison(nx);
        double* ref_y = (double*) host_alloc(ny * sizeof(double));
        double* ref_dx = (double*) host_alloc(nx * sizeof(double));
        for (int o = 0; o < 4; o++) {
            if (!selected[o]) continue;
            Op op = (Op) o;
            bool forward = op == AVG_FORWARD || op == MAX_FORWARD;
            poison(forward ? a.y : a.dx, forward ? ny : nx);
            pool_run(version, op, a);
            switch (op) {
                case AVG_FORWARD: avg_forward_cpu(ref_y, x, a.planes, a.H, a.W, a.P, a.Q, a.k, a.st, a.pad); break;
                case AVG_BACKWARD: avg_backward_cpu(ref_dx, dy, a.planes, a.H, a.W, a.P, a.Q, a.k, a.st, a.pad); break;
                case MAX_FORWARD: max_forward_cpu(ref_y, x, a.planes, a.H, a.W, a.P, a.Q, a.k, a.st, a.pad); break;
                case MAX_BACKWARD:
                    max_backward_cpu(ref_dx, x, dy, a.planes, a.H, a.W, a.P, a.Q, a.k, a.st, a.pad);
                    break;
            }
            char name[32];
            snprintf(name, sizeof(name), "%s", kOpNames[o]);
            // At most k*k terms per output: float32 is within a few ulp.
            if (forward) {
                validate_result(a.y, ref_y, name, ny, 1e-6, 1e-6);
            } else {
                validate_result(a.dx, ref_dx, name, nx, 1e-6, 1e-6);
            }
            if (cs.timed && timing_enabled()) {
                Timing t = benchmark_kernel(repeats, pool_run, version, op, a);
                double bytes = (op == AVG_FORWARD || op == MAX_FORWARD) ? (double) (nx + ny) * 4
                               : op == AVG_BACKWARD                     ? (double) (ny + nx) * 4
                                                                        : (double) (2 * nx + ny) * 4;
                char label[64];
                snprintf(label, sizeof(label), "time %s", kOpNames[o]);
                print_timing(label, t, bytes, 0.0);
            }
        }
        free(ref_y);
        free(ref_dx);
        free(x);
        free(dy);
        CUDA_CHECK(cudaFree((void*) a.x));
        CUDA_CHECK(cudaFree((void*) a.dy));
        CUDA_CHECK(cudaFree(a.y));
        CUDA_CHECK(cudaFree(a.dx));
    }
    printf("pool version %d: all checks passed\n", version);
    return 0;
}
