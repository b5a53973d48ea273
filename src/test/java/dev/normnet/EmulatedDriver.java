package dev.normnet;

import dev.normnet.backend.Backend;
import org.opentest4j.TestAbortedException;

/**
 * The GPU tests' view of the emulated driver (src/test/cuda/emulated_driver.cpp): a libcuda.so.1
 * that runs every kernel on the CPU, under which the build runs the GPU tests a second time. The
 * emulation runs each CUDA thread as a fiber on one core, so the cases sized like LeNet-BN at
 * 224x224 (tens of millions of elements; together about 6 minutes on a 2-core machine) are left
 * to the GPU: they skip there, and only there, with {@link Limit}, a skip that {@link RequireGpu}
 * lets stand.
 */
public final class EmulatedDriver {
    /** The system property the build sets (to 1) for the run on the emulated driver. */
    public static final String PROPERTY = "normnet.test.emulatedDriver";
    /** Elements of a test's largest tensor the emulated run still takes (the largest case under it: 5.8 million). */
    public static final long MAX_ELEMENTS = 8L << 20;
    /** The words the emulated driver's device name carries. */
    static final String DEVICE_WORDS = "CPU emulation";

    private EmulatedDriver() {
    }

    /** The skip of a case too large for the emulation: never thrown where a real GPU runs. */
    public static final class Limit extends TestAbortedException {
        private static final long serialVersionUID = 1L;

        Limit(String message) {
            super(message);
        }
    }

    /** Whether {@code gpu} runs on the emulated driver in the build's run for it. */
    public static boolean active(Backend gpu) {
        return "1".equals(System.getProperty(PROPERTY)) && gpu.describe().contains(DEVICE_WORDS);
    }

    /**
     * Skips the case on the emulated driver when its largest tensor holds more than
     * {@link #MAX_ELEMENTS} elements; anywhere else, does nothing.
     */
    public static void skipIfTooLarge(Backend gpu, long largestTensorElements) {
        if (largestTensorElements > MAX_ELEMENTS && active(gpu)) {
            throw new Limit("left to a GPU: " + largestTensorElements + " elements in one tensor, more than the "
                    + MAX_ELEMENTS + " the emulated driver runs in the build");
        }
    }
}
