package dev.normnet.train;

import java.util.Arrays;

/**
 * Percentiles by linear interpolation between order statistics, numpy's default rule
 * ({@code numpy.percentile(x, q)}, method "linear", R's type 7): for n sorted values
 * x[0] <= ... <= x[n-1] and a fraction p in [0, 1], the position is h = p * (n - 1) and
 * <pre>
 * percentile(p) = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])
 * </pre>
 * (x[n-1] itself when h = n - 1). Computed in double from the float values; exact in the sense
 * that every value takes part (no sampling or histogram).
 */
public final class Percentiles {
    private Percentiles() {
    }

    /**
     * The percentiles {@code fractions} (each in [0, 1]) of {@code values}, which is sorted in
     * place. NaN sorts last, as in {@link Arrays#sort(float[])}.
     *
     * @throws IllegalArgumentException when {@code values} is empty or a fraction is outside [0, 1]
     */
    public static double[] ofInPlace(float[] values, double... fractions) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values to take percentiles of");
        }
        Arrays.parallelSort(values);   // the same order as Arrays.sort; the other cores idle during a watched step
        double[] out = new double[fractions.length];
        for (int i = 0; i < fractions.length; i++) {
            out[i] = ofSorted(values, fractions[i]);
        }
        return out;
    }

    /** Percentile {@code fraction} (in [0, 1]) of {@code sorted}, ascending and not empty. */
    public static double ofSorted(float[] sorted, double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("percentile fraction must be in [0, 1], got " + fraction);
        }
        double h = fraction * (sorted.length - 1);
        int lo = (int) Math.floor(h);
        if (lo >= sorted.length - 1) {
            return sorted[sorted.length - 1];
        }
        double lower = sorted[lo];
        return lower + (h - lo) * ((double) sorted[lo + 1] - lower);
    }
}
