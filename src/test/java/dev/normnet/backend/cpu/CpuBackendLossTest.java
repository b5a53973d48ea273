package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.normnet.backend.cpu.Fixtures.RTOL;
import static dev.normnet.Closeness.assertClose;
import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.numericGradient;
import static dev.normnet.backend.cpu.Fixtures.output;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static dev.normnet.backend.cpu.Fixtures.toDouble;
import static dev.normnet.backend.cpu.Fixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fused softmax cross-entropy: loss and accuracy metrics (accumulated), and the gradient of the mean loss. */
class CpuBackendLossTest {
    private static CpuBackend backend;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    private static float[] asFloats(int[] labels) {
        float[] f = new float[labels.length];
        for (int i = 0; i < labels.length; i++) {
            f[i] = labels[i];
        }
        return f;
    }

    @Test
    void lossMetricsAndGradientMatchReference() {
        Random rnd = new Random(7);
        int n = 7;
        int k = 10;
        float[] logits = uniform(rnd, n * k, -3, 3);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = rnd.nextInt(k);
        }
        logits[2 * k + labels[2]] = 9f;                      // rows 2 and 5 predicted correctly
        logits[5 * k + labels[5]] = 8f;
        logits[3 * k + (labels[3] + 1) % k] = 9f;            // row 3 certainly wrong
        int expectedHits = 0;
        for (int i = 0; i < n; i++) {
            int arg = 0;
            for (int j = 1; j < k; j++) {
                if (logits[i * k + j] > logits[i * k + arg]) {
                    arg = j;
                }
            }
            expectedHits += arg == labels[i] ? 1 : 0;
        }
        assertTrue(expectedHits >= 2);

        CpuTensor metrics = tensor(new float[] {1.5f, 2f}, 2);
        CpuTensor dlogits = output(n, k);
        backend.softmaxCrossEntropy(tensor(logits, n, k), tensor(asFloats(labels), n), dlogits, metrics);
        double[] rows = Reference64.crossEntropyRows(toDouble(logits), n, k, labels);
        double sum = 0;
        for (double r : rows) {
            sum += r;
        }
        assertClose("metrics[0] = 1.5 + summed loss", new double[] {1.5 + sum}, new float[] {metrics.get(0)}, RTOL);
        assertEquals(2f + expectedHits, metrics.get(1), "metrics[1] = 2 + correct rows");
        assertGuards("metrics", metrics);

        double[] expectedGrad = numericGradient(l -> new double[] {Reference64.crossEntropyMean(l, n, k, labels)},
                toDouble(logits), new double[] {1.0}, 1e-4);
        assertClose("dlogits", expectedGrad, dlogits.toArray(), RTOL);
        assertGuards("dlogits", dlogits);

        // Without dlogits only the metrics are accumulated, again.
        backend.softmaxCrossEntropy(tensor(logits, n, k), tensor(asFloats(labels), n), null, metrics);
        assertClose("metrics[0] after a second call", new double[] {1.5 + 2 * sum}, new float[] {metrics.get(0)}, RTOL);
        assertEquals(2f + 2 * expectedHits, metrics.get(1));
    }

    @Test
    void largeLogitsStayFinite() {
        float[] logits = {1000f, -1000f, 0f, 500f, 1000f, 990f};      // (2, 3)
        int[] labels = {2, 1};
        CpuTensor metrics = tensor(new float[2], 2);
        CpuTensor dlogits = output(2, 3);
        backend.softmaxCrossEntropy(tensor(logits, 2, 3), tensor(asFloats(labels), 2), dlogits, metrics);
        // Row 0: loss 1000, softmax (1, 0, 0). Row 1: loss log(1 + e^-10), softmax (0, 1 - p, p), p = e^-10 / (1 + e^-10).
        double p = Math.exp(-10) / (1 + Math.exp(-10));
        double loss = 1000 + Math.log1p(Math.exp(-10));
        assertClose("loss with logits of 1000", new double[] {loss}, new float[] {metrics.get(0)}, RTOL);
        assertEquals(1f, metrics.get(1), "row 1 is predicted correctly, row 0 is not");
        double[] expectedGrad = {0.5, 0, -0.5, 0, -p / 2, p / 2};
        assertClose("dlogits with logits of 1000", expectedGrad, dlogits.toArray(), RTOL);
    }

    @Test
    void firstArgMaxDecidesAccuracyOnTies() {
        float[] logits = {2f, 5f, 5f, 5f, 5f, 1f};           // (2, 3), ties between columns 1 and 2 and 0 and 1
        CpuTensor metrics = tensor(new float[2], 2);
        backend.softmaxCrossEntropy(tensor(logits, 2, 3), tensor(new float[] {2f, 0f}, 2), null, metrics);
        assertEquals(1f, metrics.get(1), "row 0 (label 2 tied with 1) is wrong, row 1 (label 0 tied with 1) right");
    }

    @Test
    void labelsOutsideTheClassesAreRejectedWithRowAndValue() {
        float[] logits = new float[4 * 3];
        for (float bad : new float[] {-1f, 3f, 1.5f, Float.NaN}) {
            float[] labels = {0f, 1f, bad, 2f};
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    backend.softmaxCrossEntropy(tensor(logits, 4, 3), tensor(labels, 4), null, tensor(new float[2], 2)));
            assertTrue(e.getMessage().contains("softmaxCrossEntropy") && e.getMessage().contains("row 2")
                    && e.getMessage().contains(Float.toString(bad)) && e.getMessage().contains("[0, 3)"), e.getMessage());
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                backend.softmaxCrossEntropy(output(4, 10), output(5), null, output(2)));
        assertTrue(e.getMessage().contains("softmaxCrossEntropy") && e.getMessage().contains("[5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                backend.softmaxCrossEntropy(output(4, 10), output(4), output(10, 4), output(2)));
        assertTrue(e.getMessage().contains("[10, 4]"), e.getMessage());
    }
}
