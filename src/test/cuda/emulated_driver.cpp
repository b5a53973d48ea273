// emulated_driver.cpp: a libcuda.so.1 for a machine without a GPU. It implements the part of the
// CUDA driver API that JCuda calls for normnet (device queries, the primary context, a module,
// memory, copies, memsets, launches, a stream, stream capture and graphs) and runs every kernel of
// src/main/cuda on the CPU through cuda_emu.h. With it on LD_LIBRARY_PATH the Java CUDA backend,
// JCuda's natives included, runs end to end: the GPU tests run here as they would on a device.
// See README.md beside it. Built by emulated-driver.sh.
//
// It follows the driver where normnet could go wrong:
// - Work queued on a stream runs when the host waits for it (cuStreamSynchronize, a synchronous
//   copy, cuMemFree), not at the call: a host read of a copy's destination before the wait sees
//   stale bytes, and a host write to a pinned buffer before its queued copy ran is what the copy
//   sends, as on a device.
// - A call needs a current context on the calling thread (CUDA_ERROR_INVALID_CONTEXT otherwise).
// - During a stream capture the calls a capture forbids (allocation, freeing, module loading,
//   synchronizing, synchronous copies) fail with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and
//   invalidate the capture, which then ends with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.
// - Fresh device memory holds 0xFF bytes (a float NaN), so a read before a write shows. Each
//   allocation sits between pages that cannot be touched (a read or write past them crashes the
//   process), and the bytes up to them are checked after every kernel that got a pointer into it
//   and when it is freed. Freed addresses stay untouchable and are never handed out again.
// - A copy or memset outside one live allocation, a kernel pointer argument outside every live
//   allocation, and a launch configuration the device refuses are errors; after a fault in a
//   kernel every call fails with it, as on the device.
// Not modelled: concurrency between streams (there is one), timing, and the device's exact
// rounding of expf and logf (built with -DEMU_DEVICE_ULPS, cuda_emu.h moves the host's results
// within the device's documented error).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "normnet.cu"

