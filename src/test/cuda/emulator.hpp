// emulator.hpp: runs normnet's CUDA kernels on the host, for tests on machines without a GPU.
// Every CUDA thread of a block is an OS thread; __syncthreads is a barrier over the block and
// __shfl_xor_sync a barrier-separated exchange over the warp; blocks run one after another, so
// __shared__ arrays can be function statics. This checks the kernels' index arithmetic, bounds,
// barriers and reduction trees; it says nothing about speed or the GPU's memory model.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline thread_local std::barrier<>* nn_block_barrier;
inline thread_local std::barrier<>* nn_warp_barrier;
inline thread_local uint64_t* nn_warp_slots;
inline float* nn_dynamic_shared;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

inline void __syncthreads() { nn_block_barrier->arrive_and_wait(); }

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int off) {
    static_assert(sizeof(T) <= 8, "shuffle of a small value");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    unsigned lane = threadIdx.x & 31;
    nn_warp_slots[lane] = bits;
    nn_warp_barrier->arrive_and_wait();
    uint64_t other = nn_warp_slots[lane ^ off];
    nn_warp_barrier->arrive_and_wait();
    T r;
    std::memcpy(&r, &other, sizeof(T));
    return r;
}

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
using std::isnan;
template <class A, class B> inline auto min(A a, B b) { return a < b ? a : b; }
template <class A, class B> inline auto max(A a, B b) { return a < b ? b : a; }

// Runs kernel(args...) over grid x block with `shared` bytes of dynamic shared memory.
template <class... P, class... A>
void emulate(void (*kernel)(P...), dim3 grid, unsigned threads, size_t shared, A... args) {
    gridDim = grid;
    blockDim = dim3{threads, 1, 1};
    std::vector<float> dyn(shared / sizeof(float) + 1, std::nanf(""));
    nn_dynamic_shared = dyn.data();
    unsigned warps = (threads + 31) / 32;
    for (unsigned bz = 0; bz < grid.z; bz++) {
        for (unsigned by = 0; by < grid.y; by++) {
            for (unsigned bx = 0; bx < grid.x; bx++) {
                std::barrier<> block(threads);
                std::vector<std::unique_ptr<std::barrier<>>> warpBarriers;
                std::vector<uint64_t> slots(warps * 32);
                for (unsigned w = 0; w < warps; w++) {
                    unsigned lanes = std::min(32u, threads - w * 32);
                    warpBarriers.push_back(std::make_unique<std::barrier<>>(lanes));
                }
                std::vector<std::thread> pool;
                pool.reserve(threads);
                for (unsigned t = 0; t < threads; t++) {
                    pool.emplace_back([&, t] {
                        threadIdx = dim3{t, 0, 0};
                        blockIdx = dim3{bx, by, bz};
                        nn_block_barrier = &block;
                        nn_warp_barrier = warpBarriers[t / 32].get();
                        nn_warp_slots = slots.data() + (t / 32) * 32;
                        kernel(args...);
                    });
                }
                for (auto& th : pool) th.join();
            }
        }
    }
}
