package dev.normnet.nn;

import dev.normnet.Closeness;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BatchNorm through a model: PyTorch's training, running-statistics and eval semantics against float64. */
class BatchNormTest {
    private final CpuBackend backend = new CpuBackend(2);

    @AfterEach
    void close() {
        backend.close();
    }

    /** A model of one BatchNorm with non-trivial gamma and beta. */
    private Sequential model(Shape sample) {
        Sequential m = new Sequential(new BatchNorm()).build(sample, 1);
        Map<String, float[]> s = m.state();
        float[] gamma = s.get("0.weight");
        float[] beta = s.get("0.bias");
        for (int c = 0; c < gamma.length; c++) {
            gamma[c] = 0.5f + 0.25f * c;
            beta[c] = 0.1f * c - 0.2f;
        }
        m.loadState(s);
        return m.to(backend);
    }

    private static float[] randn(int n, SplittableRandom r, double scale, double shift) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (shift + scale * (r.nextDouble() * 2 - 1));
        }
        return v;
    }

    /** Per channel (mean, biased var) in float64 of x viewed as (N, C, inner). */
    private static double[][] stats(float[] x, int n, int c, int inner) {
        double[][] out = new double[2][c];
        int m = n * inner;
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    sum += x[(i * c + ch) * inner + k];
                }
            }
            double mean = sum / m;
            double sq = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < inner; k++) {
                    double d = x[(i * c + ch) * inner + k] - mean;
                    sq += d * d;
                }
            }
            out[0][ch] = mean;
            out[1][ch] = sq / m;
        }
        return out;
    }

    private void checkSeveralSteps(Shape sample, int n) {
        Sequential m = model(sample);
        int c = sample.dim(0);
        int inner = sample.sizeFrom(1);
        int mm = n * inner;
        Map<String, float[]> init = m.state();
        double[] gamma = toDouble(init.get("0.weight"));
        double[] beta = toDouble(init.get("0.bias"));
        double[] runMean = new double[c];
        double[] runVar = new double[c];
        java.util.Arrays.fill(runVar, 1.0);
        assertArrayEquals(new float[c], init.get("0.running_mean"));
        assertArrayEquals(filled(c, 1f), init.get("0.running_var"));
        assertArrayEquals(new float[] {0f}, init.get("0.num_batches_tracked"));

        Sequential.Plan plan = m.plan(n);
        SplittableRandom r = new SplittableRandom(7);
        int steps = 5;
        for (int step = 0; step < steps; step++) {
            // A shifted, scaled input so that the mean is far from 0: catches E[x^2] - E[x]^2.
            float[] x = randn(n * c * inner, r, 2.0 + step, 50.0 + step);
            plan.input().copyFrom(x);
            plan.forward(true);
            float[] y = plan.output().toArray();
            double[][] st = stats(x, n, c, inner);
            double maxErr = 0;
            for (int i = 0; i < n; i++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int k = 0; k < inner; k++) {
                        int idx = (i * c + ch) * inner + k;
                        double ref = gamma[ch] * (x[idx] - st[0][ch]) / Math.sqrt(st[1][ch] + 1e-5) + beta[ch];
                        maxErr = Math.max(maxErr, Math.abs(y[idx] - ref));
                    }
                }
            }
            assertTrue(maxErr < 1e-4, "training-mode output differs from float64 by " + maxErr);
            for (int ch = 0; ch < c; ch++) {
                runMean[ch] = 0.9 * runMean[ch] + 0.1 * st[0][ch];
                runVar[ch] = 0.9 * runVar[ch] + 0.1 * st[1][ch] * mm / (mm - 1);
            }
        }
        Map<String, float[]> s = m.state();
        Closeness.assertClose("running_mean", runMean, s.get("0.running_mean"), 1e-5);
        Closeness.assertClose("running_var", runVar, s.get("0.running_var"), 1e-5);
        assertArrayEquals(new float[] {steps}, s.get("0.num_batches_tracked"));

        // Eval mode uses the running statistics and leaves them (and the counter) alone.
        float[] x = randn(n * c * inner, r, 3.0, 52.0);
        plan.input().copyFrom(x);
        plan.forward(false);
        float[] y = plan.output().toArray();
        double maxErr = 0;
        for (int idx = 0; idx < x.length; idx++) {
            int ch = (idx / inner) % c;
            double ref = gamma[ch] * (x[idx] - runMean[ch]) / Math.sqrt(runVar[ch] + 1e-5) + beta[ch];
            maxErr = Math.max(maxErr, Math.abs(y[idx] - ref));
        }
        assertTrue(maxErr < 1e-4, "eval-mode output differs from float64 by " + maxErr);
        assertArrayEquals(s.get("0.running_mean"), m.state().get("0.running_mean"));
        assertArrayEquals(new float[] {steps}, m.state().get("0.num_batches_tracked"));

        // Eval with a batch of one: a forward-only plan of its own.
        Sequential.Plan one = m.forwardPlan(1);
        float[] x1 = java.util.Arrays.copyOf(x, c * inner);
        one.input().copyFrom(x1);
        one.forward(false);
        float[] y1 = one.output().toArray();
        assertArrayEquals(java.util.Arrays.copyOf(y, c * inner), y1, 1e-6f);
        m.close();
    }

    @Test
    void fourDimensionalInputNormalizesPerChannelOverBatchAndSpace() {
        checkSeveralSteps(Shape.of(3, 4, 5), 6);
    }

    @Test
    void twoDimensionalInputNormalizesPerFeatureOverBatch() {
        checkSeveralSteps(Shape.of(7), 8);
    }

    @Test
    void typeNameFollowsInputRank() {
        BatchNorm a = new BatchNorm();
        new Sequential(a).build(Shape.of(3, 4, 4), 0);
        assertEquals("BatchNorm2d", a.typeName());
        BatchNorm b = new BatchNorm();
        new Sequential(b).build(Shape.of(5), 0);
        assertEquals("BatchNorm1d", b.typeName());
        assertThrows(IllegalArgumentException.class, () -> new Sequential(new BatchNorm()).build(Shape.of(2, 3), 0));
    }

    @Test
    void trainingWithOneValuePerChannelFailsAsPyTorch() {
        Sequential m = model(Shape.of(4));
        // Refused when the training plan is made, before any buffer is allocated or step runs.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.plan(1));
        assertEquals("layer 0 (BatchNorm1d): expected more than 1 value per channel when training, got input shape [1, 4]",
                e.getMessage());
        // A forward-only plan of one sample runs in eval mode; the backend refuses training mode on it.
        Sequential.Plan plan = m.forwardPlan(1);
        plan.input().copyFrom(new float[] {1, 2, 3, 4});
        e = assertThrows(IllegalArgumentException.class, () -> plan.forward(true));
        assertTrue(e.getMessage().contains("expected more than 1 value per channel when training"), e.getMessage());
        assertArrayEquals(new float[] {0f}, m.state().get("0.num_batches_tracked"), "a failed step must not count");
        // 4-D with one image but several pixels per channel is fine (m = H*W).
        Sequential img = model(Shape.of(2, 2, 2));
        Sequential.Plan p = img.plan(1);
        p.input().copyFrom(new float[] {1, 2, 3, 4, 5, 6, 7, 9});
        p.forward(true);
        assertArrayEquals(new float[] {1f}, img.state().get("0.num_batches_tracked"));
        // Eval with a batch of one is fine.
        plan.forward(false);
    }

    @Test
    void backwardMatchesTheClosedForm() {
        // An identity 1x1 convolution in front makes the batch norm's input gradient a plan buffer:
        // dx of the batch norm is the gradient at activation 1.
        Shape sample = Shape.of(2, 3, 3);
        int n = 4;
        int c = 2;
        int hw = 9;
        Sequential m = new Sequential(new Conv2d(c, 1, 1, 0, false), new BatchNorm()).build(sample, 1);
        Map<String, float[]> s = m.state();
        s.put("0.weight", new float[] {1, 0, 0, 1});
        s.put("1.weight", new float[] {0.5f, 0.75f});
        s.put("1.bias", new float[] {-0.2f, -0.1f});
        m.loadState(s);
        m.to(backend);
        Sequential.Plan plan = m.plan(n);
        SplittableRandom r = new SplittableRandom(3);
        float[] x = randn(n * c * hw, r, 1.5, 0.3);
        float[] dy = randn(n * c * hw, r, 1.0, 0.0);
        plan.input().copyFrom(x);
        plan.forward(true);
        plan.outputGradient().copyFrom(dy);
        plan.backward();

        // The closed form, in float64: xhat = (x - mean) / sqrt(var + eps),
        // dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma / sqrt(var + eps) / m * (m * dy - dbeta - xhat * dgamma).
        double[][] st = stats(x, n, c, hw);
        double[] gamma = {0.5, 0.75};
        int mm = n * hw;
        double[] dgamma = new double[c];
        double[] dbeta = new double[c];
        double[] xhat = new double[x.length];
        for (int idx = 0; idx < x.length; idx++) {
            int ch = (idx / hw) % c;
            xhat[idx] = (x[idx] - st[0][ch]) / Math.sqrt(st[1][ch] + 1e-5);
            dgamma[ch] += dy[idx] * xhat[idx];
            dbeta[ch] += dy[idx];
        }
        double[] dx = new double[x.length];
        for (int idx = 0; idx < x.length; idx++) {
            int ch = (idx / hw) % c;
            dx[idx] = gamma[ch] / Math.sqrt(st[1][ch] + 1e-5) / mm * (mm * dy[idx] - dbeta[ch] - xhat[idx] * dgamma[ch]);
        }
        Map<String, float[]> grads = m.gradientState();
        Closeness.assertClose("dgamma", dgamma, grads.get("1.weight"), 1e-4);
        Closeness.assertClose("dbeta", dbeta, grads.get("1.bias"), 1e-4);
        Closeness.assertClose("dx", dx, plan.activationGradient(1).toArray(), 1e-4);
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

}
