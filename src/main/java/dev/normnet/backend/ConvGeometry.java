package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one convolution, checked once per call by every backend: x (N, C, H, W),
 * w (K, C, R, S), y (N, K, P, Q), with the stride and padding of its {@link ConvSpec}.
 */
public record ConvGeometry(int n, int c, int h, int w, int k, int r, int s, int p, int q, int stride, int pad) {

    /** Forward: x (N, C, H, W), w (K, C, R, S), b (K) or null, y (N, K, P, Q). */
    public static ConvGeometry forward(String op, Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        ConvGeometry g = check(op, "x", x, w, "y", y, spec);
        if (b != null) {
            Checks.require(op, "b", b, g.k);
        }
        return g;
    }

    /** Backward-data: dy (N, K, P, Q), w (K, C, R, S), dx (N, C, H, W). */
    public static ConvGeometry backwardData(String op, Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        return check(op, "dx", dx, w, "dy", dy, spec);
    }

    /** Backward-filter: x (N, C, H, W), dy (N, K, P, Q), dw (K, C, R, S), db (K) or null. */
    public static ConvGeometry backwardFilter(String op, Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        ConvGeometry g = check(op, "x", x, dw, "dy", dy, spec);
        if (db != null) {
            Checks.require(op, "db", db, g.k);
        }
        return g;
    }

    /**
     * Checks that x, w and y (or dy) fit together under {@code spec} and returns their sizes.
     *
     * @throws IllegalArgumentException naming {@code op} and the shapes when they do not
     */
    private static ConvGeometry check(String op, String xName, Tensor x, Tensor w, String yName, Tensor y, ConvSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException(op + ": spec must not be null");
        }
        Shape xs = Checks.shape(op, xName, x);
        Shape ws = Checks.shape(op, "w", w);
        Shape ys = Checks.shape(op, yName, y);
        if (xs.rank() != 4 || ws.rank() != 4 || ys.rank() != 4 || xs.dim(1) != ws.dim(1)) {
            throw new IllegalArgumentException(op + ": expected x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q); got x "
                    + xs + ", w " + ws + ", y/dy " + ys);
        }
        int n = xs.dim(0), c = xs.dim(1), h = xs.dim(2), wd = xs.dim(3);
        int k = ws.dim(0), r = ws.dim(2), s = ws.dim(3);
        int p;
        int q;
        try {
            p = spec.outSize(h, r);
            q = spec.outSize(wd, s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": x " + xs + ", w " + ws + ": " + e.getMessage(), e);
        }
        if (!ys.equals(Shape.of(n, k, p, q))) {
            throw new IllegalArgumentException(op + ": x " + xs + " and w " + ws + " with " + spec
                    + " give (N, K, P, Q) " + Shape.of(n, k, p, q) + ", got y/dy " + ys);
        }
        Checks.elements(op, xName, xs);
        Checks.elements(op, yName, ys);
        return new ConvGeometry(n, c, h, wd, k, r, s, p, q, spec.stride(), spec.pad());
    }

    /** First output row/column whose window tap {@code tap} lands inside the input. */
    public int first(int tap) {
        return Math.max(0, -Math.floorDiv(tap - pad, stride));
    }

    /** One past the last output row/column whose tap lands inside an input of size {@code in}. */
    public int end(int tap, int in, int out) {
        return Math.min(out, Math.floorDiv(in - 1 + pad - tap, stride) + 1);
    }

    @Override
    public String toString() {
        return "x (" + n + ", " + c + ", " + h + ", " + w + "), w (" + k + ", " + c + ", " + r + ", " + s
                + "), y (" + n + ", " + k + ", " + p + ", " + q + "), stride " + stride + ", pad " + pad;
    }
}
