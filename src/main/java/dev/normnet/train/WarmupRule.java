package dev.normnet.train;

import dev.normnet.bench.Timer;

/**
 * When {@link Trainer#warmUp}'s training steps may stop. After each step it is told the step's
 * time, the time since the warm-up began and the JIT's total compilation time so far, and it says
 * stop at the first of:
 * <ul>
 *   <li>the time cap;</li>
 *   <li>the step cap, one epoch's steps: a warm-up that long costs more than the slow first epoch
 *       it spares;</li>
 *   <li>a steady step time: {@value #PATIENCE} windows of {@value #WINDOW} steps in a row, none
 *       faster than the fastest window before it by more than {@value #GAIN_PERCENT}%, during which
 *       the JIT finished no compilation (code it has just compiled is only used from the next steps
 *       on, so a window in which it compiled does not count as steady).</li>
 * </ul>
 * Whole windows are compared, not single steps, so that one step the machine happened to run fast
 * does not set the bar. Without a JIT that reports its compilation time (jit millis -1) the step
 * times alone decide.
 */
final class WarmupRule {
    /** Steps per window. */
    static final int WINDOW = 8;
    /** Steady windows in a row that end the warm-up. */
    static final int PATIENCE = 3;
    /** A window faster than the best one by more than this percentage is progress. */
    static final int GAIN_PERCENT = 3;

    private final long capNanos;
    private final int maxSteps;
    private int steps;
    private long window;          // nanoseconds of the steps in the current window
    private int inWindow;
    private long best = Long.MAX_VALUE;
    private int steady;           // steady windows in a row
    private long jitAtWindowStart;

    /**
     * @param capNanos  time cap of the warm-up
     * @param maxSteps  step cap (at least 1)
     * @param jitMillis {@link Timer#jitMillis()} as the warm-up starts
     */
    WarmupRule(long capNanos, int maxSteps, long jitMillis) {
        if (maxSteps < 1) throw new IllegalArgumentException("maxSteps must be >= 1, got " + maxSteps);
        this.capNanos = capNanos;
        this.maxSteps = maxSteps;
        this.jitAtWindowStart = jitMillis;
    }

    /**
     * Records one step and says whether the warm-up should stop now.
     *
     * @param stepNanos    the step's time
     * @param elapsedNanos time since the warm-up began, this step included
     * @param jitMillis    {@link Timer#jitMillis()} after the step
     */
    boolean stop(long stepNanos, long elapsedNanos, long jitMillis) {
        steps++;
        if (steps >= maxSteps || elapsedNanos >= capNanos) {
            return true;
        }
        window += stepNanos;
        inWindow++;
        if (inWindow < WINDOW) {
            return false;
        }
        boolean faster = best == Long.MAX_VALUE || window < best - best / 100 * GAIN_PERCENT;
        boolean compiled = jitMillis >= 0 && jitMillis != jitAtWindowStart;
        steady = faster || compiled ? 0 : steady + 1;
        best = Math.min(best, window);
        window = 0;
        inWindow = 0;
        jitAtWindowStart = jitMillis;
        return steady >= PATIENCE;
    }

    /** Steps recorded so far. */
    int steps() {
        return steps;
    }
}
