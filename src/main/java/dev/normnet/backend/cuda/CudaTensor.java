package dev.normnet.backend.cuda;

import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * A float32 tensor in device memory: a window ({@link #offset()} elements in, {@link #shape()})
 * onto a {@link Storage} allocated by {@link CudaBackend#allocate}. Views share the storage;
 * closing the owning tensor frees it, closing a view does nothing.
 */
public final class CudaTensor extends Tensor {
    /** One cuMemAlloc'ed block of device memory. */
    static final class Storage {
        final CUdeviceptr base;
        final long elements;
        boolean freed;

        Storage(CUdeviceptr base, long elements) {
            this.base = base;
            this.elements = elements;
        }
    }

    private final CudaBackend backend;
    private final Storage storage;
    private final boolean owner;
    private final CUdeviceptr pointer;

    CudaTensor(CudaBackend backend, Storage storage, long offset, Shape shape, boolean owner) {
        super(shape, offset);
        if (offset < 0 || offset + shape.size() > storage.elements) {
            throw new IllegalArgumentException("shape " + shape + " at offset " + offset
                    + " does not fit in " + storage.elements + " elements");
        }
        this.backend = backend;
        this.storage = storage;
        this.owner = owner;
        this.pointer = storage.base.withByteOffset(offset * Float.BYTES);
    }

    /** The device address of this window's first element. */
    CUdeviceptr pointer() {
        if (storage.freed) {
            throw new IllegalStateException("CUDA tensor " + shape() + " was used after its storage was closed");
        }
        return pointer;
    }

    CudaBackend backend() {
        return backend;
    }

    Storage storage() {
        return storage;
    }

    /**
     * Refuses {@code out} (called {@code outName} in {@code op}'s message) when it shares memory with
     * one of {@code others}, given as name and tensor pairs (a null tensor, like a null out, is
     * absent): a kernel's blocks read inputs that other blocks' writes would change under them, so
     * an op's outputs overlap neither its inputs nor each other unless the op says it may.
     */
    static void requireDisjoint(String op, String outName, CudaTensor out, Object... others) {
        if (out == null) {
            return;
        }
        for (int i = 0; i < others.length; i += 2) {
            CudaTensor other = (CudaTensor) others[i + 1];
            if (out.overlaps(other)) {
                throw new IllegalArgumentException(op + ": " + outName + " " + out.shape() + " shares memory with " + others[i]
                        + " " + other.shape() + "; an output must not overlap an input or another output");
            }
        }
    }

    /** Whether this window and {@code other} share an element of one storage (false when other is null). */
    boolean overlaps(CudaTensor other) {
        return other != null && storage == other.storage && offset() < other.offset() + other.size()
                && other.offset() < offset() + size();
    }

    @Override
    public Device device() {
        return Device.CUDA;
    }

    @Override
    public CudaTensor view(long relativeOffset, Shape viewShape) {
        checkView(relativeOffset, viewShape);
        return new CudaTensor(backend, storage, offset() + relativeOffset, viewShape, false);
    }

    @Override
    public float[] toArray() {
        float[] out = new float[shape().sizeInt()];
        backend.download(this, out);
        return out;
    }

    @Override
    public void copyFrom(float[] src) {
        if (src.length != size()) {
            throw new IllegalArgumentException("copyFrom: " + src.length + " values into a tensor of shape " + shape());
        }
        backend.upload(this, src);
    }

    @Override
    public void close() {
        if (owner) {
            backend.free(storage);
        }
    }
}
