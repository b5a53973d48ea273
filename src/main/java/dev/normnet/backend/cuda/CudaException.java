package dev.normnet.backend.cuda;

import dev.normnet.backend.DeviceMemoryException;
import java.util.Locale;
import jcuda.driver.CUresult;

/** A CUDA driver call or kernel launch failed; the message names the call or kernel, the shapes and the CUDA error. */
public class CudaException extends RuntimeException {
    private final int result;

    public CudaException(String message, int result) {
        super(message);
        this.result = result;
    }

    /** The CUresult code, e.g. 209 for CUDA_ERROR_NO_BINARY_FOR_GPU. */
    public int result() {
        return result;
    }

    /** Throws "{@code call} failed: CUDA_ERROR_..." unless {@code result} is CUDA_SUCCESS ({@link #failure}). */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw failure(result, call + " failed: " + CUresult.stringFor(result));
        }
    }

    /**
     * Throws "{@code call} (shapes) failed: CUDA_ERROR_..." unless {@code result} is CUDA_SUCCESS;
     * {@code shapes} is turned into text only then.
     */
    static void check(int result, String call, Object shapes) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw failure(result, call + " (" + shapes + ") failed: " + CUresult.stringFor(result));
        }
    }

    /**
     * The exception for a failed driver call: {@link DeviceMemoryException} for
     * CUDA_ERROR_OUT_OF_MEMORY (the device stays usable: a smaller request may succeed), else a
     * CudaException. {@code message} is one line naming the call, the op and its sizes.
     */
    static RuntimeException failure(int result, String message) {
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            return new DeviceMemoryException(message);
        }
        if (isSticky(result)) {
            return new CudaException(message + "; the GPU context cannot be used after this error (run with "
                    + "-Dnormnet.debug=1 to name the kernel that failed)", result);
        }
        return new CudaException(message, result);
    }

    /**
     * The errors after which the context is lost (a kernel faulted): every later call fails too.
     * Out-of-memory, invalid values and launch-configuration errors leave the context usable.
     */
    static boolean isSticky(int result) {
        return result == CUresult.CUDA_ERROR_ILLEGAL_ADDRESS || result == CUresult.CUDA_ERROR_LAUNCH_FAILED
                || result == CUresult.CUDA_ERROR_MISALIGNED_ADDRESS || result == CUresult.CUDA_ERROR_ILLEGAL_INSTRUCTION
                || result == CUresult.CUDA_ERROR_HARDWARE_STACK_ERROR || result == CUresult.CUDA_ERROR_INVALID_PC
                || result == CUresult.CUDA_ERROR_INVALID_ADDRESS_SPACE || result == CUresult.CUDA_ERROR_ASSERT
                || result == CUresult.CUDA_ERROR_ECC_UNCORRECTABLE || result == CUresult.CUDA_ERROR_LAUNCH_TIMEOUT;
    }

    /**
     * "out of GPU memory: {@code what} needs {@code bytes} (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY);
     * the GPU has F free of T", with {@code free} or {@code total} left out when negative (unknown).
     */
    static DeviceMemoryException outOfMemory(String call, Object what, long bytes, long free, long total) {
        String have = free < 0 ? "" : "; the GPU has " + size(free) + " free" + (total < 0 ? "" : " of " + size(total));
        return new DeviceMemoryException("out of GPU memory: " + what + " needs " + size(bytes) + " (" + call + ": "
                + CUresult.stringFor(CUresult.CUDA_ERROR_OUT_OF_MEMORY) + ")" + have);
    }

    /** Bytes as "812 bytes", "2.0 KiB", "297.4 MiB" or "1.2 GiB" (binary units). */
    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " bytes";
        }
        if (bytes < (1L << 20)) {
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        }
        if (bytes < (1L << 30)) {
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        }
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }
}
