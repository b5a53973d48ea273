package dev.normnet.tensor;

import java.util.Arrays;

/**
 * An immutable tensor shape. Shapes are row-major; 4-D shapes are read as (N, C, H, W).
 */
public final class Shape {
    private final int[] dims;

    private Shape(int[] dims) {
        for (int d : dims) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
            }
        }
        this.dims = dims;
    }

    public static Shape of(int... dims) {
        return new Shape(dims.clone());
    }

    public int rank() {
        return dims.length;
    }

    public int dim(int i) {
        return dims[i < 0 ? dims.length + i : i];
    }

    public int[] dims() {
        return dims.clone();
    }

    /** Number of elements. */
    public long size() {
        long s = 1;
        for (int d : dims) {
            s *= d;
        }
        return s;
    }

    /** Number of elements as an int; throws if it does not fit. */
    public int sizeInt() {
        long s = size();
        if (s > Integer.MAX_VALUE) {
            throw new IllegalStateException("shape " + this + " has more than 2^31-1 elements");
        }
        return (int) s;
    }

    /** This shape with a leading batch dimension: (n, dims...). */
    public Shape withBatch(int n) {
        int[] d = new int[dims.length + 1];
        d[0] = n;
        System.arraycopy(dims, 0, d, 1, dims.length);
        return new Shape(d);
    }

    /** This shape without its leading dimension. */
    public Shape dropFirst() {
        return new Shape(Arrays.copyOfRange(dims, 1, dims.length));
    }

    /** Product of the dimensions from {@code from} (inclusive) to the end. */
    public int sizeFrom(int from) {
        long s = 1;
        for (int i = from; i < dims.length; i++) {
            s *= dims[i];
        }
        return Math.toIntExact(s);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** Formats as {@code [256, 6, 28, 28]}, the way torchsummary prints shapes. */
    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
