package dev.normnet.train;

import java.util.Arrays;

/**
 * Percentiles by linear interpolation between order statistics, numpy's default rule
 * ({@code numpy.percentile(x, q)}, method "linear", R's type 7): for n values whose sorted order
 * is x[0] <= ... <= x[n-1] and a fraction p in [0, 1], the position is h = p * (n - 1) and
 * <pre>
 * percentile(p) = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])
 * </pre>
 * (x[n-1] itself when h = n - 1), computed in double from the float values. Every value takes
 * part (no sampling, no histogram). The order statistics are found by selection (quickselect with
 * a three-way partition, O(n) expected) rather than a full sort; an input holding NaN is sorted
 * instead, NaN counting as the largest value as in {@link Arrays#sort(float[])}.
 */
public final class Percentiles {
    /** Ranges this short are finished by insertion sort. */
    private static final int INSERTION = 24;

    private Percentiles() {
    }

    /**
     * The percentiles {@code fractions} (each in [0, 1]) of {@code values}, which are reordered in
     * place.
     *
     * @throws IllegalArgumentException when {@code values} is empty or a fraction is outside [0, 1]
     */
    public static double[] ofInPlace(float[] values, double... fractions) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values to take percentiles of");
        }
        for (double f : fractions) {
            if (!(f >= 0 && f <= 1)) {
                throw new IllegalArgumentException("percentile fraction must be in [0, 1], got " + f);
            }
        }
        boolean nan = false;
        for (float v : values) {
            nan |= v != v;
        }
        if (nan) {
            Arrays.sort(values);
        }
        // Positions in increasing order, so that each selection works on what the last one left to its right.
        Integer[] order = new Integer[fractions.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(fractions[a], fractions[b]));
        int n = values.length;
        int from = 0;
        double[] out = new double[fractions.length];
        for (int i : order) {
            double h = fractions[i] * (n - 1);
            int j = (int) Math.floor(h);
            if (!nan) {
                select(values, from, n, j);
                from = j;
            }
            double lower = values[j];
            if (j >= n - 1 || h == j) {
                out[i] = lower;
            } else {
                double upper = nan ? values[j + 1] : minOf(values, j + 1, n);   // right of j: all >= values[j]
                out[i] = lower + (h - j) * (upper - lower);
            }
        }
        return out;
    }

    /**
     * Reorders {@code a[lo, hi)} so that {@code a[k]} holds the value sorting would put there, with
     * no larger value before it and no smaller one after it (within the range). No NaN allowed.
     */
    static void select(float[] a, int lo, int hi, int k) {
        while (hi - lo > INSERTION) {
            int mid = (lo + hi) >>> 1;
            float pivot = median(a[lo], a[mid], a[hi - 1]);
            // [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > pivot
            int lt = lo;
            int i = lo;
            int gt = hi;
            while (i < gt) {
                float v = a[i];
                if (v < pivot) {
                    a[i++] = a[lt];
                    a[lt++] = v;
                } else if (v > pivot) {
                    a[i] = a[--gt];
                    a[gt] = v;
                } else {
                    i++;
                }
            }
            if (k < lt) {
                hi = lt;
            } else if (k >= gt) {
                lo = gt;
            } else {
                return;   // a[k] == pivot, in its place
            }
        }
        for (int i = lo + 1; i < hi; i++) {
            float v = a[i];
            int j = i - 1;
            while (j >= lo && a[j] > v) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = v;
        }
    }

    private static float median(float x, float y, float z) {
        return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    }

    private static float minOf(float[] a, int from, int to) {
        float m = a[from];
        for (int i = from + 1; i < to; i++) {
            m = Math.min(m, a[i]);
        }
        return m;
    }
}
