// cuda_emu.h: runs CUDA C++ on the CPU, to check kernel logic on a machine without a GPU: every
// kernel of src/main/cuda (KernelEmulationTest, with kernels_test.cpp) and every version in the
// kernel lab (benchmarks/cuda, `make emu-check`). See README.md beside it. Not a simulator of
// performance or of the memory model.
//
// Every CUDA thread is a fiber; the threads of one block run on one OS thread, each
// until it reaches a barrier or returns. __syncthreads releases when every thread of the block
// that has not returned waits on it; a warp shuffle is an exchange through a per-warp buffer
// between two warp barriers, released when every live lane of the warp waits on one. A barrier
// that can never be released (a __syncthreads inside a branch some threads skip) stops the run
// with a message. Blocks run one after another. Setting EMU_REVERSE=1 runs the threads of a
// block in reverse order, which exposes most missing __syncthreads when compared with a normal
// run, and the blocks of a grid in reverse order too, which exposes a result that depends on
// which block finishes last. Launch checks follow the device: at most 1024 threads per block, 48 KiB of dynamic
// shared memory unless raised with cudaFuncSetAttribute, at most 227 KiB then.
//
// Sources are built by emulate.sh, which preprocesses them with this header included first and
// then rewrites the two constructs C++ lacks:
//   kernel<<<grid, block[, smem]>>>(args)  ->  emu::launch(emu::Config(grid, block[, smem]), kernel, args)
//   extern __shared__ T name[];            ->  T* name = (T*) emu::dynamic_shared();
#pragma once

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <type_traits>
#include <vector>

#define LAB_EMULATION 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
    unsigned x, y, z;
};

struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

// CUDA's min and max accept mixed integer types; std::min does not.
template <class A, class B>
inline typename std::common_type<A, B>::type min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
inline typename std::common_type<A, B>::type max(A a, B b) { return a < b ? b : a; }

// CUDA device code calls isnan and isinf unqualified.
using std::isinf;
using std::isnan;

inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline double rsqrt(double v) { return 1.0 / sqrt(v); }
inline float __expf(float v) { return expf(v); }
inline float __logf(float v) { return logf(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float __int_as_float(int v) {
    float f;
    memcpy(&f, &v, sizeof(f));
    return f;
}
inline int __float_as_int(float f) {
    int v;
    memcpy(&v, &f, sizeof(v));
    return v;
}
// Round-to-nearest arithmetic that the device never contracts into an FMA; emulate.sh compiles
// with -ffp-contract=off, so plain host arithmetic is the same (and the fatbin is built with
// --fmad=false, so the device does not contract plain arithmetic either).
#if defined(EMU_DEVICE_ULPS)
// The device's expf and logf are not correctly rounded: the CUDA C++ Programming Guide bounds
// their error at 2 and 1 ulp (the host's are within about half an ulp). With EMU_DEVICE_ULPS
// every result is moved by a number of ulps within that bound, the same for the same argument (a
// hash of its bits picks it), so that a test's tolerance is checked against the device's worst
// documented rounding, while two kernels that compute the same expression still get the same bits,
// as on the device. expf(0) stays 1 and results that are 0, subnormal, infinite or NaN stay as
// they are.
namespace emu {
inline float ulp_shift(float r, float arg, int maxUlps) {
    if (!std::isnormal(r)) return r;
    uint32_t h;
    memcpy(&h, &arg, sizeof(h));
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    int k = (int) (h % (uint32_t) (2 * maxUlps + 1)) - maxUlps;
    for (; k > 0; k--) r = nextafterf(r, INFINITY);
    for (; k < 0; k++) r = nextafterf(r, -INFINITY);
    return r;
}
inline float device_expf(float x) { return x == 0.0f ? 1.0f : ulp_shift(::expf(x), x, 2); }
inline float device_logf(float x) { return ulp_shift(::logf(x), x, 1); }
}  // namespace emu
#define expf(x) emu::device_expf(x)
#define logf(x) emu::device_logf(x)
#endif
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace emu {

// A fiber's saved machine state. On x86-64 a switch saves the callee-saved registers, MXCSR and
// the x87 control word on the fiber's own stack and swaps stack pointers (emu_switch below):
// glibc's swapcontext also saves the signal mask with a system call on every switch, which
// took half the emulation's time. Elsewhere, ucontext.
#if defined(__x86_64__)
struct Context {
    void* sp = nullptr;
};
extern "C" void emu_switch(void** from, void* to) __attribute__((visibility("hidden")));
asm(R"(
    .pushsection .text
    .globl emu_switch
    .hidden emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
    .popsection
)");
inline void switch_to(Context& from, Context& to) { emu_switch(&from.sp, to.sp); }
// Prepares ctx to start entry() on the stack [stack, stack + bytes) at the first switch to it.
inline void start_context(Context& ctx, char* stack, size_t bytes, void (*entry)()) {
    uintptr_t top = ((uintptr_t) (stack + bytes)) & ~(uintptr_t) 15;
    uint64_t* sp = (uint64_t*) top;
    *--sp = 0;                    // entry's return address: it never returns
    *--sp = (uint64_t) entry;     // where emu_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = 0;  // rbp rbx r12 r13 r14 r15
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    --sp;
    memcpy((char*) sp, &mxcsr, 4);
    memcpy((char*) sp + 4, &fpcw, 2);
    ctx.sp = sp;
}
#else
struct Context {
    ucontext_t uc;
};
inline void switch_to(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void start_context(Context& ctx, char* stack, size_t bytes, void (*entry)()) {
    getcontext(&ctx.uc);
    ctx.uc.uc_stack.ss_sp = stack;
    ctx.uc.uc_stack.ss_size = bytes;
    ctx.uc.uc_link = nullptr;
    makecontext(&ctx.uc, entry, 0);
}
#endif

struct Fiber {
    Context ctx;
    int state;  // 0 runnable, 1 waits at a block barrier, 2 waits at a warp barrier, 3 returned
    uint3 tid;
    int linear;
};

struct Block {
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    Context scheduler;
    int current = -1;
    uint3 blockIdx{0, 0, 0};
    dim3 blockDim, gridDim;
    std::vector<unsigned char> dynamicShared;
    std::vector<uint64_t> warpBuffer;  // 32 slots per warp
    void (*body)(void*) = nullptr;
    void* bodyArg = nullptr;
};

inline Block& block() {
    static Block b;
    return b;
}

inline Fiber& self() { return block().fibers[block().current]; }

inline void wait(int state) {
    Block& b = block();
    Fiber& f = b.fibers[b.current];
    f.state = state;
    switch_to(f.ctx, b.scheduler);
}

inline void syncthreads() { wait(1); }
inline void syncwarp() { wait(2); }

inline int block_threads() {
    Block& b = block();
    return (int) (b.blockDim.x * b.blockDim.y * b.blockDim.z);
}

inline void* dynamic_shared() { return block().dynamicShared.data(); }

template <class T>
inline T shfl_exchange(T v, int srcLane) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    Block& b = block();
    Fiber& f = self();
    int warp = f.linear / 32;
    int lane = f.linear % 32;
    int warpBase = warp * 32;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    b.warpBuffer[warpBase + lane] = bits;
    syncwarp();
    int nthreads = (int) (b.blockDim.x * b.blockDim.y * b.blockDim.z);
    if (srcLane < 0 || srcLane >= 32 || warpBase + srcLane >= nthreads ||
        b.fibers[warpBase + srcLane].state == 3) {
        fprintf(stderr, "emu: shuffle reads lane %d of warp %d, which does not exist or has returned\n",
                srcLane, warp);
        exit(EXIT_FAILURE);
    }
    T r;
    uint64_t got = b.warpBuffer[warpBase + srcLane];
    memcpy(&r, &got, sizeof(T));
    syncwarp();
    return r;
}

inline void fiber_entry() {
    Block& b = block();
    b.body(b.bodyArg);
    b.fibers[b.current].state = 3;
    switch_to(b.fibers[b.current].ctx, b.scheduler);
}

inline size_t& shared_limit_for(const void* kernel) {
    static std::map<const void*, size_t> limits;
    auto it = limits.find(kernel);
    if (it == limits.end()) it = limits.emplace(kernel, (size_t) 48 * 1024).first;
    return it->second;
}

inline int& launch_error() {
    static int e = 0;
    return e;
}

struct Config {
    dim3 grid, block;
    size_t smem;
    Config(dim3 g, dim3 b, size_t s = 0, void* stream = nullptr) : grid(g), block(b), smem(s) { (void) stream; }
};

const size_t kStackBytes = 256 * 1024;

inline void run_block(void (*body)(void*), void* arg) {
    Block& b = block();
    int n = (int) (b.blockDim.x * b.blockDim.y * b.blockDim.z);
    b.body = body;
    b.bodyArg = arg;
    if ((int) b.fibers.size() < n) b.fibers.resize(n);
    while ((int) b.stacks.size() < n) b.stacks.push_back((char*) malloc(kStackBytes));
    for (int i = 0; i < n; i++) {
        Fiber& f = b.fibers[i];
        f.linear = i;
        f.tid = uint3{(unsigned) (i % b.blockDim.x), (unsigned) ((i / b.blockDim.x) % b.blockDim.y),
                      (unsigned) (i / (b.blockDim.x * b.blockDim.y))};
        f.state = 0;
        start_context(f.ctx, b.stacks[i], kStackBytes, fiber_entry);
    }
    static bool reverse = getenv("EMU_REVERSE") != nullptr && strcmp(getenv("EMU_REVERSE"), "0") != 0;
    for (;;) {
        for (int j = 0; j < n; j++) {
            int i = reverse ? n - 1 - j : j;
            if (b.fibers[i].state == 0) {
                b.current = i;
                switch_to(b.scheduler, b.fibers[i].ctx);
            }
        }
        bool allDone = true, blockReady = true, anyBlockWait = false;
        for (int i = 0; i < n; i++) {
            int s = b.fibers[i].state;
            if (s != 3) allDone = false;
            if (s == 1) anyBlockWait = true;
            if (s != 1 && s != 3) blockReady = false;
        }
        if (allDone) break;
        bool released = false;
        if (blockReady && anyBlockWait) {
            for (int i = 0; i < n; i++) {
                if (b.fibers[i].state == 1) b.fibers[i].state = 0;
            }
            released = true;
        } else {
            for (int w0 = 0; w0 < n; w0 += 32) {
                int w1 = std::min(n, w0 + 32);
                bool ready = true, any = false;
                for (int i = w0; i < w1; i++) {
                    int s = b.fibers[i].state;
                    if (s == 2) any = true;
                    if (s != 2 && s != 3) ready = false;
                }
                if (ready && any) {
                    for (int i = w0; i < w1; i++) {
                        if (b.fibers[i].state == 2) b.fibers[i].state = 0;
                    }
                    released = true;
                }
            }
        }
        if (!released) {
            fprintf(stderr, "emu: deadlock in block (%u, %u, %u): threads wait at barriers that "
                            "other live threads never reach\n",
                    b.blockIdx.x, b.blockIdx.y, b.blockIdx.z);
            exit(EXIT_FAILURE);
        }
    }
}

template <class Kernel, class... Args>
inline void launch(Config cfg, Kernel kernel, Args... args) {
    Block& b = block();
    size_t threads = (size_t) cfg.block.x * cfg.block.y * cfg.block.z;
    if (threads == 0 || threads > 1024 || cfg.block.z > 64 || cfg.grid.y > 65535 || cfg.grid.z > 65535 ||
        cfg.grid.x == 0 || cfg.grid.y == 0 || cfg.grid.z == 0) {
        launch_error() = 9;  // cudaErrorInvalidConfiguration
        return;
    }
    if (cfg.smem > shared_limit_for((const void*) kernel)) {
        launch_error() = 9;
        return;
    }
    b.blockDim = cfg.block;
    b.gridDim = cfg.grid;
    b.dynamicShared.assign(cfg.smem > 0 ? cfg.smem : 1, 0xA5);  // garbage, as on the device
    b.warpBuffer.assign(((threads + 31) / 32) * 32, 0);
    struct Call {
        Kernel k;
        std::tuple<Args...> a;
        static void run(void* p) {
            Call* c = (Call*) p;
            std::apply(c->k, c->a);
        }
    } call{kernel, std::tuple<Args...>(args...)};
    static bool reverse = getenv("EMU_REVERSE") != nullptr && strcmp(getenv("EMU_REVERSE"), "0") != 0;
    for (unsigned z = 0; z < cfg.grid.z; z++) {
        for (unsigned y = 0; y < cfg.grid.y; y++) {
            for (unsigned x = 0; x < cfg.grid.x; x++) {
                b.blockIdx = reverse ? uint3{cfg.grid.x - 1 - x, cfg.grid.y - 1 - y, cfg.grid.z - 1 - z} : uint3{x, y, z};
                run_block(&Call::run, &call);
            }
        }
    }
}

}  // namespace emu

#define threadIdx (emu::self().tid)
#define blockIdx (emu::block().blockIdx)
#define blockDim (emu::block().blockDim)
#define gridDim (emu::block().gridDim)
#define warpSize 32
#define __syncthreads() emu::syncthreads()
#define __syncwarp(...) emu::syncwarp()

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int laneMask, int = 32) {
    return emu::shfl_exchange(v, (emu::self().linear % 32) ^ laneMask);
}
template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
    int lane = emu::self().linear % 32;
    int src = lane + (int) delta;
    // Lanes whose source is past the warp keep their own value, as on the device.
    int n = emu::block_threads();
    int warpBase = emu::self().linear - lane;
    if (src >= 32 || warpBase + src >= n) src = lane;
    return emu::shfl_exchange(v, src);
}
template <class T>
inline T __shfl_sync(unsigned, T v, int srcLane, int = 32) {
    return emu::shfl_exchange(v, srcLane);
}

