package dev.normnet.bench;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ResidentImages;
import dev.normnet.data.LabeledImages;
import dev.normnet.loss.SoftmaxCrossEntropyLoss;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Optimizer;
import dev.normnet.optim.Sgd;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * One throughput case set up on a backend, the way the Trainer runs a step: the training images
 * stay on the device, a permutation of them is uploaded once, and each step is
 * <pre>
 * train:  gatherBatch, forward (training mode), softmax cross-entropy and its gradient, backward, optimizer step
 * infer:  gatherBatch, forward (eval mode), softmax cross-entropy sums (no gradient)
 * </pre>
 * over the model's plan for the batch size (allocated once). With {@code graph} the step is
 * wrapped once by {@link Backend#capture} and replayed. When the next batch would run past the
 * end of the permutation the cursor is reset on the host, outside the step.
 */
public final class ModelBench implements AutoCloseable {
    private final Backend backend;
    private final BenchCase benchCase;
    private final Sequential model;
    private final Optimizer optimizer;
    private final Tensor order;     // (count): a seeded permutation, as float32 integers
    private final Tensor cursor;    // (1)
    private final Tensor labels;    // (B)
    private final Tensor metrics;   // (2): loss sum, correct count
    private final Runnable body;
    private final int count;
    private int position;

    public ModelBench(Backend backend, ResidentImages images, BenchCase c, long seed) {
        this(backend, images, c, seed, true);
    }

    /**
     * As above; {@code fuse} false runs every activation after a batch norm as its own op
     * ({@link dev.normnet.nn.Sequential#optFuseActivations}), for measuring what fusing saves.
     */
    public ModelBench(Backend backend, ResidentImages images, BenchCase c, long seed, boolean fuse) {
        this.backend = backend;
        this.benchCase = c;
        this.count = images.count();
        if (c.batch() > count) {
            throw new IllegalArgumentException(c.id() + ": batch " + c.batch() + " is larger than the " + count + " resident images");
        }
        model = Models.create(c.model(), ModelOptions.defaults().withResize(c.input()));
        model.build(seed);
        model.optFuseActivations(fuse);
        model.to(backend);
        float[] perm = new float[count];
        int[] p = new int[count];
        for (int i = 0; i < count; i++) {
            p[i] = i;
        }
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = count - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        for (int i = 0; i < count; i++) {
            perm[i] = p[i];
        }
        order = backend.upload(perm, Shape.of(count));
        cursor = backend.allocate(Shape.of(1));
        labels = backend.allocate(Shape.of(c.batch()));
        metrics = backend.allocate(Shape.of(2));
        SoftmaxCrossEntropyLoss loss = new SoftmaxCrossEntropyLoss(backend);
        Runnable step;
        if (c.training()) {
            optimizer = c.model().equals("mlp-bn")
                    ? Adam.builder().setLearningRate(0.01f).build()
                    : Sgd.builder().setLearningRate(1.0f).build();
            optimizer.attach(backend, model.parameters(), model.gradients());
            Sequential.Plan plan = model.plan(c.batch());
            Tensor x = plan.input();
            Tensor logits = plan.output();
            Tensor dlogits = plan.outputGradient();
            Optimizer opt = optimizer;
            step = () -> {
                backend.gatherBatch(images, order, cursor, x, labels);
                plan.forward(true);
                loss.forwardBackward(logits, labels, dlogits, metrics);
                plan.backward();
                opt.step();
            };
        } else {
            optimizer = null;
            Sequential.Plan plan = model.forwardPlan(c.batch());
            Tensor x = plan.input();
            Tensor logits = plan.output();
            step = () -> {
                backend.gatherBatch(images, order, cursor, x, labels);
                plan.forward(false);
                loss.forward(logits, labels, metrics);
            };
        }
        body = c.graph() ? backend.capture(step) : step;
    }

    /** One step; resets the cursor first when the batch would pass the end of the permutation. */
    public void step() {
        if (position + benchCase.batch() > count) {
            backend.fill(cursor, 0f);
            position = 0;
        }
        body.run();
        position += benchCase.batch();
    }

    public void sync() {
        backend.synchronize();
    }

    @Override
    public void close() {
        backend.release(body);  // the captured graph, before the tensors it uses
        if (optimizer != null) {
            optimizer.close();
        }
        model.close();
        order.close();
        cursor.close();
        labels.close();
        metrics.close();
    }

    /** Uploads the training images once per device. */
    public static ResidentImages upload(Backend backend, LabeledImages train) {
        return backend.uploadImages(train.pixels(), train.labels(), train.count(), train.height(), train.width());
    }
}
