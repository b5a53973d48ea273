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
        int[] calls = {0};
        // Each step faster than the one before (100, 60, 20 ms), so that a busy machine's delays
        // cannot make the second look slower than the first and prolong the warm-up.
        Runnable step = () -> {
            calls[0]++;
            try {
                Thread.sleep(Math.max(20, 140 - 40 * calls[0]));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        Timer.Result r = new Timer(0.0, 0.02, 1).measure(step, () -> { });
        assertEquals(1, r.steps());
        assertEquals(3, calls[0], "two warm-up steps and one timed step");
    }

    @Test
    void rejectsNonPositiveSettings() {
        assertThrows(IllegalArgumentException.class, () -> new Timer(0, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> new Timer(0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Timer(-1, 1, 1));
    }
}
