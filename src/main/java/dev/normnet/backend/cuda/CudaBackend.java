package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.LaunchGeometry.ceilDiv;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend: normnet's own kernels ({@code src/main/cuda}, compiled ahead of time into
 * the class-path resource {@value #FATBIN_RESOURCE}) launched through JCuda's driver API.
 *
 * <p>One context (the device's primary context), one stream, one module. Every op queues its
 * kernels on the stream and returns; reading a tensor waits. Tensors are windows onto
 * cuMemAlloc'ed storage, zero-filled when allocated. Reductions (batch statistics, parameter
 * gradients, metrics) use per-block partials merged in a fixed order, never float atomics, so a
 * run gives the same bits every time on the same GPU. Scratch for those partials is allocated
 * once per shape and cached, so a steady-state step allocates nothing, and {@link #capture}
 * turns a step into a CUDA graph that is replayed.
 *
 * <p>GEMMs run on normnet's own tiled kernel (gemm.cu). cuBLAS is not used: JCublas 12.6.0 needs
 * libcublas.so.12, which a machine with only the driver (or only CUDA 13 libraries) lacks, and
 * JCublas is not a dependency.
 *
 * <p>Errors: every driver call is checked; a failure throws {@link CudaException} naming the call
 * or kernel, its shapes and the CUDA error. Kernel faults surface asynchronously at the next
 * synchronizing call; with {@code -Dnormnet.debug=1} every launch is logged with its grid and
 * block and followed by a synchronize, so the failing kernel is named.
 */
public final class CudaBackend implements Backend {
    /** Class-path location of the kernels compiled by nvcc during the build. */
    public static final String FATBIN_RESOURCE = "/dev/normnet/backend/cuda/normnet.fatbin";
    /** Class-path location of the kernels' parameter types ("name u64 u32 f32 ..." per line), written with the fatbin. */
    public static final String SIGNATURES_RESOURCE = "/dev/normnet/backend/cuda/normnet.kernels";

    static final boolean DEBUG = "1".equals(System.getProperty("normnet.debug"));

    /** Largest staging buffer for host-device copies (larger copies go in pieces). */
    private static final long STAGING_MAX_BYTES = 16L << 20;

    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final CUmodule module;
    private final String name;
    private final int major;
    private final int minor;
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, CUdeviceptr> scratch = new HashMap<>();
    private final Map<CudaTensor.Storage, Boolean> live = new IdentityHashMap<>();
    private final List<CUgraphExec> graphs = new ArrayList<>();
    private final CUdeviceptr nullPointer = new CUdeviceptr();
    private final Map<String, String> signatures = readSignatures();
    /** Launches recorded instead of run (a backend made by {@link #recorder()}); null on a real GPU. */
    private final List<Launch> recorded;

    private Pointer staging;  // pinned host memory
    private long stagingBytes;
    private ByteBuffer stagingBuffer;
    private Thread contextThread;

    /** True during the dry run before a capture: ops check shapes and reserve scratch, launch nothing. */
    private boolean planning;
    /** True while the stream is being captured into a graph. */
    private boolean capturing;
    private boolean closed;

    /**
     * Opens the first CUDA device. Prefer {@code Backends.select(String)}, which probes first and
     * explains why CUDA is unavailable.
     *
     * @throws CudaException when the driver, the device or the kernels cannot be used
     */
    public CudaBackend() {
        recorded = null;
        byte[] fatbin = readFatbin();
        if (fatbin == null) {
            throw new CudaException("kernels not built: no " + FATBIN_RESOURCE + " on the class path", CUresult.CUDA_ERROR_NOT_FOUND);
        }
        check(JCudaDriver.cuInit(0), "cuInit");
        int[] count = new int[1];
        check(JCudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
        if (count[0] < 1) {
            throw new CudaException("no CUDA device", CUresult.CUDA_ERROR_NO_DEVICE);
        }
        cuDevice = new CUdevice();
        check(JCudaDriver.cuDeviceGet(cuDevice, 0), "cuDeviceGet");
        name = deviceName(cuDevice);
        major = attribute(cuDevice, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        minor = attribute(cuDevice, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        context = new CUcontext();
        check(JCudaDriver.cuDevicePrimaryCtxRetain(context, cuDevice), "cuDevicePrimaryCtxRetain");
        check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        contextThread = Thread.currentThread();
        module = new CUmodule();
        int loaded = JCudaDriver.cuModuleLoadData(module, fatbin);
        if (loaded != CUresult.CUDA_SUCCESS) {
            JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice);
            check(loaded, "cuModuleLoadData(" + FATBIN_RESOURCE + ") on " + name + " (sm_" + major + minor + ")");
        }
        stream = new CUstream();
        check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }

    /** One kernel launch as seen by a recorder: name, grid, block, dynamic shared memory, argument types, shapes. */
    record Launch(String kernel, int gx, int gy, int gz, int threads, int sharedBytes, String argTypes, String shapes) {
    }

    private CudaBackend(List<Launch> recorded) {
        this.recorded = recorded;
        cuDevice = null;
        context = null;
        stream = null;
        module = null;
        name = "launch recorder";
        major = 0;
        minor = 0;
    }

    /**
     * A backend that needs no GPU: every op checks its arguments, computes its launches and
     * checks them against the kernels' parameter types, then records them instead of running
     * them. Tensors hold no memory (reading one gives zeros). For host-side tests of the launch
     * code.
     */
    static CudaBackend recorder() {
        return new CudaBackend(new ArrayList<>());
    }

    /** The launches recorded so far (recorder only). */
    List<Launch> recorded() {
        return recorded;
    }

    // ================================================================ probe

    /**
     * Checks once whether this backend can run here, catching everything: JCuda's native library
     * failing to load (no driver), no device, no fatbin resource, a fatbin without code for this
     * GPU. Reasons: "no NVIDIA driver", "no CUDA device", "kernels not built",
     * "no binary for this GPU", else the CUDA error name.
     */
    public static CudaStatus probe() {
        String device = "none";
        try {
            int init;
            try {
                init = JCudaDriver.cuInit(0);
            } catch (LinkageError e) {  // UnsatisfiedLinkError, NoClassDefFoundError from the static initializer
                debug("probe: JCuda's driver library did not load: " + e);
                return new CudaStatus(false, "no NVIDIA driver", device);
            }
            if (init == CUresult.CUDA_ERROR_NO_DEVICE) {
                return new CudaStatus(false, "no CUDA device", device);
            }
            if (init != CUresult.CUDA_SUCCESS) {
                return new CudaStatus(false, CUresult.stringFor(init), device);
            }
            int[] count = new int[1];
            int r = JCudaDriver.cuDeviceGetCount(count);
            if (r != CUresult.CUDA_SUCCESS) {
                return new CudaStatus(false, CUresult.stringFor(r), device);
            }
            if (count[0] < 1) {
                return new CudaStatus(false, "no CUDA device", device);
            }
            CUdevice dev = new CUdevice();
            r = JCudaDriver.cuDeviceGet(dev, 0);
            if (r != CUresult.CUDA_SUCCESS) {
                return new CudaStatus(false, CUresult.stringFor(r), device);
            }
            int[] driver = new int[1];
            JCudaDriver.cuDriverGetVersion(driver);
            device = deviceName(dev) + " (sm_" + attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                    + attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
                    + ", driver " + driver[0] / 1000 + "." + (driver[0] % 1000) / 10 + ")";
            byte[] fatbin = readFatbin();
            if (fatbin == null) {
                return new CudaStatus(false, "kernels not built", device);
            }
            CUcontext ctx = new CUcontext();
            r = JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev);
            if (r != CUresult.CUDA_SUCCESS) {
                return new CudaStatus(false, CUresult.stringFor(r), device);
            }
            try {
                r = JCudaDriver.cuCtxSetCurrent(ctx);
                if (r != CUresult.CUDA_SUCCESS) {
                    return new CudaStatus(false, CUresult.stringFor(r), device);
                }
                CUmodule mod = new CUmodule();
                r = JCudaDriver.cuModuleLoadData(mod, fatbin);
                if (r == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU) {
                    return new CudaStatus(false, "no binary for this GPU", device);
                }
                if (r != CUresult.CUDA_SUCCESS) {
                    return new CudaStatus(false, CUresult.stringFor(r), device);
                }
                JCudaDriver.cuModuleUnload(mod);
            } finally {
                JCudaDriver.cuDevicePrimaryCtxRelease(dev);
            }
            return new CudaStatus(true, "cuda: " + device, device);
        } catch (Throwable t) {
            debug("probe failed: " + t);
            String message = t.getMessage();
            return new CudaStatus(false, t.getClass().getSimpleName()
                    + (message == null ? "" : ": " + message.lines().findFirst().orElse("")), device);
        }
    }

    /** The kernels' parameter types by name, empty when the build had no nvcc. */
    static Map<String, String> readSignatures() {
        Map<String, String> map = new HashMap<>();
        try (InputStream in = CudaBackend.class.getResourceAsStream(SIGNATURES_RESOURCE)) {
            if (in == null) {
                return map;
            }
            for (String line : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).split("\n")) {
                String t = line.trim();
                if (!t.isEmpty()) {
                    int space = t.indexOf(' ');
                    map.put(space < 0 ? t : t.substring(0, space), space < 0 ? "" : t.substring(space + 1));
                }
            }
            return map;
        } catch (IOException e) {
            throw new CudaException("cannot read " + SIGNATURES_RESOURCE + ": " + e.getMessage(), CUresult.CUDA_ERROR_FILE_NOT_FOUND);
        }
    }

    /** The fatbin resource's bytes, or null when the build had no nvcc. */
    static byte[] readFatbin() {
        try (InputStream in = CudaBackend.class.getResourceAsStream(FATBIN_RESOURCE)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new CudaException("cannot read " + FATBIN_RESOURCE + ": " + e.getMessage(), CUresult.CUDA_ERROR_FILE_NOT_FOUND);
        }
    }

    private static String deviceName(CUdevice dev) {
        byte[] buf = new byte[256];
        check(JCudaDriver.cuDeviceGetName(buf, buf.length, dev), "cuDeviceGetName");
        int len = 0;
        while (len < buf.length && buf[len] != 0) {
            len++;
        }
        return new String(buf, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
    }

    private static int attribute(CUdevice dev, int attribute) {
        int[] v = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(v, attribute, dev), "cuDeviceGetAttribute(" + attribute + ")");
        return v[0];
    }

    static void check(int result, String what) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(what + " failed: " + CUresult.stringFor(result), result);
        }
    }

    private static void debug(String message) {
        if (DEBUG) {
            System.err.println("[normnet cuda] " + message);
        }
    }

    // ================================================================ basics

    @Override
    public Device device() {
        return Device.CUDA;
    }

    @Override
    public String describe() {
        return "cuda: " + name + " (sm_" + major + minor + ")";
    }

    /** Makes this backend's context current on the calling thread (JCuda contexts are per thread). */
    private void enter() {
        if (closed) {
            throw new IllegalStateException("CudaBackend is closed");
        }
        Thread t = Thread.currentThread();
        if (recorded == null && t != contextThread) {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextThread = t;
        }
    }

    // ================================================================ memory

    @Override
    public Tensor allocate(Shape shape) {
        enter();
        if (capturing) {
            throw new IllegalStateException("allocate " + shape + " inside a captured step: allocate buffers once, before the step");
        }
        long elements = Math.max(1, shape.size());
        CudaTensor.Storage storage = allocStorage(elements, "allocate " + shape);
        if (recorded != null) {
            return new CudaTensor(this, storage, 0, shape, true);
        }
        check(JCudaDriver.cuMemsetD32Async(storage.base, 0, elements, stream), "cuMemsetD32Async (zero " + shape + ")");
        return new CudaTensor(this, storage, 0, shape, true);
    }

    private CudaTensor.Storage allocStorage(long elements, String what) {
        CUdeviceptr p = new CUdeviceptr();
        if (recorded == null) {
            check(JCudaDriver.cuMemAlloc(p, elements * Float.BYTES), "cuMemAlloc " + elements * Float.BYTES + " bytes for " + what);
        }
        CudaTensor.Storage s = new CudaTensor.Storage(p, elements);
        live.put(s, Boolean.TRUE);
        return s;
    }

    void free(CudaTensor.Storage storage) {
        if (storage.freed || closed) {
            return;
        }
        if (capturing) {
            throw new IllegalStateException("closing a tensor inside a captured step");
        }
        enter();
        storage.freed = true;
        live.remove(storage);
        if (recorded != null) {
            return;
        }
        if (!planning) {
            check(JCudaDriver.cuStreamSynchronize(stream), "synchronize before cuMemFree (an earlier kernel may have failed)");
        }
        check(JCudaDriver.cuMemFree(storage.base), "cuMemFree");
    }

    /** Scratch of at least {@code floats} elements for {@code key}, allocated once and kept until close. */
    private CUdeviceptr scratch(String key, long floats) {
        CUdeviceptr p = scratch.get(key);
        if (p == null) {
            if (capturing) {
                throw new IllegalStateException("scratch " + key + " first needed inside a capture (the dry run should have reserved it)");
            }
            p = new CUdeviceptr();
            if (recorded == null) {
                check(JCudaDriver.cuMemAlloc(p, Math.max(1, floats) * Float.BYTES), "cuMemAlloc scratch " + key);
            }
            scratch.put(key, p);
        }
        return p;
    }

    private ByteBuffer staging(long bytes) {
        if (bytes > stagingBytes) {
            if (staging != null) {
                check(JCudaDriver.cuMemFreeHost(staging), "cuMemFreeHost");
                staging = null;
            }
            long size = Math.max(bytes, 1 << 16);
            Pointer p = new Pointer();
            check(JCudaDriver.cuMemAllocHost(p, size), "cuMemAllocHost " + size + " bytes");
            staging = p;
            stagingBytes = size;
            stagingBuffer = p.getByteBuffer(0, size).order(ByteOrder.nativeOrder());
        }
        return stagingBuffer;
    }

    private void noTransferWhileCapturing(String what) {
        if (capturing || planning) {
            throw new IllegalStateException(what + " inside a captured step: a step may only queue ops");
        }
    }

    /** Copies a device tensor to {@code out} through pinned memory, in pieces of at most 16 MiB. */
    void download(CudaTensor t, float[] out) {
        enter();
        noTransferWhileCapturing("reading " + t.shape());
        if (recorded != null) {
            return;
        }
        long total = out.length;
        long chunk = STAGING_MAX_BYTES / Float.BYTES;
        for (long done = 0; done < total; done += chunk) {
            int n = (int) Math.min(chunk, total - done);
            ByteBuffer buf = staging((long) n * Float.BYTES);
            check(JCudaDriver.cuMemcpyDtoHAsync(staging, t.pointer().withByteOffset(done * Float.BYTES),
                    (long) n * Float.BYTES, stream), "cuMemcpyDtoHAsync " + t.shape());
            check(JCudaDriver.cuStreamSynchronize(stream), "reading " + t.shape() + " (an earlier kernel may have failed)");
            buf.clear();
            buf.asFloatBuffer().get(out, (int) done, n);
        }
    }

    /** Copies {@code src} into a device tensor through pinned memory (synchronous: src may be reused at once). */
    void upload(CudaTensor t, float[] src) {
        enter();
        noTransferWhileCapturing("copyFrom into " + t.shape());
        if (recorded != null) {
            return;
        }
        long total = src.length;
        long chunk = STAGING_MAX_BYTES / Float.BYTES;
        for (long done = 0; done < total; done += chunk) {
            int n = (int) Math.min(chunk, total - done);
            ByteBuffer buf = staging((long) n * Float.BYTES);
            buf.clear();
            buf.asFloatBuffer().put(src, (int) done, n);
            check(JCudaDriver.cuMemcpyHtoDAsync(t.pointer().withByteOffset(done * Float.BYTES), staging,
                    (long) n * Float.BYTES, stream), "cuMemcpyHtoDAsync " + t.shape());
            check(JCudaDriver.cuStreamSynchronize(stream), "copyFrom into " + t.shape());
        }
    }

    private void uploadBytes(CUdeviceptr dst, byte[] src) {
        if (recorded != null) {
            return;
        }
        long chunk = STAGING_MAX_BYTES;
        for (long done = 0; done < src.length; done += chunk) {
            int n = (int) Math.min(chunk, src.length - done);
            ByteBuffer buf = staging(n);
            buf.clear();
            buf.put(src, (int) done, n);
            check(JCudaDriver.cuMemcpyHtoDAsync(dst.withByteOffset(done), staging, n, stream), "cuMemcpyHtoDAsync images");
            check(JCudaDriver.cuStreamSynchronize(stream), "uploading images");
        }
    }

    @Override
    public void fill(Tensor t, float value) {
        CudaTensor ct = cuda("fill", "t", t);
        int n = ct.shape().sizeInt();
        launch("fill", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, ct.shape().toString(),
                args().ptr(ct).f(value).i(n));
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda("copy", "src", src);
        CudaTensor d = cuda("copy", "dst", dst);
        if (s.size() != d.size()) {
            throw new IllegalArgumentException("copy: src " + s.shape() + " and dst " + d.shape() + " differ in size");
        }
        int n = s.shape().sizeInt();
        launch("copy", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, s.shape() + " -> " + d.shape(),
                args().ptr(s).ptr(d).i(n));
    }

    @Override
    public void addScalar(Tensor t, int index, float delta) {
        CudaTensor ct = cuda("addScalar", "t", t);
        if (index < 0 || index >= ct.size()) {
            throw new IllegalArgumentException("addScalar: index " + index + " outside a tensor of shape " + ct.shape());
        }
        launch("add_scalar", 1, 1, 1, 1, 0, ct.shape() + "[" + index + "]", args().ptr(ct).i(index).f(delta));
    }

    @Override
    public void synchronize() {
        enter();
        if (capturing || planning || recorded != null) {
            return;
        }
        check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize (an earlier kernel may have failed)");
    }

    // ================================================================ convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        String op = "conv2dForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cw = cuda(op, "w", w);
        CudaTensor cy = cuda(op, "y", y);
        CudaTensor cb = b == null ? null : cuda(op, "b", b);
        ConvGeometry d = ConvGeometry.forward(op, cx, cw, null, cy, spec);
        if (cb != null) {
            requireShape(op, "b", cb, d.k());
        }
        int chunk = LaunchGeometry.convChunk(d.c(), d.r(), d.s());
        launch("conv2d_forward", (int) ceilDiv((long) d.p() * d.q(), LaunchGeometry.THREADS), LaunchGeometry.channelBlocks(d.k()),
                LaunchGeometry.batchGrid(d.n()), LaunchGeometry.THREADS, LaunchGeometry.convSharedBytes(chunk, d.r(), d.s()), d.toString(),
                args().ptr(cx).ptr(cw).ptrOrNull(cb).ptr(cy)
                        .i(d.n()).i(d.c()).i(d.h()).i(d.w()).i(d.k()).i(d.r()).i(d.s()).i(d.p()).i(d.q()).i(d.stride()).i(d.pad()).i(chunk));
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        String op = "conv2dBackwardData";
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cw = cuda(op, "w", w);
        CudaTensor cdx = cuda(op, "dx", dx);
        ConvGeometry d = ConvGeometry.backwardData(op, cdy, cw, cdx, spec);
        int chunk = LaunchGeometry.convChunk(d.k(), d.r(), d.s());
        launch("conv2d_backward_data", (int) ceilDiv((long) d.h() * d.w(), LaunchGeometry.THREADS), LaunchGeometry.channelBlocks(d.c()),
                LaunchGeometry.batchGrid(d.n()), LaunchGeometry.THREADS, LaunchGeometry.convSharedBytes(chunk, d.r(), d.s()), d.toString(),
                args().ptr(cdy).ptr(cw).ptr(cdx)
                        .i(d.n()).i(d.c()).i(d.h()).i(d.w()).i(d.k()).i(d.r()).i(d.s()).i(d.p()).i(d.q()).i(d.stride()).i(d.pad()).i(chunk));
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        String op = "conv2dBackwardFilter";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdw = cuda(op, "dw", dw);
        CudaTensor cdb = db == null ? null : cuda(op, "db", db);
        ConvGeometry d = ConvGeometry.backwardFilter(op, cx, cdy, cdw, null, spec);
        if (cdb != null) {
            requireShape(op, "db", cdb, d.k());
        }
        int kcrs = d.k() * d.c() * d.r() * d.s();
        int outputs = kcrs + (cdb == null ? 0 : d.k());
        LaunchGeometry.Split split = LaunchGeometry.filterSplit(outputs, (long) d.n() * d.p() * d.q());
        CUdeviceptr partials = scratch("conv2d_backward_filter " + outputs + "x" + split.groups(), (long) outputs * split.groups());
        int threads = outputs >= LaunchGeometry.THREADS ? LaunchGeometry.THREADS : 128;
        launch("conv2d_backward_filter_partial", (int) ceilDiv(outputs, threads), split.groups(), 1, threads, 0, d.toString(),
                args().ptr(cx).ptr(cdy).raw(partials)
                        .i(d.n()).i(d.c()).i(d.h()).i(d.w()).i(d.k()).i(d.r()).i(d.s()).i(d.p()).i(d.q()).i(d.stride()).i(d.pad())
                        .i(outputs).i(split.chunk()));
        mergePartials(partials, split.groups(), outputs, cdw, kcrs, cdb, null, 1, d.toString());
    }

    /** Sums partials (G, T) over G in fixed order into out0[0, T0) and out1[0, T - T0), adding bias[o % period]. */
    private void mergePartials(CUdeviceptr partials, int groups, int outputs, CudaTensor out0, int t0, CudaTensor out1,
                               CudaTensor bias, int biasPeriod, String shapes) {
        Args a = args().raw(partials).i(groups).i(outputs).ptr(out0).i(t0).ptrOrNull(out1).ptrOrNull(bias).i(biasPeriod);
        if (groups <= LaunchGeometry.SERIAL_MERGE_MAX) {
            launch("partials_merge_serial", LaunchGeometry.strideBlocks(outputs), 1, 1, LaunchGeometry.THREADS, 0, shapes, a);
        } else {
            launch("partials_merge", Math.min(outputs, LaunchGeometry.MAX_STRIDE_BLOCKS), 1, 1, LaunchGeometry.REDUCE_THREADS, 0,
                    shapes, a);
        }
    }

    // ================================================================ linear

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        String op = "linearForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cw = cuda(op, "w", w);
        CudaTensor cy = cuda(op, "y", y);
        CudaTensor cb = b == null ? null : cuda(op, "b", b);
        if (cx.shape().rank() != 2 || cw.shape().rank() != 2 || cx.shape().dim(1) != cw.shape().dim(1)
                || !cy.shape().equals(Shape.of(cx.shape().dim(0), cw.shape().dim(0)))
                || (cb != null && !cb.shape().equals(Shape.of(cw.shape().dim(0))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), w (O, I), b (O), y (N, O); got x "
                    + cx.shape() + ", w " + cw.shape() + ", b " + (cb == null ? "null" : cb.shape()) + ", y " + cy.shape());
        }
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cw.shape().dim(0);
        String shapes = "x " + cx.shape() + ", w " + cw.shape();
        gemm(cx.pointer(), in, 1, cw.pointer(), 1, in, cy, cb, n, out, in, shapes);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        String op = "linearBackwardData";
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cw = cuda(op, "w", w);
        CudaTensor cdx = cuda(op, "dx", dx);
        if (cdy.shape().rank() != 2 || cw.shape().rank() != 2 || cdy.shape().dim(1) != cw.shape().dim(0)
                || !cdx.shape().equals(Shape.of(cdy.shape().dim(0), cw.shape().dim(1)))) {
            throw new IllegalArgumentException(op + ": expected dy (N, O), w (O, I), dx (N, I); got dy "
                    + cdy.shape() + ", w " + cw.shape() + ", dx " + cdx.shape());
        }
        int n = cdy.shape().dim(0), out = cw.shape().dim(0), in = cw.shape().dim(1);
        gemm(cdy.pointer(), out, 1, cw.pointer(), in, 1, cdx, null, n, in, out, "dy " + cdy.shape() + ", w " + cw.shape());
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        String op = "linearBackwardWeight";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdw = cuda(op, "dw", dw);
        CudaTensor cdb = db == null ? null : cuda(op, "db", db);
        if (cx.shape().rank() != 2 || cdy.shape().rank() != 2 || cx.shape().dim(0) != cdy.shape().dim(0)
                || !cdw.shape().equals(Shape.of(cdy.shape().dim(1), cx.shape().dim(1)))
                || (cdb != null && !cdb.shape().equals(Shape.of(cdy.shape().dim(1))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), dy (N, O), dw (O, I), db (O); got x "
                    + cx.shape() + ", dy " + cdy.shape() + ", dw " + cdw.shape() + ", db " + (cdb == null ? "null" : cdb.shape()));
        }
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cdy.shape().dim(1);
        String shapes = "x " + cx.shape() + ", dy " + cdy.shape();
        gemm(cdy.pointer(), 1, out, cx.pointer(), in, 1, cdw, null, out, in, n, shapes);
        if (cdb != null) {
            launch("column_sum", LaunchGeometry.strideBlocks(out), 1, 1, LaunchGeometry.THREADS, 0, shapes,
                    args().ptr(cdy).ptr(cdb).i(n).i(out));
        }
    }

    /** C (m, n) = A (m, k) B (k, n) (+ bias over n), A and B read through element strides; split-K when the output is small. */
    private void gemm(CUdeviceptr a, long sam, long sak, CUdeviceptr b, long sbk, long sbn, CudaTensor c, CudaTensor bias,
                      int m, int n, int k, String shapes) {
        LaunchGeometry.Split split = LaunchGeometry.gemmSplit(m, n, k);
        int gx = (int) ceilDiv(n, LaunchGeometry.GEMM_TILE);
        int gy = (int) ceilDiv(m, LaunchGeometry.GEMM_TILE);
        if (gy > LaunchGeometry.MAX_GRID_YZ) {
            throw new IllegalArgumentException("gemm: " + m + " rows exceed the kernel's grid (" + shapes + ")");
        }
        if (split.groups() == 1) {
            launch("sgemm_strided", gx, gy, 1, 256, 0, shapes,
                    args().raw(a).l(sam).l(sak).raw(b).l(sbk).l(sbn).ptr(c).ptrOrNull(bias).i(m).i(n).i(k).i(split.chunk()));
            return;
        }
        long mn = (long) m * n;
        CUdeviceptr partials = scratch("sgemm " + m + "x" + n + "x" + split.groups(), mn * split.groups());
        launch("sgemm_strided", gx, gy, split.groups(), 256, 0, shapes,
                args().raw(a).l(sam).l(sak).raw(b).l(sbk).l(sbn).raw(partials).raw(nullPointer).i(m).i(n).i(k).i(split.chunk()));
        mergePartials(partials, split.groups(), Math.toIntExact(mn), c, Math.toIntExact(mn), null, bias, n, shapes);
    }

    // ================================================================ batch norm

    /** N, C and L = H*W (1 for 2-D input) of a batch-norm input. */
    private record NormDims(int n, int c, int l) {
        long m() {
            return (long) n * l;
        }

        int total() {
            return Math.toIntExact((long) n * c * l);
        }
    }

    private static NormDims normDims(String op, Tensor x, Tensor y, String yName) {
        Shape xs = x.shape();
        if ((xs.rank() != 2 && xs.rank() != 4) || !y.shape().equals(xs)) {
            throw new IllegalArgumentException(op + ": expected x (N, C) or (N, C, H, W) and " + yName
                    + " of the same shape; got x " + xs + ", " + yName + " " + y.shape());
        }
        return new NormDims(xs.dim(0), xs.dim(1), xs.rank() == 4 ? xs.dim(2) * xs.dim(3) : 1);
    }

    private CudaTensor channelParam(String op, String name, Tensor t, NormDims d, Tensor x) {
        CudaTensor ct = cuda(op, name, t);
        if (!ct.shape().equals(Shape.of(d.c))) {
            throw new IllegalArgumentException(op + ": expected " + name + " (C) = [" + d.c + "] for x " + x.shape()
                    + ", got " + ct.shape());
        }
        return ct;
    }

    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        String op = "batchNormForwardTrain";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        CudaTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CudaTensor cb = channelParam(op, "beta", beta, d, cx);
        CudaTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CudaTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
        CudaTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CudaTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        if (d.m() <= 1) {
            throw new IllegalArgumentException("expected more than 1 value per channel when training, got input shape "
                    + cx.shape());
        }
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(d.m());
        String shapes = "x " + cx.shape();
        CUdeviceptr partials = scratch("batchnorm_stats " + d.c + "x" + split.groups(), 3L * d.c * split.groups());
        launch("batchnorm_stats_partial", split.groups(), d.c, 1, LaunchGeometry.REDUCE_THREADS, 0, shapes,
                args().ptr(cx).raw(partials).i(d.n).i(d.c).i(d.l).i(split.chunk()));
        launch("batchnorm_stats_finalize", (int) ceilDiv(d.c, 128), 1, 1, 128, 0, shapes,
                args().raw(partials).i(d.c).i(split.groups()).l(d.m()).ptr(crm).ptr(crv).ptr(csm).ptr(csi).f(momentum).f(eps));
        int total = d.total();
        launch("batchnorm_normalize", LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, shapes,
                args().ptr(cx).ptr(cg).ptr(cb).ptr(csm).ptr(csi).ptr(cy).i(d.c).i(d.l).i(total));
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     Tensor y, float eps) {
        String op = "batchNormForwardEval";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        CudaTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CudaTensor cb = channelParam(op, "beta", beta, d, cx);
        CudaTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CudaTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
        int total = d.total();
        launch("batchnorm_forward_eval", LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, "x " + cx.shape(),
                args().ptr(cx).ptr(cg).ptr(cb).ptr(crm).ptr(crv).ptr(cy).i(d.c).i(d.l).i(total).f(eps));
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNormBackward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdx = cuda(op, "dx", dx);
        NormDims d = normDims(op, cx, cdy, "dy");
        normDims(op, cx, cdx, "dx");
        CudaTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CudaTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CudaTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        CudaTensor cdg = channelParam(op, "dgamma", dgamma, d, cx);
        CudaTensor cdb = channelParam(op, "dbeta", dbeta, d, cx);
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(d.m());
        String shapes = "x " + cx.shape();
        CUdeviceptr partials = scratch("batchnorm_backward " + d.c + "x" + split.groups(), 2L * d.c * split.groups());
        launch("batchnorm_backward_partial", split.groups(), d.c, 1, LaunchGeometry.REDUCE_THREADS, 0, shapes,
                args().ptr(cx).ptr(cdy).ptr(csm).ptr(csi).raw(partials).i(d.n).i(d.c).i(d.l).i(split.chunk()));
        launch("batchnorm_backward_finalize", (int) ceilDiv(d.c, 128), 1, 1, 128, 0, shapes,
                args().raw(partials).i(d.c).i(split.groups()).ptr(cdg).ptr(cdb));
        int total = d.total();
        launch("batchnorm_backward_dx", LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, shapes,
                args().ptr(cx).ptr(cdy).ptr(cg).ptr(csm).ptr(csi).ptr(cdg).ptr(cdb).ptr(cdx)
                        .i(d.c).i(d.l).i(total).f((float) d.m()));
    }

    // ================================================================ pooling

    private record PoolDims(int planes, int h, int w, int p, int q, int k, int stride, int pad) {
        @Override
        public String toString() {
            return "planes " + planes + ", x " + h + "x" + w + ", y " + p + "x" + q + ", kernel " + k + ", stride " + stride
                    + ", pad " + pad;
        }
    }

    private static PoolDims poolDims(String op, Tensor x, String xName, Tensor y, String yName, PoolSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException(op + ": spec must not be null");
        }
        Shape xs = x.shape();
        if (xs.rank() != 4) {
            throw new IllegalArgumentException(op + ": expected " + xName + " (N, C, H, W), got " + xs);
        }
        int p;
        int q;
        try {
            p = spec.outSize(xs.dim(2));
            q = spec.outSize(xs.dim(3));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + ": " + e.getMessage(), e);
        }
        Shape expected = Shape.of(xs.dim(0), xs.dim(1), p, q);
        if (!y.shape().equals(expected)) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + " with " + spec + " gives " + yName + " "
                    + expected + ", got " + y.shape());
        }
        return new PoolDims(Math.multiplyExact(xs.dim(0), xs.dim(1)), xs.dim(2), xs.dim(3), p, q, spec.kernel(),
                spec.stride(), spec.pad());
    }

    private void pool(String kernel, long threads, PoolDims d, Args a) {
        a.i(d.planes).i(d.h).i(d.w).i(d.p).i(d.q).i(d.k).i(d.stride).i(d.pad);
        launch(kernel, LaunchGeometry.strideBlocks(threads), 1, 1, LaunchGeometry.THREADS, 0, d.toString(), a);
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "avgPool2dForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        PoolDims d = poolDims(op, cx, "x", cy, "y", spec);
        pool("avg_pool2d_forward", cy.size(), d, args().ptr(cx).ptr(cy));
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "avgPool2dBackward";
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdx = cuda(op, "dx", dx);
        PoolDims d = poolDims(op, cdx, "dx", cdy, "dy", spec);
        pool("avg_pool2d_backward", cdx.size(), d, args().ptr(cdy).ptr(cdx));
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "maxPool2dForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        PoolDims d = poolDims(op, cx, "x", cy, "y", spec);
        pool("max_pool2d_forward", cy.size(), d, args().ptr(cx).ptr(cy));
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "maxPool2dBackward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdx = cuda(op, "dx", dx);
        PoolDims d = poolDims(op, cx, "x", cdy, "dy", spec);
        if (!cdx.shape().equals(cx.shape())) {
            throw new IllegalArgumentException(op + ": dx " + cdx.shape() + " must have x's shape " + cx.shape());
        }
        pool("max_pool2d_backward", cdx.size(), d, args().ptr(cx).ptr(cdy).ptr(cdx));
    }

    // ================================================================ elementwise

    private int sameSize(String op, String aName, Tensor a, String bName, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(op + ": " + aName + " " + a.shape() + " and " + bName + " "
                    + b.shape() + " differ in size");
        }
        return a.shape().sizeInt();
    }

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        String op = "sigmoidForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        int n = sameSize(op, "x", cx, "y", cy);
        launch("sigmoid_forward", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "x " + cx.shape(),
                args().ptr(cx).ptr(cy).i(n));
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        String op = "sigmoidBackward";
        CudaTensor cy = cuda(op, "y", y);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdx = cuda(op, "dx", dx);
        int n = sameSize(op, "y", cy, "dy", cdy);
        sameSize(op, "y", cy, "dx", cdx);
        launch("sigmoid_backward", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "y " + cy.shape(),
                args().ptr(cy).ptr(cdy).ptr(cdx).i(n));
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        String op = "reluForward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cy = cuda(op, "y", y);
        int n = sameSize(op, "x", cx, "y", cy);
        launch("relu_forward", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "x " + cx.shape(),
                args().ptr(cx).ptr(cy).i(n));
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        String op = "reluBackward";
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cdy = cuda(op, "dy", dy);
        CudaTensor cdx = cuda(op, "dx", dx);
        int n = sameSize(op, "x", cx, "dy", cdy);
        sameSize(op, "x", cx, "dx", cdx);
        launch("relu_backward", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "x " + cx.shape(),
                args().ptr(cx).ptr(cdy).ptr(cdx).i(n));
    }

    // ================================================================ loss

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        String op = "softmaxCrossEntropy";
        CudaTensor cl = cuda(op, "logits", logits);
        CudaTensor cy = cuda(op, "labels", labels);
        CudaTensor cm = cuda(op, "metrics", metrics);
        CudaTensor cd = dlogits == null ? null : cuda(op, "dlogits", dlogits);
        Shape ls = cl.shape();
        if (ls.rank() != 2 || !cy.shape().equals(Shape.of(ls.dim(0))) || !cm.shape().equals(Shape.of(2))
                || (cd != null && !cd.shape().equals(ls))) {
            throw new IllegalArgumentException(op + ": expected logits (N, K), labels (N), dlogits (N, K), metrics (2);"
                    + " got logits " + ls + ", labels " + cy.shape() + ", dlogits " + (cd == null ? "null" : cd.shape())
                    + ", metrics " + cm.shape());
        }
        int n = ls.dim(0), k = ls.dim(1);
        String shapes = "logits " + ls;
        CUdeviceptr rows = scratch("softmax_ce rows " + n, 2L * n);
        CUdeviceptr rowCorrect = rows.withByteOffset((long) n * Float.BYTES);
        launch("softmax_ce_rows", LaunchGeometry.softmaxBlocks(n), 1, 1, 32 * LaunchGeometry.SOFTMAX_ROWS_PER_BLOCK, 0, shapes,
                args().ptr(cl).ptr(cy).ptrOrNull(cd).raw(rows).raw(rowCorrect).i(n).i(k));
        launch("softmax_ce_accumulate", 1, 1, 1, LaunchGeometry.REDUCE_THREADS, 0, shapes,
                args().raw(rows).raw(rowCorrect).i(n).ptr(cm));
    }

    // ================================================================ optimizers

    @Override
    public void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        String op = "sgdStep";
        CudaTensor cp = cuda(op, "params", params);
        CudaTensor cg = cuda(op, "grads", grads);
        CudaTensor ch = cuda(op, "hyper", hyper);
        int n = sameSize(op, "params", cp, "grads", cg);
        CudaTensor cv = null;
        if (momentum != 0f) {
            cv = cuda(op, "velocity (required when momentum != 0)", velocity);
            sameSize(op, "params", cp, "velocity", cv);
        }
        if (ch.size() < 1) {
            throw new IllegalArgumentException(op + ": hyper must hold lr at index 0, got shape " + ch.shape());
        }
        launch("sgd_step", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "params " + cp.shape(),
                args().ptr(cp).ptr(cg).ptrOrNull(cv).ptr(ch).f(momentum).f(weightDecay).i(n));
    }

    @Override
    public void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
                         float beta1, float beta2, float eps, float weightDecay) {
        String op = "adamStep";
        CudaTensor cp = cuda(op, "params", params);
        CudaTensor cg = cuda(op, "grads", grads);
        CudaTensor cm = cuda(op, "m", m);
        CudaTensor cv = cuda(op, "v", v);
        CudaTensor ch = cuda(op, "hyper", hyper);
        int n = sameSize(op, "params", cp, "grads", cg);
        sameSize(op, "params", cp, "m", cm);
        sameSize(op, "params", cp, "v", cv);
        if (ch.size() < 2) {
            throw new IllegalArgumentException(op + ": hyper must hold lr and the step count t, got shape " + ch.shape());
        }
        launch("adam_step", LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, "params " + cp.shape(),
                args().ptr(cp).ptr(cg).ptr(cm).ptr(cv).ptr(ch).f(beta1).f(beta2).f(eps).f(weightDecay).i(n));
    }

    // ================================================================ data

    @Override
    public ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        enter();
        noTransferWhileCapturing("uploadImages");
        if (pixels == null || labels == null || count < 0 || height < 1 || width < 1
                || (long) count * height * width != pixels.length || labels.length != count) {
            throw new IllegalArgumentException("uploadImages: expected " + count + " x " + height + " x " + width
                    + " pixels and " + count + " labels, got " + (pixels == null ? "null" : pixels.length) + " pixels and "
                    + (labels == null ? "null" : labels.length) + " labels");
        }
        CudaTensor.Storage pixelStorage = allocStorage(Math.max(1, ceilDiv(pixels.length, Float.BYTES)), "uploadImages pixels");
        uploadBytes(pixelStorage.base, pixels);
        float[] labelValues = new float[count];
        for (int i = 0; i < count; i++) {
            labelValues[i] = labels[i] & 0xFF;
        }
        CudaTensor labelTensor = (CudaTensor) allocate(Shape.of(Math.max(count, 1)));
        if (count > 0) {
            labelTensor.view(0, Shape.of(count)).copyFrom(labelValues);
        }
        return new CudaResidentImages(this, pixelStorage, labelTensor, count, height, width);
    }

    @Override
    public void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        String op = "gatherBatch";
        if (!(images instanceof CudaResidentImages im) || im.backend() != this) {
            throw new IllegalArgumentException(op + ": images must come from this CudaBackend's uploadImages, got "
                    + (images == null ? "null" : images.getClass().getName()));
        }
        CudaTensor co = cuda(op, "order", order);
        CudaTensor cc = cuda(op, "cursor", cursor);
        CudaTensor cx = cuda(op, "x", x);
        CudaTensor cl = cuda(op, "labels", labels);
        Shape xs = cx.shape();
        if (xs.rank() != 4 || xs.dim(1) != 1 || !cl.shape().equals(Shape.of(xs.dim(0))) || cc.size() < 1) {
            throw new IllegalArgumentException(op + ": expected x (B, 1, H, W), labels (B), cursor (1); got x "
                    + xs + ", labels " + cl.shape() + ", cursor " + cc.shape());
        }
        int b = xs.dim(0), outH = xs.dim(2), outW = xs.dim(3);
        float sh = (float) im.height() / outH;
        float sw = (float) im.width() / outW;
        String shapes = "images " + im.count() + "x" + im.height() + "x" + im.width() + " -> x " + xs;
        launch("gather_batch", LaunchGeometry.strideBlocks((long) b * outH * outW), 1, 1, LaunchGeometry.THREADS, 0, shapes,
                args().raw(im.pixels.base).ptr(im.labels).ptr(co).ptr(cc).ptr(cx).ptr(cl)
                        .i(b).i(im.count()).i(co.shape().sizeInt()).i(im.height()).i(im.width()).i(outH).i(outW)
                        .f(sh).f(sw).f(255f));
        launch("gather_advance_cursor", 1, 1, 1, 1, 0, shapes, args().ptr(cc).i(b));
    }

    // ================================================================ capture

    /**
     * On the first run: a dry run of {@code step} (shapes checked, scratch reserved, nothing
     * launched), then the step is captured on the stream into a CUDA graph, instantiated and
     * launched. Later runs launch the graph. The step must only queue ops of this backend.
     */
    @Override
    public Runnable capture(Runnable step) {
        return new Runnable() {
            private CUgraphExec exec;

            @Override
            public void run() {
                enter();
                if (exec == null) {
                    exec = record(step);
                }
                if (recorded != null) {
                    return;
                }
                check(JCudaDriver.cuGraphLaunch(exec, stream), "cuGraphLaunch");
                if (DEBUG) {
                    check(JCudaDriver.cuStreamSynchronize(stream), "graph replay");
                }
            }
        };
    }

    private CUgraphExec record(Runnable step) {
        if (planning || capturing) {
            throw new IllegalStateException("capture: a captured step cannot capture another");
        }
        planning = true;
        try {
            step.run();
        } finally {
            planning = false;
        }
        if (recorded != null) {
            capturing = true;
            try {
                step.run();
            } finally {
                capturing = false;
            }
            return new CUgraphExec();
        }
        check(JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
        capturing = true;
        CUgraph graph = new CUgraph();
        try {
            step.run();
        } catch (RuntimeException | Error e) {
            capturing = false;
            CUgraph broken = new CUgraph();
            if (JCudaDriver.cuStreamEndCapture(stream, broken) == CUresult.CUDA_SUCCESS) {
                JCudaDriver.cuGraphDestroy(broken);
            }
            throw e;
        }
        capturing = false;
        check(JCudaDriver.cuStreamEndCapture(stream, graph), "cuStreamEndCapture");
        CUgraphExec exec = new CUgraphExec();
        try {
            check(JCudaDriver.cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
        } finally {
            JCudaDriver.cuGraphDestroy(graph);
        }
        graphs.add(exec);
        debug("captured a step into a CUDA graph");
        return exec;
    }

    // ================================================================ launching

    /** Kernel arguments in declaration order. */
    private final class Args {
        private final NativePointerObject[] items = new NativePointerObject[24];
        private final String[] kinds = new String[24];
        private int count;

        private Args add(NativePointerObject p, String kind) {
            items[count] = p;
            kinds[count] = kind;
            count++;
            return this;
        }

        Args ptr(CudaTensor t) {
            return add(Pointer.to(t.pointer()), "u64");
        }

        Args ptrOrNull(CudaTensor t) {
            return add(Pointer.to(t == null ? nullPointer : t.pointer()), "u64");
        }

        Args raw(CUdeviceptr p) {
            return add(Pointer.to(p), "u64");
        }

        Args i(int v) {
            return add(Pointer.to(new int[] {v}), "u32");
        }

        Args l(long v) {
            return add(Pointer.to(new long[] {v}), "u64");
        }

        Args f(float v) {
            return add(Pointer.to(new float[] {v}), "f32");
        }

        /** The argument types as the PTX declares them, e.g. "u64 u64 u32 f32". */
        String types() {
            return String.join(" ", java.util.Arrays.copyOf(kinds, count));
        }

        Pointer pointer() {
            NativePointerObject[] exact = new NativePointerObject[count];
            System.arraycopy(items, 0, exact, 0, count);
            return Pointer.to(exact);
        }
    }

    private Args args() {
        return new Args();
    }

    private CUfunction function(String kernel) {
        CUfunction f = functions.get(kernel);
        if (f == null) {
            f = new CUfunction();
            check(JCudaDriver.cuModuleGetFunction(f, module, kernel), "cuModuleGetFunction(" + kernel + ")");
            functions.put(kernel, f);
        }
        return f;
    }

    private void launch(String kernel, int gx, int gy, int gz, int threads, int sharedBytes, String shapes, Args a) {
        enter();
        if (planning) {
            return;
        }
        if (gx < 1 || gy < 1 || gz < 1 || gy > LaunchGeometry.MAX_GRID_YZ || gz > LaunchGeometry.MAX_GRID_YZ
                || threads < 1 || threads > 1024 || sharedBytes < 0 || sharedBytes > LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES) {
            throw new IllegalArgumentException(kernel + ": grid (" + gx + ", " + gy + ", " + gz + "), block " + threads
                    + ", shared " + sharedBytes + " bytes out of range for " + shapes);
        }
        String expected = signatures.get(kernel);
        String types = a.types();
        if (!signatures.isEmpty() && !types.equals(expected)) {
            throw new IllegalStateException("kernel " + kernel + " declares parameters (" + expected
                    + ") but is launched with (" + types + ")");
        }
        if (recorded != null) {
            recorded.add(new Launch(kernel, gx, gy, gz, threads, sharedBytes, types, shapes));
            return;
        }
        if (DEBUG) {
            debug(kernel + " grid(" + gx + "," + gy + "," + gz + ") block(" + threads + ") smem " + sharedBytes + "  " + shapes);
        }
        int r = JCudaDriver.cuLaunchKernel(function(kernel), gx, gy, gz, threads, 1, 1, sharedBytes, stream, a.pointer(), null);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaException("kernel " + kernel + " (" + shapes + ") grid (" + gx + ", " + gy + ", " + gz + ") block "
                    + threads + " failed to launch: " + CUresult.stringFor(r), r);
        }
        if (DEBUG && !capturing) {
            r = JCudaDriver.cuStreamSynchronize(stream);
            if (r != CUresult.CUDA_SUCCESS) {
                throw new CudaException("kernel " + kernel + " (" + shapes + ") failed: " + CUresult.stringFor(r), r);
            }
        }
    }

    private CudaTensor cuda(String op, String name, Tensor t) {
        if (t instanceof CudaTensor ct) {
            if (ct.backend() != this) {
                throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " belongs to another CudaBackend");
            }
            return ct;
        }
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + name + " must not be null");
        }
        throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " lives on " + t.device().id()
                + ", expected a CUDA tensor");
    }

    private static void requireShape(String op, String name, Tensor t, int... dims) {
        Shape expected = Shape.of(dims);
        if (!t.shape().equals(expected)) {
            throw new IllegalArgumentException(op + ": expected " + name + " " + expected + ", got " + t.shape());
        }
    }

    // ================================================================ close

    /** Frees every graph, scratch buffer and still-live tensor, the pinned staging memory, the stream and the module. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        enter();
        if (recorded != null) {
            live.clear();
            closed = true;
            return;
        }
        JCudaDriver.cuStreamSynchronize(stream);
        for (CUgraphExec g : graphs) {
            JCudaDriver.cuGraphExecDestroy(g);
        }
        graphs.clear();
        for (CUdeviceptr p : scratch.values()) {
            JCudaDriver.cuMemFree(p);
        }
        scratch.clear();
        for (CudaTensor.Storage s : live.keySet()) {
            s.freed = true;
            JCudaDriver.cuMemFree(s.base);
        }
        live.clear();
        if (staging != null) {
            JCudaDriver.cuMemFreeHost(staging);
            staging = null;
        }
        JCudaDriver.cuStreamDestroy(stream);
        JCudaDriver.cuModuleUnload(module);
        JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice);
        closed = true;
    }
}
