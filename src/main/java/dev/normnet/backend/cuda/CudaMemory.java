package dev.normnet.backend.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * Device memory and the copies to and from it: tensors' storage, scratch for reductions
 * (allocated once per purpose and size, kept until close, so a steady-state step allocates
 * nothing and a captured graph's addresses stay valid), and host transfers. {@link DriverMemory}
 * is the real one; the tests' launch recorder has one that holds nothing.
 */
interface CudaMemory {
    /** Storage of {@code elements} floats, zero-filled on the stream; {@code what} names it in messages. */
    CudaTensor.Storage allocate(long elements, Object what);

    /**
     * Frees {@code storage} (already marked freed by the caller).
     *
     * @param drain wait for the stream first (kernels queued earlier may still use it)
     */
    void free(CudaTensor.Storage storage, boolean drain);

    /** Whether scratch for ({@code purpose}, {@code floats}) has been allocated. */
    boolean hasScratch(String purpose, long floats);

    /**
     * Scratch of {@code floats} 4-byte words for {@code purpose}: allocated and zero-filled on the
     * stream on first use (never inside a capture), the same buffer after; a kernel that needs it
     * at 0 on entry ({@link OpContext#tickets}) must leave it at 0.
     */
    CUdeviceptr scratch(String purpose, long floats);

    /** Copies {@code out.length} floats from {@code src} to {@code out}; returns when they are there. */
    void download(CUdeviceptr src, float[] out, Object what);

    /** Copies {@code src} to {@code dst}; returns when {@code src} may be reused. */
    void upload(CUdeviceptr dst, float[] src, Object what);

    /** Copies bytes to {@code dst}; returns when {@code src} may be reused. */
    void upload(CUdeviceptr dst, byte[] src, Object what);

    /** Free device memory in bytes, or -1 when unknown. */
    default long availableBytes() {
        return -1;
    }

    /** Frees every scratch buffer, every storage still allocated and the host staging memory. */
    void close();
}
