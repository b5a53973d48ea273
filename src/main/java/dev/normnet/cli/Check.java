package dev.normnet.cli;

import dev.normnet.io.AtomicFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Range and choice checks of option values, with messages naming the option:
 * {@code --epochs must be from 1 to 100000 (got 0)}. Each throws {@link UsageException} (exit 2).
 */
public final class Check {
    private Check() {
    }

    /** {@code value} in [min, max]. */
    public static int range(String option, int value, int min, int max) {
        if (value < min || value > max) {
            throw new UsageException(option + " must be " + rangeText(min, false, max) + " (got " + value + ")");
        }
        return value;
    }

    /** {@code value} in [min, max], or unset (null). */
    public static Integer range(String option, Integer value, int min, int max) {
        return value == null ? null : range(option, value.intValue(), min, max);
    }

    /** A finite {@code value} at least {@code min} (above it when {@code minExclusive}) and at most {@code max}. */
    public static double range(String option, double value, double min, boolean minExclusive, double max) {
        if (!Double.isFinite(value)) {
            throw new UsageException(option + ": '" + value + "' is not a finite number");
        }
        boolean low = minExclusive ? value <= min : value < min;
        if (low || value > max) {
            throw new UsageException(option + " must be " + rangeText(min, minExclusive, max) + " (got " + format(value) + ")");
        }
        return value;
    }

    /** As {@link #range(String, double, double, boolean, double)}, or unset (null). */
    public static Double range(String option, Double value, double min, boolean minExclusive, double max) {
        return value == null ? null : range(option, value.doubleValue(), min, minExclusive, max);
    }

    /**
     * A value that float32 must hold: a non-zero {@code value} that rounds to zero in float32
     * (below about 1.4e-45, as {@code --lr 1e-50}) is refused rather than trained with as 0.
     */
    public static double float32(String option, double value) {
        if (value != 0 && (float) value == 0f) {
            throw new UsageException(option + " " + format(value) + " is too small for float32, in which normnet computes"
                    + " (it would be 0; the smallest positive float32 is 1.4e-45)");
        }
        return value;
    }

    /** As {@link #float32(String, double)}, or unset (null). */
    public static Double float32(String option, Double value) {
        return value == null ? null : float32(option, value.doubleValue());
    }

    /** Threads per core beyond which more threads only add switching: {@link #threads} caps there. */
    public static final int THREADS_PER_CORE = 8;

    /**
     * A thread count from 1 to 4096, capped at {@value #THREADS_PER_CORE} per core of this machine;
     * a capped value is reported on {@code err}. Null (all cores) stays null.
     */
    public static Integer threads(String option, Integer value, java.io.PrintWriter err) {
        range(option, value, 1, 4096);
        int cap = THREADS_PER_CORE * Runtime.getRuntime().availableProcessors();
        if (value != null && value > cap) {
            err.println("normnet: " + option + " " + value + " is more than " + THREADS_PER_CORE + " per core on this machine's "
                    + Runtime.getRuntime().availableProcessors() + " cores; using " + cap);
            err.flush();
            return cap;
        }
        return value;
    }

    /** One of {@code choices}, any case; returns it in lower case. Null stays null. */
    public static String choice(String option, String value, List<String> choices) {
        if (value == null) {
            return null;
        }
        String lower = value.toLowerCase(Locale.ROOT);
        if (!choices.contains(lower)) {
            throw new UsageException(option + ": unknown value '" + value + "' (choose one of "
                    + String.join(", ", choices) + ")");
        }
        return lower;
    }

    /**
     * Two files of one command, {@code a} named by {@code whatA} and {@code b} by {@code whatB}
     * (an option such as {@code --save}, or {@code input} for a file the command reads), are not one
     * file: {@code --history run.json and --save ./run.json are the same file}. Paths name the same
     * file when they lead there through symbolic links or {@code ..}, or are hard links to it. An
     * unset (null) path is no file.
     */
    public static void distinctFiles(String whatA, Path a, String whatB, Path b) {
        if (a != null && b != null && AtomicFiles.sameFile(a, b)) {
            throw new UsageException(whatA + " " + a + " and " + whatB + " " + b + " are the same file");
        }
    }

    /** "at least 1", "above 0", "from 16 to 1024", "above 0 and at most 1000000". */
    static String rangeText(double min, boolean minExclusive, double max) {
        String lo = format(min);
        if (max >= Integer.MAX_VALUE || Double.isInfinite(max)) {
            return (minExclusive ? "above " : "at least ") + lo;
        }
        return minExclusive ? "above " + lo + " and at most " + format(max) : "from " + lo + " to " + format(max);
    }

    static String format(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
