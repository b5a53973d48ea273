package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ResizeTest {
    @Test
    void planGivesTheSameBitsAsBilinear() {
        int[][] cases = {{28, 28, 32, 32}, {28, 28, 224, 224}, {5, 4, 7, 9}, {28, 28, 28, 28}, {28, 28, 14, 14},
            {3, 3, 1, 1}, {1, 1, 5, 3}, {9, 2, 4, 11}};
        for (int[] c : cases) {
            LabeledImages li = DataLoaderTest.synthetic(3, c[0], c[1]);
            Resize.Plan plan = Resize.plan(c[0], c[1], c[2], c[3]);
            int n = c[2] * c[3];
            for (int k = 0; k < 3; k++) {
                float[] a = new float[n + 2];
                float[] b = new float[n + 2];
                Resize.bilinear(li.pixels(), k * c[0] * c[1], c[0], c[1], a, 1, c[2], c[3], 255f);
                plan.apply(li.pixels(), k * c[0] * c[1], b, 1, 255f);
                assertArrayEquals(a, b, c[0] + "x" + c[1] + " -> " + c[2] + "x" + c[3]);
            }
        }
    }

    @Test
    void badGeometry() {
        assertThrows(IllegalArgumentException.class, () -> Resize.plan(0, 28, 32, 32));
    }
}
