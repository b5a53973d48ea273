// emulated_driver_test.cpp: checks that the emulated driver (emulated_driver.cpp) is as strict as
// src/test/cuda/README.md says, through the driver API only, as JCuda calls it. Linked against the
// built libcuda.so.1 by EmulatedDriverTest.
//   emulated_driver_test FATBIN            the checks that leave the driver usable
//   emulated_driver_test FATBIN overrun    a kernel writes past an allocation
//   emulated_driver_test FATBIN freed      a kernel gets a pointer that was freed
//   emulated_driver_test FATBIN pointer    a kernel gets a pointer outside every allocation
// Prints one line per check and "N passed, M failed" last; exits 1 on a failed check.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

extern "C" {
typedef int CUresult;
typedef void* Handle;
typedef unsigned long long Dptr;
CUresult cuInit(unsigned);
CUresult cuDeviceGet(int*, int);
CUresult cuDevicePrimaryCtxRetain(Handle*, int);
CUresult cuCtxSetCurrent(Handle);
CUresult cuModuleLoadData(Handle*, const void*);
CUresult cuModuleGetFunction(Handle*, Handle, const char*);
CUresult cuModuleUnload(Handle);
CUresult cuFuncGetAttribute(int*, int, Handle);
CUresult cuStreamCreate(Handle*, unsigned);
CUresult cuStreamSynchronize(Handle);
CUresult cuStreamBeginCapture_v2(Handle, int);
CUresult cuStreamEndCapture(Handle, Handle*);
CUresult cuGraphInstantiateWithFlags(Handle*, Handle, unsigned long long);
CUresult cuGraphLaunch(Handle, Handle);
CUresult cuGraphDestroy(Handle);
CUresult cuGraphExecDestroy(Handle);
CUresult cuMemAlloc_v2(Dptr*, size_t);
CUresult cuMemFree_v2(Dptr);
CUresult cuMemAllocHost_v2(void**, size_t);
CUresult cuMemcpyHtoDAsync_v2(Dptr, const void*, size_t, Handle);
CUresult cuMemcpyDtoHAsync_v2(void*, Dptr, size_t, Handle);
CUresult cuMemsetD32Async(Dptr, unsigned, size_t, Handle);
CUresult cuLaunchKernel(Handle, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, Handle, void**,
                        void**);
}

static int passed = 0, failed = 0;

static void check(bool ok, const std::string& what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    (ok ? passed : failed)++;
}

static void expect(CUresult got, CUresult want, const std::string& what) {
    check(got == want, what + " returns " + std::to_string(want) + (got == want ? "" : " (got " + std::to_string(got) + ")"));
}

static unsigned bits(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

// fill(float* t, float value, int n) over n floats at p, one block.
static CUresult fill(Handle f, Handle stream, Dptr p, float value, int n) {
    void* args[] = {&p, &value, &n};
    return cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, stream, args, nullptr);
}

