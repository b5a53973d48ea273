package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.GpuTest;
import dev.normnet.Closeness;
import dev.normnet.EmulatedDriver;
import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every CUDA op against the CPU reference backend on random inputs, at LeNet sizes and odd sizes,
 * with every output poisoned with NaN before the launch (so an output element a kernel forgets
 * to write fails the test); plus graph replay against eager execution and run-to-run
 * determinism, bit for bit. Skips, with the probe's reason, where no usable GPU is present.
 */
@GpuTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaBackendTest {
    private static final float TOL = 1e-4f;

    private Backend gpu;
    private Backend cpu;
    /** SplittableRandom: its nextGaussian is about 6x java.util.Random's (40 ns a value on JDK 17), and the 224x224 cases draw hundreds of millions. */
    private final SplittableRandom random = new SplittableRandom(42);

    @BeforeAll
    void open() {
        CudaStatus status = Backends.cudaStatus();
        Assumptions.assumeTrue(status.available(), "CUDA unavailable: " + status.reason());
        gpu = new CudaBackend();
        cpu = new CpuBackend();
        System.out.println("CudaBackendTest on " + gpu.describe());
    }

    @AfterAll
    void close() {
        if (gpu != null) {
            gpu.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    // ---------------------------------------------------------------- helpers

    private float[] randn(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) random.nextGaussian();
        }
        return a;
    }

    /** A pair of tensors holding the same values, one per backend. */
    private record Pair(Tensor c, Tensor g) {
    }

    private Pair pair(float[] values, int... dims) {
        Shape s = Shape.of(dims);
        return new Pair(cpu.upload(values, s), gpu.upload(values, s));
    }

    private Pair randPair(int... dims) {
        return pair(randn(Shape.of(dims).sizeInt()), dims);
    }

    /** Outputs: the CPU one zeroed, the GPU one filled with NaN so unwritten elements show. */
    private Pair out(int... dims) {
        Shape s = Shape.of(dims);
        Tensor g = gpu.allocate(s);
        gpu.fill(g, Float.NaN);
        return new Pair(cpu.allocate(s), g);
    }

    /** Tensor-relative ({@link Closeness}): |gpu - cpu| <= rtol * max |cpu| over the whole tensor. */
    private static void assertClose(String what, Pair p, double rtol) {
        assertClose(what, p.c.toArray(), p.g.toArray(), rtol);
    }

    private static void assertClose(String what, float[] expected, float[] actual, double rtol) {
        System.out.println(Closeness.assertClose(what, expected, actual, rtol));
    }

    /**
     * Term-relative ({@link Closeness}): |gpu - cpu| <= rtol * termScale[i], where termScale holds,
     * per element, the sum of the absolute values of the terms summed into it (the same op on
     * |inputs|, see {@link #abs}): two float32 sums in different orders differ by a small
     * fraction of that, while a wrong index or a lost term is off by a whole term.
     */
    private static void assertClose(String what, float[] expected, float[] actual, double rtol, float[] termScale) {
        System.out.println(Closeness.assertClose(what, expected, actual, rtol, termScale));
    }

    /** The same values with their signs dropped, on the CPU. */
    private Tensor abs(Pair p) {
        float[] v = p.c.toArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.abs(v[i]);
        }
        return cpu.upload(v, p.c.shape());
    }

    /**
     * The term scale ({@link Closeness}) of batch norm's dx, for the term-relative rule. With
     * xhat = (x - mean) * invStd per channel, dx_i = gamma * invStd * (dy_i - mean(dy) - xhat_i * mean(dy * xhat)),
     * whose terms sum in absolute value to |gamma| * invStd * (|dy_i| + mean|dy| + |xhat_i| * mean|dy * xhat|).
     * With few values per channel dx is the difference of nearly equal terms (with two, xhat is +-1
     * but for eps, and dx is eps / (var + eps) of its terms), so the tensor's largest value says
     * nothing of the rounding in it.
     */
    private static float[] batchNormDxScale(float[] x, float[] dy, float[] gamma, float[] mean, float[] invStd, int[] dims) {
        int n = dims[0];
        int c = dims[1];
        int l = x.length / (n * c);
        float[] scale = new float[x.length];
        for (int ch = 0; ch < c; ch++) {
            double sumDy = 0;
            double sumDyXhat = 0;
            for (int b = 0; b < n; b++) {
                for (int j = 0; j < l; j++) {
                    int i = (b * c + ch) * l + j;
                    double xhat = ((double) x[i] - mean[ch]) * invStd[ch];
                    sumDy += Math.abs(dy[i]);
                    sumDyXhat += Math.abs(dy[i] * xhat);
                }
            }
            double m = (double) n * l;
            for (int b = 0; b < n; b++) {
                for (int j = 0; j < l; j++) {
                    int i = (b * c + ch) * l + j;
                    double xhat = ((double) x[i] - mean[ch]) * invStd[ch];
                    scale[i] = (float) (Math.abs(gamma[ch]) * invStd[ch]
                            * (Math.abs(dy[i]) + sumDy / m + Math.abs(xhat) * sumDyXhat / m));
                }
            }
        }
        return scale;
    }

    private static void assertBits(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " differs: " + expected[i] + " vs " + actual[i]);
            }
        }
    }

    // ---------------------------------------------------------------- memory

    @Test
    void closingABackendKeepsThePrimaryContextAlive() {
        new CudaBackend().close();
        jcuda.driver.CUdevice dev = new jcuda.driver.CUdevice();
        assertEquals(0, jcuda.driver.JCudaDriver.cuDeviceGet(dev, 0));
        int[] flags = new int[1];
        int[] active = new int[1];
        assertEquals(0, jcuda.driver.JCudaDriver.cuDevicePrimaryCtxGetState(dev, flags, active));
        assertEquals(1, active[0], "the probe holds the primary context for the process: no backend re-creates it");
    }

    @Test
    void outOfMemoryNamesTheSizesAndLeavesTheDeviceUsable() {
        long free = gpu.availableBytes();
        assertTrue(free > 0, "cuMemGetInfo: " + free);
        int side = (int) Math.min(Integer.MAX_VALUE, (long) Math.ceil(Math.sqrt(free / 4.0 * 2)) + 1);  // twice what is free
        dev.normnet.backend.DeviceMemoryException e = assertThrows(dev.normnet.backend.DeviceMemoryException.class,
                () -> gpu.allocate(Shape.of(side, side)));
        assertTrue(e.getMessage().startsWith("out of GPU memory: [" + side + ", " + side + "] needs "), e.getMessage());
        assertTrue(e.getMessage().contains("free of"), e.getMessage());
        Pair a = randPair(1000);
        Pair b = out(1000);
        cpu.copy(a.c, b.c);
        gpu.copy(a.g, b.g);
        assertBits("a copy after out-of-memory", b.c.toArray(), b.g.toArray());
        assertTrue(Math.abs(gpu.availableBytes() - free) < (64L << 20), "nothing kept from the failed allocation");
    }

    @Test
    void fillCopyAddScalarOnViews() {
        Pair a = randPair(10, 7);
        Pair b = out(70);
        cpu.copy(a.c, b.c);
        gpu.copy(a.g, b.g);
        assertBits("copy", b.c.toArray(), b.g.toArray());
        Tensor vc = b.c.view(13, Shape.of(20));
        Tensor vg = b.g.view(13, Shape.of(20));
        cpu.fill(vc, 2.5f);
        gpu.fill(vg, 2.5f);
        cpu.addScalar(vc, 19, 1.25f);
        gpu.addScalar(vg, 19, 1.25f);
        assertBits("fill/addScalar on a view", b.c.toArray(), b.g.toArray());
        Tensor z = gpu.allocate(Shape.of(1000));
        assertBits("allocate zero-fills", new float[1000], z.toArray());
        float[] values = randn(33);
        Tensor u = gpu.upload(values, Shape.of(3, 11));
        assertBits("upload/toArray", values, u.toArray());
        assertBits("view toArray", java.util.Arrays.copyOfRange(values, 5, 16), u.view(5, Shape.of(11)).toArray());
    }

    // ---------------------------------------------------------------- convolution

    @ParameterizedTest(name = "conv N{0} C{1} H{2} W{3} K{4} R{5} S{6} stride{7} pad{8}")
    @CsvSource({
            "8, 1, 28, 28, 6, 5, 5, 1, 2",     // LeNet conv1
            "256, 1, 28, 28, 6, 5, 5, 1, 2",   // LeNet conv1, batch 256
            "256, 6, 14, 14, 16, 5, 5, 1, 0",  // LeNet conv2, batch 256
            "256, 1, 224, 224, 6, 5, 5, 1, 0", // LeNet-BN conv1 at 224x224, batch 256
            "256, 6, 110, 110, 16, 5, 5, 1, 0", // LeNet-BN conv2 at 224x224, batch 256 (the filter gradient's widest split)
            "8, 6, 14, 14, 16, 5, 5, 1, 0",    // LeNet conv2
            "3, 3, 11, 9, 5, 3, 4, 2, 1",      // odd sizes, stride 2
            "2, 40, 9, 10, 17, 5, 5, 3, 2",    // more channels than one shared-memory chunk; stride 3
            "2, 2, 5, 5, 3, 5, 5, 1, 0",       // 1x1 output
            "1, 4, 7, 7, 9, 1, 1, 1, 0"})      // 1x1 filter
    void conv2d(int n, int c, int h, int w, int k, int r, int s, int stride, int pad) {
        ConvSpec spec = new ConvSpec(stride, pad);
        int p = spec.outSize(h, r), q = spec.outSize(w, s);
        EmulatedDriver.skipIfTooLarge(gpu, Math.max((long) n * c * h * w, (long) n * k * p * q));
        Pair x = randPair(n, c, h, w);
        Pair wt = randPair(k, c, r, s);
        Pair b = randPair(k);
        Pair y = out(n, k, p, q);
        cpu.conv2dForward(x.c, wt.c, b.c, y.c, spec);
        gpu.conv2dForward(x.g, wt.g, b.g, y.g, spec);
        Tensor ys = cpu.allocate(y.c.shape());
        cpu.conv2dForward(abs(x), abs(wt), abs(b), ys, spec);
        assertClose("conv2dForward", y.c.toArray(), y.g.toArray(), TOL, ys.toArray());
        Pair y0 = out(n, k, p, q);
        cpu.conv2dForward(x.c, wt.c, null, y0.c, spec);
        gpu.conv2dForward(x.g, wt.g, null, y0.g, spec);
        assertClose("conv2dForward no bias", y0.c.toArray(), y0.g.toArray(), TOL, ys.toArray());

        Pair dy = randPair(n, k, p, q);
        Pair dx = out(n, c, h, w);
        cpu.conv2dBackwardData(dy.c, wt.c, dx.c, spec);
        gpu.conv2dBackwardData(dy.g, wt.g, dx.g, spec);
        Tensor dxs = cpu.allocate(dx.c.shape());
        cpu.conv2dBackwardData(abs(dy), abs(wt), dxs, spec);
        assertClose("conv2dBackwardData", dx.c.toArray(), dx.g.toArray(), TOL, dxs.toArray());

        Pair dw = out(k, c, r, s);
        Pair db = out(k);
        cpu.conv2dBackwardFilter(x.c, dy.c, dw.c, db.c, spec);
        gpu.conv2dBackwardFilter(x.g, dy.g, dw.g, db.g, spec);
        Tensor dws = cpu.allocate(dw.c.shape());
        Tensor dbs = cpu.allocate(db.c.shape());
        cpu.conv2dBackwardFilter(abs(x), abs(dy), dws, dbs, spec);
        assertClose("conv2dBackwardFilter dw", dw.c.toArray(), dw.g.toArray(), TOL, dws.toArray());
        assertClose("conv2dBackwardFilter db", db.c.toArray(), db.g.toArray(), TOL, dbs.toArray());
        Pair dw2 = out(k, c, r, s);
        cpu.conv2dBackwardFilter(x.c, dy.c, dw2.c, null, spec);
        gpu.conv2dBackwardFilter(x.g, dy.g, dw2.g, null, spec);
        assertClose("conv2dBackwardFilter dw, no db", dw2.c.toArray(), dw2.g.toArray(), TOL, dws.toArray());
    }

    // ---------------------------------------------------------------- linear

    @ParameterizedTest(name = "linear N{0} I{1} O{2}")
    @CsvSource({"256, 256, 120", "256, 120, 84", "256, 84, 10", "7, 13, 5", "16, 3000, 10", "1, 1, 1", "130, 70, 65",
            "128, 44944, 120"})     // the last: LeNet-BN's first linear layer at 224x224 (split-K forward, 2,813-block backward)
    void linear(int n, int in, int outs) {
        EmulatedDriver.skipIfTooLarge(gpu, Math.max((long) n * in, (long) outs * in));
        Pair x = randPair(n, in);
        Pair w = randPair(outs, in);
        Pair b = randPair(outs);
        Pair y = out(n, outs);
        cpu.linearForward(x.c, w.c, b.c, y.c);
        gpu.linearForward(x.g, w.g, b.g, y.g);
        Tensor ys = cpu.allocate(y.c.shape());
        cpu.linearForward(abs(x), abs(w), abs(b), ys);
        assertClose("linearForward", y.c.toArray(), y.g.toArray(), TOL, ys.toArray());
        Pair y0 = out(n, outs);
        cpu.linearForward(x.c, w.c, null, y0.c);
        gpu.linearForward(x.g, w.g, null, y0.g);
        assertClose("linearForward no bias", y0.c.toArray(), y0.g.toArray(), TOL, ys.toArray());
        Pair dy = randPair(n, outs);
        Pair dx = out(n, in);
        cpu.linearBackwardData(dy.c, w.c, dx.c);
        gpu.linearBackwardData(dy.g, w.g, dx.g);
        Tensor dxs = cpu.allocate(dx.c.shape());
        cpu.linearBackwardData(abs(dy), abs(w), dxs);
        assertClose("linearBackwardData", dx.c.toArray(), dx.g.toArray(), TOL, dxs.toArray());
        Pair dw = out(outs, in);
        Pair db = out(outs);
        cpu.linearBackwardWeight(x.c, dy.c, dw.c, db.c);
        gpu.linearBackwardWeight(x.g, dy.g, dw.g, db.g);
        Tensor dws = cpu.allocate(dw.c.shape());
        Tensor dbs = cpu.allocate(db.c.shape());
        cpu.linearBackwardWeight(abs(x), abs(dy), dws, dbs);
        assertClose("linearBackwardWeight dw", dw.c.toArray(), dw.g.toArray(), TOL, dws.toArray());
        assertClose("linearBackwardWeight db", db.c.toArray(), db.g.toArray(), TOL, dbs.toArray());
        // The whole backward in one call (one launch where neither product splits): the ops' bits,
        // with and without dx and db.
        for (boolean withDx : new boolean[] {true, false}) {
            for (boolean withDb : new boolean[] {true, false}) {
                Pair dx2 = out(n, in);
                Pair dw2 = out(outs, in);
                Pair db2 = out(outs);
                gpu.linearBackward(x.g, dy.g, w.g, withDx ? dx2.g : null, dw2.g, withDb ? db2.g : null);
                String what = "linearBackward" + (withDx ? "" : " no dx") + (withDb ? "" : " no db");
                assertBits(what + " dw", dw.g.toArray(), dw2.g.toArray());
                if (withDx) {
                    assertBits(what + " dx", dx.g.toArray(), dx2.g.toArray());
                }
                if (withDb) {
                    assertBits(what + " db", db.g.toArray(), db2.g.toArray());
                }
            }
        }
    }

    // ---------------------------------------------------------------- batch norm

    @ParameterizedTest(name = "batchnorm {0}")
    @CsvSource({"16 6 10 10", "4 16 5 5", "256 120", "256 84", "3 5 7 9", "64 2 32 32", "2 3",
            "256 6 28 28", "256 16 10 10", "256 6 220 220", "256 16 106 106"})
    void batchNorm(String dimsText) {
        String[] parts = dimsText.split(" ");
        int[] dims = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            dims[i] = Integer.parseInt(parts[i]);
        }
        EmulatedDriver.skipIfTooLarge(gpu, Shape.of(dims).size());
        int c = dims[1];
        float[] xv = randn(Shape.of(dims).sizeInt());
        for (int i = 0; i < xv.length; i++) {
            xv[i] = 3f + 2f * xv[i];  // non-zero mean and non-unit variance
        }
        Pair x = pair(xv, dims);
        Pair gamma = randPair(c);
        Pair beta = randPair(c);
        Pair rm = randPair(c);
        float[] rvv = new float[c];
        for (int i = 0; i < c; i++) {
            rvv[i] = 0.5f + random.nextFloat();
        }
        Pair rv = pair(rvv, c);
        Pair y = out(dims);
        Pair sm = out(c);
        Pair si = out(c);
        cpu.batchNormForwardTrain(x.c, gamma.c, beta.c, rm.c, rv.c, y.c, sm.c, si.c, 0.1f, 1e-5f);
        gpu.batchNormForwardTrain(x.g, gamma.g, beta.g, rm.g, rv.g, y.g, sm.g, si.g, 0.1f, 1e-5f);
        assertClose("batchNormForwardTrain y", y, TOL);
        assertClose("batchNormForwardTrain saveMean", sm, TOL);
        assertClose("batchNormForwardTrain saveInvStd", si, TOL);
        assertClose("batchNormForwardTrain runningMean", rm, TOL);
        assertClose("batchNormForwardTrain runningVar", rv, TOL);

        Pair ye = out(dims);
        cpu.batchNormForwardEval(x.c, gamma.c, beta.c, rm.c, rv.c, ye.c, 1e-5f);
        gpu.batchNormForwardEval(x.g, gamma.g, beta.g, rm.g, rv.g, ye.g, 1e-5f);
        assertClose("batchNormForwardEval", ye, TOL);

        Pair dy = randPair(dims);
        Pair dx = out(dims);
        Pair dgamma = out(c);
        Pair dbeta = out(c);
        cpu.batchNormBackward(x.c, dy.c, gamma.c, sm.c, si.c, dx.c, dgamma.c, dbeta.c);
        gpu.batchNormBackward(x.g, dy.g, gamma.g, sm.g, si.g, dx.g, dgamma.g, dbeta.g);
        assertClose("batchNormBackward dx", dx.c.toArray(), dx.g.toArray(), TOL,
                batchNormDxScale(xv, dy.c.toArray(), gamma.c.toArray(), sm.c.toArray(), si.c.toArray(), dims));
        assertClose("batchNormBackward dgamma", dgamma, TOL);
        assertClose("batchNormBackward dbeta", dbeta, TOL);
    }

    /**
     * Batch norm with an activation in its launches: the same bits on the GPU as the two ops (batch
     * norm, then the activation's own kernel; the backward likewise), and close to the CPU's.
     */
    @ParameterizedTest(name = "batchnorm + {1} {0}")
    @CsvSource({"16 6 10 10, SIGMOID", "256 6 28 28, SIGMOID", "256 16 10 10, RELU", "256 120, SIGMOID", "64 32, RELU",
            "3 5 7 9, RELU", "256 16 106 106, SIGMOID"})
    void batchNormWithActivation(String dimsText, Activation act) {
        int[] dims = java.util.Arrays.stream(dimsText.split(" ")).mapToInt(Integer::parseInt).toArray();
        EmulatedDriver.skipIfTooLarge(gpu, Shape.of(dims).size());
        int c = dims[1];
        float[] xv = randn(Shape.of(dims).sizeInt());
        Pair x = pair(xv, dims);
        Pair gamma = randPair(c);
        Pair beta = randPair(c);
        float[] ones = new float[c];
        java.util.Arrays.fill(ones, 1f);
        Tensor rmFused = gpu.upload(new float[c], Shape.of(c));
        Tensor rvFused = gpu.upload(ones, Shape.of(c));
        Tensor rmTwo = gpu.upload(new float[c], Shape.of(c));
        Tensor rvTwo = gpu.upload(ones, Shape.of(c));
        Tensor countFused = gpu.upload(new float[] {5f}, Shape.of(1));
        Tensor countTwo = gpu.upload(new float[] {5f}, Shape.of(1));
        Pair rm = pair(new float[c], c);
        Pair rv = pair(ones, c);
        Pair count = pair(new float[] {5f}, 1);
        Pair y = out(dims);
        Pair sm = out(c);
        Pair si = out(c);
        Tensor yTwo = gpu.allocate(Shape.of(dims));
        Tensor smTwo = gpu.allocate(Shape.of(c));
        Tensor siTwo = gpu.allocate(Shape.of(c));
        cpu.batchNormActivationForwardTrain(x.c, gamma.c, beta.c, rm.c, rv.c, y.c, sm.c, si.c, 0.1f, 1e-5f, count.c, act);
        gpu.batchNormActivationForwardTrain(x.g, gamma.g, beta.g, rmFused, rvFused, y.g, sm.g, si.g, 0.1f, 1e-5f,
                countFused, act);
        gpu.batchNormForwardTrain(x.g, gamma.g, beta.g, rmTwo, rvTwo, yTwo, smTwo, siTwo, 0.1f, 1e-5f, countTwo);
        act.forward(gpu, yTwo, yTwo);
        assertBits("fused forward y = two ops", yTwo.toArray(), y.g.toArray());
        assertBits("fused forward runningVar = two ops", rvTwo.toArray(), rvFused.toArray());
        assertBits("fused forward saveInvStd = two ops", siTwo.toArray(), si.g.toArray());
        assertBits("fused forward count = two ops", countTwo.toArray(), countFused.toArray());
        assertClose("fused forward y vs CPU", y, TOL);
        assertClose("fused forward runningMean vs CPU", rm.c.toArray(), rmFused.toArray(), TOL);

        Pair ye = out(dims);
        Tensor yeTwo = gpu.allocate(Shape.of(dims));
        cpu.batchNormActivationForwardEval(x.c, gamma.c, beta.c, rm.c, rv.c, ye.c, 1e-5f, act);
        gpu.batchNormActivationForwardEval(x.g, gamma.g, beta.g, rmFused, rvFused, ye.g, 1e-5f, act);
        gpu.batchNormForwardEval(x.g, gamma.g, beta.g, rmFused, rvFused, yeTwo, 1e-5f);
        act.forward(gpu, yeTwo, yeTwo);
        assertBits("fused eval y = two ops", yeTwo.toArray(), ye.g.toArray());
        assertClose("fused eval y vs CPU", ye, TOL);

        // The backward from the same activation output and statistics on both (the CPU's).
        Pair a = pair(y.c.toArray(), dims);
        Pair mean = pair(sm.c.toArray(), c);
        Pair invStd = pair(si.c.toArray(), c);
        Pair dy = randPair(dims);
        Pair dx = out(dims);
        Pair dgamma = out(c);
        Pair dbeta = out(c);
        cpu.batchNormActivationBackward(x.c, a.c, dy.c, act, gamma.c, mean.c, invStd.c, dx.c, dgamma.c, dbeta.c);
        gpu.batchNormActivationBackward(x.g, a.g, dy.g, act, gamma.g, mean.g, invStd.g, dx.g, dgamma.g, dbeta.g);
        Tensor dz = gpu.allocate(Shape.of(dims));
        Tensor dxTwo = gpu.allocate(Shape.of(dims));
        Tensor dgTwo = gpu.allocate(Shape.of(c));
        Tensor dbTwo = gpu.allocate(Shape.of(c));
        act.backward(gpu, a.g, dy.g, dz);
        gpu.batchNormBackward(x.g, dz, gamma.g, mean.g, invStd.g, dxTwo, dgTwo, dbTwo);
        assertBits("fused backward dx = two ops", dxTwo.toArray(), dx.g.toArray());
        assertBits("fused backward dgamma = two ops", dgTwo.toArray(), dgamma.g.toArray());
        assertBits("fused backward dbeta = two ops", dbTwo.toArray(), dbeta.g.toArray());
        assertClose("fused backward dx vs CPU", dx, TOL);
        assertClose("fused backward dgamma vs CPU", dgamma, TOL);
        assertClose("fused backward dbeta vs CPU", dbeta, TOL);
    }

    /**
     * Batch norm, an activation and an average pooling in the batch norm's launches (windows that
     * tile the plane) or as the ops (any other pooling): the same bits on the GPU as the ops one
     * after the other, and close to the CPU's.
     */
    @ParameterizedTest(name = "batchnorm + {1} + pool {2}/{3} {0}")
    @CsvSource({"256 6 28 28, SIGMOID, 2, 2", "256 16 10 10, SIGMOID, 2, 2", "16 6 12 9, RELU, 3, 3",
            "8 4 7 7, IDENTITY, 7, 7", "8 6 9 9, SIGMOID, 3, 2", "8 6 9 8, RELU, 2, 2", "128 6 224 224, SIGMOID, 2, 2",
            "128 16 108 108, SIGMOID, 2, 2"})
    void batchNormWithActivationAndPool(String dimsText, Activation act, int k, int stride) {
        int[] dims = java.util.Arrays.stream(dimsText.split(" ")).mapToInt(Integer::parseInt).toArray();
        EmulatedDriver.skipIfTooLarge(gpu, Shape.of(dims).size());
        int c = dims[1];
        PoolSpec pool = new PoolSpec(k, stride, 0);
        int[] pooledDims = {dims[0], c, pool.outSize(dims[2]), pool.outSize(dims[3])};
        Pair x = pair(randn(Shape.of(dims).sizeInt()), dims);
        Pair gamma = randPair(c);
        Pair beta = randPair(c);
        float[] ones = new float[c];
        java.util.Arrays.fill(ones, 1f);
        Pair rm = pair(new float[c], c);
        Pair rv = pair(ones, c);
        Pair count = pair(new float[] {5f}, 1);
        Tensor rmOps = gpu.upload(new float[c], Shape.of(c));
        Tensor rvOps = gpu.upload(ones, Shape.of(c));
        Tensor countOps = gpu.upload(new float[] {5f}, Shape.of(1));
        Pair y = out(dims);
        Pair pooled = out(pooledDims);
        Pair sm = out(c);
        Pair si = out(c);
        Tensor yOps = gpu.allocate(Shape.of(dims));
        Tensor pooledOps = gpu.allocate(Shape.of(pooledDims));
        Tensor smOps = gpu.allocate(Shape.of(c));
        Tensor siOps = gpu.allocate(Shape.of(c));
        cpu.batchNormActivationPoolForwardTrain(x.c, gamma.c, beta.c, rm.c, rv.c, y.c, sm.c, si.c, 0.1f, 1e-5f, count.c,
                act, pool, pooled.c);
        gpu.batchNormActivationPoolForwardTrain(x.g, gamma.g, beta.g, rm.g, rv.g, y.g, sm.g, si.g, 0.1f, 1e-5f, count.g,
                act, pool, pooled.g);
        gpu.batchNormActivationForwardTrain(x.g, gamma.g, beta.g, rmOps, rvOps, yOps, smOps, siOps, 0.1f, 1e-5f, countOps,
                act);
        gpu.avgPool2dForward(yOps, pooledOps, pool);
        assertBits("fused forward y = the ops", yOps.toArray(), y.g.toArray());
        assertBits("fused forward pooled = the ops", pooledOps.toArray(), pooled.g.toArray());
        assertBits("fused forward runningVar = the ops", rvOps.toArray(), rv.g.toArray());
        assertBits("fused forward count = the ops", countOps.toArray(), count.g.toArray());
        assertClose("fused forward pooled vs CPU", pooled, TOL);
        assertClose("fused forward runningMean vs CPU", rm, TOL);

        Pair ye = out(dims);
        Pair pe = out(pooledDims);
        Tensor yeOps = gpu.allocate(Shape.of(dims));
        Tensor peOps = gpu.allocate(Shape.of(pooledDims));
        cpu.batchNormActivationPoolForwardEval(x.c, gamma.c, beta.c, rm.c, rv.c, ye.c, 1e-5f, act, pool, pe.c);
        gpu.batchNormActivationPoolForwardEval(x.g, gamma.g, beta.g, rm.g, rv.g, ye.g, 1e-5f, act, pool, pe.g);
        gpu.batchNormActivationForwardEval(x.g, gamma.g, beta.g, rm.g, rv.g, yeOps, 1e-5f, act);
        gpu.avgPool2dForward(yeOps, peOps, pool);
        assertBits("fused eval y = the ops", yeOps.toArray(), ye.g.toArray());
        assertBits("fused eval pooled = the ops", peOps.toArray(), pe.g.toArray());
        assertClose("fused eval pooled vs CPU", pe, TOL);

        // The backward from the same activation output and statistics on both (the CPU's).
        Pair a = pair(y.c.toArray(), dims);
        Pair mean = pair(sm.c.toArray(), c);
        Pair invStd = pair(si.c.toArray(), c);
        Pair dPooled = randPair(pooledDims);
        Pair dx = out(dims);
        Pair dgamma = out(c);
        Pair dbeta = out(c);
        cpu.batchNormActivationPoolBackward(x.c, a.c, dPooled.c, pool, act, gamma.c, mean.c, invStd.c, dx.c, dgamma.c,
                dbeta.c);
        gpu.batchNormActivationPoolBackward(x.g, a.g, dPooled.g, pool, act, gamma.g, mean.g, invStd.g, dx.g, dgamma.g,
                dbeta.g);
        Tensor da = gpu.allocate(Shape.of(dims));
        Tensor dgOps = gpu.allocate(Shape.of(c));
        Tensor dbOps = gpu.allocate(Shape.of(c));
        gpu.avgPool2dBackward(dPooled.g, da, pool);
        gpu.batchNormActivationBackward(x.g, a.g, da, act, gamma.g, mean.g, invStd.g, da, dgOps, dbOps);
        assertBits("fused backward dx = the ops", da.toArray(), dx.g.toArray());
        assertBits("fused backward dgamma = the ops", dgOps.toArray(), dgamma.g.toArray());
        assertBits("fused backward dbeta = the ops", dbOps.toArray(), dbeta.g.toArray());
        assertClose("fused backward dx vs CPU", dx, TOL);
        assertClose("fused backward dgamma vs CPU", dgamma, TOL);
        assertClose("fused backward dbeta vs CPU", dbeta, TOL);
    }

    @Test
    void batchNormRejectsOneValuePerChannel() {
        Tensor x = gpu.allocate(Shape.of(1, 3));
        Tensor p = gpu.allocate(Shape.of(3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gpu.batchNormForwardTrain(x, p, p, p, p, x, p, p, 0.1f, 1e-5f));
        assertTrue(e.getMessage().contains("expected more than 1 value per channel when training"), e.getMessage());
    }

    // ---------------------------------------------------------------- pooling

    @ParameterizedTest(name = "pool N{0} C{1} H{2} W{3} k{4} s{5} p{6}")
    @CsvSource({"8, 6, 28, 28, 2, 2, 0", "8, 16, 10, 10, 2, 2, 0", "256, 6, 28, 28, 2, 2, 0", "256, 6, 220, 220, 2, 2, 0",
            "256, 16, 106, 106, 2, 2, 0", "3, 2, 7, 9, 3, 2, 1", "2, 3, 6, 5, 3, 1, 1", "1, 1, 5, 5, 5, 1, 2"})
    void pooling(int n, int c, int h, int w, int k, int s, int p) {
        EmulatedDriver.skipIfTooLarge(gpu, (long) n * c * h * w);
        PoolSpec spec = new PoolSpec(k, s, p);
        int ph = spec.outSize(h), pw = spec.outSize(w);
        float[] xv = randn(n * c * h * w);
        for (int i = 0; i < xv.length; i++) {
            xv[i] = Math.round(xv[i] * 2f) / 2f;  // many ties, to exercise the first-maximum rule
        }
        Pair x = pair(xv, n, c, h, w);
        Pair y = out(n, c, ph, pw);
        cpu.avgPool2dForward(x.c, y.c, spec);
        gpu.avgPool2dForward(x.g, y.g, spec);
        assertClose("avgPool2dForward", y, TOL);
        Pair dy = randPair(n, c, ph, pw);
        Pair dx = out(n, c, h, w);
        cpu.avgPool2dBackward(dy.c, dx.c, spec);
        gpu.avgPool2dBackward(dy.g, dx.g, spec);
        assertClose("avgPool2dBackward", dx, TOL);
        Pair ym = out(n, c, ph, pw);
        cpu.maxPool2dForward(x.c, ym.c, spec);
        gpu.maxPool2dForward(x.g, ym.g, spec);
        assertBits("maxPool2dForward", ym.c.toArray(), ym.g.toArray());
        Pair dxm = out(n, c, h, w);
        cpu.maxPool2dBackward(x.c, dy.c, dxm.c, spec);
        gpu.maxPool2dBackward(x.g, dy.g, dxm.g, spec);
        assertClose("maxPool2dBackward", dxm, TOL);
    }

    // ---------------------------------------------------------------- elementwise

    @Test
    void activations() {
        int[] dims = {5, 6, 7, 3};
        Pair x = randPair(dims);
        Pair y = out(dims);
        cpu.sigmoidForward(x.c, y.c);
        gpu.sigmoidForward(x.g, y.g);
        assertClose("sigmoidForward", y, 1e-6f);
        Pair dy = randPair(dims);
        Pair dx = out(dims);
        cpu.sigmoidBackward(y.c, dy.c, dx.c);
        gpu.sigmoidBackward(y.g, dy.g, dx.g);
        assertClose("sigmoidBackward", dx, 1e-6f);
        Pair r = out(dims);
        cpu.reluForward(x.c, r.c);
        gpu.reluForward(x.g, r.g);
        assertBits("reluForward", r.c.toArray(), r.g.toArray());
        Pair dr = out(dims);
        cpu.reluBackward(x.c, dy.c, dr.c);
        gpu.reluBackward(x.g, dy.g, dr.g);
        assertBits("reluBackward", dr.c.toArray(), dr.g.toArray());
        cpu.sigmoidForward(x.c, x.c);  // in place
        gpu.sigmoidForward(x.g, x.g);
        assertClose("sigmoidForward in place", x, 1e-6f);
        cpu.reluBackward(x.c, dy.c, dy.c);  // dx aliases dy
        gpu.reluBackward(x.g, dy.g, dy.g);
        assertBits("reluBackward in place", dy.c.toArray(), dy.g.toArray());
    }

    // ---------------------------------------------------------------- loss

    @ParameterizedTest(name = "softmax N{0} K{1}")
    @CsvSource({"256, 10", "37, 100", "5, 1", "1000, 10", "3, 33"})
    void softmaxCrossEntropy(int n, int k) {
        Pair logits = randPair(n, k);
        float[] labels = new float[n];
        for (int i = 0; i < n; i++) {
            labels[i] = random.nextInt(k);
        }
        Pair lab = pair(labels, n);
        Pair d = out(n, k);
        Pair metrics = pair(new float[] {1.5f, 2f}, 2);
        cpu.softmaxCrossEntropy(logits.c, lab.c, d.c, metrics.c);
        gpu.softmaxCrossEntropy(logits.g, lab.g, d.g, metrics.g);
        cpu.softmaxCrossEntropy(logits.c, lab.c, null, metrics.c);  // accumulates, no gradient
        gpu.softmaxCrossEntropy(logits.g, lab.g, null, metrics.g);
        assertClose("softmaxCrossEntropy dlogits", d, 1e-5f);
        float[] mc = metrics.c.toArray();
        float[] mg = metrics.g.toArray();
        assertClose("softmaxCrossEntropy loss sum", new float[] {mc[0]}, new float[] {mg[0]}, 1e-5f);
        assertEquals(mc[1], mg[1], "correct count");
    }

    // ---------------------------------------------------------------- optimizers

    @Test
    void sgdAndAdam() {
        int n = 1234;
        for (float momentum : new float[] {0f, 0.9f}) {
            Pair p = randPair(n);
            Pair v = pair(new float[n], n);
            Pair hyper = pair(new float[] {0.05f, 0f}, 2);
            for (int step = 0; step < 3; step++) {
                Pair g = randPair(n);
                cpu.sgdStep(p.c, g.c, momentum == 0 ? null : v.c, hyper.c, momentum, 1e-3f);
                gpu.sgdStep(p.g, g.g, momentum == 0 ? null : v.g, hyper.g, momentum, 1e-3f);
            }
            assertClose("sgdStep momentum " + momentum, p, 1e-6f);
            if (momentum != 0) {
                assertClose("sgdStep velocity", v, 1e-6f);
            }
        }
        Pair p = randPair(n);
        Pair m = pair(new float[n], n);
        Pair v = pair(new float[n], n);
        Pair hyper = pair(new float[] {0.01f, 0f}, 2);
        for (int step = 0; step < 3; step++) {
            Pair g = randPair(n);
            cpu.addScalar(hyper.c, 1, 1f);
            gpu.addScalar(hyper.g, 1, 1f);
            cpu.adamStep(p.c, g.c, m.c, v.c, hyper.c, 0.9f, 0.999f, 1e-8f, 1e-4f);
            gpu.adamStep(p.g, g.g, m.g, v.g, hyper.g, 0.9f, 0.999f, 1e-8f, 1e-4f);
        }
        assertClose("adamStep params", p, 1e-5f);
        assertClose("adamStep m", m, 1e-6f);
        assertClose("adamStep v", v, 1e-6f);
    }

    // ---------------------------------------------------------------- data

    @ParameterizedTest(name = "gather to {0}x{0}")
    @CsvSource({"28", "32", "45"})
    void gatherBatch(int size) {
        int count = 50, h = 28, w = 28, b = 16;
        byte[] pixels = new byte[count * h * w];
        random.nextBytes(pixels);
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) random.nextInt(10);
        }
        float[] order = new float[count];
        for (int i = 0; i < count; i++) {
            order[i] = (i * 17) % count;
        }
        try (ResidentImages ic = cpu.uploadImages(pixels, labels, count, h, w);
             ResidentImages ig = gpu.uploadImages(pixels, labels, count, h, w)) {
            Pair ord = pair(order, count);
            Pair cursor = pair(new float[] {3f}, 1);
            for (int round = 0; round < 2; round++) {
                Pair x = out(b, 1, size, size);
                Pair lab = out(b);
                cpu.gatherBatch(ic, ord.c, cursor.c, x.c, lab.c);
                gpu.gatherBatch(ig, ord.g, cursor.g, x.g, lab.g);
                assertBits("gatherBatch x, round " + round, x.c.toArray(), x.g.toArray());
                assertBits("gatherBatch labels, round " + round, lab.c.toArray(), lab.g.toArray());
            }
            assertBits("cursor advanced by 2 batches", new float[] {3f + 2 * b}, cursor.g.toArray());
        }
    }

    // ---------------------------------------------------------------- replay and determinism

    /** Buffers of a small training step: conv, BN, sigmoid, pool, linear, loss, backward, SGD. */
    private final class Step implements Runnable {
        final ConvSpec conv = new ConvSpec(1, 2);
        final PoolSpec poolSpec = new PoolSpec(2, 2, 0);
        final Tensor x;
        final Tensor labels;
        final Tensor params;  // conv w (6,1,5,5) | conv b (6) | gamma (6) | beta (6) | fc w (10, 6*14*14) | fc b (10)
        final Tensor grads;
        final Tensor velocity;
        final Tensor hyper;
        final Tensor rm;
        final Tensor rv;
        final Tensor a1;
        final Tensor a2;
        final Tensor sm;
        final Tensor si;
        final Tensor pooled;
        final Tensor logits;
        final Tensor dlogits;
        final Tensor dpooled;
        final Tensor da2;
        final Tensor da1;
        final Tensor metrics;
        final int[] offsets;

        Step(Backend be, float[] xv, float[] labelValues, float[] init) {
            int n = 8;
            x = be.upload(xv, Shape.of(n, 1, 28, 28));
            labels = be.upload(labelValues, Shape.of(n));
            params = be.upload(init, Shape.of(init.length));
            grads = be.allocate(Shape.of(init.length));
            velocity = be.allocate(Shape.of(init.length));
            hyper = be.upload(new float[] {0.1f, 0f}, Shape.of(2));
            rm = be.allocate(Shape.of(6));
            rv = be.upload(new float[] {1, 1, 1, 1, 1, 1}, Shape.of(6));
            a1 = be.allocate(Shape.of(n, 6, 28, 28));
            a2 = be.allocate(Shape.of(n, 6, 28, 28));
            sm = be.allocate(Shape.of(6));
            si = be.allocate(Shape.of(6));
            pooled = be.allocate(Shape.of(n, 6, 14, 14));
            logits = be.allocate(Shape.of(n, 10));
            dlogits = be.allocate(Shape.of(n, 10));
            dpooled = be.allocate(Shape.of(n, 6, 14, 14));
            da2 = be.allocate(Shape.of(n, 6, 28, 28));
            da1 = be.allocate(Shape.of(n, 6, 28, 28));
            metrics = be.allocate(Shape.of(2));
            offsets = new int[] {0, 150, 156, 162, 168, 168 + 10 * 1176, 168 + 10 * 1176 + 10};
        }

        Tensor p(Tensor flat, int i, Shape s) {
            return flat.view(offsets[i], s);
        }

        Backend be;

        Step on(Backend b) {
            be = b;
            return this;
        }

        @Override
        public void run() {
            Shape cw = Shape.of(6, 1, 5, 5);
            Shape ch = Shape.of(6);
            Shape fw = Shape.of(10, 1176);
            Shape fb = Shape.of(10);
            be.conv2dForward(x, p(params, 0, cw), p(params, 1, ch), a1, conv);
            be.batchNormForwardTrain(a1, p(params, 2, ch), p(params, 3, ch), rm, rv, a2, sm, si, 0.1f, 1e-5f);
            be.sigmoidForward(a2, a2);
            be.avgPool2dForward(a2, pooled, poolSpec);
            Tensor flat = pooled.reshape(Shape.of(8, 1176));
            be.linearForward(flat, p(params, 4, fw), p(params, 5, fb), logits);
            be.softmaxCrossEntropy(logits, labels, dlogits, metrics);
            be.linearBackwardWeight(flat, dlogits, p(grads, 4, fw), p(grads, 5, fb));
            be.linearBackwardData(dlogits, p(params, 4, fw), dpooled.reshape(Shape.of(8, 1176)));
            be.avgPool2dBackward(dpooled, da2, poolSpec);
            be.sigmoidBackward(a2, da2, da2);
            be.batchNormBackward(a1, da2, p(params, 2, ch), sm, si, da1, p(grads, 2, ch), p(grads, 3, ch));
            be.conv2dBackwardFilter(x, da1, p(grads, 0, cw), p(grads, 1, ch), conv);
            be.sgdStep(params, grads, velocity, hyper, 0.9f, 1e-4f);
        }
    }

    private Step newStep() {
        Random r = new Random(7);
        float[] xv = new float[8 * 28 * 28];
        for (int i = 0; i < xv.length; i++) {
            xv[i] = r.nextFloat();
        }
        float[] labels = new float[8];
        for (int i = 0; i < 8; i++) {
            labels[i] = r.nextInt(10);
        }
        float[] init = new float[168 + 10 * 1176 + 10];
        for (int i = 0; i < init.length; i++) {
            init[i] = (float) (r.nextGaussian() * 0.1);
        }
        for (int i = 156; i < 162; i++) {
            init[i] = 1f;  // gamma
        }
        return new Step(gpu, xv, labels, init).on(gpu);
    }

    @Test
    void graphReplayEqualsEagerBitForBit() {
        Step eager = newStep();
        Step graphed = newStep();
        Runnable replay = gpu.capture(graphed);
        for (int i = 0; i < 4; i++) {
            eager.run();
            replay.run();
        }
        assertBits("params after 4 steps, graph vs eager", eager.params.toArray(), graphed.params.toArray());
        assertBits("running variance, graph vs eager", eager.rv.toArray(), graphed.rv.toArray());
        assertBits("metrics, graph vs eager", eager.metrics.toArray(), graphed.metrics.toArray());
        float[] m = graphed.metrics.toArray();
        assertTrue(m[0] > 0 && Float.isFinite(m[0]), "the loss accumulated over 4 steps: " + m[0]);
    }

    @Test
    void sameInputsGiveSameBits() {
        Step first = newStep();
        Step second = newStep();
        for (int i = 0; i < 3; i++) {
            first.run();
            second.run();
        }
        assertBits("params after 3 steps, run twice", first.params.toArray(), second.params.toArray());
        assertBits("grads after 3 steps, run twice", first.grads.toArray(), second.grads.toArray());
        assertArrayEquals(first.metrics.toArray(), second.metrics.toArray());
    }

    @Test
    void stepMatchesCpu() {
        Step g = newStep();
        Random r = new Random(7);
        float[] xv = new float[8 * 28 * 28];
        for (int i = 0; i < xv.length; i++) {
            xv[i] = r.nextFloat();
        }
        float[] labels = new float[8];
        for (int i = 0; i < 8; i++) {
            labels[i] = r.nextInt(10);
        }
        float[] init = new float[168 + 10 * 1176 + 10];
        for (int i = 0; i < init.length; i++) {
            init[i] = (float) (r.nextGaussian() * 0.1);
        }
        for (int i = 156; i < 162; i++) {
            init[i] = 1f;
        }
        Step c = new Step(cpu, xv, labels, init).on(cpu);
        for (int i = 0; i < 3; i++) {
            g.run();
            c.run();
        }
        assertClose("3 training steps: params, GPU vs CPU", c.params.toArray(), g.params.toArray(), 1e-4f);
        assertClose("3 training steps: metrics, GPU vs CPU", c.metrics.toArray(), g.metrics.toArray(), 1e-4f);
    }
}
