package dev.normnet.bench;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Per-kernel timings ({@code normnet bench --kernels}): every op of a LeNet-BN training step,
 * forward and backward, at the shapes of batch 256 on 28x28 inputs, and the batch-norm, sigmoid,
 * pooling and convolution ops at one large shape (N=256, C=16, H=W=106: LeNet-BN's second
 * convolution at 224x224). Same shapes and names as benchmarks/pytorch/kernels.py.
 *
 * <p>Bytes are the compulsory traffic: every input read once and every output written once, in
 * float32 (uint8 for the resident images). Flops count multiply-adds as two and exp as one. The
 * achieved GB/s and GFLOP/s are these divided by the median time per call, so GB/s is a lower
 * bound on the traffic a kernel really makes; each is also given as a fraction of the limits
 * measured on the same device ({@link Limits}).
 */
public final class KernelBench {
    /** One timed op: a name, a direction, a shape description, its bytes and flops, and the call. */
    public record Kernel(String op, String direction, String shape, double bytes, double flops, Runnable call) {
        public String id() {
            return op + "/" + direction + " " + shape;
        }
    }

    private final Backend backend;
    private final SplittableRandom rng = new SplittableRandom(7);
    private final List<Tensor> owned = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    /** Whether to build an op (by name), as {@link #kernels(int, boolean, long, Pattern)} was asked. */
    private Predicate<String> want = op -> true;

    public KernelBench(Backend backend) {
        this.backend = backend;
    }

    /** The kernels to time, LeNet-BN at {@code batch} (256 by default) first, then the large shape unless {@code large} is false. */
    public List<Kernel> kernels(int batch, boolean large, long lenetParameters) {
        return kernels(batch, large, lenetParameters, null);
    }

    /**
     * As {@link #kernels(int, boolean, long)}, building only the ops some of whose ids
     * ({@link Kernel#id()}) {@code only} may match (null: every op), so that the tensors of the
     * others are never allocated or filled (the large shape's take seconds). The caller still
     * filters the kernels by id: an op is built when the pattern matches within "op/" or the
     * search runs into its end, which keeps every op a longer id could match.
     */
    public List<Kernel> kernels(int batch, boolean large, long lenetParameters, Pattern only) {
        want = op -> only == null || mayMatch(only, op + "/");
        List<Kernel> k = new ArrayList<>();
        int n = batch;
        gather(k, n, 28);
        conv(k, "conv1", n, 1, 28, 6, 5, false);
        batchNorm(k, "bn1", n, 6, 24, 24, true);
        sigmoid(k, "sigmoid1", Shape.of(n, 6, 24, 24));
        avgPool(k, "pool1", n, 6, 24);
        block(k, "bn1+sigmoid1+pool1", n, 6, 24, 24, true);
        conv(k, "conv2", n, 6, 12, 16, 5, true);
        batchNorm(k, "bn2", n, 16, 8, 8, false);
        sigmoid(k, "sigmoid2", Shape.of(n, 16, 8, 8));
        avgPool(k, "pool2", n, 16, 8);
        block(k, "bn2+sigmoid2+pool2", n, 16, 8, 8, true);
        linear(k, "linear1", n, 256, 120);
        batchNorm(k, "bn3", n, 120, 1, 1, false);
        sigmoid(k, "sigmoid3", Shape.of(n, 120));
        block(k, "bn3+sigmoid3", n, 120, 1, 1, false);
        linear(k, "linear2", n, 120, 84);
        batchNorm(k, "bn4", n, 84, 1, 1, false);
        linear(k, "linear3", n, 84, 10);
        softmaxCrossEntropy(k, n, 10);
        optimizers(k, lenetParameters);
        if (large) {
            conv(k, "conv2-224", 256, 6, 110, 16, 5, true);
            batchNorm(k, "bn2-224", 256, 16, 106, 106, true);
            sigmoid(k, "sigmoid2-224", Shape.of(256, 16, 106, 106));
            avgPool(k, "pool2-224", 256, 16, 106);
            block(k, "bn2-224+sigmoid2-224+pool2-224", 256, 16, 106, 106, true);
        }
        return k;
    }

