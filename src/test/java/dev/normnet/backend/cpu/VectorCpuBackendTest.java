package dev.normnet.backend.cpu;

import static dev.normnet.Closeness.assertClose;

import dev.normnet.Closeness;
import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fast path against the reference path, op by op. The allowed difference for each output is
 * a float32 rounding bound for a sum: 8 * 2^-24 * sqrt(terms) * (the same sum over absolute
 * values), where the sum of absolute values is the reference op applied to |inputs|.
 */
class VectorCpuBackendTest {
    private static final double U = Math.ulp(1.0f) / 2;   // float32 unit roundoff, 2^-24

    private static final CpuBackend REF = new CpuBackend(2);
    private static final VectorCpuBackend FAST = new VectorCpuBackend(2);

    @AfterAll
    static void close() {
        REF.close();
        FAST.close();
    }

    private static float[] random(SplittableRandom rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return a;
    }

    private static float[] abs(float[] a) {
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Math.abs(a[i]);
        }
        return b;
    }

    /** Runs {@code op} on both backends with the same inputs; compares output {@code outIndex} with the rounding bound. */
    private static void compare(String what, float[][] inputs, Shape[] shapes, int outIndex, int terms,
                                BiConsumer<Backend, Tensor[]> op) {
        float[] ref = run(REF, inputs, shapes, outIndex, op, false);
        float[] absRef = run(REF, inputs, shapes, outIndex, op, true);
        float[] fast = run(FAST, inputs, shapes, outIndex, op, false);
        // term-relative: float32 sums of the same terms in another order differ by about terms * 2^-24 of |terms|
        Closeness.assertClose(what, ref, fast, 8 * U * Math.sqrt(terms), absRef);
    }

    private static float[] run(Backend be, float[][] inputs, Shape[] shapes, int outIndex,
                               BiConsumer<Backend, Tensor[]> op, boolean absolute) {
        Tensor[] t = new Tensor[shapes.length];
        for (int i = 0; i < shapes.length; i++) {
            t[i] = inputs[i] == null ? be.allocate(shapes[i]) : be.upload(absolute ? abs(inputs[i]) : inputs[i], shapes[i]);
        }
        if (outIndex < shapes.length && inputs[outIndex] == null) {
            be.fill(t[outIndex], Float.NaN);                    // an unwritten element fails
        }
        op.accept(be, t);
        return t[outIndex].toArray();
    }

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3} K={4} R={5} pad={6}")
    @CsvSource({
            "8, 1, 28, 28, 6, 5, 2",     // LeNet conv1
            "8, 6, 14, 14, 16, 5, 0",    // LeNet conv2
            "5, 6, 12, 12, 16, 5, 0",    // LeNet-BN conv2: backward-data rows of 96 = three vectors per block
            "3, 5, 7, 9, 7, 3, 1",       // odd sizes, K = 4 + 3
            "2, 3, 11, 6, 2, 3, 2",      // padding larger than half the kernel, K < 4
            "17, 2, 5, 5, 5, 5, 0",      // output 1x1, more samples than one reduction chunk
            "2, 4, 64, 60, 3, 5, 2",     // a column gradient over GEMM_COLUMNS_MAX: backward-data on wide planes
            "3, 3, 6, 6, 5, 3, 4",       // padding > R - 1: backward-data only as product and col2im
            "2, 3, 9, 9, 10, 3, 1",      // K = 6 + 4: a six-channel forward block, then a four-channel one
            "3, 2, 29, 26, 32, 3, 1",    // K = 2 x 16: by channel vectors; 18 taps = 12 + 4 + 1 + 1, 754 positions = 62 x 12 + 4 + 4 + 1 + 1, two filter passes
            "2, 16, 40, 40, 3, 5, 2",    // C = 16: backward-data on wide planes by channel vectors (the transposed problem has K = 16)
    })
    void convolutionMatchesReference(int n, int c, int h, int w, int k, int r, int pad) {
        SplittableRandom rnd = new SplittableRandom(n * 31 + c * 7 + k);
        ConvSpec spec = new ConvSpec(1, pad);
        int p = spec.outSize(h, r), q = spec.outSize(w, r);
        Shape xs = Shape.of(n, c, h, w), ws = Shape.of(k, c, r, r), ys = Shape.of(n, k, p, q), bs = Shape.of(k);
        float[] x = random(rnd, (int) xs.size()), wt = random(rnd, (int) ws.size()), b = random(rnd, k);
        float[] dy = random(rnd, (int) ys.size());
        compare("conv2dForward", new float[][]{x, wt, b, null}, new Shape[]{xs, ws, bs, ys}, 3, c * r * r + 1,
                (be, t) -> be.conv2dForward(t[0], t[1], t[2], t[3], spec));
        compare("conv2dBackwardData", new float[][]{dy, wt, null}, new Shape[]{ys, ws, xs}, 2, k * r * r,
                (be, t) -> be.conv2dBackwardData(t[0], t[1], t[2], spec));
        compare("conv2dBackwardFilter dw", new float[][]{x, dy, null, null}, new Shape[]{xs, ys, ws, bs}, 2, n * p * q,
                (be, t) -> be.conv2dBackwardFilter(t[0], t[1], t[2], t[3], spec));
        compare("conv2dBackwardFilter db", new float[][]{x, dy, null, null}, new Shape[]{xs, ys, ws, bs}, 3, n * p * q,
                (be, t) -> be.conv2dBackwardFilter(t[0], t[1], t[2], t[3], spec));
    }

    @Test
    void backwardDataOfANonSquareFilterMatchesReference() {
        SplittableRandom rnd = new SplittableRandom(11);
        ConvSpec spec = new ConvSpec(1, 1);
        Shape xs = Shape.of(5, 3, 7, 10), ws = Shape.of(6, 3, 2, 4), ys = Shape.of(5, 6, 8, 9);
        assertEquals(ys.dim(2), spec.outSize(7, 2));
        assertEquals(ys.dim(3), spec.outSize(10, 4));
        float[] dy = random(rnd, (int) ys.size()), wt = random(rnd, (int) ws.size());
        compare("conv2dBackwardData 2x4", new float[][]{dy, wt, null}, new Shape[]{ys, ws, xs}, 2, 6 * 2 * 4,
                (be, t) -> be.conv2dBackwardData(t[0], t[1], t[2], spec));
    }

    @Test
    void stridedConvolutionFallsBackToReference() {
        SplittableRandom rnd = new SplittableRandom(5);
        ConvSpec spec = new ConvSpec(2, 1);
        Shape xs = Shape.of(2, 3, 9, 8), ws = Shape.of(4, 3, 3, 3), ys = Shape.of(2, 4, 5, 4);
        float[] x = random(rnd, (int) xs.size()), wt = random(rnd, (int) ws.size());
        compare("strided conv2dForward", new float[][]{x, wt, null}, new Shape[]{xs, ws, ys}, 2, 27,
                (be, t) -> be.conv2dForward(t[0], t[1], null, t[2], spec));
    }

    @ParameterizedTest(name = "N={0} I={1} O={2}")
    @CsvSource({"256, 400, 120", "256, 120, 84", "256, 84, 10", "5, 37, 13", "1, 16, 1", "7, 50, 70", "3, 16, 16"})
    void linearMatchesReference(int n, int in, int out) {
        SplittableRandom rnd = new SplittableRandom(n + in * 3 + out * 5);
        Shape xs = Shape.of(n, in), ws = Shape.of(out, in), bs = Shape.of(out), ys = Shape.of(n, out);
        float[] x = random(rnd, n * in), wt = random(rnd, out * in), b = random(rnd, out), dy = random(rnd, n * out);
        compare("linearForward", new float[][]{x, wt, b, null}, new Shape[]{xs, ws, bs, ys}, 3, in + 1,
                (be, t) -> be.linearForward(t[0], t[1], t[2], t[3]));
        compare("linearBackwardData", new float[][]{dy, wt, null}, new Shape[]{ys, ws, xs}, 2, out,
                (be, t) -> be.linearBackwardData(t[0], t[1], t[2]));
        compare("linearBackwardWeight dw", new float[][]{x, dy, null, null}, new Shape[]{xs, ys, ws, bs}, 2, n,
                (be, t) -> be.linearBackwardWeight(t[0], t[1], t[2], t[3]));
        compare("linearBackwardWeight db", new float[][]{x, dy, null, null}, new Shape[]{xs, ys, ws, bs}, 3, n,
                (be, t) -> be.linearBackwardWeight(t[0], t[1], t[2], t[3]));
    }

    @Test
    void sigmoidMatchesReference() {
        SplittableRandom rnd = new SplittableRandom(9);
        int size = 3 * 6 * 28 * 28 + 5;
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rnd.nextDouble() * 40 - 20);
        }
        float[] dy = random(rnd, size);
        Shape s = Shape.of(size);
        float[] ref = run(REF, new float[][]{x, null}, new Shape[]{s, s}, 1, (be, t) -> be.sigmoidForward(t[0], t[1]), false);
        float[] fast = run(FAST, new float[][]{x, null}, new Shape[]{s, s}, 1, (be, t) -> be.sigmoidForward(t[0], t[1]), false);
        float[] ulps = new float[size];
        for (int i = 0; i < size; i++) {
            ulps[i] = Math.ulp(ref[i]);
        }
        assertClose("sigmoid, within 4 ulps", ref, fast, 4, ulps);
        compare("sigmoidBackward", new float[][]{ref, dy, null}, new Shape[]{s, s, s}, 2, 3,
                (be, t) -> be.sigmoidBackward(t[0], t[1], t[2]));
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        SplittableRandom rnd = new SplittableRandom(11);
        ConvSpec spec = new ConvSpec(1, 2);
        Shape xs = Shape.of(37, 1, 28, 28), ws = Shape.of(6, 1, 5, 5), ys = Shape.of(37, 6, 28, 28), bs = Shape.of(6);
        float[] x = random(rnd, (int) xs.size()), dy = random(rnd, (int) ys.size());
        try (VectorCpuBackend one = new VectorCpuBackend(1); VectorCpuBackend three = new VectorCpuBackend(3)) {
            BiConsumer<Backend, Tensor[]> op = (be, t) -> be.conv2dBackwardFilter(t[0], t[1], t[2], t[3], spec);
            float[][] in = {x, dy, null, null};
            Shape[] shapes = {xs, ys, ws, bs};
            assertArrayEquals(run(one, in, shapes, 2, op, false), run(three, in, shapes, 2, op, false));
            assertArrayEquals(run(one, in, shapes, 3, op, false), run(three, in, shapes, 3, op, false));
        }
    }

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3}")
    @CsvSource({"16, 6, 28, 28", "16, 16, 10, 10", "3, 5, 7, 9", "2, 3, 4, 4"})
    void batchNormMatchesReference(int n, int c, int h, int w) {
        SplittableRandom rnd = new SplittableRandom(n * 13 + c);
        Shape xs = Shape.of(n, c, h, w), cs = Shape.of(c);
        float[] x = random(rnd, (int) xs.size()), dy = random(rnd, (int) xs.size());
        for (int i = 0; i < x.length; i++) {
            x[i] = 3f + 2f * x[i];                          // a mean far from zero tests the two-pass variance
        }
        float[] gamma = random(rnd, c), beta = random(rnd, c), rm = random(rnd, c), rv = new float[c];
        for (int i = 0; i < c; i++) {
            rv[i] = 0.5f + Math.abs(gamma[i]);
        }
        float[][] outs = new float[2][];
        float[][] stats = new float[2][];
        float[][] grads = new float[2][];
        float[][] evals = new float[2][];
        Backend[] backends = {REF, FAST};
        for (int b = 0; b < 2; b++) {
            float[][] r = runBatchNorm(backends[b], xs, cs, x, dy, gamma, beta, rm, rv);
            outs[b] = r[0];
            stats[b] = concat(r[1], r[2], r[3], r[4]);
            grads[b] = concat(r[5], r[6], r[7]);
            evals[b] = r[8];
        }
        assertClose("batch norm y", outs[0], outs[1], 1e-5);
        assertClose("batch norm statistics", stats[0], stats[1], 1e-6);
        assertClose("batch norm eval y", evals[0], evals[1], 1e-5);
        assertClose("batch norm dx, dgamma, dbeta", grads[0], grads[1], 1e-5);
    }

    @ParameterizedTest(name = "N={0} C={1}")
    @CsvSource({"256, 120", "256, 84", "7, 37", "5, 3"})
    void batchNormOfRowsIsBitIdenticalToReference(int n, int c) {
        SplittableRandom rnd = new SplittableRandom(n * 17 + c);
        Shape xs = Shape.of(n, c), cs = Shape.of(c);
        float[] x = random(rnd, n * c), dy = random(rnd, n * c);
        for (int i = 0; i < x.length; i++) {
            x[i] = 3f + 2f * x[i];
        }
        float[] gamma = random(rnd, c), beta = random(rnd, c), rm = random(rnd, c), rv = new float[c];
        for (int i = 0; i < c; i++) {
            rv[i] = 0.5f + Math.abs(gamma[i]);
        }
        float[][] results = new float[2][];
        Backend[] backends = {REF, FAST};
        for (int b = 0; b < 2; b++) {
            results[b] = concat(runBatchNorm(backends[b], xs, cs, x, dy, gamma, beta, rm, rv));
        }
        assertArrayEquals(results[0], results[1], "2-D batch norm: train output, statistics, gradients, eval output");
    }

    /**
     * Training-mode forward, backward and eval-mode forward of one batch norm on {@code be}: y, the
     * saved mean and inverse std, the running mean and variance, dx, dgamma, dbeta, and the eval y.
     */
    private static float[][] runBatchNorm(Backend be, Shape xs, Shape cs, float[] x, float[] dy, float[] gamma,
                                          float[] beta, float[] rm, float[] rv) {
        Tensor tx = be.upload(x, xs), tdy = be.upload(dy, xs), tg = be.upload(gamma, cs), tb = be.upload(beta, cs);
        Tensor trm = be.upload(rm, cs), trv = be.upload(rv, cs), ty = be.allocate(xs), tm = be.allocate(cs), ti = be.allocate(cs);
        Tensor tdx = be.allocate(xs), tdg = be.allocate(cs), tdb = be.allocate(cs), te = be.allocate(xs);
        be.fill(ty, Float.NaN);
        be.fill(tdx, Float.NaN);
        be.fill(te, Float.NaN);
        be.batchNormForwardTrain(tx, tg, tb, trm, trv, ty, tm, ti, 0.1f, 1e-5f);
        be.batchNormBackward(tx, tdy, tg, tm, ti, tdx, tdg, tdb);
        be.batchNormForwardEval(tx, tg, tb, trm, trv, te, 1e-5f);
        return new float[][]{ty.toArray(), tm.toArray(), ti.toArray(), trm.toArray(), trv.toArray(),
                tdx.toArray(), tdg.toArray(), tdb.toArray(), te.toArray()};
    }

    private static float[] concat(float[]... parts) {
        int size = 0;
        for (float[] p : parts) {
            size += p.length;
        }
        float[] out = new float[size];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3}")
    @CsvSource({
            "4, 6, 28, 28",      // rows of 14 outputs, each block spilling into the next row
            "8, 6, 24, 24",      // LeNet-BN's pool1: 12 outputs per row
            "8, 16, 8, 8",       // LeNet-BN's pool2: 4 outputs per row, 128 planes over both workers
            "4, 16, 10, 10",
            "2, 3, 6, 70",       // 35 outputs per row: two whole blocks, then 3
            "3, 2, 7, 9",        // odd height and width: the scalar loop, edge row and column zero
            "2, 2, 8, 9",        // odd width only
    })
    void averagePoolingIsBitIdenticalToReference(int n, int c, int h, int w) {
        SplittableRandom rnd = new SplittableRandom(h * 7 + w);
        dev.normnet.backend.PoolSpec spec = new dev.normnet.backend.PoolSpec(2, 2, 0);
        Shape xs = Shape.of(n, c, h, w), ys = Shape.of(n, c, h / 2, w / 2);
        float[] x = random(rnd, (int) xs.size()), dy = random(rnd, (int) ys.size());
        BiConsumer<Backend, Tensor[]> fwd = (be, t) -> be.avgPool2dForward(t[0], t[1], spec);
        BiConsumer<Backend, Tensor[]> bwd = (be, t) -> be.avgPool2dBackward(t[0], t[1], spec);
        assertArrayEquals(run(REF, new float[][]{x, null}, new Shape[]{xs, ys}, 1, fwd, false),
                run(FAST, new float[][]{x, null}, new Shape[]{xs, ys}, 1, fwd, false));
        assertArrayEquals(run(REF, new float[][]{dy, null}, new Shape[]{ys, xs}, 1, bwd, false),
                run(FAST, new float[][]{dy, null}, new Shape[]{ys, xs}, 1, bwd, false));
    }

    @ParameterizedTest(name = "N={0} C={1} H={2} W={3}")
    @CsvSource({"2, 6, 24, 24", "3, 16, 8, 8", "1, 1, 2, 2"})
    void averagePoolingWritesNothingPastItsOutput(int n, int c, int h, int w) {
        SplittableRandom rnd = new SplittableRandom(n + c + h);
        dev.normnet.backend.PoolSpec spec = new dev.normnet.backend.PoolSpec(2, 2, 0);
        Shape xs = Shape.of(n, c, h, w), ys = Shape.of(n, c, h / 2, w / 2);
        int guard = 64;
        // the outputs are views at offset 1 of longer arrays: nothing before or after them may change
        float[] yArray = new float[(int) ys.size() + guard];
        Arrays.fill(yArray, 7f);
        FAST.avgPool2dForward(FAST.upload(random(rnd, (int) xs.size()), xs),
                new CpuTensor(yArray, Shape.of(yArray.length)).view(1, ys), spec);
        float[] dxArray = new float[(int) xs.size() + guard];
        Arrays.fill(dxArray, 7f);
        FAST.avgPool2dBackward(FAST.upload(random(rnd, (int) ys.size()), ys),
                new CpuTensor(dxArray, Shape.of(dxArray.length)).view(1, xs), spec);
        assertEquals(7f, yArray[0]);
        assertEquals(7f, dxArray[0]);
        for (int i = 1 + (int) ys.size(); i < yArray.length; i++) {
            assertEquals(7f, yArray[i], "forward wrote past its output at " + i);
        }
        for (int i = 1 + (int) xs.size(); i < dxArray.length; i++) {
            assertEquals(7f, dxArray[i], "backward wrote past its output at " + i);
        }
    }

    @Test
    void vectorExpIsWithinTwoUlpsOnItsWholeDomain() {
        int vl = VectorCpuBackend.vectorLength();
        float[] in = new float[vl];
        float[] out = new float[vl];
        double worst = 0;
        for (float x0 = -87f; x0 <= 0f; x0 += 0.0137f * vl) {
            for (int l = 0; l < vl; l++) {
                in[l] = Math.min(0f, x0 + 0.0137f * l);
            }
            VectorMath.expNonPositive(jdk.incubator.vector.FloatVector.fromArray(
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, in, 0)).intoArray(out, 0);
            for (int l = 0; l < vl; l++) {
                double exact = Math.exp(in[l]);
                worst = Math.max(worst, Math.abs(out[l] - exact) / Math.ulp((float) exact));
            }
        }
        double w = worst;
        assertTrue(w <= 2.0, () -> "exp error " + w + " ulps");
    }

    @Test
    void sigmoidHoldsAtTheExtremes() {
        float[] x = {-200f, -104f, -88f, -87f, -30f, -1e-30f, 0f, 1e-30f, 30f, 87f, 88f, 200f,
                Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -0f, 16.635532f};
        Shape s = Shape.of(x.length);
        float[] ref = run(REF, new float[][]{x, null}, new Shape[]{s, s}, 1, (be, t) -> be.sigmoidForward(t[0], t[1]), false);
        float[] fast = run(FAST, new float[][]{x, null}, new Shape[]{s, s}, 1, (be, t) -> be.sigmoidForward(t[0], t[1]), false);
        // within 4 ulps, or (below e^-87, where the fast path stops) an absolute 1.7e-38
        float[] ulps = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            ulps[i] = Math.max(Math.ulp(ref[i]), 1.7e-38f / 4);
        }
        assertClose("sigmoid at the extremes, within 4 ulps", ref, fast, 4, ulps);
    }

    @Test
    void laneSumAddsTheLanesInOrder() {
        int vl = VectorCpuBackend.vectorLength();
        float[] a = new float[vl];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int l = 0; l < vl; l++) {
            a[l] = (float) ((rnd.nextDouble() - 0.5) * Math.pow(10, rnd.nextInt(8)));
        }
        float expected = a[0];
        for (int l = 1; l < vl; l++) {
            expected += a[l];
        }
        assertEquals(expected, VectorMath.laneSum(jdk.incubator.vector.FloatVector.fromArray(
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, a, 0)));
    }
}
