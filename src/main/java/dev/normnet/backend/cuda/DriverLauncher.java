package dev.normnet.backend.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Launches kernels on a {@link CudaDevice}'s stream with cuLaunchKernel, after checking each
 * launch's grid, block, shared memory and argument types ({@link Kernel#checkLaunch}). With
 * {@code -Dnormnet.debug=1} every launch is logged and, outside a capture, followed by a
 * synchronize, so the kernel that faults is the one named.
 */
final class DriverLauncher implements Launcher {
    private final CudaDevice device;

    /** Launches the kernels {@code device} looked up when its module loaded. */
    DriverLauncher(CudaDevice device) {
        this.device = device;
    }

    @Override
    public Kernel kernel(String name) {
        Kernel k = device.kernel(name);
        if (k == null || k.function() == null) {
            throw new IllegalStateException("kernel " + name + " is not in " + CudaDevice.SIGNATURES_RESOURCE
                    + " (rebuild the kernels)");
        }
        return k;
    }

    @Override
    public void launch(Kernel kernel, int gx, int gy, int gz, int threads, int sharedBytes, Object shapes, KernelArgs args) {
        kernel.checkLaunch(gx, gy, gz, threads, sharedBytes, shapes, args);
        if (CudaDevice.DEBUG) {
            CudaDevice.debug(kernel + " grid(" + gx + "," + gy + "," + gz + ") block(" + threads + ") smem " + sharedBytes
                    + "  " + shapes);
        }
        int r = JCudaDriver.cuLaunchKernel(kernel.function(), gx, gy, gz, threads, 1, 1, sharedBytes, device.stream(),
                args.pointer(), null);
        if (r != CUresult.CUDA_SUCCESS) {
            throw CudaException.failure(r, "kernel " + kernel + " (" + shapes + ") grid (" + gx + ", " + gy + ", " + gz
                    + ") block " + threads + " failed to launch: " + CUresult.stringFor(r));
        }
        device.launched(kernel, shapes);
        if (CudaDevice.DEBUG && !device.capturing()) {
            r = JCudaDriver.cuStreamSynchronize(device.stream());
            if (r != CUresult.CUDA_SUCCESS) {
                throw CudaException.failure(r, "kernel " + kernel + " (" + shapes + ") failed: " + CUresult.stringFor(r));
            }
        }
    }
}
