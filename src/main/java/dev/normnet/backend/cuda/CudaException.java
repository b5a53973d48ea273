package dev.normnet.backend.cuda;

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
}
