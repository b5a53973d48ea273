package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Iterator;
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
            DataLoader dl = new DataLoader(synthetic(n, 2, 2), 3, true, false, 42, 2);
            for (int epoch = 0; epoch < 5; epoch++) {
                assertPermutation(dl.order(epoch), n);
            }
        }
    }

    @Test
    void identityWithoutShuffle() {
        DataLoader dl = new DataLoader(synthetic(17, 2, 2), 4, false, false, 42, 2);
        int[] id = new int[17];
        Arrays.setAll(id, i -> i);
        assertArrayEquals(id, dl.order(0));
        assertArrayEquals(id, dl.order(9));
    }

    @Test
    void deterministicForASeedAndDifferentAcrossEpochsAndSeeds() {
        LabeledImages li = synthetic(500, 2, 2);
        DataLoader a = new DataLoader(li, 32, true, false, 7, 2);
        DataLoader b = new DataLoader(li, 64, true, true, 7, 2); // batching does not change the order
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
        DataLoader c = new DataLoader(li, 32, true, false, 8, 2);
        assertFalse(Arrays.equals(a.order(0), c.order(0)));
        // the pinned order of a tiny case, so a change of the shuffling algorithm is noticed
        DataLoader tiny = new DataLoader(synthetic(10, 1, 1), 1, true, false, 0, 1);
        int[] first = tiny.order(0);
        assertPermutation(first, 10);
        assertArrayEquals(first, new DataLoader(synthetic(10, 1, 1), 5, true, false, 0, 1).order(0));
        assertNotEquals(0L, DataLoader.epochSeed(0, 0));
        assertNotEquals(DataLoader.epochSeed(0, 1), DataLoader.epochSeed(1, 0));
    }

    @Test
    void shuffleIsRoughlyUniform() {
        // each of 4 items lands first in about a quarter of 8000 epochs (expected 2000, sd about 39)
        DataLoader dl = new DataLoader(synthetic(4, 1, 1), 1, true, false, 123, 1);
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
        DataLoader keep = new DataLoader(li, 4, false, false, 0, 3);
        DataLoader drop = new DataLoader(li, 4, false, true, 0, 3);
        assertEquals(3, keep.batches());
        assertEquals(10, keep.examples());
        assertEquals(2, keep.batchLength(2));
        assertEquals(2, drop.batches());
        assertEquals(8, drop.examples());
        int[] sizes = new int[3];
        int k = 0;
        for (DataLoader.Batch b : keep.epoch(0)) {
            sizes[k++] = b.size();
            assertEquals(b.size(), b.labels().length);
            assertEquals(b.size() * 9, b.x().length);
        }
        assertArrayEquals(new int[] {4, 4, 2}, sizes);
        k = 0;
        for (DataLoader.Batch b : drop.epoch(0)) {
            assertEquals(4, b.size());
            k++;
        }
        assertEquals(2, k);
        // exact multiple: dropLast changes nothing
        assertEquals(5, new DataLoader(li, 2, true, true, 0, 3).batches());
        assertEquals(5, new DataLoader(li, 2, true, false, 0, 3).batches());
        // one batch larger than the set without dropLast: all images in one batch
        DataLoader big = new DataLoader(li, 64, true, false, 0, 3);
        assertEquals(1, big.batches());
        assertEquals(10, big.epoch(0).iterator().next().size());
    }

    @Test
    void batchesFollowTheOrderAndReuseBuffers() {
        LabeledImages li = synthetic(23, 5, 4);
        DataLoader dl = new DataLoader(li, 5, true, false, 99, 0 + 4 + 1); // resize 5 x 5 from 5 x 4
        int[] order = dl.order(2);
        Iterator<DataLoader.Batch> it = dl.epoch(2).iterator();
        float[] firstX = null;
        float[] expected = new float[25];
        int seen = 0;
        while (it.hasNext()) {
            DataLoader.Batch b = it.next();
            if (firstX == null) {
                firstX = b.x();
            } else if (b.size() == 5) {
                assertSame(firstX, b.x(), "full batches reuse one buffer");
            }
            for (int i = 0; i < b.size(); i++) {
                int j = order[b.index() * 5 + i];
                assertEquals(li.label(j), b.labels()[i]);
                Resize.bilinear(li.pixels(), j * 20, 5, 4, expected, 0, 5, 5, 255f);
                assertArrayEquals(expected, Arrays.copyOfRange(b.x(), i * 25, (i + 1) * 25));
            }
            seen += b.size();
        }
        assertEquals(23, seen);
        assertThrows(java.util.NoSuchElementException.class, it::next);
    }

    @Test
    void sameSizeIsPixelOver255() {
        LabeledImages li = synthetic(3, 28, 28);
        DataLoader dl = new DataLoader(li, 3, false, false, 0, 28);
        DataLoader.Batch b = dl.epoch(0).iterator().next();
        for (int i = 0; i < 3 * 784; i++) {
            // ToTensor's float division, bit for bit
            assertEquals((li.pixels()[i] & 0xFF) / 255f, b.x()[i], 0f, "value " + i);
        }
    }

    /** PyTorch's bilinear interpolation (align_corners=False, no antialias) in float64. */
    static double[] reference(byte[] src, int off, int inH, int inW, int outH, int outW) {
        double[] out = new double[outH * outW];
        double sh = (double) inH / outH;
        double sw = (double) inW / outW;
        for (int oy = 0; oy < outH; oy++) {
            double fy = Math.max((oy + 0.5) * sh - 0.5, 0.0);
            int y0 = Math.min((int) Math.floor(fy), inH - 1);
            int y1 = Math.min(y0 + 1, inH - 1);
            double ly = fy - y0;
            for (int ox = 0; ox < outW; ox++) {
                double fx = Math.max((ox + 0.5) * sw - 0.5, 0.0);
                int x0 = Math.min((int) Math.floor(fx), inW - 1);
                int x1 = Math.min(x0 + 1, inW - 1);
                double lx = fx - x0;
                double v = (1 - ly) * ((1 - lx) * (src[off + y0 * inW + x0] & 0xFF) + lx * (src[off + y0 * inW + x1] & 0xFF))
                        + ly * ((1 - lx) * (src[off + y1 * inW + x0] & 0xFF) + lx * (src[off + y1 * inW + x1] & 0xFF));
                out[oy * outW + ox] = v / 255.0;
            }
        }
        return out;
    }

    @Test
    void resizeMatchesFloat64Reference() {
        int[][] cases = {{28, 28, 32}, {28, 28, 224}, {5, 4, 7}, {28, 28, 28}, {28, 28, 14}, {3, 3, 1}};
        for (int[] c : cases) {
            LabeledImages li = synthetic(2, c[0], c[1]);
            int s = c[2];
            DataLoader dl = new DataLoader(li, 2, false, false, 0, s);
            DataLoader.Batch b = dl.epoch(0).iterator().next();
            double maxDiff = 0;
            for (int k = 0; k < 2; k++) {
                double[] ref = reference(li.pixels(), k * c[0] * c[1], c[0], c[1], s, s);
                for (int i = 0; i < s * s; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(ref[i] - b.x()[k * s * s + i]));
                }
            }
            System.out.printf("resize %dx%d -> %dx%d: largest difference from float64 %.3g%n", c[0], c[1], s, s, maxDiff);
            assertTrue(maxDiff < 1e-6, c[0] + "x" + c[1] + " -> " + s + ": " + maxDiff);
        }
    }

    /**
     * Values produced by torch 1.13 (Debian's python3-torch) with
     * {@code torch.nn.functional.interpolate(x, size=(OH, OW), mode="bilinear", align_corners=False)}
     * where {@code x = torch.tensor([[(i*37 + j*11 + 3) % 256 for j in range(W)] for i in range(H)],
     * dtype=torch.float32).reshape(1, 1, H, W) / 255}; each row is {row, col, value}.
     */
    @Test
    void resizeMatchesTorch() {
        double[][] to32 = {
            {0, 0, 0.0117647061124444}, {0, 31, 0.1725490242242813}, {31, 0, 0.9176470637321472},
            {31, 31, 0.07450980693101883}, {5, 17, 0.272549033164978}, {16, 16, 0.6274510025978088},
            {20, 3, 0.6446078419685364}, {11, 29, 0.4833333492279053}};
        double[][] to224 = {
            {0, 0, 0.0117647061124444}, {3, 4, 0.014460784383118153}, {100, 57, 0.04264706000685692},
            {223, 223, 0.07450980693101883}, {111, 200, 0.5740196108818054}};
        double[][] to7x9 = {
            {0, 0, 0.0117647061124444}, {1, 2, 0.12103953212499619}, {3, 4, 0.36666667461395264},
            {6, 8, 0.7215686440467834}, {4, 7, 0.5278245210647583}, {2, 1, 0.20550887286663055}};
        // image 0 of synthetic() is exactly the torch input
        LabeledImages li = synthetic(1, 28, 28);
        checkTorch(new DataLoader(li, 1, false, false, 0, 32).epoch(0).iterator().next().x(), 32, to32);
        checkTorch(new DataLoader(li, 1, false, false, 0, 224).epoch(0).iterator().next().x(), 224, to224);
        LabeledImages small = synthetic(1, 5, 4);
        float[] out = new float[7 * 9];
        Resize.bilinear(small.pixels(), 0, 5, 4, out, 0, 7, 9, 255f);
        checkTorch(out, 9, to7x9);
    }

    private static void checkTorch(float[] x, int width, double[][] golden) {
        for (double[] g : golden) {
            float v = x[(int) g[0] * width + (int) g[1]];
            assertEquals(g[2], v, 1e-6, "(" + (int) g[0] + ", " + (int) g[1] + ")");
        }
    }

    @Test
    void argumentsAreValidated() {
        LabeledImages li = synthetic(10, 2, 2);
        assertEquals("batchSize must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(li, 0, true, false, 0, 2)).getMessage());
        assertEquals("resize must be in 1..4096, got 0",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(li, 4, true, false, 0, 0)).getMessage());
        assertEquals("batchSize 11 is larger than the 10 images, and dropLast leaves no batch",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(li, 11, true, true, 0, 2)).getMessage());
        assertEquals("images: the data set is empty", assertThrows(IllegalArgumentException.class,
                () -> new DataLoader(new LabeledImages(new byte[0], new byte[0], 0, 2, 2), 1, true, false, 0, 2)).getMessage());
        assertThrows(NullPointerException.class, () -> new DataLoader(null, 1, true, false, 0, 2));
        DataLoader dl = new DataLoader(li, 4, true, false, 0, 2);
        assertEquals("epoch must be at least 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> dl.order(-1)).getMessage());
        assertEquals("order buffer has 5 entries, needs 10",
                assertThrows(IllegalArgumentException.class, () -> dl.order(0, new int[5])).getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> dl.batchLength(3));
        int[] bad = {0, 1, 12};
        assertEquals("order[2] = 12 is not an image index (0..9)", assertThrows(IllegalArgumentException.class,
                () -> dl.gather(bad, 0, 3, new float[12], new float[3])).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> dl.gather(dl.order(0), 0, 4, new float[8], new float[4])).getMessage().startsWith("batch buffers too small"));
    }

    @Test
    void realFashionMnistEpoch() {
        org.junit.jupiter.api.Assumptions.assumeTrue(FashionMnistTest.debianPresent(),
                "Fashion-MNIST not installed at " + FashionMnistTest.DEBIAN);
        LabeledImages train = FashionMnist.load(FashionMnistTest.DEBIAN).train();
        for (int s : new int[] {28, 32}) {
            DataLoader dl = new DataLoader(train, 256, true, false, 1, s);
            long t0 = System.nanoTime();
            double sum = 0;
            int n = 0;
            for (DataLoader.Batch b : dl.epoch(0)) {
                n += b.size();
                sum += b.x()[0] + b.labels()[b.size() - 1];
            }
            double sec = (System.nanoTime() - t0) / 1e9;
            System.out.printf("host batches of Fashion-MNIST at %dx%d: %d images in %.2f s (%.0f images/s, checksum %.1f)%n",
                    s, s, n, sec, n / sec, sum);
            assertEquals(60000, n);
            assertEquals(235, dl.batches());
        }
    }
}
