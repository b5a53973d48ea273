package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class DataLoaderTest {
    /** n images of h x w, pixel (img, i, j) = (img * 13 + i * 37 + j * 11 + 3) mod 256, label img mod 10. */
    static LabeledImages synthetic(int n, int h, int w) {
        byte[] px = new byte[n * h * w];
        byte[] lab = new byte[n];
        for (int k = 0; k < n; k++) {
            lab[k] = (byte) (k % 10);
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    px[(k * h + i) * w + j] = (byte) (k * 13 + i * 37 + j * 11 + 3);
                }
            }
        }
        return new LabeledImages(px, lab, n, h, w);
    }

    private static void assertPermutation(int[] order, int n) {
        assertEquals(n, order.length);
        boolean[] seen = new boolean[n];
        for (int v : order) {
            assertTrue(v >= 0 && v < n, "index " + v);
            assertFalse(seen[v], "index " + v + " twice");
            seen[v] = true;
        }
    }

    @Test
    void ordersArePermutations() {
        for (int n : new int[] {1, 2, 7, 100, 1001}) {
            DataLoader dl = new DataLoader(synthetic(n, 2, 2), 3, true, false, 42);
            for (int epoch = 0; epoch < 5; epoch++) {
                assertPermutation(dl.order(epoch), n);
            }
        }
    }

    @Test
    void identityWithoutShuffle() {
        DataLoader dl = new DataLoader(synthetic(17, 2, 2), 4, false, false, 42);
        int[] id = new int[17];
        Arrays.setAll(id, i -> i);
        assertArrayEquals(id, dl.order(0));
        assertArrayEquals(id, dl.order(9));
    }

    @Test
    void deterministicForASeedAndDifferentAcrossEpochsAndSeeds() {
        LabeledImages li = synthetic(500, 2, 2);
        DataLoader a = new DataLoader(li, 32, true, false, 7);
        DataLoader b = new DataLoader(li, 64, true, true, 7); // batching does not change the order
        // the order of an epoch does not depend on which epochs were asked for before
        int[] a3 = a.order(3);
        a.order(0);
        a.order(1);
        assertArrayEquals(a3, a.order(3));
        for (int epoch = 0; epoch < 4; epoch++) {
            assertArrayEquals(a.order(epoch), b.order(epoch), "epoch " + epoch);
        }
        for (int e1 = 0; e1 < 6; e1++) {
            for (int e2 = e1 + 1; e2 < 6; e2++) {
                assertFalse(Arrays.equals(a.order(e1), a.order(e2)), "epochs " + e1 + " and " + e2);
            }
        }
        DataLoader c = new DataLoader(li, 32, true, false, 8);
        assertFalse(Arrays.equals(a.order(0), c.order(0)));
        // the pinned order of a tiny case, so a change of the shuffling algorithm is noticed
        DataLoader tiny = new DataLoader(synthetic(10, 1, 1), 1, true, false, 0);
        int[] first = tiny.order(0);
        assertPermutation(first, 10);
        assertArrayEquals(first, new DataLoader(synthetic(10, 1, 1), 5, true, false, 0).order(0));
        assertNotEquals(0L, DataLoader.epochSeed(0, 0));
        assertNotEquals(DataLoader.epochSeed(0, 1), DataLoader.epochSeed(1, 0));
    }

    @Test
    void shuffleIsRoughlyUniform() {
        // each of 4 items lands first in about a quarter of 8000 epochs (expected 2000, sd about 39)
        DataLoader dl = new DataLoader(synthetic(4, 1, 1), 1, true, false, 123);
        int[] first = new int[4];
        int[] last = new int[4];
        int[] buf = new int[4];
        for (int epoch = 0; epoch < 8000; epoch++) {
            dl.order(epoch, buf);
            first[buf[0]]++;
            last[buf[3]]++;
        }
        for (int i = 0; i < 4; i++) {
            assertTrue(Math.abs(first[i] - 2000) < 200, "item " + i + " first " + first[i] + " times");
            assertTrue(Math.abs(last[i] - 2000) < 200, "item " + i + " last " + last[i] + " times");
        }
    }

    @Test
    void dropLast() {
        LabeledImages li = synthetic(10, 3, 3);
        DataLoader keep = new DataLoader(li, 4, false, false, 0);
        DataLoader drop = new DataLoader(li, 4, false, true, 0);
        assertEquals(3, keep.batches());
        assertEquals(10, keep.examples());
        assertEquals(2, keep.batchLength(2));
        assertEquals(2, drop.batches());
        assertEquals(8, drop.examples());
        assertArrayEquals(new int[] {4, 4, 2}, new int[] {keep.batchLength(0), keep.batchLength(1), keep.batchLength(2)});
        assertArrayEquals(new int[] {4, 4}, new int[] {drop.batchLength(0), drop.batchLength(1)});
        // exact multiple: dropLast changes nothing
        assertEquals(5, new DataLoader(li, 2, true, true, 0).batches());
        assertEquals(5, new DataLoader(li, 2, true, false, 0).batches());
        // one batch larger than the set without dropLast: all images in one batch
        DataLoader big = new DataLoader(li, 64, true, false, 0);
        assertEquals(1, big.batches());
        assertEquals(10, big.batchLength(0));
    }

    @Test
    void argumentsAreValidated() {
        LabeledImages li = synthetic(10, 2, 2);
        assertEquals("batchSize must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(li, 0, true, false, 0)).getMessage());
        assertEquals("batchSize 11 is larger than the 10 images, and dropLast leaves no batch",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(li, 11, true, true, 0)).getMessage());
        assertEquals("images: the data set is empty", assertThrows(IllegalArgumentException.class,
                () -> new DataLoader(new LabeledImages(new byte[0], new byte[0], 0, 2, 2), 1, true, false, 0)).getMessage());
        assertThrows(NullPointerException.class, () -> new DataLoader(null, 1, true, false, 0));
        DataLoader dl = new DataLoader(li, 4, true, false, 0);
        assertEquals("epoch must be at least 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> dl.order(-1)).getMessage());
        assertEquals("order buffer has 5 entries, needs 10",
                assertThrows(IllegalArgumentException.class, () -> dl.order(0, new int[5])).getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> dl.batchLength(3));
    }
}
