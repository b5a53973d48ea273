package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Bilinear resizing against a float64 reference and against values torch computed; uint8 resampling. */
class ResizeTest {
    private static LabeledImages synthetic(int n, int h, int w) {
        return DataLoaderTest.synthetic(n, h, w);
    }

    @Test
    void sameSizeIsPixelOver255() {
        LabeledImages li = synthetic(3, 28, 28);
        float[] x = new float[3 * 784];
        for (int k = 0; k < 3; k++) {
            Resize.bilinear(li.pixels(), k * 784, 28, 28, x, k * 784, 28, 28, 255f);
        }
        for (int i = 0; i < 3 * 784; i++) {
            // ToTensor's float division, bit for bit
            assertEquals((li.pixels()[i] & 0xFF) / 255f, x[i], 0f, "value " + i);
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
            float[] x = new float[2 * s * s];
            double maxDiff = 0;
            for (int k = 0; k < 2; k++) {
                Resize.bilinear(li.pixels(), k * c[0] * c[1], c[0], c[1], x, k * s * s, s, s, 255f);
                double[] ref = reference(li.pixels(), k * c[0] * c[1], c[0], c[1], s, s);
                for (int i = 0; i < s * s; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(ref[i] - x[k * s * s + i]));
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
        checkTorch(resized(li, 32), 32, to32);
        checkTorch(resized(li, 224), 224, to224);
        LabeledImages small = synthetic(1, 5, 4);
        float[] out = new float[7 * 9];
        Resize.bilinear(small.pixels(), 0, 5, 4, out, 0, 7, 9, 255f);
        checkTorch(out, 9, to7x9);
    }

    /** Image 0 of {@code li} resized to s x s, values pixel/255. */
    private static float[] resized(LabeledImages li, int s) {
        float[] x = new float[s * s];
        Resize.bilinear(li.pixels(), 0, li.height(), li.width(), x, 0, s, s, 255f);
        return x;
    }

    private static void checkTorch(float[] x, int width, double[][] golden) {
        for (double[] g : golden) {
            float v = x[(int) g[0] * width + (int) g[1]];
            assertEquals(g[2], v, 1e-6, "(" + (int) g[0] + ", " + (int) g[1] + ")");
        }
    }

    @Test
    void resampleAveragesShrinkingAxesAndInterpolatesGrowingOnes() {
        // 2 x 2 blocks averaged, halves rounded up
        byte[] src = {0, 1, 1, 1, 0, 0, 1, 2, 1, 2, 9, 9, 1, 2, 9, 9};
        assertArrayEquals(new byte[] {0, 1, 2, 9}, Resize.resample(src, 4, 4, 2, 2));
        // 3 -> 2: output 0 covers pixel 0 and half of pixel 1: (2*0 + 30) / 3, (30 + 2*90) / 3
        assertArrayEquals(new byte[] {10, 70}, Resize.resample(new byte[] {0, 30, 90}, 1, 3, 1, 2));
        // same size: a copy
        assertArrayEquals(src, Resize.resample(src, 4, 4, 4, 4));
        // growing: bilinear's values, rounded
        SplittableRandom rnd = new SplittableRandom(5);
        byte[] small = new byte[7 * 9];
        for (int i = 0; i < small.length; i++) {
            small[i] = (byte) rnd.nextInt(256);
        }
        float[] bilinear = new float[28 * 32];
        Resize.bilinear(small, 0, 7, 9, bilinear, 0, 28, 32, 1f);
        byte[] out = Resize.resample(small, 7, 9, 28, 32);
        for (int i = 0; i < out.length; i++) {
            float f = bilinear[i];
            if (Math.abs(f - Math.floor(f) - 0.5f) > 1e-3f) {
                assertEquals((int) Math.floor(f + 0.5f), out[i] & 0xFF, "pixel " + i + " bilinear " + f);
            }
        }
    }

}
