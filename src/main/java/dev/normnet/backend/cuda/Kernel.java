package dev.normnet.backend.cuda;

import java.util.List;
import jcuda.driver.CUfunction;

/**
 * One kernel of the module: its name, its parameter types as nvcc compiled them (one line of
 * {@value CudaDevice#SIGNATURES_RESOURCE}, e.g. "u64 u64 u32 f32"), and its function handle,
 * looked up once when the module loads. The op families hold their kernels as fields, so a launch
 * looks nothing up and builds no strings.
 */
final class Kernel {
    private final String name;
    private final String[] parameters;  // null: no normnet.kernels to check against
    private final CUfunction function;  // null: a kernel that is recorded, never run

    Kernel(String name, List<String> parameters, CUfunction function) {
        this.name = name;
        this.parameters = parameters == null ? null : parameters.toArray(new String[0]);
        this.function = function;
    }

    String name() {
        return name;
    }

    CUfunction function() {
        return function;
    }

    /**
     * Checks a launch before it is queued: grid, block and dynamic shared memory within CUDA's
     * limits, and the arguments' types equal to the parameters the kernel declares. Builds a
     * message only when a check fails.
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
