// common.cuh: helpers shared by every kernel file of normnet.fatbin.
//
// Conventions: float32, NCHW, row-major. Shape letters: N batch, C input channels, H W input
// height and width, K output channels (or classes), R S filter height and width, P Q output
// height and width. Element counts fit in int (the Java side checks); address arithmetic that
// multiplies two extents is done in size_t.
//
// Determinism: no float atomics anywhere. Reductions use a fixed assignment of elements to
// threads, fixed-shape trees in shared memory or warp shuffles, and fixed-order merges of
// per-block partials, so the same inputs give the same bits on the same GPU. The fatbin is built
// with --fmad=false: only an explicit fmaf is an fma, so an expression computes the same bits in
// every kernel that holds it (a fused kernel and the separate ones it replaces), whatever the
// compiler would otherwise contract around it.
#pragma once

#define NN_KERNEL extern "C" __global__

// Threads per block used by the reduction kernels (a power of two; the Java side mirrors it in
// LaunchGeometry.REDUCE_THREADS).
#define NN_REDUCE_THREADS 256

// Whether this block is the last of `blocks` blocks sharing *ticket to get here: the one-launch
// form of "per-block partials, then a merge launch". Every thread fences its own global writes
// (a partial, per-row results) so that the whole GPU sees them before thread 0 takes the ticket;
// the last block's thread 0 sets *ticket back to 0 (every block of the launch has counted, so
// the next launch, or the next replay of a captured graph, finds it at 0) and fences again, so
// that the block's reads after the call, through L2 (__ldcg), see every other block's writes.
// Only the last block may then read them. Every thread of the block must call it; the answer is
// the same for all.
// The result of the merge must not depend on which block is last (kernels_test.cpp runs blocks in
// both orders).
__device__ __forceinline__ bool nn_last_block(unsigned int* ticket, unsigned int blocks) {
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(ticket, 1u) == blocks - 1;
        if (last) {
            *ticket = 0u;
            __threadfence();
        }
    }
    __syncthreads();
    return last;
}

// Sum of v over the block, in a fixed tree; every thread must call it; the result is valid in
// thread 0. buf holds blockDim.x floats; blockDim.x must be a power of two.
__device__ __forceinline__ float nn_block_sum(float v, float* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            buf[threadIdx.x] += buf[threadIdx.x + s];
        }
        __syncthreads();
    }
    float r = buf[0];
    __syncthreads();
    return r;
}

// The same in double.
__device__ __forceinline__ double nn_block_sum_d(double v, double* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            buf[threadIdx.x] += buf[threadIdx.x + s];
        }
        __syncthreads();
    }
    double r = buf[0];
    __syncthreads();
    return r;
}

// Activations a kernel may apply to its output (codes as the ordinals of Java's
// Backend.Activation), so that batch norm and the activation after it run as one launch each
// way. elementwise.cu's sigmoid and ReLU kernels use the same functions: a fused launch computes
// the same bits as the two launches it replaces.
#define NN_ACT_IDENTITY 0
#define NN_ACT_SIGMOID 1
#define NN_ACT_RELU 2

// y = act(v): 1 / (1 + exp(-v)) with CUDA's expf (within 2 ulp; not the host's) and IEEE division
// (no fast math), max(v, 0), or v.
__device__ __forceinline__ float nn_act(int act, float v) {
    if (act == NN_ACT_SIGMOID) {
        return 1.0f / (1.0f + expf(-v));
    }
    if (act == NN_ACT_RELU) {
        return v > 0.0f ? v : 0.0f;
    }
    return v;
}

// The gradient of act's input from its output y and the gradient dy of y: dy * y * (1 - y) for
// the sigmoid, y > 0 ? dy : 0 for ReLU (y > 0 exactly where its input was), dy for the identity
// (y is not read: it may be null).
__device__ __forceinline__ float nn_act_grad(int act, const float* y, unsigned i, float dy) {
    if (act == NN_ACT_SIGMOID) {
        float v = y[i];
        return dy * v * (1.0f - v);
    }
    if (act == NN_ACT_RELU) {
        return y[i] > 0.0f ? dy : 0.0f;
    }
    return dy;
}
