package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.CudaException.check;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The first CUDA device as normnet uses it: its primary context, one non-blocking stream, and
 * one module loaded from the fatbin resource, with every kernel's function looked up once when
 * the module loads (never later: with lazy loading cuModuleGetFunction may load code, which must
 * not happen inside a stream capture). Also the probe that says whether all this can work here.
 */
final class CudaDevice implements CudaStream {
    /** Class-path location of the kernels compiled by nvcc during the build. */
    static final String FATBIN_RESOURCE = "/dev/normnet/backend/cuda/normnet.fatbin";
    /** Class-path location of the kernels' parameter types ("name u64 u32 f32 ..." per line), written with the fatbin. */
    static final String SIGNATURES_RESOURCE = "/dev/normnet/backend/cuda/normnet.kernels";

    /** {@code -Dnormnet.debug=1}: log every launch and synchronize after it, so a faulting kernel is named. */
    static final boolean DEBUG = "1".equals(System.getProperty("normnet.debug"));

    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final CUmodule module;
    private final String name;
    private final int major;
    private final int minor;
    private final Map<String, Kernel> kernels;
    private Thread contextThread;
    private boolean capturing;
    /** The kernel queued last and what it worked on, for the message of a fault that surfaces later. */
    private Kernel lastKernel;
    private Object lastShapes;

