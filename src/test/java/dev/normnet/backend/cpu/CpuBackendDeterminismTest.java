package dev.normnet.backend.cpu;

import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A LeNet-BN-shaped training step (every op, forward, backward and both optimizers) gives the
 * same bits with 1 thread and with 3 threads, and again when repeated.
 */
class CpuBackendDeterminismTest {
    private static final int N = 16;

    /** Runs one step on {@code backend} from fixed random inputs and returns every tensor it produced. */
    private static Map<String, float[]> step(CpuBackend b) {
        Random rnd = new Random(2024);
        Map<String, Tensor> t = new LinkedHashMap<>();
        Tensor x = up(b, rnd, 0, 1, N, 1, 28, 28);
        Tensor w1 = up(b, rnd, -0.2, 0.2, 6, 1, 5, 5);
        Tensor b1 = up(b, rnd, -0.2, 0.2, 6);
        Tensor w2 = up(b, rnd, -0.1, 0.1, 16, 6, 5, 5);
        Tensor b2 = up(b, rnd, -0.1, 0.1, 16);
        Tensor w3 = up(b, rnd, -0.05, 0.05, 10, 400);
        Tensor b3 = up(b, rnd, -0.05, 0.05, 10);
        Tensor g1 = up(b, rnd, 0.5, 1.5, 6);
        Tensor be1 = up(b, rnd, -0.5, 0.5, 6);
        Tensor g2 = up(b, rnd, 0.5, 1.5, 16);
        Tensor be2 = up(b, rnd, -0.5, 0.5, 16);
        float[] labelValues = new float[N];
        for (int i = 0; i < N; i++) {
            labelValues[i] = rnd.nextInt(10);
        }
        Tensor labels = b.upload(labelValues, Shape.of(N));

        ConvSpec pad2 = new ConvSpec(1, 2);
        ConvSpec valid = new ConvSpec(1, 0);
        PoolSpec two = new PoolSpec(2, 2, 0);
        // forward
        Tensor y1 = put(t, "y1", b.allocate(Shape.of(N, 6, 28, 28)));
        b.conv2dForward(x, w1, b1, y1, pad2);
        Tensor rm1 = put(t, "runningMean1", b.allocate(Shape.of(6)));
        Tensor rv1 = put(t, "runningVar1", b.upload(new float[] {1, 1, 1, 1, 1, 1}, Shape.of(6)));
        Tensor z1 = put(t, "z1", b.allocate(Shape.of(N, 6, 28, 28)));
        Tensor sm1 = put(t, "saveMean1", b.allocate(Shape.of(6)));
        Tensor si1 = put(t, "saveInvStd1", b.allocate(Shape.of(6)));
        b.batchNormForwardTrain(y1, g1, be1, rm1, rv1, z1, sm1, si1, 0.1f, 1e-5f);
        Tensor a1 = put(t, "a1", b.allocate(Shape.of(N, 6, 28, 28)));
        b.sigmoidForward(z1, a1);
        Tensor p1 = put(t, "p1", b.allocate(Shape.of(N, 6, 14, 14)));
        b.avgPool2dForward(a1, p1, two);
        Tensor y2 = put(t, "y2", b.allocate(Shape.of(N, 16, 10, 10)));
        b.conv2dForward(p1, w2, b2, y2, valid);
        Tensor rm2 = put(t, "runningMean2", b.allocate(Shape.of(16)));
        Tensor rv2 = put(t, "runningVar2", b.allocate(Shape.of(16)));
        Tensor z2 = put(t, "z2", b.allocate(Shape.of(N, 16, 10, 10)));
        Tensor sm2 = put(t, "saveMean2", b.allocate(Shape.of(16)));
        Tensor si2 = put(t, "saveInvStd2", b.allocate(Shape.of(16)));
        b.batchNormForwardTrain(y2, g2, be2, rm2, rv2, z2, sm2, si2, 0.1f, 1e-5f);
        Tensor a2 = put(t, "a2", b.allocate(Shape.of(N, 16, 10, 10)));
        b.reluForward(z2, a2);
        Tensor p2 = put(t, "p2", b.allocate(Shape.of(N, 16, 5, 5)));
        b.maxPool2dForward(a2, p2, two);
        Tensor logits = put(t, "logits", b.allocate(Shape.of(N, 10)));
        b.linearForward(p2.reshape(Shape.of(N, 400)), w3, b3, logits);
        Tensor metrics = put(t, "metrics", b.allocate(Shape.of(2)));
        Tensor dlogits = put(t, "dlogits", b.allocate(Shape.of(N, 10)));
        b.softmaxCrossEntropy(logits, labels, dlogits, metrics);
        // backward
        Tensor dw3 = put(t, "dw3", b.allocate(Shape.of(10, 400)));
        Tensor db3 = put(t, "db3", b.allocate(Shape.of(10)));
        b.linearBackwardWeight(p2.reshape(Shape.of(N, 400)), dlogits, dw3, db3);
        Tensor dp2 = put(t, "dp2", b.allocate(Shape.of(N, 16, 5, 5)));
        b.linearBackwardData(dlogits, w3, dp2.reshape(Shape.of(N, 400)));
        Tensor da2 = put(t, "da2", b.allocate(Shape.of(N, 16, 10, 10)));
        b.maxPool2dBackward(a2, dp2, da2, two);
        b.reluBackward(z2, da2, da2);
        Tensor dy2 = put(t, "dy2", b.allocate(Shape.of(N, 16, 10, 10)));
        Tensor dg2 = put(t, "dgamma2", b.allocate(Shape.of(16)));
        Tensor dbe2 = put(t, "dbeta2", b.allocate(Shape.of(16)));
        b.batchNormBackward(y2, da2, g2, sm2, si2, dy2, dg2, dbe2);
        Tensor dw2 = put(t, "dw2", b.allocate(Shape.of(16, 6, 5, 5)));
        Tensor db2 = put(t, "db2", b.allocate(Shape.of(16)));
        b.conv2dBackwardFilter(p1, dy2, dw2, db2, valid);
        Tensor dp1 = put(t, "dp1", b.allocate(Shape.of(N, 6, 14, 14)));
        b.conv2dBackwardData(dy2, w2, dp1, valid);
        Tensor da1 = put(t, "da1", b.allocate(Shape.of(N, 6, 28, 28)));
        b.avgPool2dBackward(dp1, da1, two);
        b.sigmoidBackward(a1, da1, da1);
        Tensor dy1 = put(t, "dy1", b.allocate(Shape.of(N, 6, 28, 28)));
        Tensor dg1 = put(t, "dgamma1", b.allocate(Shape.of(6)));
        Tensor dbe1 = put(t, "dbeta1", b.allocate(Shape.of(6)));
        b.batchNormBackward(y1, da1, g1, sm1, si1, dy1, dg1, dbe1);
        Tensor dw1 = put(t, "dw1", b.allocate(Shape.of(6, 1, 5, 5)));
        Tensor db1 = put(t, "db1", b.allocate(Shape.of(6)));
        b.conv2dBackwardFilter(x, dy1, dw1, db1, pad2);
        // optimizers
        Tensor hyper = put(t, "hyper", b.upload(new float[] {0.05f, 0f}, Shape.of(2)));
        Tensor velocity = put(t, "velocity", b.allocate(Shape.of(6, 1, 5, 5)));
        b.sgdStep(w1, dw1, velocity, hyper, 0.9f, 1e-3f);
        Tensor m = put(t, "m", b.allocate(Shape.of(16, 6, 5, 5)));
        Tensor v = put(t, "v", b.allocate(Shape.of(16, 6, 5, 5)));
        b.addScalar(hyper, 1, 1f);
        b.adamStep(w2, dw2, m, v, hyper, 0.9f, 0.999f, 1e-8f, 1e-3f);
        t.put("w1", w1);
        t.put("w2", w2);

        Map<String, float[]> out = new LinkedHashMap<>();
        t.forEach((name, tensor) -> out.put(name, tensor.toArray()));
        return out;
    }