namespace drv {

typedef int CUresult;
const CUresult OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
               INVALID_IMAGE = 200, INVALID_CONTEXT = 201, INVALID_HANDLE = 400, NOT_FOUND = 500,
               ILLEGAL_ADDRESS = 700, LAUNCH_OUT_OF_RESOURCES = 701, CAPTURE_UNSUPPORTED = 900,
               CAPTURE_INVALIDATED = 901, CAPTURE_WRONG_THREAD = 908;

const int kDeviceCount = 1;
const size_t kTotalBytes = (size_t) 80 << 30;
const int kSharedPerBlock = 48 * 1024;  // static and dynamic together, without the opt-in attribute
const char* kDeviceName = "normnet CPU emulation of an sm_90 device (src/test/cuda/emulated_driver.cpp)";

struct Op {
    std::function<void()> run;
};

struct Graph {
    std::vector<Op> ops;
};

struct Stream {
    std::deque<Op> queue;
    bool capturing = false;
    bool invalidated = false;
    int mode = 0;  // CUstreamCaptureMode: 0 global, 1 thread-local, 2 relaxed
    const void* captureThread = nullptr;
    Graph* graph = nullptr;
};

struct Context {
    int refs = 0;
};

struct Function;

// A function handle: one kernel as one module gave it out (cuModuleGetFunction), unusable once
// that module is unloaded.
struct Handle {
    const Function* kernel;
    const struct Module* module;
};

struct Module {
    bool loaded = true;
    std::map<const Function*, Handle> handles;  // one per kernel looked up; never freed
};

typedef std::function<void()> (*Binder)(dim3 grid, dim3 block, unsigned smem, void** params, const char* name);

// A kernel and its resources as ptxas compiled it for sm_90 (emulated-driver.sh).
struct Function {
    const char* name;
    Binder bind;
    int registers;
    int sharedBytes;  // static shared memory
    int maxThreads;   // threads a block may have: __launch_bounds__, registers, 1024
    int localBytes;   // stack frame and spills, per thread
};

struct Allocation {
    size_t bytes;      // as asked
    size_t span;       // bytes from the pointer to the guard page (bytes rounded up to 256)
    char* map;         // the mapping: guard page, data pages, guard page
    size_t mapBytes;
    size_t front;      // bytes between the first data page and the pointer
};

struct State {
    std::recursive_mutex lock;
    bool initialized = false;
    Context primary;
    Stream nullStream;
    std::map<uintptr_t, Allocation> device;      // by pointer
    std::map<uintptr_t, size_t> pinned;          // by pointer: bytes
    size_t used = 0;
    CUresult sticky = OK;                        // a fault inside a kernel: every later call fails
};

inline State& state() {
    static State* s = new State();  // never destroyed: the JVM may call in while exiting
    return *s;
}

thread_local Context* current = nullptr;
thread_local int threadTag = 0;

inline const void* thread_id() { return &threadTag; }

const uint8_t kFill = 0xFF;   // fresh memory: every float a NaN
const uint8_t kGuard = 0xCD;  // the slack between an allocation and its guard pages, checked on free

inline size_t page() {
    static size_t p = (size_t) sysconf(_SC_PAGESIZE);
    return p;
}

inline size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

// The live allocation holding [p, p + bytes), or nullptr.
inline Allocation* find(uintptr_t p, size_t bytes) {
    State& s = state();
    auto it = s.device.upper_bound(p);
    if (it == s.device.begin()) return nullptr;
    --it;
    if (p < it->first || p + bytes > it->first + it->second.bytes || p + bytes < p) return nullptr;
    return &it->second;
}

inline bool in_pinned(const void* h, size_t bytes) {
    State& s = state();
    uintptr_t p = (uintptr_t) h;
    auto it = s.pinned.upper_bound(p);
    if (it == s.pinned.begin()) return false;
    --it;
    return p >= it->first && p + bytes <= it->first + it->second;
}

void report(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void report(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[emulated driver] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

// Runs everything queued on the stream.
inline void drain(Stream& st) {
    while (!st.queue.empty()) {
        Op op = std::move(st.queue.front());
        st.queue.pop_front();
        if (state().sticky == OK) op.run();
    }
}

inline Stream* stream_of(void* h) { return h == nullptr ? &state().nullStream : (Stream*) h; }

std::vector<Stream*>& streams() {
    static std::vector<Stream*>* v = new std::vector<Stream*>{&state().nullStream};
    return *v;
}

// A call that a capture in progress forbids: invalidates that capture and says so.
inline bool unsafe_during_capture(const char* call) {
    for (Stream* st : streams()) {
        if (st->capturing && (st->mode == 0 || (st->mode == 1 && st->captureThread == thread_id()))) {
            report("%s during a stream capture: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, the capture is invalidated", call);
            st->invalidated = true;
            return true;
        }
    }
    return false;
}

inline void drain_all() {
    for (Stream* st : streams()) {
        if (!st->capturing) drain(*st);
    }
}

// Queues op on the stream, or records it in the stream's capture.
// (Work on a stream whose capture was invalidated fails until the capture ends.)
inline CUresult enqueue(Stream& st, std::function<void()> run) {
    if (st.capturing && st.invalidated) return CAPTURE_INVALIDATED;
    if (st.capturing) {
        st.graph->ops.push_back(Op{std::move(run)});
    } else {
        st.queue.push_back(Op{std::move(run)});
    }
    return state().sticky;
}

// An async copy whose host side is `host`: with pinned host memory queued (or captured); with
// pageable memory synchronous, as the driver stages it, and refused in a capture.
inline CUresult async_copy(void* dst, const void* src, size_t bytes, const void* host, Stream* st) {
    if (!in_pinned(host, bytes)) {
        if (st->capturing) {
            st->invalidated = true;
            return CAPTURE_UNSUPPORTED;
        }
        drain(*st);
        memcpy(dst, src, bytes);
        return state().sticky;
    }
    return enqueue(*st, [dst, src, bytes]() { memcpy(dst, src, bytes); });
}

// Frees an allocation's memory but keeps its addresses reserved and inaccessible, never to be
// handed out again: a pointer kept after the free then faults, or is found outside every live
// allocation, instead of reaching a later allocation at the same address.
inline void retire(const Allocation& a) {
    madvise(a.map, a.mapBytes, MADV_DONTNEED);
    mprotect(a.map, a.mapBytes, PROT_NONE);
}

// Whether the slack around the allocation at p still holds kGuard; if not, says so, naming `who`
// (the kernel just run, or the free that found it), and makes the error sticky.
inline bool check_guards(uintptr_t p, const Allocation& a, const char* who) {
    const uint8_t* b = (const uint8_t*) p;
    for (size_t i = a.bytes; i < a.span; i++) {
        if (b[i] != kGuard) {
            report("%s: a write past the end of the %zu-byte allocation at 0x%lx (byte %zu)", who, a.bytes,
                   (unsigned long) p, i);
            state().sticky = ILLEGAL_ADDRESS;
            return false;
        }
    }
    for (size_t i = 0; i < a.front; i++) {
        if ((uint8_t) a.map[page() + i] != kGuard) {
            report("%s: a write before the start of the %zu-byte allocation at 0x%lx", who, a.bytes, (unsigned long) p);
            state().sticky = ILLEGAL_ADDRESS;
            return false;
        }
    }
    return true;
}

// Kernel arguments: each is copied from params when the launch is queued (or captured), as the
// driver does; a pointer argument must point into (or just past) a live allocation when it runs.
// pointer_ok is false for a pointer outside every live allocation; for one inside, it sets *base
// to the allocation's address (left alone for null and for values that are no pointer).
template <class T>
inline bool pointer_ok(const T&, uintptr_t*) {
    return true;
}
template <class T>
inline bool pointer_ok(T* const& p, uintptr_t* base) {
    if (p == nullptr) return true;
    State& s = state();
    uintptr_t v = (uintptr_t) p;
    auto it = s.device.upper_bound(v);
    if (it == s.device.begin()) return false;
    --it;
    if (v < it->first || v > it->first + it->second.bytes) return false;
    *base = it->first;
    return true;
}

template <class... A, size_t... I>
std::function<void()> bind_impl(void (*k)(A...), dim3 grid, dim3 block, unsigned smem, void** params, const char* name,
                                std::index_sequence<I...>) {
    std::tuple<std::decay_t<A>...> args(*static_cast<std::decay_t<A>*>(params[I])...);
    return [k, grid, block, smem, args, name]() {
        bool ok = true;
        int index = 0;
        std::vector<uintptr_t> touched;
        auto check = [&](const auto& a) {
            uintptr_t base = 0;
            if (!pointer_ok(a, &base)) {
                report("kernel %s: pointer argument %d points outside every live allocation", name, index);
                ok = false;
            } else if (base != 0) {
                touched.push_back(base);
            }
            index++;
        };
        std::apply([&](const auto&... a) { (check(a), ...); }, args);
        if (!ok) {
            state().sticky = ILLEGAL_ADDRESS;
            return;
        }
        std::apply([&](auto... a) { emu::launch(emu::Config(grid, block, smem), k, a...); }, args);
        if (cudaGetLastError() != cudaSuccess) {
            report("kernel %s: the emulation refused the launch", name);
            state().sticky = ILLEGAL_ADDRESS;
            return;
        }
        std::string who = std::string("kernel ") + name;
        for (uintptr_t base : touched) {
            if (!check_guards(base, state().device.at(base), who.c_str())) return;
        }
    };
}

template <class... A>
std::function<void()> bind(void (*k)(A...), dim3 grid, dim3 block, unsigned smem, void** params, const char* name) {
    return bind_impl(k, grid, block, smem, params, name, std::index_sequence_for<A...>{});
}

#define K(name, registers, shared, maxThreads, local)                                                         \
    {#name, [](dim3 g, dim3 b, unsigned smem, void** p, const char* n) { return bind(&::name, g, b, smem, p, n); }, \
     registers, shared, maxThreads, local},
const Function kFunctions[] = {
#include "emulated_kernels.inc"
};
#undef K

}  // namespace drv

using namespace drv;

#define API extern "C" __attribute__((visibility("default"))) CUresult
#define GUARD std::lock_guard<std::recursive_mutex> hold(state().lock)
#define NEED_INIT \
    if (!state().initialized) return NOT_INITIALIZED
// After a fault in a kernel "any further CUDA work will return the same error" (CUDA_ERROR_ILLEGAL_ADDRESS).
#define NEED_CONTEXT                                             \
    NEED_INIT;                                                   \
    if (current == nullptr || current->refs == 0) return INVALID_CONTEXT; \
    if (state().sticky != OK) return state().sticky

API cuInit(unsigned flags) {
    GUARD;
    if (flags != 0) return INVALID_VALUE;
    state().initialized = true;
    return OK;
}

API cuDriverGetVersion(int* v) {
    if (v == nullptr) return INVALID_VALUE;
    *v = 13000;
    return OK;
}

API cuDeviceGetCount(int* n) {
    GUARD;
    NEED_INIT;
    if (n == nullptr) return INVALID_VALUE;
    *n = kDeviceCount;
    return OK;
}

API cuDeviceGet(int* d, int ordinal) {
    GUARD;
    NEED_INIT;
    if (d == nullptr) return INVALID_VALUE;
    if (ordinal < 0 || ordinal >= kDeviceCount) return INVALID_DEVICE;
    *d = ordinal;
    return OK;
}

API cuDeviceGetName(char* name, int len, int dev) {
    GUARD;
    NEED_INIT;
    if (name == nullptr || len <= 0) return INVALID_VALUE;
    if (dev != 0) return INVALID_DEVICE;
    snprintf(name, (size_t) len, "%s", kDeviceName);
    return OK;
}

API cuDeviceGetAttribute(int* v, int attribute, int dev) {
    GUARD;
    NEED_INIT;
    if (v == nullptr) return INVALID_VALUE;
    if (dev != 0) return INVALID_DEVICE;
    switch (attribute) {
        case 1: *v = 1024; break;                 // max threads per block
        case 2: case 3: *v = 1024; break;         // max block x, y
        case 4: *v = 64; break;                   // max block z
        case 5: *v = 2147483647; break;           // max grid x
        case 6: case 7: *v = 65535; break;        // max grid y, z
        case 8: *v = kSharedPerBlock; break;      // shared memory per block
        case 10: *v = 32; break;                  // warp size
        case 16: *v = 132; break;                 // multiprocessors
        case 38: *v = 50 * 1024 * 1024; break;    // L2 bytes
        case 39: *v = 2048; break;                // max threads per multiprocessor
        case 75: *v = 9; break;                   // compute capability major
        case 76: *v = 0; break;                   // minor
        case 97: *v = 227 * 1024; break;          // shared memory per block, opt-in
        default:
            report("cuDeviceGetAttribute(%d) is not emulated", attribute);
            return INVALID_VALUE;
    }
    return OK;
}

API cuDevicePrimaryCtxRetain(Context** ctx, int dev) {
    GUARD;
    NEED_INIT;
    if (ctx == nullptr) return INVALID_VALUE;
    if (dev != 0) return INVALID_DEVICE;
    state().primary.refs++;
    *ctx = &state().primary;
    return OK;
}

API cuDevicePrimaryCtxRelease_v2(int dev) {
    GUARD;
    NEED_INIT;
    if (dev != 0) return INVALID_DEVICE;
    Context& c = state().primary;
    if (c.refs == 0) return INVALID_CONTEXT;
    if (--c.refs == 0) {
        // The primary context is destroyed: its memory, module and streams go with it.
        drain_all();
        State& s = state();
        for (auto& e : s.device) retire(e.second);
        s.device.clear();
        s.used = 0;
    }
    return OK;
}

API cuCtxSetCurrent(Context* ctx) {
    GUARD;
    NEED_INIT;
    if (ctx != nullptr && ctx->refs == 0) return INVALID_CONTEXT;
    current = ctx;
    return OK;
}

API cuCtxGetCurrent(Context** ctx) {
    GUARD;
    NEED_INIT;
    if (ctx == nullptr) return INVALID_VALUE;
    *ctx = current;
    return OK;
}

API cuModuleLoadData(Module** module, const void* image) {
    GUARD;
    NEED_CONTEXT;
    if (module == nullptr || image == nullptr) return INVALID_VALUE;
    if (unsafe_during_capture("cuModuleLoadData")) return CAPTURE_UNSUPPORTED;
    uint32_t magic;
    memcpy(&magic, image, sizeof(magic));
    if (magic != 0xBA55ED50u) {  // a fatbin's header
        report("cuModuleLoadData: the image is not a fatbin (magic 0x%08x)", magic);
        return INVALID_IMAGE;
    }
    *module = new Module();
    return OK;
}

API cuModuleGetFunction(const Handle** f, Module* module, const char* name) {
    GUARD;
    NEED_CONTEXT;
    if (f == nullptr || module == nullptr || name == nullptr) return INVALID_VALUE;
    if (!module->loaded) return INVALID_HANDLE;
    // With lazy loading (the default since CUDA 12.2) the lookup may load code: not in a capture.
    if (unsafe_during_capture("cuModuleGetFunction")) return CAPTURE_UNSUPPORTED;
    for (const Function& k : kFunctions) {
        if (strcmp(k.name, name) == 0) {
            *f = &module->handles.emplace(&k, Handle{&k, module}).first->second;
            return OK;
        }
    }
    return NOT_FOUND;
}

API cuModuleUnload(Module* module) {
    GUARD;
    NEED_CONTEXT;
    if (module == nullptr || !module->loaded) return INVALID_HANDLE;
    if (unsafe_during_capture("cuModuleUnload")) return CAPTURE_UNSUPPORTED;
    drain_all();
    module->loaded = false;  // kept, so that a second unload is an error rather than a crash
    return OK;
}

API cuStreamCreate(Stream** st, unsigned flags) {
    GUARD;
    NEED_CONTEXT;
    if (st == nullptr || flags > 1) return INVALID_VALUE;
    *st = new Stream();
    streams().push_back(*st);
    return OK;
}

API cuStreamDestroy_v2(Stream* st) {
    GUARD;
    NEED_CONTEXT;
    if (st == nullptr) return INVALID_HANDLE;
    if (st->capturing) return CAPTURE_UNSUPPORTED;
    drain(*st);
    auto& v = streams();
    v.erase(std::remove(v.begin(), v.end(), st), v.end());
    delete st;
    return OK;
}

API cuStreamSynchronize(Stream* h) {
    GUARD;
    NEED_CONTEXT;
    Stream* st = stream_of(h);
    if (st->capturing) {
        report("cuStreamSynchronize on a stream being captured: the capture is invalidated");
        st->invalidated = true;
        return CAPTURE_UNSUPPORTED;
    }
    if (unsafe_during_capture("cuStreamSynchronize")) return CAPTURE_UNSUPPORTED;
    drain(*st);
    return state().sticky;
}

API cuStreamBeginCapture_v2(Stream* h, int mode) {
    GUARD;
    NEED_CONTEXT;
    if (h == nullptr) return INVALID_VALUE;  // the legacy stream cannot be captured
    if (mode < 0 || mode > 2) return INVALID_VALUE;
    if (h->capturing) return INVALID_VALUE;
    h->capturing = true;
    h->invalidated = false;
    h->mode = mode;
    h->captureThread = thread_id();
    h->graph = new Graph();
    return state().sticky;
}

API cuStreamEndCapture(Stream* h, Graph** graph) {
    GUARD;
    NEED_CONTEXT;
    if (h == nullptr || graph == nullptr) return INVALID_VALUE;
    if (!h->capturing) return INVALID_VALUE;
    if (h->mode != 2 && h->captureThread != thread_id()) return CAPTURE_WRONG_THREAD;
    h->capturing = false;
    Graph* g = h->graph;
    h->graph = nullptr;
    if (h->invalidated) {
        delete g;
        *graph = nullptr;
        return CAPTURE_INVALIDATED;
    }
    *graph = g;
    return OK;
}

API cuGraphInstantiateWithFlags(Graph** exec, Graph* graph, unsigned long long flags) {
    GUARD;
    NEED_CONTEXT;
    if (exec == nullptr || graph == nullptr || flags != 0) return INVALID_VALUE;
    *exec = new Graph(*graph);
    return OK;
}

API cuGraphDestroy(Graph* graph) {
    GUARD;
    if (graph == nullptr) return INVALID_VALUE;
    delete graph;
    return OK;
}

API cuGraphExecDestroy(Graph* exec) {
    GUARD;
    if (exec == nullptr) return INVALID_VALUE;
    drain_all();  // a replay still queued must not outlive its graph
    delete exec;
    return OK;
}

API cuGraphLaunch(Graph* exec, Stream* h) {
    GUARD;
    NEED_CONTEXT;
    if (exec == nullptr) return INVALID_VALUE;
    Stream* st = stream_of(h);
    if (st->capturing) return CAPTURE_UNSUPPORTED;
    for (const Op& op : exec->ops) st->queue.push_back(op);
    return state().sticky;
}

API cuMemAlloc_v2(uintptr_t* dptr, size_t bytes) {
    GUARD;
    NEED_CONTEXT;
    if (dptr == nullptr || bytes == 0) return INVALID_VALUE;
    if (unsafe_during_capture("cuMemAlloc")) return CAPTURE_UNSUPPORTED;
    State& s = state();
    if (bytes > kTotalBytes - s.used) return OUT_OF_MEMORY;
    size_t span = round_up(bytes, 256);
    size_t data = round_up(span, page());
    size_t mapBytes = data + 2 * page();
    char* map = (char*) mmap(nullptr, mapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return OUT_OF_MEMORY;
    mprotect(map, page(), PROT_NONE);
    mprotect(map + page() + data, page(), PROT_NONE);
    size_t front = data - span;
    memset(map + page(), kGuard, front);
    char* p = map + page() + front;
    memset(p, kFill, bytes);
    memset(p + bytes, kGuard, span - bytes);
    s.device[(uintptr_t) p] = Allocation{bytes, span, map, mapBytes, front};
    s.used += bytes;
    *dptr = (uintptr_t) p;
    return OK;
}

API cuMemFree_v2(uintptr_t dptr) {
    GUARD;
    NEED_CONTEXT;
    if (unsafe_during_capture("cuMemFree")) return CAPTURE_UNSUPPORTED;
    State& s = state();
    auto it = s.device.find(dptr);
    if (it == s.device.end()) return INVALID_VALUE;
    drain_all();  // cuMemFree waits for the work that may still use the memory
    bool intact = check_guards(dptr, it->second, "cuMemFree");
    retire(it->second);
    s.used -= it->second.bytes;
    s.device.erase(it);
    return intact ? state().sticky : ILLEGAL_ADDRESS;
}

API cuMemGetInfo_v2(size_t* free, size_t* total) {
    GUARD;
    NEED_CONTEXT;
    if (free == nullptr || total == nullptr) return INVALID_VALUE;
    *total = kTotalBytes;
    *free = kTotalBytes - state().used;
    return OK;
}

API cuMemAllocHost_v2(void** p, size_t bytes) {
    GUARD;
    NEED_CONTEXT;
    if (p == nullptr || bytes == 0) return INVALID_VALUE;
    if (unsafe_during_capture("cuMemAllocHost")) return CAPTURE_UNSUPPORTED;
    void* m = malloc(bytes);
    if (m == nullptr) return OUT_OF_MEMORY;
    memset(m, kFill, bytes);
    state().pinned[(uintptr_t) m] = bytes;
    *p = m;
    return OK;
}

API cuMemFreeHost(void* p) {
    GUARD;
    NEED_CONTEXT;
    if (unsafe_during_capture("cuMemFreeHost")) return CAPTURE_UNSUPPORTED;
    auto it = state().pinned.find((uintptr_t) p);
    if (it == state().pinned.end()) return INVALID_VALUE;
    drain_all();  // a queued copy may still read or write it
    state().pinned.erase(it);
    free(p);
    return OK;
}

API cuMemcpyHtoDAsync_v2(uintptr_t dst, const void* src, size_t bytes, Stream* h) {
    GUARD;
    NEED_CONTEXT;
    if (src == nullptr || find(dst, bytes) == nullptr) return INVALID_VALUE;
    return async_copy((void*) dst, src, bytes, src, stream_of(h));
}

API cuMemcpyDtoHAsync_v2(void* dst, uintptr_t src, size_t bytes, Stream* h) {
    GUARD;
    NEED_CONTEXT;
    if (dst == nullptr || find(src, bytes) == nullptr) return INVALID_VALUE;
    return async_copy(dst, (const void*) src, bytes, dst, stream_of(h));
}

API cuMemcpyHtoD_v2(uintptr_t dst, const void* src, size_t bytes) {
    GUARD;
    NEED_CONTEXT;
    if (src == nullptr || find(dst, bytes) == nullptr) return INVALID_VALUE;
    if (unsafe_during_capture("cuMemcpyHtoD")) return CAPTURE_UNSUPPORTED;
    drain_all();
    memcpy((void*) dst, src, bytes);
    return state().sticky;
}

API cuMemcpyDtoH_v2(void* dst, uintptr_t src, size_t bytes) {
    GUARD;
    NEED_CONTEXT;
    if (dst == nullptr || find(src, bytes) == nullptr) return INVALID_VALUE;
    if (unsafe_during_capture("cuMemcpyDtoH")) return CAPTURE_UNSUPPORTED;
    drain_all();
    memcpy(dst, (const void*) src, bytes);
    return state().sticky;
}

API cuMemsetD32Async(uintptr_t dst, unsigned value, size_t n, Stream* h) {
    GUARD;
    NEED_CONTEXT;
    if (dst % 4 != 0 || n > SIZE_MAX / 4 || find(dst, n * 4) == nullptr) return INVALID_VALUE;
    return enqueue(*stream_of(h), [dst, value, n]() {
        uint32_t* p = (uint32_t*) dst;
        for (size_t i = 0; i < n; i++) p[i] = value;
    });
}

// The kernel's attributes as the device reports them, from ptxas's account of its sm_90 code.
API cuFuncGetAttribute(int* v, int attribute, const Handle* h) {
    GUARD;
    NEED_CONTEXT;
    if (v == nullptr) return INVALID_VALUE;
    if (h == nullptr || !h->module->loaded) return INVALID_HANDLE;
    const Function& f = *h->kernel;
    switch (attribute) {
        case 0: *v = f.maxThreads; break;                           // max threads per block
        case 1: *v = f.sharedBytes; break;                          // static shared memory
        case 2: *v = 0; break;                                      // constant memory
        case 3: *v = f.localBytes; break;                           // local memory (stack, spills)
        case 4: *v = f.registers; break;                            // registers per thread
        case 5: case 6: *v = 90; break;                             // PTX, binary version
        case 8: *v = kSharedPerBlock - f.sharedBytes; break;        // max dynamic shared memory
        default:
            report("cuFuncGetAttribute(%s): attribute %d is not emulated", f.name, attribute);
            return INVALID_VALUE;
    }
    return OK;
}

API cuLaunchKernel(const Handle* h, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned smem, Stream* st, void** params, void** extra) {
    GUARD;
    NEED_CONTEXT;
    if (h == nullptr || !h->module->loaded) return INVALID_HANDLE;
    const Function& f = *h->kernel;
    if (extra != nullptr || params == nullptr) {
        report("cuLaunchKernel(%s): only kernelParams are emulated", f.name);
        return INVALID_VALUE;
    }
    unsigned long long threads = (unsigned long long) bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || threads == 0 || gx > 2147483647u || gy > 65535 || gz > 65535 || bx > 1024 ||
        by > 1024 || bz > 64 || threads > 1024) {
        return INVALID_VALUE;
    }
    if (smem > (unsigned) (kSharedPerBlock - f.sharedBytes)) {
        report("cuLaunchKernel(%s): %u bytes of dynamic shared memory and %d of static are more than a block's %d",
               f.name, smem, f.sharedBytes, kSharedPerBlock);
        return INVALID_VALUE;
    }
    if (threads > (unsigned long long) f.maxThreads) {
        report("cuLaunchKernel(%s): a block of %llu threads; its __launch_bounds__ or its %d registers allow %d",
               f.name, threads, f.registers, f.maxThreads);
        return LAUNCH_OUT_OF_RESOURCES;
    }
    return enqueue(*stream_of(st), f.bind(dim3(gx, gy, gz), dim3(bx, by, bz), smem, params, f.name));
}

API cuGetErrorName(CUresult e, const char** s) {
    if (s == nullptr) return INVALID_VALUE;
    *s = e == OK ? "CUDA_SUCCESS" : "CUDA_ERROR (emulated driver)";
    return OK;
}

API cuGetErrorString(CUresult e, const char** s) { return cuGetErrorName(e, s); }

API cuDevicePrimaryCtxGetState(int dev, unsigned* flags, int* active) {
    GUARD;
    NEED_INIT;
    if (flags == nullptr || active == nullptr) return INVALID_VALUE;
    if (dev != 0) return INVALID_DEVICE;
    *flags = 0;
    *active = state().primary.refs > 0;
    return OK;
}