    /**
     * Opens device 0: retains its primary context, loads the module and looks up every kernel
     * named in {@value #SIGNATURES_RESOURCE}, creates the stream.
     *
     * @throws CudaException when the driver, the device or the kernels cannot be used
     */
    CudaDevice() {
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
        check(retainForProcess(cuDevice), "cuDevicePrimaryCtxRetain (held for the process)");
        context = new CUcontext();
        check(JCudaDriver.cuDevicePrimaryCtxRetain(context, cuDevice), "cuDevicePrimaryCtxRetain");
        module = new CUmodule();
        stream = new CUstream();
        boolean loaded = false;
        try {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextThread = Thread.currentThread();
            check(JCudaDriver.cuModuleLoadData(module, fatbin),
                    "cuModuleLoadData(" + FATBIN_RESOURCE + ") on " + name + " (sm_" + major + minor + ")");
            loaded = true;
            Map<String, Kernel> found = new HashMap<>();
            for (Map.Entry<String, List<String>> e : readSignatures().entrySet()) {
                String kernel = e.getKey();
                CUfunction f = new CUfunction();
                check(JCudaDriver.cuModuleGetFunction(f, module, kernel), "cuModuleGetFunction(" + kernel + ")");
                int maxThreads = functionAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, kernel);
                int shared = functionAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, kernel);
                found.put(kernel, new Kernel(kernel, e.getValue(), f, maxThreads, shared));
            }
            kernels = Collections.unmodifiableMap(found);
            check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        } catch (RuntimeException e) {
            if (loaded) {
                JCudaDriver.cuModuleUnload(module);
            }
            JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice);
            throw e;
        }
    }

    // ================================================================ probe

    /**
     * Checks once whether the CUDA backend can run here, catching everything: JCuda's native
     * library failing to load (no driver), no device, no fatbin resource, a fatbin without code
     * for this GPU. Reasons: {@link CudaStatus#UNAVAILABLE_REASONS}, else the CUDA error name;
     * when JCuda's library does not load, the loader's own words ({@link ProbeCause}). The primary
     * context it retains stays retained for the process ({@link #retainForProcess}).
     */
    static CudaStatus probe() {
        String device = "none";
        try {
            int init;
            try {
                init = JCudaDriver.cuInit(0);
            } catch (LinkageError e) {  // UnsatisfiedLinkError, NoClassDefFoundError from the static initializer
                debug("probe: JCuda's driver library did not load: " + e);
                return ProbeCause.of(e, System.getProperty("java.io.tmpdir"));
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
            r = retainForProcess(dev);
            if (r != CUresult.CUDA_SUCCESS) {
                return new CudaStatus(false, CUresult.stringFor(r), device);
            }
            r = JCudaDriver.cuCtxSetCurrent(processContext);
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
            return new CudaStatus(true, "cuda: " + device, device);
        } catch (Throwable t) {
            debug("probe failed: " + t);
            String message = t.getMessage();
            return new CudaStatus(false, t.getClass().getSimpleName()
                    + (message == null ? "" : ": " + message.lines().findFirst().orElse("")), device);
        }
    }

    /** The primary context the probe retained and never releases (null before a probe got that far). */
    private static CUcontext processContext;

    /**
     * Retains device {@code dev}'s primary context once for the whole process. Releasing it would
     * destroy it (the probe is its only holder), and every backend opened after would create it
     * again, which takes 0.5-2 s on an H100; held here, backends retain and release a live one.
     */
    private static synchronized int retainForProcess(CUdevice dev) {
        if (processContext != null) {
            return CUresult.CUDA_SUCCESS;
        }
        CUcontext ctx = new CUcontext();
        int r = JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev);
        if (r == CUresult.CUDA_SUCCESS) {
            processContext = ctx;
        }
        return r;
    }

    /** The kernels' parameter types by name ("u64", "u32", "f32" in order), empty when the build had no nvcc. */
    static Map<String, List<String>> readSignatures() {
        Map<String, List<String>> map = new HashMap<>();
        try (InputStream in = CudaDevice.class.getResourceAsStream(SIGNATURES_RESOURCE)) {
            if (in == null) {
                return map;
            }
            for (String line : new String(in.readAllBytes(), StandardCharsets.US_ASCII).split("\n")) {
                String t = line.trim();
                if (!t.isEmpty()) {
                    String[] words = t.split("\\s+");
                    map.put(words[0], List.of(words).subList(1, words.length));
                }
            }
            return map;
        } catch (IOException e) {
            throw new CudaException("cannot read " + SIGNATURES_RESOURCE + ": " + e.getMessage(), CUresult.CUDA_ERROR_FILE_NOT_FOUND);
        }
    }

    /** The fatbin resource's bytes, or null when the build had no nvcc. */
    static byte[] readFatbin() {
        try (InputStream in = CudaDevice.class.getResourceAsStream(FATBIN_RESOURCE)) {
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
        return new String(buf, 0, len, StandardCharsets.US_ASCII);
    }

    private static int attribute(CUdevice dev, int attribute) {
        int[] v = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(v, attribute, dev), "cuDeviceGetAttribute(" + attribute + ")");
        return v[0];
    }

    static void debug(String message) {
        if (DEBUG) {
            System.err.println("[normnet cuda] " + message);
        }
    }

    // ================================================================ the device in use

    /** The stream every op is queued on. */
    CUstream stream() {
        return stream;
    }

    /** {@code kernel} as the module gave it when it loaded, with its limits; null when the module has none. */
    Kernel kernel(String kernel) {
        return kernels.get(kernel);
    }

    /** The kernels of the module, by name. */
    Map<String, Kernel> kernels() {
        return kernels;
    }

    private static int functionAttribute(CUfunction f, int attribute, String kernel) {
        int[] v = new int[1];
        check(JCudaDriver.cuFuncGetAttribute(v, attribute, f),
                "cuFuncGetAttribute(" + kernel + ", " + CUfunction_attribute.stringFor(attribute) + ")");
        return v[0];
    }

    /** Whether the stream is being captured into a graph (no synchronizing then). */
    boolean capturing() {
        return capturing;
    }

    @Override
    public String describe() {
        return "cuda: " + name + " (sm_" + major + minor + ")";
    }

    @Override
    public void enter() {
        Thread t = Thread.currentThread();
        if (t != contextThread) {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextThread = t;
        }
    }

    /** Records the launch just queued (two references: no text is built). */
    void launched(Kernel kernel, Object shapes) {
        lastKernel = kernel;
        lastShapes = shapes;
    }

    /**
     * Throws unless {@code result} is CUDA_SUCCESS, naming {@code what} and, since a kernel's fault
     * surfaces at a later call, the kernel queued last and its sizes.
     */
    void checkAfterKernels(int result, String what) {
        checkAfterKernels(result, what, null);
    }

    /** {@link #checkAfterKernels(int, String)} for a call on {@code shapes} (turned into text only on failure). */
    void checkAfterKernels(int result, String what, Object shapes) {
        if (result != CUresult.CUDA_SUCCESS) {
            String last = lastKernel == null ? "" : " (the last kernel queued: " + lastKernel + ", " + lastShapes + ")";
            throw CudaException.failure(result, what + (shapes == null ? "" : " " + shapes) + " failed: "
                    + CUresult.stringFor(result) + last);
        }
    }

    @Override
    public void synchronize(String what) {
        checkAfterKernels(JCudaDriver.cuStreamSynchronize(stream), what);
    }

    @Override
    public void beginCapture() {
        check(JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                "cuStreamBeginCapture");
        capturing = true;
    }

    @Override
    public CUgraphExec endCapture() {
        capturing = false;
        CUgraph graph = new CUgraph();
        check(JCudaDriver.cuStreamEndCapture(stream, graph), "cuStreamEndCapture");
        CUgraphExec exec = new CUgraphExec();
        try {
            check(JCudaDriver.cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
        } finally {
            JCudaDriver.cuGraphDestroy(graph);
        }
        return exec;
    }

    @Override
    public void abandonCapture() {
        capturing = false;
        CUgraph broken = new CUgraph();
        if (JCudaDriver.cuStreamEndCapture(stream, broken) == CUresult.CUDA_SUCCESS) {
            JCudaDriver.cuGraphDestroy(broken);
        }
    }

    @Override
    public void launch(CUgraphExec graph) {
        checkAfterKernels(JCudaDriver.cuGraphLaunch(graph, stream), "cuGraphLaunch");
        if (DEBUG) {
            synchronize("graph replay");
        }
    }

    @Override
    public void destroy(CUgraphExec graph) {
        JCudaDriver.cuGraphExecDestroy(graph);
    }

    @Override
    public void close() {
        JCudaDriver.cuStreamDestroy(stream);
        JCudaDriver.cuModuleUnload(module);
        JCudaDriver.cuDevicePrimaryCtxRelease(cuDevice);
    }
}
