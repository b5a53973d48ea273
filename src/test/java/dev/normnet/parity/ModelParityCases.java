package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.data.LabeledImages;
import dev.normnet.loss.SoftmaxCrossEntropyLoss;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Sgd;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import dev.normnet.train.History;
import dev.normnet.train.Trainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Whole models against PyTorch. A preset loads PyTorch's initial state_dict and trains 3 SGD steps
 * (momentum, weight decay) on one batch; its losses, the gradients of step 1, the final state
 * (running statistics and num_batches_tracked included) and the eval-mode logits of the final
 * model are checked against the golden case of the same name. Once step by step over the model's
 * plan ({@link #threeSgdSteps}), once through {@link Trainer#fit} ({@link #trainerFit}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ModelParityCases {
    private Backend backend;

    protected abstract Backend createBackend();

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

    @ParameterizedTest
    @CsvSource({"lenet_bn, lenet-bn", "mlp_bn, mlp-bn"})
    void threeSgdSteps(String caseName, String preset) {
        Golden g = new Golden(caseName, label());
        float[] hyper = g.load("hyper").data();     // (lr, momentum, weight_decay, steps)
        float momentum = hyper[1];
        float weightDecay = hyper[2];
        int steps = Math.round(hyper[3]);
        NpyReader.Array x = g.load("x");            // (N, 1, 28, 28)
        NpyReader.Array labels = g.load("labels");  // (N)
        int n = x.dim(0);

        Sequential model = Models.create(preset, ModelOptions.defaults());
        model.build(Shape.of(x.dim(1), x.dim(2), x.dim(3)), 1);
        model.to(backend);
        model.loadState(load(g, "init.", model));
        Sequential.Plan plan = model.plan(n);
        plan.input().copyFrom(x.data());
        Tensor labelTensor = backend.upload(labels.data(), Shape.of(n));
        Tensor metrics = backend.allocate(Shape.of(2));
        SoftmaxCrossEntropyLoss loss = new SoftmaxCrossEntropyLoss(backend);
        Sgd sgd = Sgd.builder().setLearningRate(hyper[0]).optMomentum(momentum).optWeightDecay(weightDecay).build();
        sgd.attach(backend, model.parameters(), model.gradients());

        float[] losses = new float[steps];
        Map<String, float[]> firstGrads = null;
        for (int t = 0; t < steps; t++) {
            backend.fill(metrics, 0f);
            plan.forward(true);
            loss.forwardBackward(plan.output(), labelTensor, plan.outputGradient(), metrics);
            plan.backward();
            losses[t] = metrics.toArray()[0] / n;
            if (t == 0) {
                firstGrads = model.gradientState();
            }
            sgd.step();
        }
        g.check("losses", losses, g.load("losses"));

        double gradScale = 0;
        for (String name : firstGrads.keySet()) {
            for (float v : g.load("grad." + name).data()) {
                gradScale = Math.max(gradScale, Math.abs(v));
            }
        }
        for (Map.Entry<String, float[]> e : firstGrads.entrySet()) {
            // A bias followed by batch norm has gradient 0 by construction: measured against the
            // largest gradient of the model (see Golden).
            g.check("grad." + e.getKey(), e.getValue(), g.load("grad." + e.getKey()), gradScale);
        }

        Map<String, float[]> state = model.state();
        assertEquals(load(g, "final.", model).keySet(), state.keySet(), label() + " " + caseName + ": state names");
        for (Map.Entry<String, float[]> e : state.entrySet()) {
            g.check("final." + e.getKey(), e.getValue(), g.load("final." + e.getKey()));
        }

        Sequential.Plan eval = model.forwardPlan(n);
        eval.input().copyFrom(x.data());
        eval.forward(false);
        g.check("eval_logits", eval.output(), "eval_logits");
        System.out.println(g.summary());

        labelTensor.close();
        metrics.close();
        sgd.close();
        model.close();
    }

    /**
     * The golden final state with its batch norm folded ({@link Sequential#foldBatchNorm()}, on the
     * host), run on this backend: PyTorch's eval-mode logits of the unfolded model.
     */
    @ParameterizedTest
    @CsvSource({"lenet_bn, lenet-bn", "mlp_bn, mlp-bn"})
    void foldedEvalLogits(String caseName, String preset) {
        Golden g = new Golden(caseName, label() + " folded");
        NpyReader.Array x = g.load("x");            // (N, 1, H, W)
        int n = x.dim(0);
        try (Sequential model = Models.create(preset, ModelOptions.defaults())) {
            model.build(Shape.of(x.dim(1), x.dim(2), x.dim(3)), 1);
            model.loadState(load(g, "final.", model));
            try (Sequential folded = model.foldBatchNorm().to(backend)) {
                Sequential.Plan eval = folded.forwardPlan(n);
                eval.input().copyFrom(x.data());
                eval.forward(false);
                g.check("eval_logits", eval.output(), "eval_logits");
            }
        }
        System.out.println(g.summary());
    }

    @ParameterizedTest
    @CsvSource({"lenet_bn, lenet-bn", "mlp_bn, mlp-bn"})
    void trainerFit(String caseName, String preset) {
        Golden g = new Golden(caseName, label() + " trainer");
        float[] hyper = g.load("hyper").data();     // (lr, momentum, weight_decay, steps)
        int steps = Math.round(hyper[3]);
        NpyReader.Array x = g.load("x");            // (N, 1, H, W)
        NpyReader.Array labels = g.load("labels");  // (N)
        int n = x.dim(0);
        LabeledImages images = asBytes(x, labels);
        assumeTrue(images != null, caseName + ": the golden images are not pixel / 255 of 8-bit pixels"
                + " (made without Fashion-MNIST), so the Trainer cannot be fed the same batch");

        Sequential model = Models.create(preset, ModelOptions.defaults());
        model.build(Shape.of(x.dim(1), x.dim(2), x.dim(3)), 1);
        model.loadState(load(g, "init.", model));
        Sgd sgd = Sgd.builder().setLearningRate(hyper[0]).optMomentum(hyper[1]).optWeightDecay(hyper[2]).build();
        // One batch of all N images per epoch, in order: each epoch is one SGD step on the golden batch.
        try (Trainer trainer = Trainer.builder().setModel(model).setBackend(backend).setOptimizer(sgd)
                .optBatchSize(n).optShuffle(false).build()) {
            History history = trainer.fit(images, null, steps, null);
            float[] losses = new float[steps];
            for (int t = 0; t < steps; t++) {
                losses[t] = (float) history.records().get(t).trainLoss();
            }
            g.check("losses", losses, g.load("losses"));
            for (Map.Entry<String, float[]> e : model.state().entrySet()) {
                g.check("final." + e.getKey(), e.getValue(), g.load("final." + e.getKey()));
            }
            double[] eval = trainer.evaluateLossAndAccuracy(images);
            double[] expected = lossAndAccuracy(g.load("eval_logits"), labels);
            g.check("eval loss", new float[] {(float) eval[0]}, new NpyReader.Array("mean cross-entropy of eval_logits",
                    new int[] {1}, new float[] {(float) expected[0]}));
            assertEquals(expected[1], eval[1], 1e-12, label() + " " + caseName + ": eval accuracy");
            System.out.println(g.summary());
        } finally {
            model.close();
        }
    }

    /** The images as 8-bit pixels when every value is exactly p / 255 for an integer p, else null. */
    private static LabeledImages asBytes(NpyReader.Array x, NpyReader.Array labels) {
        float[] v = x.data();
        byte[] pixels = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            int p = Math.round(v[i] * 255f);
            if (p < 0 || p > 255 || p / 255f != v[i]) {
                return null;
            }
            pixels[i] = (byte) p;
        }
        byte[] lab = new byte[labels.data().length];
        for (int i = 0; i < lab.length; i++) {
            lab[i] = (byte) Math.round(labels.data()[i]);
        }
        return new LabeledImages(pixels, lab, x.dim(0), x.dim(2), x.dim(3));
    }

    /** Mean cross-entropy (float64, log-sum-exp) and first-arg-max accuracy of the reference logits. */
    private static double[] lossAndAccuracy(NpyReader.Array logits, NpyReader.Array labels) {
        int n = logits.dim(0);
        int k = logits.dim(1);
        float[] z = logits.data();
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int label = Math.round(labels.data()[i]);
            double max = Double.NEGATIVE_INFINITY;
            int arg = 0;
            for (int j = 0; j < k; j++) {
                if (z[i * k + j] > max) {
                    max = z[i * k + j];
                    arg = j;
                }
            }
            double sum = 0;
            for (int j = 0; j < k; j++) {
                sum += Math.exp(z[i * k + j] - max);
            }
            loss += max + Math.log(sum) - z[i * k + label];
            correct += arg == label ? 1 : 0;
        }
        return new double[] {loss / n, correct / (double) n};
    }

    /** The golden tensors named {@code prefix + name} for every state name of the model. */
    private static Map<String, float[]> load(Golden g, String prefix, Sequential model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String name : model.stateShapes().keySet()) {
            out.put(name, g.load(prefix + name).data());
        }
        return out;
    }
}
