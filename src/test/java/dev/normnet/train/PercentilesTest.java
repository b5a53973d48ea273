package dev.normnet.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PercentilesTest {
    private static final double[] Q = {0, 0.15, 0.50, 0.85, 1};

    /** numpy's rule written as numpy documents it: (1 - g) * x[j] + g * x[j + 1], j + g = q * (n - 1), over doubles. */
    static double reference(double[] values, double q) {
        double[] x = values.clone();
        Arrays.sort(x);
        double h = q * (x.length - 1);
        int j = (int) Math.floor(h);
        double g = h - j;
        return j + 1 < x.length ? (1 - g) * x[j] + g * x[j + 1] : x[j];
    }

    @Test
    void matchesNumpyPercentileOnSmallArrays() {
        // numpy 1.24.2: [float(np.percentile(a, q)) for q in (0, 15, 50, 85, 100)]
        assertArrayEquals(new double[] {1.0, 1.45, 2.5, 3.55, 4.0}, Percentiles.ofInPlace(new float[] {1, 2, 3, 4}, Q), 1e-12);
        assertArrayEquals(new double[] {5, 5, 5, 5, 5}, Percentiles.ofInPlace(new float[] {5}, Q), 0);
        assertArrayEquals(new double[] {1.0, 1.3, 2.0, 2.7, 3.0}, Percentiles.ofInPlace(new float[] {3, 1, 2}, Q), 1e-12);
        assertArrayEquals(new double[] {-3.5, -1.0750000000000002, 1.25, 7.0, 10.0},
                Percentiles.ofInPlace(new float[] {0.5f, -1.25f, 7, 7, 2, -3.5f, 10, 0.125f, 4, -0.75f}, Q), 1e-12);
    }

    @Test
    void matchesAFloat64ReferenceOnRandomArrays() {
        SplittableRandom r = new SplittableRandom(11);
        for (int n : new int[] {2, 7, 100, 1001, 65_536}) {
            float[] x = new float[n];
            double[] d = new double[n];
            for (int i = 0; i < n; i++) {
                x[i] = (float) (r.nextGaussian() * 3 + (i % 5 == 0 ? 4 : 0));
                d[i] = x[i];
            }
            double[] got = Percentiles.ofInPlace(x, Q);
            for (int k = 0; k < Q.length; k++) {
                double want = reference(d, Q[k]);
                assertEquals(want, got[k], 1e-12 * Math.max(1, Math.abs(want)), "n " + n + ", q " + Q[k]);
            }
        }
    }

    @Test
    void selectionAgreesWithSortingOnTiesSortedInputsAndNaN() {
        SplittableRandom r = new SplittableRandom(12);
        int n = 10_007;
        float[][] inputs = new float[5][n];
        for (int i = 0; i < n; i++) {
            inputs[0][i] = r.nextInt(4);                    // few distinct values, many ties
            inputs[1][i] = i;                               // sorted
            inputs[2][i] = n - i;                           // reversed
            inputs[3][i] = i % 2 == 0 ? -1f : (float) r.nextGaussian();   // half one value
            inputs[4][i] = i == 17 ? Float.NaN : (float) r.nextGaussian(); // NaN sorts last
        }
        double[] fractions = {0.85, 0, 0.15, 1, 0.5, 0.15};   // any order, repeats allowed
        for (int c = 0; c < inputs.length; c++) {
            double[] sorted = new double[n];
            float[] copy = inputs[c].clone();
            Arrays.sort(copy);
            for (int i = 0; i < n; i++) {
                sorted[i] = copy[i];
            }
            double[] got = Percentiles.ofInPlace(inputs[c].clone(), fractions);
            for (int k = 0; k < fractions.length; k++) {
                double want = reference(sorted, fractions[k]);
                assertEquals(want, got[k], Double.isNaN(want) ? 0 : 1e-12 * Math.max(1, Math.abs(want)),
                        "case " + c + ", q " + fractions[k]);
            }
        }
    }

    @Test
    void rejectsEmptyInputAndFractionsOutsideZeroToOne() {
        assertThrows(IllegalArgumentException.class, () -> Percentiles.ofInPlace(new float[0], 0.5));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.ofInPlace(new float[] {1}, 1.5));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.ofInPlace(new float[] {1}, Double.NaN));
    }
}
