package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class StatsTest {
    @Test
    void oddCountMedianIsTheMiddleValue() {
        Stats s = Stats.of(5, 1, 3);
        assertEquals(3, s.median());
        assertEquals(1, s.min());
        assertEquals(5, s.max());
        assertEquals(2, s.q1());
        assertEquals(4, s.q3());
        assertArrayEquals(new double[] {5, 1, 3}, s.runs(), "runs keep their measurement order");
    }

    @Test
    void quartilesInterpolateAsNumpy() {
        // numpy.percentile([1, 2, 4, 10], [25, 50, 75]) == [1.75, 3.0, 5.5]
        Stats s = Stats.of(10, 2, 1, 4);
        assertEquals(1.75, s.q1(), 1e-12);
        assertEquals(3.0, s.median(), 1e-12);
        assertEquals(5.5, s.q3(), 1e-12);
        assertEquals(50.0 * 9 / 3, s.spreadPercent(), 1e-12);
    }

    @Test
    void singleValue() {
        Stats s = Stats.of(7);
        assertEquals(7, s.median());
        assertEquals(7, s.q1());
        assertEquals(7, s.q3());
    }

    @Test
    void noValuesIsAnError() {
        assertThrows(IllegalArgumentException.class, Stats::of);
    }
}
