package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Whole models against PyTorch: a preset loads PyTorch's initial state_dict, trains 3 SGD steps
 * on one batch (training-mode forward, fused softmax cross-entropy, backward, SGD with momentum
 * and weight decay over the model's flat parameter buffer), and its losses, the gradients of step
 * 1, the final state (running statistics and num_batches_tracked included) and the eval-mode
 * logits of the final model are checked against the golden case of the same name.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ModelParityCases {
    private Backend backend;

    protected abstract Backend createBackend();

    protected String label() {
        return backend.device().id();
    }

    @BeforeAll
    void openBackend() {
        backend = createBackend();
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
        Tensor params = model.parameters();
        Tensor velocity = backend.allocate(params.shape());
        Tensor lr = backend.upload(new float[] {hyper[0], 0f}, Shape.of(2));

        float[] losses = new float[steps];
        Map<String, float[]> firstGrads = null;
        for (int t = 0; t < steps; t++) {
            backend.fill(metrics, 0f);
            plan.forward(true);
            backend.softmaxCrossEntropy(plan.output(), labelTensor, plan.outputGradient(), metrics);
            plan.backward();
            losses[t] = metrics.toArray()[0] / n;
            if (t == 0) {
                firstGrads = gradientsByName(model);
            }
            backend.sgdStep(params, model.gradients(), velocity, lr, momentum, weightDecay);
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
        velocity.close();
        lr.close();
        model.close();
    }

    /** The golden tensors named {@code prefix + name} for every state name of the model. */
    private static Map<String, float[]> load(Golden g, String prefix, Sequential model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String name : model.stateShapes().keySet()) {
            out.put(name, g.load(prefix + name).data());
        }
        return out;
    }

    /**
     * The parameter gradients by state name. The gradient buffer has the parameter buffer's layout,
     * so the gradients are copied over the parameters, read with {@link Sequential#state()}, and
     * the parameters restored.
     */
    private Map<String, float[]> gradientsByName(Sequential model) {
        Tensor params = model.parameters();
        float[] saved = params.toArray();
        backend.copy(model.gradients(), params);
        Map<String, float[]> state = model.state();
        params.copyFrom(saved);
        Map<String, float[]> grads = new LinkedHashMap<>();
        for (String name : state.keySet()) {
            if (name.endsWith(".weight") || name.endsWith(".bias")) {
                grads.put(name, state.get(name));
            }
        }
        return grads;
    }
}
