package dev.normnet.loss;

import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The loss wrapper: summed loss and correct count accumulate; the gradient is that of the mean. */
class SoftmaxCrossEntropyLossTest {
    @Test
    void accumulatesSumsAndWritesTheMeanGradient() {
        try (CpuBackend backend = new CpuBackend(1)) {
            // Large logits in the second row: log-sum-exp must not overflow.
            float[] z = {1f, 2f, 0.5f, 1000f, 999f, -5f};
            float[] labelValues = {1f, 1f};
            Tensor logits = backend.upload(z, Shape.of(2, 3));
            Tensor labels = backend.upload(labelValues, Shape.of(2));
            Tensor dz = backend.allocate(Shape.of(2, 3));
            Tensor metrics = backend.allocate(Shape.of(2));
            SoftmaxCrossEntropyLoss loss = new SoftmaxCrossEntropyLoss(backend);
            loss.forwardBackward(logits, labels, dz, metrics);
            loss.forward(logits, labels, metrics);

            double[] expectedGrad = new double[6];
            double total = 0;
            int correct = 0;
            for (int r = 0; r < 2; r++) {
                double max = Math.max(z[3 * r], Math.max(z[3 * r + 1], z[3 * r + 2]));
                double sum = 0;
                for (int k = 0; k < 3; k++) {
                    sum += Math.exp(z[3 * r + k] - max);
                }
                int label = (int) labelValues[r];
                total += max + Math.log(sum) - z[3 * r + label];
                int arg = 0;
                for (int k = 1; k < 3; k++) {
                    if (z[3 * r + k] > z[3 * r + arg]) {
                        arg = k;
                    }
                }
                correct += arg == label ? 1 : 0;
                for (int k = 0; k < 3; k++) {
                    expectedGrad[3 * r + k] = (Math.exp(z[3 * r + k] - max) / sum - (k == label ? 1 : 0)) / 2;
                }
            }
            float[] m = metrics.toArray();
            assertEquals(2 * total, m[0], 1e-5 * 2 * total);     // two calls accumulate
            assertEquals(2 * correct, m[1]);
            float[] g = dz.toArray();
            for (int i = 0; i < 6; i++) {
                assertEquals(expectedGrad[i], g[i], 1e-6, "dlogits[" + i + "]");
            }
            assertThrows(IllegalArgumentException.class, () -> loss.forwardBackward(logits, labels, null, metrics));
        }
    }
}
