package dev.normnet.bench;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.function.LongSupplier;

/**
 * The timing protocol shared by the model and kernel benchmarks (and mirrored by
 * benchmarks/pytorch/common.py): warm up for a while (at least two steps, each synchronized, and
 * up to 3 s longer while the last step is still over 1.25 times the fastest, as when the JIT is
 * still compiling, and, with {@code waitForJit}, up to 10 s longer while the JIT has finished a
 * compilation in the last second: on two cores the compiler thread shares them with the step's
 * threads, and the vector code runs many times slower until C2 has compiled it, so a run timed
 * before then measures the compiler's progress, not the code),
 * estimate one step (the last warm-up step when it is slow, else a doubling burst of steps),
 * choose the number of steps that fills the target run length, then time several runs of that
 * many steps back to back, synchronizing with the device before and after each run.
 *
 * @param warmupSeconds minimum warm-up time
 * @param targetSeconds target length of one timed run
 * @param repeats       number of timed runs
 * @param waitForJit    whether to warm up while the JIT is still finishing compilations (the rule above)
 */
public record Timer(double warmupSeconds, double targetSeconds, int repeats, boolean waitForJit) {
    static final int MAX_STEPS = 100_000;
    static final double MAX_EXTRA_WARMUP = 3.0;
    /** Longest extra warm-up while the JIT is still compiling. */
    static final double MAX_JIT_WARMUP = 10.0;
    /** Seconds without a finished compilation after which the JIT counts as settled. */
    static final double JIT_QUIET = 1.0;

    public Timer {
        if (warmupSeconds < 0 || !(targetSeconds > 0) || repeats < 1) {
            throw new IllegalArgumentException("timer: warm-up " + warmupSeconds + " s, run " + targetSeconds
                    + " s and " + repeats + " repeats: the run length and repeats must be positive");
        }
    }

    /** A timer that does not wait for the JIT (for tests and quick runs, where it never settles). */
    public Timer(double warmupSeconds, double targetSeconds, int repeats) {
        this(warmupSeconds, targetSeconds, repeats, false);
    }

    /** The measured steps per run and the seconds of each run. */
    public record Result(int steps, double[] seconds) {
        /** Stats of {@code perStep * steps / seconds} over the runs (e.g. examples per second with perStep = batch). */
        public Stats rate(double perStep) {
            double[] r = new double[seconds.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = perStep * steps / seconds[i];
            }
            return Stats.of(r);
        }

        /** Stats of the milliseconds per step over the runs. */
        public Stats millisPerStep() {
            double[] r = new double[seconds.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = 1e3 * seconds[i] / steps;
            }
            return Stats.of(r);
        }
    }

    public Result measure(Runnable step, Runnable sync) {
        return measure(step, sync, System::nanoTime, waitForJit ? Timer::jitMillis : () -> -1);
    }

    /** {@link #measure(Runnable, Runnable)} on the given clock (nanoseconds), for tests; no JIT reports. */
    Result measure(Runnable step, Runnable sync, LongSupplier clock) {
        return measure(step, sync, clock, () -> -1);
    }

    /**
     * {@link #measure(Runnable, Runnable)} on the given clock (nanoseconds) and JIT (total compilation
     * milliseconds, -1 where the JVM does not report it).
     */
    Result measure(Runnable step, Runnable sync, LongSupplier clock, LongSupplier jit) {
        long start = clock.getAsLong();
        int n = 0;
        double last;
        double best = Double.MAX_VALUE;
        double elapsed;
        long jitSeen = jit.getAsLong();
        double lastCompile = 0;                 // seconds into the warm-up when a compilation was last seen finished
        boolean slow;
        boolean compiling;
        do {
            long t0 = clock.getAsLong();
            step.run();
            sync.run();
            last = (clock.getAsLong() - t0) / 1e9;
            best = Math.min(best, last);
            n++;
            elapsed = (clock.getAsLong() - start) / 1e9;
            long jitNow = jit.getAsLong();
            if (jitNow != jitSeen) {
                jitSeen = jitNow;
                lastCompile = elapsed;
            }
            // past the minimum, keep warming while steps are still getting faster (code being compiled), up to
            // 3 s more, and while the JIT is still finishing compilations, up to 10 s more
            slow = last > 1.25 * best && elapsed < warmupSeconds + MAX_EXTRA_WARMUP;
            compiling = jitNow >= 0 && elapsed - lastCompile < JIT_QUIET && elapsed < warmupSeconds + MAX_JIT_WARMUP;
        } while (n < 2 || elapsed < warmupSeconds || slow || compiling);
        // a slow step is timed well enough by the last warm-up step; fast ones by a burst
        double perStep = last;
        double enough = Math.min(0.2, targetSeconds / 2);
        if (last < enough) {
            int k = 2;
            while (true) {
                long t0 = clock.getAsLong();
                for (int i = 0; i < k; i++) {
                    step.run();
                }
                sync.run();
                double dt = (clock.getAsLong() - t0) / 1e9;
                perStep = dt / k;
                if (dt >= enough || k >= 64) {
                    break;
                }
                k *= 2;
            }
        }
        int steps = (int) Math.max(1, Math.min(MAX_STEPS, Math.round(targetSeconds / perStep)));
        double[] seconds = new double[repeats];
        for (int r = 0; r < repeats; r++) {
            sync.run();
            long t0 = clock.getAsLong();
            for (int i = 0; i < steps; i++) {
                step.run();
            }
            sync.run();
            seconds[r] = (clock.getAsLong() - t0) / 1e9;
        }
        return new Result(steps, seconds);
    }

    /**
     * The JIT's total compilation time in milliseconds so far, or -1 when the JVM does not report it;
     * also what {@code Trainer.warmUp} watches.
     */
    public static long jitMillis() {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : -1;
    }
}
