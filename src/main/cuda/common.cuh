// common.cuh: helpers shared by every kernel file of normnet.fatbin.
//
// Conventions: float32, NCHW, row-major. Shape letters: N batch, C input channels, H W input
// height and width, K output channels (or classes), R S filter height and width, P Q output
// height and width. Element counts fit in int (the Java side checks); address arithmetic that
// multiplies two extents is done in size_t.
//
// Determinism: no float atomics anywhere. Reductions use a fixed assignment of elements to
// threads, fixed-shape trees in shared memory or warp shuffles, and fixed-order merges of
// per-block partials, so the same inputs give the same bits on the same GPU.
#pragma once

#define NN_KERNEL extern "C" __global__

// Threads per block used by the reduction kernels (a power of two; the Java side mirrors it in
// LaunchGeometry.REDUCE_THREADS).
#define NN_REDUCE_THREADS 256

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