    /**
     * Whether {@code p} may match some text that begins with {@code prefix}: it finds a match
     * within the prefix, or its search reached the prefix's end ({@link Matcher#hitEnd()}), where
     * more text could have made it match.
     */
    static boolean mayMatch(Pattern p, String prefix) {
        Matcher m = p.matcher(prefix);
        return m.find() || m.hitEnd();
    }

    /** Times each kernel; returns one JSON object per kernel. */
    public List<Map<String, Object>> run(List<Kernel> kernels, Timer timer, Limits.Measured limits, java.io.PrintStream log) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Kernel k : kernels) {
            Timer.Result r = timer.measure(k.call(), backend::synchronize);
            Stats ms = r.millisPerStep();
            double seconds = ms.median() / 1e3;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", k.op());
            m.put("direction", k.direction());
            m.put("shape", k.shape());
            m.put("calls_per_run", r.steps());
            m.put("ms", ms.toJson());
            m.put("bytes", k.bytes());
            m.put("flops", k.flops());
            double gbps = k.bytes() / seconds / 1e9;
            double gflops = k.flops() / seconds / 1e9;
            m.put("gb_per_s", gbps);
            m.put("gflop_per_s", gflops);
            m.put("fraction_of_copy_bandwidth", gbps / limits.copyGbPerSecond());
            m.put("fraction_of_gemm", gflops / limits.gemmGflopPerSecond());
            out.add(m);
            log.printf("  %-44s %9.4f ms %8.2f GB/s %8.2f GFLOP/s%n", k.id(), ms.median(), gbps, gflops);
        }
        return out;
    }

    public void free() {
        for (Tensor t : owned) {
            t.close();
        }
        owned.clear();
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("freeing benchmark data: " + e.getMessage(), e);
            }
        }
        closeables.clear();
    }

    // ---------------------------------------------------------------- tensors

    private Tensor random(Shape shape, double lo, double hi) {
        float[] v = new float[shape.sizeInt()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        }
        Tensor t = backend.upload(v, shape);
        owned.add(t);
        return t;
    }

    private Tensor zeros(Shape shape) {
        Tensor t = backend.allocate(shape);
        owned.add(t);
        return t;
    }

    private Tensor constant(Shape shape, float value) {
        Tensor t = zeros(shape);
        backend.fill(t, value);
        return t;
    }

    private static String dims(Shape s) {
        StringBuilder sb = new StringBuilder();
        int[] d = s.dims();
        for (int i = 0; i < d.length; i++) {
            sb.append(i == 0 ? "" : "x").append(d[i]);
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- ops

    private void gather(List<Kernel> k, int n, int side) {
        if (!want.test("gather")) {
            return;
        }
        int count = 60_000;
        byte[] pixels = new byte[count * side * side];
        byte[] labels = new byte[count];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) rng.nextInt(256);
        }
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) rng.nextInt(10);
        }
        ResidentImages images = backend.uploadImages(pixels, labels, count, side, side);
        closeables.add(images);
        float[] perm = new float[count];
        for (int i = 0; i < count; i++) {
            perm[i] = (i * 7919L) % count;   // 7919 is prime and does not divide 60000: a permutation
        }
        Tensor order = backend.upload(perm, Shape.of(count));
        owned.add(order);
        Tensor cursor = zeros(Shape.of(1));
        Tensor x = zeros(Shape.of(n, 1, side, side));
        Tensor y = zeros(Shape.of(n));
        double px = (double) n * side * side;
        k.add(new Kernel("gather", "forward", dims(x.shape()), px + 4 * px + 4.0 * n + 4.0 * n, px, () -> {
            backend.fill(cursor, 0f);
            backend.gatherBatch(images, order, cursor, x, y);
        }));
    }

    private void conv(List<Kernel> k, String name, int n, int c, int h, int kOut, int r, boolean backwardData) {
        if (!want.test(name)) {
            return;
        }
        ConvSpec spec = new ConvSpec(1, 0);
        int p = spec.outSize(h, r);
        Tensor x = random(Shape.of(n, c, h, h), -1, 1);                 // (N, C, H, W)
        Tensor w = random(Shape.of(kOut, c, r, r), -0.2, 0.2);           // (K, C, R, S)
        Tensor b = random(Shape.of(kOut), -0.2, 0.2);                    // (K)
        Tensor y = zeros(Shape.of(n, kOut, p, p));                       // (N, K, P, Q)
        Tensor dy = random(Shape.of(n, kOut, p, p), -1, 1);
        Tensor dx = zeros(x.shape());
        Tensor dw = zeros(w.shape());
        Tensor db = zeros(b.shape());
        double mac = (double) n * kOut * p * p * c * r * r;
        double ex = x.size(), ew = w.size(), ey = y.size();
        String shape = dims(x.shape()) + "->" + dims(y.shape()) + " k" + r;
        k.add(new Kernel(name, "forward", shape, 4 * (ex + ew + kOut + ey), 2 * mac + ey,
                () -> backend.conv2dForward(x, w, b, y, spec)));
        if (backwardData) {
            k.add(new Kernel(name, "backward_data", shape, 4 * (ey + ew + ex), 2 * mac,
                    () -> backend.conv2dBackwardData(dy, w, dx, spec)));
        }
        k.add(new Kernel(name, "backward_filter", shape, 4 * (ex + ey + ew + kOut), 2 * mac + ey,
                () -> backend.conv2dBackwardFilter(x, dy, dw, db, spec)));
    }

    /**
     * Batch norm's training-mode forward pass and its backward pass at one shape: (N, C, H, W), or
     * (N, C) when {@code h} and {@code w} are 1, as in {@link #kernels}.
     */
    public List<Kernel> batchNorm(String name, int n, int c, int h, int w) {
        List<Kernel> k = new ArrayList<>();
        batchNorm(k, name, n, c, h, w, false);
        return k;
    }

    private void batchNorm(List<Kernel> k, String name, int n, int c, int h, int w, boolean eval) {
        if (!want.test(name)) {
            return;
        }
        Shape s = h == 1 && w == 1 ? Shape.of(n, c) : Shape.of(n, c, h, w);
        Tensor x = random(s, -2, 2);
        Tensor y = zeros(s);
        Tensor dy = random(s, -1, 1);
        Tensor dx = zeros(s);
        Tensor gamma = random(Shape.of(c), 0.5, 1.5);
        Tensor beta = random(Shape.of(c), -0.5, 0.5);
        Tensor runningMean = zeros(Shape.of(c));
        Tensor runningVar = constant(Shape.of(c), 1f);
        Tensor saveMean = zeros(Shape.of(c));
        Tensor saveInvStd = zeros(Shape.of(c));
        Tensor dgamma = zeros(Shape.of(c));
        Tensor dbeta = zeros(Shape.of(c));
        backend.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, 0.1f, 1e-5f);
        double e = s.size();
        String shape = dims(s);
        k.add(new Kernel(name, "forward_train", shape, 4 * (2 * e + 8.0 * c), 8 * e,
                () -> backend.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, 0.1f, 1e-5f)));
        if (eval) {
            k.add(new Kernel(name, "forward_eval", shape, 4 * (2 * e + 4.0 * c), 2 * e,
                    () -> backend.batchNormForwardEval(x, gamma, beta, runningMean, runningVar, y, 1e-5f)));
        }
        k.add(new Kernel(name, "backward", shape, 4 * (3 * e + 5.0 * c), 12 * e,
                () -> backend.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)));
    }

    /**
     * A batch norm with the Sigmoid after it and, when {@code pool}, LeNet's 2x2 average pooling after
     * that, as a plan runs the three layers: the backend's fused ops ({@link
     * Backend#batchNormActivationPoolForwardTrain}, its eval and backward forms, or the activation
     * forms without the pooling), training forward, eval forward and backward. Against the rows
     * of the three ops it shows what fusing saves (the CUDA backend runs the group in its batch
     * norm's launches; a CPU backend runs the ops in turn).
     */
    private void block(List<Kernel> k, String name, int n, int c, int h, int w, boolean pool) {
        if (!want.test(name)) {
            return;
        }
        Shape s = h == 1 && w == 1 ? Shape.of(n, c) : Shape.of(n, c, h, w);
        PoolSpec spec = new PoolSpec(2, 2, 0);
        Shape ps = pool ? Shape.of(n, c, spec.outSize(h), spec.outSize(w)) : s;
        Tensor x = random(s, -2, 2);
        Tensor y = zeros(s);
        Tensor pooled = pool ? zeros(ps) : null;
        Tensor dOut = random(ps, -1, 1);
        Tensor dx = zeros(s);
        Tensor gamma = random(Shape.of(c), 0.5, 1.5);
        Tensor beta = random(Shape.of(c), -0.5, 0.5);
        Tensor runningMean = zeros(Shape.of(c));
        Tensor runningVar = constant(Shape.of(c), 1f);
        Tensor count = zeros(Shape.of(1));
        Tensor saveMean = zeros(Shape.of(c));
        Tensor saveInvStd = zeros(Shape.of(c));
        Tensor dgamma = zeros(Shape.of(c));
        Tensor dbeta = zeros(Shape.of(c));
        Activation act = Activation.SIGMOID;
        Runnable train = pool
                ? () -> backend.batchNormActivationPoolForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean,
                        saveInvStd, 0.1f, 1e-5f, count, act, spec, pooled)
                : () -> backend.batchNormActivationForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean,
                        saveInvStd, 0.1f, 1e-5f, count, act);
        Runnable eval = pool
                ? () -> backend.batchNormActivationPoolForwardEval(x, gamma, beta, runningMean, runningVar, y, 1e-5f, act,
                        spec, pooled)
                : () -> backend.batchNormActivationForwardEval(x, gamma, beta, runningMean, runningVar, y, 1e-5f, act);
        Runnable backward = pool
                ? () -> backend.batchNormActivationPoolBackward(x, y, dOut, spec, act, gamma, saveMean, saveInvStd, dx,
                        dgamma, dbeta)
                : () -> backend.batchNormActivationBackward(x, y, dOut, act, gamma, saveMean, saveInvStd, dx, dgamma,
                        dbeta);
        train.run();
        double e = s.size();
        double ep = pool ? ps.size() : 0;
        String shape = dims(s) + (pool ? "->" + dims(ps) : "");
        // bytes: x read twice (statistics, then normalizing), y and the pooled output written; flops:
        // batch norm's, the sigmoid's and the pooling's
        k.add(new Kernel(name, "forward_train", shape, 4 * (3 * e + ep + 8.0 * c), 12 * e + 4 * ep, train));
        k.add(new Kernel(name, "forward_eval", shape, 4 * (2 * e + ep + 4.0 * c), 6 * e + 4 * ep, eval));
        k.add(new Kernel(name, "backward", shape, 4 * (3 * e + ep + 5.0 * c), 15 * e + ep, backward));
    }

    private void sigmoid(List<Kernel> k, String name, Shape s) {
        if (!want.test(name)) {
            return;
        }
        Tensor x = random(s, -4, 4);
        Tensor y = zeros(s);
        Tensor dy = random(s, -1, 1);
        Tensor dx = zeros(s);
        backend.sigmoidForward(x, y);
        double e = s.size();
        k.add(new Kernel(name, "forward", dims(s), 8 * e, 4 * e, () -> backend.sigmoidForward(x, y)));
        k.add(new Kernel(name, "backward", dims(s), 12 * e, 3 * e, () -> backend.sigmoidBackward(y, dy, dx)));
    }

    private void avgPool(List<Kernel> k, String name, int n, int c, int h) {
        if (!want.test(name)) {
            return;
        }
        PoolSpec spec = new PoolSpec(2, 2, 0);
        int p = spec.outSize(h);
        Tensor x = random(Shape.of(n, c, h, h), -1, 1);
        Tensor y = zeros(Shape.of(n, c, p, p));
        Tensor dy = random(y.shape(), -1, 1);
        Tensor dx = zeros(x.shape());
        double ex = x.size(), ey = y.size();
        String shape = dims(x.shape()) + "->" + dims(y.shape());
        k.add(new Kernel(name, "forward", shape, 4 * (ex + ey), 4 * ey, () -> backend.avgPool2dForward(x, y, spec)));
        k.add(new Kernel(name, "backward", shape, 4 * (ey + ex), ex, () -> backend.avgPool2dBackward(dy, dx, spec)));
    }

    private void linear(List<Kernel> k, String name, int n, int in, int out) {
        if (!want.test(name)) {
            return;
        }
        Tensor x = random(Shape.of(n, in), -1, 1);      // (N, I)
        Tensor w = random(Shape.of(out, in), -0.1, 0.1); // (O, I)
        Tensor b = random(Shape.of(out), -0.1, 0.1);     // (O)
        Tensor y = zeros(Shape.of(n, out));              // (N, O)
        Tensor dy = random(y.shape(), -1, 1);
        Tensor dx = zeros(x.shape());
        Tensor dw = zeros(w.shape());
        Tensor db = zeros(b.shape());
        double mac = (double) n * in * out;
        double ex = x.size(), ew = w.size(), ey = y.size();
        String shape = n + "x" + in + "->" + n + "x" + out;
        k.add(new Kernel(name, "forward", shape, 4 * (ex + ew + out + ey), 2 * mac + ey, () -> backend.linearForward(x, w, b, y)));
        k.add(new Kernel(name, "backward_data", shape, 4 * (ey + ew + ex), 2 * mac, () -> backend.linearBackwardData(dy, w, dx)));
        k.add(new Kernel(name, "backward_weight", shape, 4 * (ex + ey + ew + out), 2 * mac + ey,
                () -> backend.linearBackwardWeight(x, dy, dw, db)));
        // all three gradients as the layer asks for them (on CUDA one launch where neither product splits)
        k.add(new Kernel(name, "backward", shape, 4 * (ex + ey + ew + ex + ew + out), 4 * mac + ey,
                () -> backend.linearBackward(x, dy, w, dx, dw, db)));
    }

    private void softmaxCrossEntropy(List<Kernel> k, int n, int classes) {
        if (!want.test("softmax_cross_entropy")) {
            return;
        }
        Tensor logits = random(Shape.of(n, classes), -3, 3);
        float[] lab = new float[n];
        for (int i = 0; i < n; i++) {
            lab[i] = rng.nextInt(classes);
        }
        Tensor labels = backend.upload(lab, Shape.of(n));
        owned.add(labels);
        Tensor dlogits = zeros(logits.shape());
        Tensor metrics = zeros(Shape.of(2));
        double e = logits.size();
        k.add(new Kernel("softmax_cross_entropy", "forward_backward", n + "x" + classes, 4 * (2 * e + n + 2), 6 * e,
                () -> backend.softmaxCrossEntropy(logits, labels, dlogits, metrics)));
    }

    private void optimizers(List<Kernel> k, long parameters) {
        if (!want.test("sgd") && !want.test("sgd_momentum") && !want.test("adam")) {
            return;
        }
        Shape s = Shape.of(Math.toIntExact(parameters));
        Tensor p = random(s, -0.1, 0.1);
        Tensor g = random(s, -1e-3, 1e-3);
        Tensor v = zeros(s);
        Tensor m = zeros(s);
        Tensor sgdHyper = backend.upload(new float[] {1e-3f}, Shape.of(1));
        Tensor adamHyper = backend.upload(new float[] {1e-6f, 1f}, Shape.of(2));
        owned.add(sgdHyper);
        owned.add(adamHyper);
        double e = s.size();
        k.add(new Kernel("sgd", "update", dims(s), 4 * 3 * e, 2 * e,
                () -> backend.sgdStep(p, g, null, sgdHyper, 0f, 0f)));
        k.add(new Kernel("sgd_momentum", "update", dims(s), 4 * 5 * e, 4 * e,
                () -> backend.sgdStep(p, g, v, sgdHyper, 0.9f, 0f)));
        k.add(new Kernel("adam", "update", dims(s), 4 * 7 * e, 14 * e,
                () -> backend.adamStep(p, g, m, v, adamHyper, 0.9f, 0.999f, 1e-8f, 0f)));
    }
}
