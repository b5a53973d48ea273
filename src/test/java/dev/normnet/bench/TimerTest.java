package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TimerTest {
    @Test
    void ratesAndMillisecondsFromRunSeconds() {
        Timer.Result r = new Timer.Result(10, new double[] {1.0, 2.0, 4.0});
        Stats rate = r.rate(5);                 // 50 examples per run
        assertEquals(25.0, rate.median(), 1e-12);
        assertEquals(12.5, rate.min(), 1e-12);
        assertEquals(50.0, rate.max(), 1e-12);
        assertEquals(200.0, r.millisPerStep().median(), 1e-12);
    }

    @Test
    void measureRunsWarmUpThenRepeatsOfTheChosenStepCount() {
        int[] calls = {0};
        int[] syncs = {0};
        Runnable step = () -> {
            calls[0]++;
            long end = System.nanoTime() + 200_000;   // 0.2 ms of work
            while (System.nanoTime() < end) {
                Thread.onSpinWait();
            }
        };
        Timer.Result r = new Timer(0.0, 0.02, 4).measure(step, () -> syncs[0]++);
        assertEquals(4, r.seconds().length);
        assertTrue(r.steps() >= 1 && r.steps() <= 100, "about 0.02 s / 0.2 ms = 100 steps or fewer, got " + r.steps());
        assertTrue(calls[0] >= 2 + 4 * r.steps(), "at least two warm-up steps and all timed steps ran: " + calls[0]);
        for (double s : r.seconds()) {
            assertTrue(s >= r.steps() * 200e-6, "a run cannot be faster than its steps: " + s);
        }
        assertTrue(syncs[0] >= 2 * 4, "each timed run synchronizes before and after");
    }

    @Test
    void aSlowStepIsNotRepeatedForCalibration() {
        // A clock that only the steps advance (100, 60, 20, 20 ms ...), so the machine's load
        // cannot make the second step look slower than the first and prolong the warm-up.
        long[] now = {0};
        int[] calls = {0};
        Runnable step = () -> {
            calls[0]++;
            now[0] += Math.max(20, 140 - 40 * calls[0]) * 1_000_000L;
        };
        Timer.Result r = new Timer(0.0, 0.02, 1).measure(step, () -> { }, () -> now[0]);
        assertEquals(1, r.steps());
        assertEquals(3, calls[0], "two warm-up steps and one timed step");
        assertEquals(0.020, r.seconds()[0], 1e-12);
    }

    @Test
    void warmUpGoesOnWhileTheLastStepIsSlowerThanTheFastest() {
        // 50, 100, 50 ms: the second step is over 1.25x the fastest, so a third warms up; then
        // two runs of two 50 ms steps fill the 0.1 s target.
        assertEquals(3 + 2 * 2, callsOnFakeClock(new long[] {50, 100, 50}, 50, new Timer(0.0, 0.1, 2)));
        // 50 ms, then 1 s steps: still slow after 3 s of extra warm-up (four steps, 3.05 s), it
        // stops warming and times one step per run.
        assertEquals(4 + 2, callsOnFakeClock(new long[] {50}, 1000, new Timer(0.0, 0.1, 2)));
    }

    @Test
    void warmUpGoesOnWhileTheJitIsStillCompiling() {
        // 50 ms steps from the start, the JIT finishing a compilation after each of the first 40
        // steps (2 s): warming stops once a second has passed without one (20 more steps), then two
        // runs of two steps fill the 0.1 s target.
        long[] now = {0};
        int[] calls = {0};
        Runnable step = () -> {
            now[0] += 50_000_000L;
            calls[0]++;
        };
        new Timer(0.0, 0.1, 2).measure(step, () -> { }, () -> now[0], () -> Math.min(calls[0], 40));
        assertEquals(40 + 20 + 2 * 2, calls[0]);
        // a JIT that never settles: the warm-up ends 10 s past the minimum (200 steps)
        calls[0] = 0;
        now[0] = 0;
        new Timer(0.0, 0.1, 2).measure(step, () -> { }, () -> now[0], () -> calls[0]);
        assertEquals(200 + 2 * 2, calls[0]);
    }

    /** Runs the timer on a clock that only the steps advance, by the given milliseconds (then {@code rest} each). */
    private static int callsOnFakeClock(long[] millis, long rest, Timer timer) {
        long[] now = {0};
        int[] calls = {0};
        Runnable step = () -> {
            now[0] += (calls[0] < millis.length ? millis[calls[0]] : rest) * 1_000_000L;
            calls[0]++;
        };
        timer.measure(step, () -> { }, () -> now[0]);
        return calls[0];
    }

    @Test
    void rejectsNonPositiveSettings() {
        assertThrows(IllegalArgumentException.class, () -> new Timer(0, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> new Timer(0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Timer(-1, 1, 1));
    }
}
