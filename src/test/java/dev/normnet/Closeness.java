package dev.normnet;

import java.util.Locale;
import org.opentest4j.AssertionFailedError;

/**
 * The one closeness rule of normnet's tests, used by every comparison of computed numbers: a
 * float32 result against a float64 reference, against a PyTorch golden file, the fast CPU path
 * against the reference path, and the GPU against the CPU.
 *
 * <p><b>Rule.</b> {@code actual} is close to {@code expected} when, for every element i,
 * <pre>
 *   |actual[i] - expected[i]| <= rtol * scale[i]
 * </pre>
 * where {@code scale[i]} is the magnitude the rounding error of a float32 computation is
 * proportional to:
 * <ul>
 *   <li><em>tensor-relative</em> (the default): the largest |expected| over the whole tensor.
 *       A float32 sum carries an error proportional to the magnitude of its terms, not to its
 *       result, so an element near zero (the result of cancellation) is judged by the tensor's
 *       own scale;</li>
 *   <li><em>term-relative</em>, when the caller knows it: per element, the sum of the absolute
 *       values of the terms that were added into it (the same op run on |inputs|). Two float32
 *       sums of n terms in different orders differ by about n * 2^-24 of that, while a wrong
 *       index or a lost term is off by a whole term.</li>
 * </ul>
 * Where a reference is zero by construction but the computation is not exact (a finite-difference
 * estimate of a zero gradient), the caller adds an absolute floor: {@code rtol * scale[i] + atol}.
 * Accuracy claims in float ulps (of an elementary function such as the sigmoid) are the
 * term-relative form with {@code scale[i] = ulp(expected[i])}.
 *
 * <p>NaN anywhere in {@code actual} where {@code expected} is not NaN fails; a scale of zero
 * (an all-zero reference) requires exact zeros. Each check returns the worst error relative to
 * its bound, so tests can print how much room was left.
 */
public final class Closeness {
    private Closeness() {
    }

    /**
     * The outcome of one comparison: the worst element and its error relative to the bound (<= 1
     * passes); {@code scale} is the tensor's max |expected|, NaN where each element had its own
     * term scale.
     */
    public record Report(String what, int worstIndex, double worstError, double worstRatio, double scale) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: worst |diff| %.3e at %d, %.2g of the bound (%s)",
                    what, worstError, worstIndex, worstRatio,
                    Double.isNaN(scale) ? "term-relative" : String.format(Locale.ROOT, "scale %.3e", scale));
        }
    }

    /** Tensor-relative: fails unless max |actual - expected| <= rtol * max |expected|. */
    public static Report assertClose(String what, double[] expected, float[] actual, double rtol) {
        return check(what, expected, toDouble(actual), rtol, null, 0);
    }

    /** Tensor-relative, float32 expectation (another backend's output). */
    public static Report assertClose(String what, float[] expected, float[] actual, double rtol) {
        return check(what, toDouble(expected), toDouble(actual), rtol, null, 0);
    }

    /** Tensor-relative with an absolute floor: fails unless max |actual - expected| <= rtol * max |expected| + atol. */
    public static Report assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        return check(what, expected, toDouble(actual), rtol, null, atol);
    }

    /** Term-relative: fails unless |actual[i] - expected[i]| <= rtol * termScale[i] for every i. */
    public static Report assertClose(String what, float[] expected, float[] actual, double rtol, float[] termScale) {
        return check(what, toDouble(expected), toDouble(actual), rtol, toDouble(termScale), 0);
    }

    /** Term-relative with a float64 expectation. */
    public static Report assertClose(String what, double[] expected, float[] actual, double rtol, double[] termScale) {
        return check(what, expected, toDouble(actual), rtol, termScale, 0);
    }

    private static Report check(String what, double[] expected, double[] actual, double rtol, double[] termScale,
                                double atol) {
        if (expected.length != actual.length || (termScale != null && termScale.length != expected.length)) {
            throw new AssertionFailedError(what + ": expected " + expected.length + " values, got " + actual.length
                    + (termScale == null ? "" : " (and " + termScale.length + " scales)"));
        }
        double tensorScale = 0;
        for (double e : expected) {
            if (!Double.isNaN(e)) {
                tensorScale = Math.max(tensorScale, Math.abs(e));
            }
        }
        int worst = -1;
        double worstRatio = 0;
        double worstError = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            if (Double.isNaN(e) && Double.isNaN(a)) {
                continue;
            }
            double error = Math.abs(a - e);
            double bound = rtol * (termScale == null ? tensorScale : termScale[i]) + atol;
            double ratio = error == 0 ? 0 : bound == 0 ? Double.POSITIVE_INFINITY : error / bound;
            if (Double.isNaN(error)) {
                ratio = Double.POSITIVE_INFINITY;
            }
            if (worst < 0 || ratio > worstRatio) {
                worst = i;
                worstRatio = ratio;
                worstError = error;
            }
        }
        Report report = new Report(what, worst, worstError, worstRatio, termScale == null ? tensorScale : Double.NaN);
        if (worstRatio > 1) {
            throw new AssertionFailedError(String.format(Locale.ROOT,
                    "%s: at %d got %s, expected %s: |diff| %.3e is %.3g times the allowed rtol %.1e x %s + atol %.1e",
                    what, worst, actual[worst], expected[worst], worstError, worstRatio, rtol,
                    termScale == null ? String.format(Locale.ROOT, "max |expected| %.3e", tensorScale)
                            : String.format(Locale.ROOT, "its term scale %.3e", termScale[worst]), atol));
        }
        return report;
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
