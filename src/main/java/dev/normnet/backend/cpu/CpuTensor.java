package dev.normnet.backend.cpu;

import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/** A tensor in a plain {@code float[]} on the Java heap; {@link #offset()} indexes into {@link #data()}. */
public final class CpuTensor extends Tensor {
    private final float[] data;

    public CpuTensor(Shape shape) {
        this(new float[shape.sizeInt()], 0, shape);
    }

    public CpuTensor(float[] data, Shape shape) {
        this(data, 0, shape);
    }

    CpuTensor(float[] data, long offset, Shape shape) {
        super(shape, offset);
        if (offset + shape.size() > data.length) {
            throw new IllegalArgumentException("shape " + shape + " at offset " + offset
                    + " does not fit in " + data.length + " elements");
        }
        this.data = data;
    }

    /** The backing array; this tensor's elements are {@code data()[off() .. off() + size())}. */
    public float[] data() {
        return data;
    }

    /** {@link #offset()} as an int, for indexing {@link #data()}. */
    public int off() {
        return (int) offset();
    }

    /** Element {@code i} of this window. */
    public float get(int i) {
        return data[off() + i];
    }

    public void set(int i, float v) {
        data[off() + i] = v;
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public CpuTensor view(long relativeOffset, Shape viewShape) {
        checkView(relativeOffset, viewShape);
        return new CpuTensor(data, offset() + relativeOffset, viewShape);
    }

    @Override
    public float[] toArray() {
        float[] out = new float[shape().sizeInt()];
        System.arraycopy(data, off(), out, 0, out.length);
        return out;
    }

    @Override
    public void copyFrom(float[] src) {
        if (src.length != size()) {
            throw new IllegalArgumentException("copyFrom: " + src.length + " values into a tensor of shape " + shape());
        }
        System.arraycopy(src, 0, data, off(), src.length);
    }

    /** Heap memory is reclaimed by the garbage collector; nothing to free. */
    @Override
    public void close() {
    }
}
