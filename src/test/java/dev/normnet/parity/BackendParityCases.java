package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Optimizer;
import dev.normnet.optim.Sgd;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every {@link Backend} op against the PyTorch golden files (see
 * {@code src/test/resources/golden/README.md}), and the optimizer classes over the optimizer
 * cases. A subclass names the backend; the same cases run on each. Outputs are filled with a
 * sentinel before each op, so an op that accumulates into its output instead of overwriting it
 * fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BackendParityCases {
    private static final float SENTINEL = 7.25f;

    private Backend backend;

    /** The backend under test; called once per test class. */
    protected abstract Backend createBackend();

    /** Names the backend in messages and in the printed summary. */
    protected String label() {
        return backend.device().id();
    }

    /** Why the backend cannot run on this machine, or null when it can (then every case is skipped with it). */
    protected String unavailableReason() {
        return null;
    }

    @BeforeAll
    void openBackend() {
        if (unavailableReason() == null) {
            backend = createBackend();
        }
    }

    @BeforeEach
    void requireBackend() {
        String reason = unavailableReason();
        assumeTrue(reason == null, reason);
    }

    @AfterAll
    void closeBackend() {
        if (backend != null) {
            backend.close();
        }
    }

    private Golden golden(String name) {
        return new Golden(name, label());
    }

    private Tensor output(Shape shape) {
        Tensor t = backend.allocate(shape);
        backend.fill(t, SENTINEL);
        return t;
    }

    private static int[] ints(NpyReader.Array a) {
        int[] out = new int[a.data().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.round(a.data()[i]);
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"conv_s1_p2", "conv_s1_p0", "conv_s2_p1"})
    void conv2d(String name) {
        Golden g = golden(name);
        int[] s = ints(g.load("spec"));
        ConvSpec spec = new ConvSpec(s[0], s[1]);
        Tensor x = g.upload(backend, "x");       // (N, C, H, W)
        Tensor w = g.upload(backend, "w");       // (K, C, R, S)
        Tensor b = g.upload(backend, "b");       // (K)
        Tensor dy = g.upload(backend, "dy");     // (N, K, P, Q)
        Tensor y = output(dy.shape());
        backend.conv2dForward(x, w, b, y, spec);
        g.check("y", y, "y");

        Tensor dx = output(x.shape());
        backend.conv2dBackwardData(dy, w, dx, spec);
        g.check("dx", dx, "dx");

        Tensor dw = output(w.shape());
        Tensor db = output(b.shape());
        backend.conv2dBackwardFilter(x, dy, dw, db, spec);
        g.check("dw", dw, "dw");
        g.check("db", db, "db");

        backend.fill(dw, SENTINEL);
        backend.conv2dBackwardFilter(x, dy, dw, null, spec);
        g.check("dw(db null)", dw, "dw");

        backend.conv2dForward(x, w, null, y, spec);
        float[] noBias = y.toArray();
        float[] bias = b.toArray();
        int k = y.shape().dim(1);
        int plane = y.shape().sizeFrom(2);
        g.check("y(b null) + b", add(noBias, bias, plane, k), g.load("y"));
        System.out.println(g.summary());
        close(x, w, b, dy, y, dx, dw, db);
    }

    private static float[] add(float[] y, float[] bias, int plane, int k) {
        float[] out = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            out[i] = y[i] + bias[(i / plane) % k];
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"batchnorm_2d", "batchnorm_4d"})
    void batchNorm(String name) {
        Golden g = golden(name);
        float[] hyper = g.load("hyper").data();
        float momentum = hyper[0];
        float eps = hyper[1];
        Tensor x = g.upload(backend, "x");                     // (N, C) or (N, C, H, W)
        Tensor gamma = g.upload(backend, "gamma");             // (C)
        Tensor beta = g.upload(backend, "beta");
        Tensor runningMean = g.upload(backend, "running_mean");
        Tensor runningVar = g.upload(backend, "running_var");
        Tensor dy = g.upload(backend, "dy");
        Tensor y = output(x.shape());
        Tensor saveMean = output(gamma.shape());
        Tensor saveInvStd = output(gamma.shape());
        backend.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps);
        g.check("y", y, "y");
        g.check("save_mean", saveMean, "save_mean");
        g.check("save_invstd", saveInvStd, "save_invstd");
        g.check("running_mean", runningMean, "running_mean_after");
        g.check("running_var", runningVar, "running_var_after");

        Tensor dx = output(x.shape());
        Tensor dgamma = output(gamma.shape());
        Tensor dbeta = output(gamma.shape());
        backend.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        g.check("dx", dx, "dx");
        g.check("dgamma", dgamma, "dgamma");
        g.check("dbeta", dbeta, "dbeta");

        Tensor meanBefore = g.upload(backend, "running_mean");
        Tensor varBefore = g.upload(backend, "running_var");
        Tensor yEval = output(x.shape());
        backend.batchNormForwardEval(x, gamma, beta, meanBefore, varBefore, yEval, eps);
        g.check("y_eval", yEval, "y_eval");
        System.out.println(g.summary());
        close(x, gamma, beta, runningMean, runningVar, dy, y, saveMean, saveInvStd, dx, dgamma, dbeta,
                meanBefore, varBefore, yEval);
    }

    @ParameterizedTest
    @ValueSource(strings = {"avgpool_k2_s2", "avgpool_k3_s2_p1"})
    void avgPool(String name) {
        Golden g = golden(name);
        int[] s = ints(g.load("spec"));
        PoolSpec spec = new PoolSpec(s[0], s[1], s[2]);
        Tensor x = g.upload(backend, "x");       // (N, C, H, W)
        Tensor dy = g.upload(backend, "dy");     // (N, C, P, Q)
        Tensor y = output(dy.shape());
        backend.avgPool2dForward(x, y, spec);
        g.check("y", y, "y");
        Tensor dx = output(x.shape());
        backend.avgPool2dBackward(dy, dx, spec);
        g.check("dx", dx, "dx");
        System.out.println(g.summary());
        close(x, dy, y, dx);
    }

    @ParameterizedTest
    @ValueSource(strings = {"maxpool_k2_s2_ties", "maxpool_k3_s2_p1_ties", "maxpool_k3_s2_p1"})
    void maxPool(String name) {
        Golden g = golden(name);
        int[] s = ints(g.load("spec"));
        PoolSpec spec = new PoolSpec(s[0], s[1], s[2]);
        Tensor x = g.upload(backend, "x");
        Tensor dy = g.upload(backend, "dy");
        Tensor y = output(dy.shape());
        backend.maxPool2dForward(x, y, spec);
        g.check("y", y, "y");
        Tensor dx = output(x.shape());
        backend.maxPool2dBackward(x, dy, dx, spec);
        g.check("dx", dx, "dx");
        System.out.println(g.summary());
        close(x, dy, y, dx);
    }

    @ParameterizedTest
    @ValueSource(strings = {"linear"})
    void linear(String name) {
        Golden g = golden(name);
        Tensor x = g.upload(backend, "x");       // (N, I)
        Tensor w = g.upload(backend, "w");       // (O, I)
        Tensor b = g.upload(backend, "b");       // (O)
        Tensor dy = g.upload(backend, "dy");     // (N, O)
        Tensor y = output(dy.shape());
        backend.linearForward(x, w, b, y);
        g.check("y", y, "y");
        Tensor dx = output(x.shape());
        backend.linearBackwardData(dy, w, dx);
        g.check("dx", dx, "dx");
        Tensor dw = output(w.shape());
        Tensor db = output(b.shape());
        backend.linearBackwardWeight(x, dy, dw, db);
        g.check("dw", dw, "dw");
        g.check("db", db, "db");
        backend.fill(dw, SENTINEL);
        backend.linearBackwardWeight(x, dy, dw, null);
        g.check("dw(db null)", dw, "dw");
        System.out.println(g.summary());
        close(x, w, b, dy, y, dx, dw, db);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sigmoid"})
    void sigmoid(String name) {
        Golden g = golden(name);
        Tensor x = g.upload(backend, "x");
        Tensor dy = g.upload(backend, "dy");
        Tensor y = output(x.shape());
        backend.sigmoidForward(x, y);
        g.check("y", y, "y");
        Tensor dx = output(x.shape());
        backend.sigmoidBackward(y, dy, dx);
        g.check("dx", dx, "dx");
        backend.sigmoidForward(x, x);            // in place
        g.check("y(in place)", x, "y");
        backend.sigmoidBackward(y, dy, dy);      // dx aliasing dy
        g.check("dx(in place)", dy, "dx");
        System.out.println(g.summary());
        close(x, dy, y, dx);
    }

    @ParameterizedTest
    @ValueSource(strings = {"relu"})
    void relu(String name) {
        Golden g = golden(name);
        Tensor x = g.upload(backend, "x");
        Tensor dy = g.upload(backend, "dy");
        Tensor y = output(x.shape());
        backend.reluForward(x, y);
        g.check("y", y, "y");
        Tensor dx = output(x.shape());
        backend.reluBackward(x, dy, dx);
        g.check("dx", dx, "dx");
        backend.reluBackward(y, dy, dx);         // from the output: the same sign test
        g.check("dx(from y)", dx, "dx");
        backend.reluBackward(x, dy, dy);         // dx aliasing dy
        g.check("dx(in place)", dy, "dx");
        System.out.println(g.summary());
        close(x, dy, y, dx);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cross_entropy"})
    void softmaxCrossEntropy(String name) {
        Golden g = golden(name);
        Tensor logits = g.upload(backend, "logits");   // (N, K)
        Tensor labels = g.upload(backend, "labels");   // (N)
        int n = logits.shape().dim(0);
        Tensor dlogits = output(logits.shape());
        Tensor metrics = backend.upload(new float[] {0.5f, 2f}, Shape.of(2));
        backend.softmaxCrossEntropy(logits, labels, dlogits, metrics);
        g.check("dlogits", dlogits, "dlogits");
        float[] m = metrics.toArray();
        g.check("loss_sum", new float[] {m[0] - 0.5f}, g.load("loss_sum"));
        g.check("loss(mean)", new float[] {(m[0] - 0.5f) / n}, g.load("loss"));
        float correct = g.load("correct").data()[0];
        assertEquals(correct + 2f, m[1], "cross_entropy: metrics[1] must add the rows whose first arg-max is the label");

        backend.softmaxCrossEntropy(logits, labels, null, metrics);    // metrics only, accumulating
        m = metrics.toArray();
        g.check("loss_sum(2 calls)", new float[] {(m[0] - 0.5f) / 2}, g.load("loss_sum"));
        assertEquals(2 * correct + 2f, m[1], "cross_entropy: metrics accumulate across calls");
        System.out.println(g.summary());
        close(logits, labels, dlogits, metrics);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd_momentum", "sgd_plain"})
    void sgd(String name) {
        Golden g = golden(name);
        float[] hyper = g.load("hyper").data();   // (lr, momentum, weight_decay)
        float momentum = hyper[1];
        float weightDecay = hyper[2];
        NpyReader.Array grads = g.load("grads");    // (3, size)
        NpyReader.Array after = g.load("params");   // (3, size)
        int size = grads.dim(1);
        Tensor params = g.upload(backend, "params0");
        Tensor grad = backend.allocate(Shape.of(size));
        Tensor velocity = momentum == 0 ? null : backend.allocate(Shape.of(size));
        Tensor hyperTensor = backend.upload(new float[] {hyper[0], 0f}, Shape.of(2));
        for (int t = 0; t < grads.dim(0); t++) {
            grad.copyFrom(java.util.Arrays.copyOfRange(grads.data(), t * size, (t + 1) * size));
            backend.sgdStep(params, grad, velocity, hyperTensor, momentum, weightDecay);
            g.check("params[" + t + "]", params.toArray(), row(after, t));
        }
        if (velocity != null) {
            g.check("momentum_buffer", velocity, "momentum_buffer");
        }
        System.out.println(g.summary());
        close(params, grad, velocity, hyperTensor);
    }

    @ParameterizedTest
    @ValueSource(strings = {"adam"})
    void adam(String name) {
        Golden g = golden(name);
        float[] hyper = g.load("hyper").data();   // (lr, beta1, beta2, eps, weight_decay)
        NpyReader.Array grads = g.load("grads");
        NpyReader.Array after = g.load("params");
        int size = grads.dim(1);
        Tensor params = g.upload(backend, "params0");
        Tensor grad = backend.allocate(Shape.of(size));
        Tensor m = backend.allocate(Shape.of(size));
        Tensor v = backend.allocate(Shape.of(size));
        Tensor hyperTensor = backend.upload(new float[] {hyper[0], 0f}, Shape.of(2));
        for (int t = 0; t < grads.dim(0); t++) {
            grad.copyFrom(java.util.Arrays.copyOfRange(grads.data(), t * size, (t + 1) * size));
            backend.addScalar(hyperTensor, 1, 1f);
            backend.adamStep(params, grad, m, v, hyperTensor, hyper[1], hyper[2], hyper[3], hyper[4]);
            g.check("params[" + t + "]", params.toArray(), row(after, t));
        }
        g.check("exp_avg", m, "exp_avg");
        g.check("exp_avg_sq", v, "exp_avg_sq");
        System.out.println(g.summary());
        close(params, grad, m, v, hyperTensor);
    }

    /** The optimizer classes of dev.normnet.optim over the same cases: builder wiring, state, Adam's step count. */
    @ParameterizedTest
    @ValueSource(strings = {"sgd_momentum", "sgd_plain", "adam"})
    void optimizerClass(String name) {
        Golden g = golden(name);
        float[] hyper = g.load("hyper").data();
        Optimizer optimizer = name.equals("adam")
                ? Adam.builder().setLearningRate(hyper[0]).optBetas(hyper[1], hyper[2]).optEps(hyper[3])
                        .optWeightDecay(hyper[4]).build()
                : Sgd.builder().setLearningRate(hyper[0]).optMomentum(hyper[1]).optWeightDecay(hyper[2]).build();
        NpyReader.Array grads = g.load("grads");    // (3, size)
        NpyReader.Array after = g.load("params");   // (3, size)
        int size = grads.dim(1);
        Tensor params = g.upload(backend, "params0");
        Tensor grad = backend.allocate(Shape.of(size));
        optimizer.attach(backend, params, grad);
        for (int t = 0; t < grads.dim(0); t++) {
            grad.copyFrom(java.util.Arrays.copyOfRange(grads.data(), t * size, (t + 1) * size));
            optimizer.step();
            g.check(optimizer.getClass().getSimpleName() + " params[" + t + "]", params.toArray(), row(after, t));
        }
        System.out.println(g.summary());
        optimizer.close();
        close(params, grad);
    }

    @ParameterizedTest
    @ValueSource(ints = {28, 32})
    void gatherBatch(int size) {
        Golden g = golden("gather_batch");
        NpyReader.Array pixels = g.load("pixels");   // (count, H, W) as exact integers
        NpyReader.Array labels = g.load("labels");   // (count)
        int count = pixels.dim(0);
        byte[] px = new byte[pixels.data().length];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) Math.round(pixels.data()[i]);
        }
        byte[] lab = new byte[count];
        for (int i = 0; i < count; i++) {
            lab[i] = (byte) Math.round(labels.data()[i]);
        }
        NpyReader.Array batchLabels = g.load("batch_labels");
        int batch = batchLabels.dim(0);
        float start = g.load("cursor").data()[0];
        try (var images = backend.uploadImages(px, lab, count, pixels.dim(1), pixels.dim(2))) {
            Tensor order = g.upload(backend, "order");
            Tensor cursor = g.upload(backend, "cursor");
            Tensor x = output(Shape.of(batch, 1, size, size));
            Tensor y = output(Shape.of(batch));
            backend.gatherBatch(images, order, cursor, x, y);
            g.check("x_" + size, x, "x_" + size);
            g.check("labels", y.toArray(), batchLabels);
            assertEquals(start + batch, cursor.toArray()[0], "gatherBatch: cursor must advance by the batch size");
            System.out.println(g.summary());
            close(order, cursor, x, y);
        }
    }

    private static NpyReader.Array row(NpyReader.Array a, int t) {
        int size = a.dim(1);
        return new NpyReader.Array(a.name() + "[" + t + "]", new int[] {size},
                java.util.Arrays.copyOfRange(a.data(), t * size, (t + 1) * size));
    }

    private static void close(Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null) {
                t.close();
            }
        }
    }
}
