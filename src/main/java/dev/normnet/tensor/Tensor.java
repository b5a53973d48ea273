package dev.normnet.tensor;

/**
 * A float32 tensor, row-major (NCHW for images), living on one {@link Device}.
 *
 * <p>A tensor is a window ({@link #offset()}, {@link #shape()}) onto a storage owned by a
 * backend. {@link #view(long, Shape)} makes another window onto the same storage without
 * copying; this is how a model keeps all its parameters in one flat buffer and still hands each
 * layer its own weight tensor, and how an optimizer updates every parameter in one call.
 *
 * <p>Integer data (class labels, shuffled indices) is stored as exact integers in float32; every
 * value used that way is below 2^24 and so represented exactly.
 *
 * <p>Tensors are created by a {@code Backend} ({@code allocate}) and freed by {@link #close()}
 * on the tensor that owns the storage; closing a view does nothing.
 */
public abstract class Tensor implements AutoCloseable {
    private final Shape shape;
    private final long offset;

    protected Tensor(Shape shape, long offset) {
        this.shape = shape;
        this.offset = offset;
    }

    public final Shape shape() {
        return shape;
    }

    /** Element offset of this window into its storage. */
    public final long offset() {
        return offset;
    }

    /** Number of elements in this window. */
    public final long size() {
        return shape.size();
    }

    public abstract Device device();

    /**
     * A window of {@code shape.size()} elements starting {@code relativeOffset} elements into this
     * one, sharing storage.
     */
    public abstract Tensor view(long relativeOffset, Shape shape);

    /** The same elements seen with another shape of the same size. */
    public final Tensor reshape(Shape newShape) {
        if (newShape.size() != shape.size()) {
            throw new IllegalArgumentException("cannot reshape " + shape + " to " + newShape);
        }
        return view(0, newShape);
    }

    /** Copies this tensor's elements to a new host array (synchronizes with the device). */
    public abstract float[] toArray();

    /** Copies {@code src} (of exactly {@link #size()} elements) into this tensor. */
    public abstract void copyFrom(float[] src);

    /** Frees the storage if this tensor owns it; idempotent. */
    @Override
    public abstract void close();

    protected final void checkView(long relativeOffset, Shape viewShape) {
        if (relativeOffset < 0 || relativeOffset + viewShape.size() > shape.size()) {
            throw new IllegalArgumentException("view [" + relativeOffset + ", +" + viewShape.size()
                    + ") is outside a tensor of shape " + shape);
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + shape + "@" + device().id();
    }
}
