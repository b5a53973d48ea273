package dev.normnet.backend.cuda;

/**
 * Queues kernels. {@link DriverLauncher} launches them on the GPU; a recorder in the tests
 * checks and records them instead, so the launch code runs on machines without a GPU.
 */
interface Launcher {
    /**
     * The kernel called {@code name}, looked up when the module loaded.
     *
     * @throws IllegalStateException when the module has no such kernel
     */
    Kernel kernel(String name);

    /**
     * Checks ({@link Kernel#checkLaunch}) and queues one launch of {@code threads} threads per
     * block on a (gx, gy, gz) grid with {@code sharedBytes} of dynamic shared memory.
     *
     * @param shapes what the launch works on, for messages and debug logs; its toString is
     *               called only when one is written
     */
    void launch(Kernel kernel, int gx, int gy, int gz, int threads, int sharedBytes, Object shapes, KernelArgs args);
}