// Loads through L2 (cache-global): memory here is coherent, so a plain load.
template <class T>
inline T __ldcg(const T* p) {
    return *p;
}

// Fibers of one block never run at the same time, so read-modify-write is atomic here.
template <class T>
inline T atomicAdd(T* p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
    unsigned old = *p;
    *p = old >= limit ? 0 : old + 1;
    return old;
}

// ----------------------------------------------------------------------------------- runtime API

typedef int cudaError_t;
typedef void* cudaStream_t;
typedef std::chrono::steady_clock::time_point* cudaEvent_t;
const int cudaSuccess = 0;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrL2CacheSize, cudaDevAttrMultiProcessorCount };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };

struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount, l2CacheSize, maxThreadsPerBlock;
    size_t sharedMemPerBlock;
};

inline const char* cudaGetErrorString(cudaError_t e) {
    return e == 0 ? "no error" : e == 9 ? "invalid configuration argument" : "error";
}
inline const char* cudaGetErrorName(cudaError_t e) {
    return e == 0 ? "cudaSuccess" : e == 9 ? "cudaErrorInvalidConfiguration" : "cudaError";
}
inline cudaError_t cudaGetLastError() {
    int e = emu::launch_error();
    emu::launch_error() = 0;
    return e;
}
inline cudaError_t cudaMalloc(void* p, size_t bytes) {
    *(void**) p = malloc(bytes == 0 ? 1 : bytes);
    return *(void**) p == nullptr ? 2 : 0;
}
inline cudaError_t cudaFree(void* p) {
    free(p);
    return 0;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
    memmove(dst, src, bytes);
    return 0;
}
inline cudaError_t cudaMemset(void* dst, int v, size_t bytes) {
    memset(dst, v, bytes);
    return 0;
}
inline cudaError_t cudaMemsetAsync(void* dst, int v, size_t bytes, cudaStream_t = nullptr) {
    return cudaMemset(dst, v, bytes);
}
inline cudaError_t cudaDeviceSynchronize() { return 0; }
inline cudaError_t cudaGetDevice(int* d) {
    *d = 0;
    return 0;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrL2CacheSize ? (1 << 20) : 132;
    return 0;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "CPU emulation (src/test/cuda/cuda_emu.h)");
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    p->l2CacheSize = 1 << 20;
    p->maxThreadsPerBlock = 1024;
    p->sharedMemPerBlock = 48 * 1024;
    return 0;
}
template <class Kernel>
inline cudaError_t cudaFuncSetAttribute(Kernel k, cudaFuncAttribute, int bytes) {
    if (bytes > 227 * 1024) return 1;
    emu::shared_limit_for((const void*) k) = (size_t) bytes;
    return 0;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
    *e = new std::chrono::steady_clock::time_point();
    return 0;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return 0;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
    *e = std::chrono::steady_clock::now();
    return 0;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return 0; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = std::chrono::duration<float, std::milli>(*b - *a).count();
    return 0;
}
