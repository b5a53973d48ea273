package dev.normnet.backend.cuda;

import java.util.List;
import jcuda.driver.CUfunction;

/**
 * One kernel of the module: its name, its parameter types as nvcc compiled them (one line of
 * {@value CudaDevice#SIGNATURES_RESOURCE}, e.g. "u64 u64 u32 f32"), its function handle, looked
 * up once when the module loads, and the limits the device gives that function: the most threads
 * a block may have (its {@code __launch_bounds__}, or fewer when its registers do not fit) and its
 * static shared memory, which with the dynamic must fit in a block's 48 KiB. The op families hold
 * their kernels as fields, so a launch looks nothing up and builds no strings.
 */
final class Kernel {
    /** Threads a block may have on every CUDA device normnet runs on. */
    static final int MAX_THREADS = 1024;

    private final String name;
    private final String[] parameters;  // null: no normnet.kernels to check against
    private final CUfunction function;  // null: a kernel that is recorded, never run
    private final int maxThreads;
    private final int staticSharedBytes;

    /** A kernel with the device's general limits: 1024 threads a block, no static shared memory. */
    Kernel(String name, List<String> parameters, CUfunction function) {
        this(name, parameters, function, MAX_THREADS, 0);
    }

    /**
     * @param maxThreads        the most threads a block of this kernel may have
     *                          (CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
     * @param staticSharedBytes its static shared memory (CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES)
     */
    Kernel(String name, List<String> parameters, CUfunction function, int maxThreads, int staticSharedBytes) {
        if (maxThreads < 1 || maxThreads > MAX_THREADS || staticSharedBytes < 0
                || staticSharedBytes > LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES) {
            throw new IllegalArgumentException("kernel " + name + ": at most " + maxThreads + " threads a block and "
                    + staticSharedBytes + " bytes of static shared memory are not a kernel's limits");
        }
        this.name = name;
        this.parameters = parameters == null ? null : parameters.toArray(new String[0]);
        this.function = function;
        this.maxThreads = maxThreads;
        this.staticSharedBytes = staticSharedBytes;
    }

    String name() {
        return name;
    }

    CUfunction function() {
        return function;
    }

    /** The most threads a block of this kernel may have. */
    int maxThreads() {
        return maxThreads;
    }

    /** Its static shared memory in bytes. */
    int staticSharedBytes() {
        return staticSharedBytes;
    }

    /**
     * Checks a launch before it is queued: grid, block and shared memory (dynamic and static
     * together) within CUDA's limits and this kernel's, and the arguments' types equal to the
     * parameters the kernel declares. Builds a message only when a check fails.
     *
     * @param shapes what the launch works on (a geometry record or a shape); its toString is
     *               called only for a message
     */
    void checkLaunch(int gx, int gy, int gz, int threads, int sharedBytes, Object shapes, KernelArgs args) {
        if (gx < 1 || gy < 1 || gz < 1 || gy > LaunchGeometry.MAX_GRID_YZ || gz > LaunchGeometry.MAX_GRID_YZ
                || threads < 1 || threads > 1024 || sharedBytes < 0 || sharedBytes > LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES) {
            throw new IllegalArgumentException(name + ": grid (" + gx + ", " + gy + ", " + gz + "), block " + threads
                    + ", shared " + sharedBytes + " bytes out of range for " + shapes);
        }
        if (threads > maxThreads || sharedBytes > LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES - staticSharedBytes) {
            throw new IllegalArgumentException(name + ": block " + threads + ", shared " + sharedBytes + " + "
                    + staticSharedBytes + " static bytes above the kernel's limits (" + maxThreads + " threads, "
                    + LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES + " bytes of shared memory) for " + shapes);
        }
        if (parameters != null && !args.matches(parameters)) {
            throw new IllegalStateException("kernel " + name + " declares parameters (" + String.join(" ", parameters)
                    + ") but is launched with (" + args.types() + ")");
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
