package dev.normnet.backend.cuda;

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

    /** Throws "{@code call} failed: CUDA_ERROR_..." unless {@code result} is CUDA_SUCCESS. */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(call + " failed: " + CUresult.stringFor(result), result);
        }
    }

    /**
     * Throws "{@code call} (shapes) failed: CUDA_ERROR_..." unless {@code result} is CUDA_SUCCESS;
     * {@code shapes} is turned into text only then.
     */
    static void check(int result, String call, Object shapes) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(call + " (" + shapes + ") failed: " + CUresult.stringFor(result), result);
        }
    }
}
