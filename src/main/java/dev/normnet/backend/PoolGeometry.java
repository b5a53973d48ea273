package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one 2-D pooling, checked once per call by every backend: x (N, C, H, W) and
 * y (N, C, P, Q) under a {@link PoolSpec}; planes = N*C windows-worth of independent images.
 */
public record PoolGeometry(int planes, int h, int w, int p, int q, int kernel, int stride, int pad) {

    /** Forward: x (N, C, H, W), y (N, C, P, Q). */
    public static PoolGeometry forward(String op, Tensor x, Tensor y, PoolSpec spec) {
        return of(op, "x", x, "y", y, spec);
    }

    /** Average-pooling backward: dy (N, C, P, Q), dx (N, C, H, W). */
    public static PoolGeometry backward(String op, Tensor dy, Tensor dx, PoolSpec spec) {
        return of(op, "dx", dx, "dy", dy, spec);
    }

    /** Max-pooling backward: x and dx (N, C, H, W), dy (N, C, P, Q). */
    public static PoolGeometry maxBackward(String op, Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        PoolGeometry g = of(op, "x", x, "dy", dy, spec);
        Shape dxs = Checks.shape(op, "dx", dx);
        if (!dxs.equals(x.shape())) {
            throw new IllegalArgumentException(op + ": dx " + dxs + " must have x's shape " + x.shape());
        }
        return g;
    }

    /** Planes of H x W input floats, for bounds arithmetic. */
    public long inputSize() {
        return (long) planes * h * w;
    }

    /** Planes of P x Q output floats. */
    public long outputSize() {
        return (long) planes * p * q;
    }

    /**
     * The pooling of {@code x} (N, C, H, W) into {@code y} (N, C, P, Q) under {@code spec}, the
     * two named as given in the messages (for ops that pool inside another op).
     */
    public static PoolGeometry of(String op, String xName, Tensor x, String yName, Tensor y, PoolSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException(op + ": spec must not be null");
        }
        Shape xs = Checks.shape(op, xName, x);
        Shape ys = Checks.shape(op, yName, y);
        if (xs.rank() != 4) {
            throw new IllegalArgumentException(op + ": expected " + xName + " (N, C, H, W), got " + xs);
        }
        int p;
        int q;
        try {
            p = spec.outSize(xs.dim(2));
            q = spec.outSize(xs.dim(3));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + ": " + e.getMessage(), e);
        }
        Shape expected = Shape.of(xs.dim(0), xs.dim(1), p, q);
        if (!ys.equals(expected)) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + " with " + spec + " gives " + yName + " "
                    + expected + ", got " + ys);
        }
        Checks.elements(op, xName, xs);
        Checks.elements(op, yName, ys);  // the kernels index x and y in 32 bits
        return new PoolGeometry(xs.dim(0) * xs.dim(1), xs.dim(2), xs.dim(3), p, q, spec.kernel(), spec.stride(), spec.pad());
    }

    @Override
    public String toString() {
        return "planes " + planes + ", x " + h + "x" + w + ", y " + p + "x" + q + ", kernel " + kernel + ", stride " + stride
                + ", pad " + pad;
    }
}
