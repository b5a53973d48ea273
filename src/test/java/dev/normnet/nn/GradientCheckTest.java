package dev.normnet.nn;

import dev.normnet.Closeness;
import dev.normnet.Reference64;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole-model gradients from the backward pass against central finite differences of an
 * independent float64 forward pass ({@link Reference64}), on a few values of every parameter.
 */
class GradientCheckTest {
    private final CpuBackend backend = new CpuBackend(2);

    @AfterEach
    void close() {
        backend.close();
    }

    @Test
    void smallMlpWithBatchNorm() {
        Sequential m = new Sequential(new Flatten(), new Linear(6), new BatchNorm(), new ReLU(),
                new Linear(5), new BatchNorm(), new ReLU(), new Linear(3));
        check(m.build(Shape.of(1, 4, 4), 11), 5);
    }

    @Test
    void tinyConvNetWithBatchNormAndBothPools() {
        Sequential m = new Sequential(new Conv2d(3, 3, 1, 1, true), new BatchNorm(), new Sigmoid(), new MaxPool2d(2),
                new Conv2d(4, 2, 1, 0, true), new BatchNorm(), new ReLU(), new AvgPool2d(2), new Flatten(),
                new Linear(5), new BatchNorm(), new Sigmoid(), new Linear(3));
        check(m.build(Shape.of(2, 6, 6), 12), 4);
    }

    @Test
    void stackedActivationsDoNotOverwriteWhatBackwardReads() {
        // Sigmoid after Linear may run in place; ReLU after Sigmoid and Sigmoid after ReLU may not.
        Sequential m = new Sequential(new Flatten(), new Linear(5), new Sigmoid(), new ReLU(), new Sigmoid(),
                new Linear(4), new ReLU(), new Sigmoid(), new Linear(3));
        check(m.build(Shape.of(6), 14), 4);
    }

    @Test
    void stridedPaddedConvWithoutBatchNorm() {
        Sequential m = new Sequential(new Conv2d(3, 3, 2, 1, true), new Sigmoid(), new AvgPool2d(3, 2, 1),
                new Flatten(), new Linear(3));
        check(m.build(Shape.of(2, 7, 7), 13), 3);
    }

    private void check(Sequential model, int n) {
        SplittableRandom r = new SplittableRandom(5);
        // Random, non-trivial BatchNorm affine parameters, so their gradients are exercised too.
        Map<String, float[]> s = model.state();
        for (Map.Entry<String, float[]> e : s.entrySet()) {
            if (!e.getKey().endsWith("weight") && !e.getKey().endsWith("bias")) {
                continue;
            }
            int layer = Integer.parseInt(e.getKey().substring(0, e.getKey().indexOf('.')));
            if (model.layers().get(layer) instanceof BatchNorm) {
                float[] v = e.getValue();
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (e.getKey().endsWith("weight") ? 0.5 + r.nextDouble() : r.nextDouble() - 0.5);
                }
            }
        }
        model.loadState(s);
        model.to(backend);
        int sample = model.inputShape().sizeInt();
        int classes = model.outputShape().dim(0);
        float[] x = new float[n * sample];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() * 2 - 1);
        }
        int[] labels = new int[n];
        float[] labelValues = new float[n];
        for (int i = 0; i < n; i++) {
            labels[i] = r.nextInt(classes);
            labelValues[i] = labels[i];
        }

        Sequential.Plan plan = model.plan(n);
        Tensor labelTensor = backend.upload(labelValues, Shape.of(n));
        Tensor metrics = backend.allocate(Shape.of(2));
        plan.input().copyFrom(x);
        plan.forward(true);
        backend.softmaxCrossEntropy(plan.output(), labelTensor, plan.outputGradient(), metrics);
        plan.backward();
        Map<String, float[]> grads = model.gradientState();
        double engineLoss = metrics.toArray()[0] / n;

        Map<String, double[]> state = new LinkedHashMap<>();
        for (Map.Entry<String, float[]> e : model.state().entrySet()) {
            state.put(e.getKey(), BatchNormTest.toDouble(e.getValue()));
        }
        double[] xd = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xd[i] = x[i];
        }
        double refLoss = Reference64.trainingLoss(model, state, xd, n, labels);
        assertTrue(Math.abs(refLoss - engineLoss) < 1e-5 * Math.max(1, Math.abs(refLoss)),
                "forward loss " + engineLoss + " vs float64 " + refLoss);

        double h = 1e-6;
        int checked = 0;
        for (Map.Entry<String, float[]> e : grads.entrySet()) {
            double[] p = state.get(e.getKey());
            float[] g = e.getValue();
            int count = Math.min(p.length, 6);
            double[] fd = new double[count];
            float[] got = new float[count];
            for (int t = 0; t < count; t++) {
                int idx = (int) ((long) t * p.length / count);
                double keep = p[idx];
                p[idx] = keep + h;
                double up = Reference64.trainingLoss(model, state, xd, n, labels);
                p[idx] = keep - h;
                double down = Reference64.trainingLoss(model, state, xd, n, labels);
                p[idx] = keep;
                fd[t] = (up - down) / (2 * h);
                got[t] = g[idx];
                checked++;
            }
            // float32 backward vs float64 finite differences: relative to the tensor's largest checked
            // gradient, with an absolute floor for tensors whose gradient is zero by construction
            // (a bias followed by BatchNorm).
            Closeness.assertClose(e.getKey() + ": backward against finite differences", fd, got, 2e-3, 1e-6);
        }
        assertTrue(checked > 10);
        labelTensor.close();
        metrics.close();
        model.close();
    }
}