    private static Tensor up(CpuBackend b, Random rnd, double lo, double hi, int... dims) {
        return b.upload(Fixtures.uniform(rnd, Shape.of(dims).sizeInt(), lo, hi), Shape.of(dims));
    }

    private static Tensor put(Map<String, Tensor> t, String name, Tensor tensor) {
        t.put(name, tensor);
        return tensor;
    }

    private static void assertSameBits(Map<String, float[]> expected, Map<String, float[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String name : expected.keySet()) {
            float[] e = expected.get(name);
            float[] a = actual.get(name);
            for (int i = 0; i < e.length; i++) {
                if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i])) {
                    fail(what + ": " + name + "[" + i + "] differs: " + e[i] + " vs " + a[i]);
                }
            }
        }
    }

    @Test
    void oneAndThreeThreadsGiveTheSameBits() {
        Map<String, float[]> single;
        try (CpuBackend one = new CpuBackend(1)) {
            single = step(one);
        }
        try (CpuBackend three = new CpuBackend(3)) {
            assertEquals("cpu: 3 threads", three.describe());
            assertSameBits(single, step(three), "3 threads vs 1");
            assertSameBits(single, step(three), "3 threads, second run, vs 1");
        }
        float loss = single.get("metrics")[0] / N;
        if (!(loss > 0.5f && loss < 10f)) {
            fail("the step's mean loss " + loss + " is not a plausible cross-entropy for 10 classes");
        }
    }
}
