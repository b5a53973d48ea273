package dev.normnet.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WarmupRuleTest {
    private static final long MS = 1_000_000;
    private static final long CAP = 3_000 * MS;

    /** Feeds steps of {@code stepMs[i % length]} milliseconds with the JIT's total from {@code jit}; returns the steps until stop. */
    private static int stepsUntilStop(WarmupRule rule, long[] stepMs, java.util.function.IntToLongFunction jit) {
        long elapsed = 0;
        for (int i = 0; ; i++) {
            long step = stepMs[Math.min(i, stepMs.length - 1)] * MS;
            elapsed += step;
            if (rule.stop(step, elapsed, jit.applyAsLong(i))) {
                return i + 1;
            }
        }
    }

    @Test
    void aSteadyStepStopsAfterTheFirstWindowAndThenPatienceWindows() {
        int steps = stepsUntilStop(new WarmupRule(CAP, 1000, 0), new long[] {10}, i -> 0);
        assertEquals(WarmupRule.WINDOW * (1 + WarmupRule.PATIENCE), steps);
    }

    @Test
    void withoutAJitClockTheStepTimesAloneDecide() {
        int steps = stepsUntilStop(new WarmupRule(CAP, 1000, -1), new long[] {10}, i -> -1);
        assertEquals(WarmupRule.WINDOW * (1 + WarmupRule.PATIENCE), steps);
    }

    @Test
    void stepsThatKeepGettingFasterRunToTheTimeCap() {
        // Each window 10% faster than the one before: never steady; 3 s of steps at 40 ms falling.
        WarmupRule rule = new WarmupRule(CAP, 100_000, 0);
        long elapsed = 0;
        double ms = 40;
        int steps = 0;
        boolean stopped = false;
        while (!stopped) {
            long step = (long) (ms * MS);
            elapsed += step;
            steps++;
            stopped = rule.stop(step, elapsed, 0);
            if (steps % WarmupRule.WINDOW == 0) {
                ms *= 0.9;
            }
        }
        assertTrue(elapsed >= CAP, "stopped at " + elapsed / MS + " ms after " + steps + " steps");
    }

    @Test
    void aWindowInWhichTheJitCompiledIsNotSteady() {
        // Steady step times, but the JIT finishes a compilation in every window: runs to the step cap.
        int steps = stepsUntilStop(new WarmupRule(CAP, 200, 0), new long[] {1}, i -> i / WarmupRule.WINDOW);
        assertEquals(200, steps);
        // Compiling during the first two windows only: steady from the third window on.
        int settled = stepsUntilStop(new WarmupRule(CAP, 1000, 0), new long[] {1},
                i -> Math.min(i / WarmupRule.WINDOW, 2));
        assertEquals(WarmupRule.WINDOW * (3 + WarmupRule.PATIENCE), settled);
    }

    @Test
    void aGainOfAtMostThreePercentIsNoProgress() {
        // 8 slow steps, then 2% faster ones: the second window is no progress, so steady from there.
        long[] ms = new long[WarmupRule.WINDOW + 1];
        java.util.Arrays.fill(ms, 100);
        ms[WarmupRule.WINDOW] = 98;
        assertEquals(WarmupRule.WINDOW * (1 + WarmupRule.PATIENCE), stepsUntilStop(new WarmupRule(CAP * 100, 1000, 0), ms, i -> 0));
        // 5% faster is progress: the count of steady windows starts again at the second window.
        ms[WarmupRule.WINDOW] = 95;
        assertEquals(WarmupRule.WINDOW * (2 + WarmupRule.PATIENCE), stepsUntilStop(new WarmupRule(CAP * 100, 1000, 0), ms, i -> 0));
    }

    @Test
    void theStepCapAndTheTimeCapEachEndIt() {
        assertEquals(5, stepsUntilStop(new WarmupRule(CAP, 5, 0), new long[] {1}, i -> i));
        assertEquals(1, stepsUntilStop(new WarmupRule(CAP, 1, 0), new long[] {1}, i -> i));
        // 700 ms steps: the fifth passes 3 s.
        assertEquals(5, stepsUntilStop(new WarmupRule(CAP, 1000, 0), new long[] {700}, i -> i));
        WarmupRule rule = new WarmupRule(CAP, 1000, 0);
        assertFalse(rule.stop(MS, CAP - 1, 0));
        assertTrue(rule.stop(MS, CAP, 0));
        assertEquals(2, rule.steps());
    }

    @Test
    void aStepCapBelowOneIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new WarmupRule(CAP, 0, 0));
        assertEquals("maxSteps must be >= 1, got 0", e.getMessage());
    }
}
