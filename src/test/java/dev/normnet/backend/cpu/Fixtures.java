package dev.normnet.backend.cpu;

import dev.normnet.tensor.Shape;

import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Test helpers: tensors that are views at a nonzero offset inside a larger buffer whose other
 * elements hold a sentinel (so an op that ignores the offset reads wrong values and one that
 * writes outside its window is caught), random inputs, float64 comparison with a reported error,
 * and central finite differences.
 */
final class Fixtures {
    /** Elements before and after every test tensor's window. */
    static final int GUARD = 3;
    static final float SENTINEL = -777.25f;

    /**
     * Relative tolerance for float32 results against float64 references: float32 rounds at
     * u = 2^-24 = 6e-8 per operation, and a sum of n terms with independent rounding drifts by
     * about sqrt(n) * u times its magnitude; for the largest sums here (a few thousand terms,
     * accumulated in float32 over at most C*R*S = 150) that is below 4e-6. 1e-5 of the tensor's
     * largest magnitude leaves a margin of ~2.5 and still catches any wrong index or formula.
     */
    static final double RTOL = 1e-5;

    private Fixtures() {
    }

    /** A tensor holding {@code values}, viewed at offset {@link #GUARD} inside a sentinel-filled buffer. */
    static CpuTensor tensor(float[] values, int... dims) {
        Shape shape = Shape.of(dims);
        if (shape.size() != values.length) {
            throw new IllegalArgumentException(values.length + " values for shape " + shape);
        }
        float[] buffer = new float[values.length + 2 * GUARD];
        java.util.Arrays.fill(buffer, SENTINEL);
        System.arraycopy(values, 0, buffer, GUARD, values.length);
        CpuTensor whole = new CpuTensor(buffer, Shape.of(buffer.length));
        return whole.view(GUARD, shape);
    }

    /** A tensor of the given shape filled with the sentinel (so an op must overwrite every element). */
    static CpuTensor output(int... dims) {
        float[] v = new float[Shape.of(dims).sizeInt()];
        java.util.Arrays.fill(v, SENTINEL);
        return tensor(v, dims);
    }

    /** Asserts that nothing outside {@code t}'s window was written. */
    static void assertGuards(String what, CpuTensor t) {
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            if (i < t.off() || i >= t.off() + t.size()) {
                assertEquals(SENTINEL, d[i], what + ": element " + i + " outside the window [" + t.off()
                        + ", +" + t.size() + ") was written");
            }
        }
    }

    static float[] uniform(Random rnd, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
        return v;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    /**
     * Central finite differences of L(x) = sum(dy * f(x)) with respect to every element of x,
     * in float64: (L(x + h e_i) - L(x - h e_i)) / 2h.
     */
    static double[] numericGradient(Function<double[], double[]> f, double[] x, double[] dy, double h) {
        double[] grad = new double[x.length];
        double[] probe = x.clone();
        for (int i = 0; i < x.length; i++) {
            probe[i] = x[i] + h;
            double plus = dot(dy, f.apply(probe));
            probe[i] = x[i] - h;
            double minus = dot(dy, f.apply(probe));
            probe[i] = x[i];
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    /** Central finite differences as above at the given indices of x only (for large inputs). */
    static double[] numericGradient(Function<double[], double[]> f, double[] x, double[] dy, double h, int[] indices) {
        double[] grad = new double[indices.length];
        double[] probe = x.clone();
        for (int t = 0; t < indices.length; t++) {
            int i = indices[t];
            probe[i] = x[i] + h;
            double plus = dot(dy, f.apply(probe));
            probe[i] = x[i] - h;
            double minus = dot(dy, f.apply(probe));
            probe[i] = x[i];
            grad[t] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    /** {@code count} distinct indices in [0, n) (all of them when count >= n), in increasing order. */
    static int[] sampleIndices(Random rnd, int n, int count) {
        if (count >= n) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) {
                all[i] = i;
            }
            return all;
        }
        java.util.BitSet chosen = new java.util.BitSet(n);
        while (chosen.cardinality() < count) {
            chosen.set(rnd.nextInt(n));
        }
        return chosen.stream().toArray();
    }

    static float[] pick(float[] v, int[] indices) {
        float[] out = new float[indices.length];
        for (int t = 0; t < indices.length; t++) {
            out[t] = v[indices[t]];
        }
        return out;
    }

    static double dot(double[] a, double[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("dot of " + a.length + " and " + b.length + " values");
        }
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
