package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one linear layer, checked once per call by every backend: x (N, I), w (O, I),
 * b (O), y (N, O); gradients have the shapes of what they are gradients of.
 */
public record LinearGeometry(int n, int in, int out) {

    /** y = x w^T + b: x (N, I), w (O, I), b (O) or null, y (N, O). */
    public static LinearGeometry forward(String op, Tensor x, Tensor w, Tensor b, Tensor y) {
        Shape xs = Checks.shape(op, "x", x);
        Shape ws = Checks.shape(op, "w", w);
        Shape ys = Checks.shape(op, "y", y);
        if (xs.rank() != 2 || ws.rank() != 2 || xs.dim(1) != ws.dim(1) || !ys.equals(Shape.of(xs.dim(0), ws.dim(0)))
                || (b != null && !b.shape().equals(Shape.of(ws.dim(0))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), w (O, I), b (O), y (N, O); got x " + xs + ", w " + ws
                    + ", b " + Checks.describe(b) + ", y " + ys);
        }
        return new LinearGeometry(xs.dim(0), xs.dim(1), ws.dim(0));
    }

    /** dx = dy w: dy (N, O), w (O, I), dx (N, I). */
    public static LinearGeometry backwardData(String op, Tensor dy, Tensor w, Tensor dx) {
        Shape dys = Checks.shape(op, "dy", dy);
        Shape ws = Checks.shape(op, "w", w);
        Shape dxs = Checks.shape(op, "dx", dx);
        if (dys.rank() != 2 || ws.rank() != 2 || dys.dim(1) != ws.dim(0) || !dxs.equals(Shape.of(dys.dim(0), ws.dim(1)))) {
            throw new IllegalArgumentException(op + ": expected dy (N, O), w (O, I), dx (N, I); got dy " + dys + ", w " + ws
                    + ", dx " + dxs);
        }
        return new LinearGeometry(dys.dim(0), ws.dim(1), ws.dim(0));
    }

    /** dw = dy^T x, db = sum of dy over N: x (N, I), dy (N, O), dw (O, I), db (O) or null. */
    public static LinearGeometry backwardWeight(String op, Tensor x, Tensor dy, Tensor dw, Tensor db) {
        Shape xs = Checks.shape(op, "x", x);
        Shape dys = Checks.shape(op, "dy", dy);
        Shape dws = Checks.shape(op, "dw", dw);
        if (xs.rank() != 2 || dys.rank() != 2 || xs.dim(0) != dys.dim(0) || !dws.equals(Shape.of(dys.dim(1), xs.dim(1)))
                || (db != null && !db.shape().equals(Shape.of(dys.dim(1))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), dy (N, O), dw (O, I), db (O); got x " + xs + ", dy "
                    + dys + ", dw " + dws + ", db " + Checks.describe(db));
        }
        return new LinearGeometry(xs.dim(0), xs.dim(1), dys.dim(1));
    }

    /**
     * The whole backward, {@link #backwardWeight} and, when dx is not null, {@link #backwardData}
     * on the same sizes: x (N, I), dy (N, O), w (O, I), dx (N, I) or null, dw (O, I), db (O) or null.
     */
    public static LinearGeometry backward(String op, Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor db) {
        LinearGeometry g = backwardWeight(op, x, dy, dw, db);
        if (dx != null) {
            LinearGeometry d = backwardData(op, dy, w, dx);
            if (!d.equals(g)) {
                throw new IllegalArgumentException(op + ": x " + x.shape() + " and w " + w.shape()
                        + " disagree on the input features (expected x (N, I), w (O, I))");
            }
        }
        return g;
    }

    @Override
    public String toString() {
        return "x (" + n + ", " + in + "), w (" + out + ", " + in + "), y (" + n + ", " + out + ")";
    }
}
