package dev.normnet.backend.cpu;

import dev.normnet.backend.ResidentImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.normnet.backend.cpu.Fixtures.RTOL;
import static dev.normnet.Closeness.assertClose;
import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.output;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** uploadImages and gatherBatch: order, cursor, scaling, labels and bilinear resizing. */
class CpuBackendDataTest {
    private static final int COUNT = 6;
    private static final int H = 28;
    private static final int W = 28;
    private static CpuBackend backend;
    private static byte[] pixels;
    private static byte[] labels;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
        Random rnd = new Random(3);
        pixels = new byte[COUNT * H * W];
        rnd.nextBytes(pixels);
        labels = new byte[] {9, 0, 3, 7, 1, 5};
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    /** torch.nn.functional.interpolate(bilinear, align_corners=False) of one image, in float64, divided by 255. */
    private static double[] bilinear(int image, int outH, int outW) {
        double[] out = new double[outH * outW];
        for (int oy = 0; oy < outH; oy++) {
            double sy = Math.max((oy + 0.5) * H / outH - 0.5, 0);
            int y0 = (int) Math.floor(sy);
            int y1 = Math.min(y0 + 1, H - 1);
            double ly = sy - y0;
            for (int ox = 0; ox < outW; ox++) {
                double sx = Math.max((ox + 0.5) * W / outW - 0.5, 0);
                int x0 = (int) Math.floor(sx);
                int x1 = Math.min(x0 + 1, W - 1);
                double lx = sx - x0;
                double v = (1 - ly) * ((1 - lx) * px(image, y0, x0) + lx * px(image, y0, x1))
                        + ly * ((1 - lx) * px(image, y1, x0) + lx * px(image, y1, x1));
                out[oy * outW + ox] = v / 255.0;
            }
        }
        return out;
    }

    private static int px(int image, int y, int x) {
        return pixels[(image * H + y) * W + x] & 0xFF;
    }

    @Test
    void gathersInOrderFromTheCursorAndAdvancesIt() {
        ResidentImages images = backend.uploadImages(pixels, labels, COUNT, H, W);
        assertEquals(COUNT, images.count());
        CpuTensor order = tensor(new float[] {4f, 2f, 5f, 0f, 3f, 1f}, COUNT);
        CpuTensor cursor = tensor(new float[] {1f}, 1);
        CpuTensor x = output(2, 1, H, W);
        CpuTensor y = output(2);
        backend.gatherBatch(images, order, cursor, x, y);
        assertEquals(3f, cursor.get(0), "cursor advanced by the batch size");
        assertArrayEquals(new float[] {3f, 5f}, y.toArray(), "labels of images 2 and 5");
        float[] xs = x.toArray();
        int[] expectedImages = {2, 5};
        for (int i = 0; i < 2; i++) {
            double[] expected = new double[H * W];
            for (int j = 0; j < H * W; j++) {
                expected[j] = (pixels[expectedImages[i] * H * W + j] & 0xFF) / 255.0;
            }
            assertClose("x[" + i + "] is image " + expectedImages[i] + " / 255", expected,
                    java.util.Arrays.copyOfRange(xs, i * H * W, (i + 1) * H * W), RTOL);
        }
        backend.gatherBatch(images, order, cursor, x, y);
        assertEquals(5f, cursor.get(0));
        assertArrayEquals(new float[] {9f, 7f}, y.toArray(), "labels of images 0 and 3");
        assertGuards("x", x);
        assertGuards("labels", y);
        assertGuards("cursor", cursor);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.gatherBatch(images, order, cursor, x, y));
        assertTrue(e.getMessage().contains("gatherBatch") && e.getMessage().contains("ran out")
                && e.getMessage().contains("cursor 5"), e.getMessage());
    }

    @Test
    void resizesBilinearlyWithHalfPixelCentres() {
        ResidentImages images = backend.uploadImages(pixels, labels, COUNT, H, W);
        for (int size : new int[] {32, 57}) {
            CpuTensor order = tensor(new float[] {3f, 1f, 0f}, 3);
            CpuTensor cursor = tensor(new float[] {0f}, 1);
            CpuTensor x = output(3, 1, size, size);
            CpuTensor y = output(3);
            backend.gatherBatch(images, order, cursor, x, y);
            float[] xs = x.toArray();
            int[] expectedImages = {3, 1, 0};
            for (int i = 0; i < 3; i++) {
                float[] got = java.util.Arrays.copyOfRange(xs, i * size * size, (i + 1) * size * size);
                assertClose("image " + expectedImages[i] + " resized to " + size, bilinear(expectedImages[i], size, size),
                        got, RTOL);
            }
            assertArrayEquals(new float[] {7f, 0f, 9f}, y.toArray());
            assertGuards("x", x);
        }
    }

    @Test
    void rejectsBadIndicesAndShapes() {
        ResidentImages images = backend.uploadImages(pixels, labels, COUNT, H, W);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.gatherBatch(images,
                tensor(new float[] {0f, 6f}, 2), tensor(new float[1], 1), output(2, 1, H, W), output(2)));
        assertTrue(e.getMessage().contains("order[1] = 6.0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.gatherBatch(images,
                tensor(new float[] {0f, 1f}, 2), tensor(new float[1], 1), output(2, 3, H, W), output(2)));
        assertTrue(e.getMessage().contains("gatherBatch") && e.getMessage().contains("[2, 3, 28, 28]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.uploadImages(pixels, labels, COUNT, H, W + 1));
        assertTrue(e.getMessage().contains("uploadImages"), e.getMessage());
    }
}