static int finish() {
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: emulated_driver_test FATBIN [overrun|freed|pointer]\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<char> fatbin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string mode = argc > 2 ? argv[2] : "";

    expect(cuInit(0), 0, "cuInit");
    int dev = -1;
    expect(cuDeviceGet(&dev, 0), 0, "cuDeviceGet");
    Handle ctx = nullptr;
    expect(cuDevicePrimaryCtxRetain(&ctx, dev), 0, "cuDevicePrimaryCtxRetain");
    Dptr p = 0;
    expect(cuMemAlloc_v2(&p, 16), 201, "cuMemAlloc before a context is current");
    expect(cuCtxSetCurrent(ctx), 0, "cuCtxSetCurrent");
    Handle module = nullptr, f = nullptr, stream = nullptr;
    std::vector<char> garbage(64, 7);
    expect(cuModuleLoadData(&module, garbage.data()), 200, "cuModuleLoadData of bytes that are no fatbin");
    expect(cuModuleLoadData(&module, fatbin.data()), 0, "cuModuleLoadData of normnet.fatbin");
    expect(cuModuleGetFunction(&f, module, "no_such_kernel"), 500, "cuModuleGetFunction of an unknown name");
    expect(cuModuleGetFunction(&f, module, "fill"), 0, "cuModuleGetFunction(fill)");
    expect(cuStreamCreate(&stream, 1), 0, "cuStreamCreate");
    expect(cuMemAlloc_v2(&p, 4 * sizeof(float)), 0, "cuMemAlloc of 4 floats");
    float* host = nullptr;
    expect(cuMemAllocHost_v2((void**) &host, 4 * sizeof(float)), 0, "cuMemAllocHost");

    if (mode == "overrun") {
        expect(fill(f, stream, p, 1.0f, 5), 0, "fill of 5 floats into 4 (queued)");
        expect(cuStreamSynchronize(stream), 700, "cuStreamSynchronize after the kernel wrote past the allocation");
        expect(cuMemAlloc_v2(&p, 16), 700, "after a fault, every call (cuMemAlloc)");
        return finish();
    }
    if (mode == "freed") {
        expect(cuMemFree_v2(p), 0, "cuMemFree");
        Dptr again = 0;
        expect(cuMemAlloc_v2(&again, 4 * sizeof(float)), 0, "cuMemAlloc of the same size");
        check(again != p, "freed addresses are not handed out again");
        expect(fill(f, stream, p, 1.0f, 4), 0, "fill of the freed memory (queued)");
        expect(cuStreamSynchronize(stream), 700, "cuStreamSynchronize after a kernel got a freed pointer");
        return finish();
    }
    if (mode == "pointer") {
        float onTheHostStack[4];
        expect(fill(f, stream, (Dptr) (uintptr_t) onTheHostStack, 1.0f, 4), 0, "fill of host memory (queued)");
        expect(cuStreamSynchronize(stream), 700, "cuStreamSynchronize after a kernel got a pointer outside the device");
        return finish();
    }

    // Fresh memory is NaN; queued work runs when the host waits for it.
    expect(cuMemcpyDtoHAsync_v2(host, p, 4 * sizeof(float), stream), 0, "cuMemcpyDtoHAsync");
    expect(cuStreamSynchronize(stream), 0, "cuStreamSynchronize");
    check(std::isnan(host[0]) && std::isnan(host[3]), "fresh device memory reads NaN");
    expect(cuMemsetD32Async(p, bits(2.0f), 4, stream), 0, "cuMemsetD32Async 2.0 (queued)");
    expect(cuMemcpyDtoHAsync_v2(host, p, 4 * sizeof(float), stream), 0, "cuMemcpyDtoHAsync (queued)");
    check(std::isnan(host[0]), "before the wait the host still sees the old bytes");
    expect(cuStreamSynchronize(stream), 0, "cuStreamSynchronize");
    check(host[0] == 2.0f && host[3] == 2.0f, "after the wait the copy holds the memset's values");
    host[0] = 5.0f;
    expect(cuMemcpyHtoDAsync_v2(p, host, sizeof(float), stream), 0, "cuMemcpyHtoDAsync from pinned memory (queued)");
    host[0] = 6.0f;  // before the copy ran: the copy sends this
    expect(cuMemcpyDtoHAsync_v2(host + 1, p, sizeof(float), stream), 0, "cuMemcpyDtoHAsync");
    expect(cuStreamSynchronize(stream), 0, "cuStreamSynchronize");
    check(host[1] == 6.0f, "a pinned buffer changed before its queued copy ran is what the copy sends");

    // Bounds.
    expect(cuMemcpyHtoDAsync_v2(p, host, 5 * sizeof(float), stream), 1, "a copy of 5 floats into 4");
    expect(cuMemsetD32Async(p + 4, 0, 4, stream), 1, "a memset running past the allocation");
    {
        float value = 0.0f;
        int n = 4;
        void* args[] = {&p, &value, &n};
        expect(cuLaunchKernel(f, 1, 1, 1, 2048, 1, 1, 0, stream, args, nullptr), 1, "a launch of 2048 threads a block");
        expect(cuLaunchKernel(f, 1, 70000, 1, 32, 1, 1, 0, stream, args, nullptr), 1, "a launch of 70000 blocks in y");
        expect(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 49 * 1024, stream, args, nullptr), 1,
               "a launch with 49 KiB of dynamic shared memory (no opt-in)");
    }

    // Each kernel's limits, as ptxas compiled it: __launch_bounds__, registers, static shared memory.
    {
        Handle gemm = nullptr, stats = nullptr;
        expect(cuModuleGetFunction(&gemm, module, "sgemm_strided"), 0, "cuModuleGetFunction(sgemm_strided)");
        expect(cuModuleGetFunction(&stats, module, "batchnorm_stats"), 0, "cuModuleGetFunction(batchnorm_stats)");
        int v = -1;
        expect(cuFuncGetAttribute(&v, 0, gemm), 0, "cuFuncGetAttribute(sgemm_strided, max threads)");
        check(v == 256, "sgemm_strided allows its __launch_bounds__' 256 threads a block (got " + std::to_string(v) + ")");
        expect(cuFuncGetAttribute(&v, 4, gemm), 0, "cuFuncGetAttribute(sgemm_strided, registers)");
        check(v > 32 && v <= 255, "sgemm_strided's registers are ptxas's count (got " + std::to_string(v) + ")");
        expect(cuFuncGetAttribute(&v, 0, f), 0, "cuFuncGetAttribute(fill, max threads)");
        check(v == 1024, "fill allows 1024 threads a block (got " + std::to_string(v) + ")");
        int shared = -1;
        expect(cuFuncGetAttribute(&shared, 1, stats), 0, "cuFuncGetAttribute(batchnorm_stats, static shared)");
        check(shared > 0 && shared < 48 * 1024, "batchnorm_stats has static shared memory (got " + std::to_string(shared) + ")");
        expect(cuFuncGetAttribute(&v, 8, stats), 0, "cuFuncGetAttribute(batchnorm_stats, max dynamic shared)");
        check(v == 48 * 1024 - shared, "its dynamic shared memory is what the static leaves of 48 KiB");
        Dptr none = 0;
        void* args[] = {&none};
        expect(cuLaunchKernel(gemm, 1, 1, 1, 512, 1, 1, 0, stream, args, nullptr), 701,
               "a launch of sgemm_strided with 512 threads a block, above its __launch_bounds__");
        expect(cuLaunchKernel(stats, 1, 1, 1, 256, 1, 1, 48 * 1024 - shared + 4, stream, args, nullptr), 1,
               "a launch of batchnorm_stats whose dynamic and static shared memory pass 48 KiB");
    }

    // Capture: forbidden calls fail and invalidate it; a valid capture replays.
    Handle graph = nullptr, exec = nullptr;
    expect(cuStreamBeginCapture_v2(stream, 1), 0, "cuStreamBeginCapture (thread-local)");
    Dptr q = 0;
    expect(cuMemAlloc_v2(&q, 16), 900, "cuMemAlloc during the capture");
    expect(cuModuleGetFunction(&f, module, "fill"), 900, "cuModuleGetFunction during the capture");
    expect(fill(f, stream, p, 3.0f, 4), 901, "a launch into the invalidated capture");
    expect(cuStreamEndCapture(stream, &graph), 901, "cuStreamEndCapture of the invalidated capture");
    expect(cuStreamBeginCapture_v2(stream, 1), 0, "cuStreamBeginCapture (thread-local)");
    std::thread other([&]() {
        cuCtxSetCurrent(ctx);
        Dptr r = 0;
        expect(cuMemAlloc_v2(&r, 16), 0, "cuMemAlloc on another thread during a thread-local capture");
        cuMemFree_v2(r);
    });
    other.join();
    expect(cuStreamSynchronize(stream), 900, "cuStreamSynchronize of the capturing stream");
    expect(cuStreamEndCapture(stream, &graph), 901, "cuStreamEndCapture after it");
    expect(cuStreamBeginCapture_v2(stream, 1), 0, "cuStreamBeginCapture (thread-local)");
    expect(fill(f, stream, p, 3.0f, 4), 0, "fill 3.0 (captured)");
    expect(cuStreamEndCapture(stream, &graph), 0, "cuStreamEndCapture");
    expect(cuGraphInstantiateWithFlags(&exec, graph, 0), 0, "cuGraphInstantiate");
    expect(cuMemcpyDtoHAsync_v2(host, p, 4 * sizeof(float), stream), 0, "cuMemcpyDtoHAsync");
    expect(cuStreamSynchronize(stream), 0, "cuStreamSynchronize");
    check(host[0] == 6.0f && host[1] == 2.0f, "a captured launch does not run at capture");
    expect(cuGraphLaunch(exec, stream), 0, "cuGraphLaunch");
    expect(cuMemcpyDtoHAsync_v2(host, p, 4 * sizeof(float), stream), 0, "cuMemcpyDtoHAsync");
    expect(cuStreamSynchronize(stream), 0, "cuStreamSynchronize");
    check(host[0] == 3.0f && host[3] == 3.0f, "the replay runs the captured launch");
    expect(cuGraphExecDestroy(exec), 0, "cuGraphExecDestroy");
    expect(cuGraphDestroy(graph), 0, "cuGraphDestroy");
    expect(cuMemFree_v2(p), 0, "cuMemFree");
    expect(cuMemFree_v2(p), 1, "a second cuMemFree of the same pointer");

    // A function of an unloaded module is no function.
    expect(cuModuleUnload(module), 0, "cuModuleUnload");
    int v = 0;
    expect(cuFuncGetAttribute(&v, 0, f), 400, "cuFuncGetAttribute of a function of the unloaded module");
    expect(fill(f, stream, q, 1.0f, 4), 400, "a launch of a function of the unloaded module");
    expect(cuModuleUnload(module), 400, "a second cuModuleUnload");
    return finish();
}
