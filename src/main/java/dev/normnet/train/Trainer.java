package dev.normnet.train;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ResidentImages;
import dev.normnet.data.DataLoader;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.LabeledImages;
import dev.normnet.loss.SoftmaxCrossEntropyLoss;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.LrScheduler;
import dev.normnet.optim.Optimizer;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Trains a {@link Sequential} classifier with softmax cross-entropy, d2l style (train, then
 * evaluate on the test set after each epoch), with everything resident on the backend:
 * <ul>
 *   <li>the images are uploaded once ({@link Backend#uploadImages}); each epoch the seeded
 *       permutation of {@link DataLoader#order(int)} is copied once into an {@code order} tensor and a {@code cursor} reset;</li>
 *   <li>one training step = gatherBatch, forward (training mode), loss and its gradient, backward,
 *       optimizer step. It is built once per batch size over the model's plan and, with
 *       {@code optGraph(true)}, wrapped once with {@link Backend#capture} and replayed;</li>
 *   <li>the last, smaller batch (drop-last is off by default, as d2l's loaders) has its own plan;</li>
 *   <li>loss sums and correct counts accumulate in a device metrics tensor read once per epoch;</li>
 *   <li>evaluation runs in eval mode (running statistics) with its own cached steps.</li>
 *   <li>with a {@link Watcher} ({@link Builder#optWatcher}), the steps it asks for run eagerly
 *       (watchedStep), the same ops with read-backs between them; the other steps
 *       are the captured ones. Without a watcher nothing changes.</li>
 * </ul>
 * The step allocates nothing; the learning-rate schedule is written into the optimizer's
 * device-side hyper-parameters between epochs, so a captured step needs no re-capture.
 */
public final class Trainer implements AutoCloseable {
    private final Sequential model;
    private final Backend backend;
    private final Optimizer optimizer;
    private final LrScheduler scheduler;
    private final int batchSize;
    private final int evalBatchSize;
    private final long seed;
    private final boolean graph;
    private final boolean shuffle;
    private final boolean dropLast;
    private final SoftmaxCrossEntropyLoss loss;
    private final Watcher watcher;   // null: no step is watched

    private Tensor attachedParams;
    private final Map<LabeledImages, Resident> resident = new IdentityHashMap<>();
    private final Map<StepKey, Runnable> steps = new HashMap<>();
    private Tensor cursor;        // (1)
    private Tensor trainMetrics;  // (2): loss sum, correct count
    private Tensor evalMetrics;   // (2)
    private int epochsDone;

    private Trainer(Builder b) {
        this.model = b.model;
        this.backend = b.backend;
        this.optimizer = b.optimizer;
        this.scheduler = b.scheduler;
        this.batchSize = b.batchSize;
        this.evalBatchSize = b.evalBatchSize > 0 ? b.evalBatchSize : b.batchSize;
        this.seed = b.seed;
        this.graph = b.graph;
        this.shuffle = b.shuffle;
        this.dropLast = b.dropLast;
        this.loss = new SoftmaxCrossEntropyLoss(backend);
        this.watcher = b.watcher;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Sequential model() {
        return model;
    }

    public Backend backend() {
        return backend;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    /** Epochs trained so far (the scheduler and the data order continue from here), restored ones included. */
    public int epochsDone() {
        return epochsDone;
    }

    /**
     * Continues a run after {@code epochsDone} epochs: the next epoch {@link #fit} trains is
     * {@code epochsDone + 1}, with that epoch's learning rate and data order, and the optimizer
     * starts from {@code optimizerState} ({@link Optimizer#state()} as it was after that epoch).
     * The model must be built and already hold its state of that moment
     * ({@code Sequential.loadState}, {@code ModelFile.loadInto}); the rest of a run (batch size,
     * seed, schedule, data) is the builder's and must be the run's own for the epochs to continue
     * exactly. Moves the model to the backend and attaches the optimizer now.
     *
     * @throws IllegalArgumentException when the state does not fit the optimizer (see
     *                                  {@link Optimizer#loadState}); epochsDone is then unchanged
     */
    public void restore(int epochsDone, Map<String, float[]> optimizerState) {
        if (epochsDone < 0) throw new IllegalArgumentException("epochsDone must be >= 0, got " + epochsDone);
        if (!model.isBuilt()) throw new IllegalStateException("build the model and load its state before restore");
        bind();
        optimizer.loadState(optimizerState);
        this.epochsDone = epochsDone;
    }

    /** Trains on {@code data.train()} and evaluates on {@code data.test()} after each epoch. */
    public History fit(DatasetSplits data, int epochs, EpochListener listener) {
        return fit(data.train(), data.test(), epochs, listener);
    }

    /**
     * Trains for {@code epochs} epochs on {@code train}, evaluating on {@code test} (nullable)
     * after each; {@code listener} (nullable) hears every epoch. Builds the model first when it is
     * not built (with the trainer's seed) and moves it to the backend.
     */
    public History fit(LabeledImages train, LabeledImages test, int epochs, EpochListener listener) {
        if (epochs < 0) throw new IllegalArgumentException("epochs must be >= 0, got " + epochs);
        EpochListener l = listener == null ? EpochListener.none() : listener;
        prepare(train);
        Resident r = resident(train);
        int full = train.count() / batchSize;
        int rest = dropLast ? 0 : train.count() % batchSize;
        int used = full * batchSize + rest;
        if (used == 0) {
            throw new IllegalArgumentException("training set of " + train.count() + " images gives no batch of " + batchSize
                    + (dropLast ? " with drop-last" : ""));
        }
        // Both plans are made before the first step, so a batch the model cannot train on (batch
        // norm with one value per channel, say) fails now, not at the end of the first epoch.
        Runnable fullStep = full > 0 ? step(r, batchSize, true) : null;
        Runnable restStep;
        try {
            restStep = rest > 0 ? step(r, rest, true) : null;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the last training batch has " + rest + " examples (" + train.count()
                    + " examples, batch " + batchSize + "): " + e.getMessage() + "; use drop-last or another batch size", e);
        }
        int batches = full + (rest > 0 ? 1 : 0);
        // On the host a read-back costs nothing, so the loss is checked after every step; on a
        // device, once per epoch (with the parameters), from the sums already kept there.
        boolean perStepCheck = backend.device() == Device.CPU;
        DataLoader loader = new DataLoader(train, batchSize, shuffle, dropLast, seed);
        int[] order = new int[train.count()];
        float[] orderHost = new float[train.count()];
        History history = new History();
        for (int e = 0; e < epochs; e++) {
            int epoch = epochsDone + 1;
            long t0 = System.nanoTime();
            float lr = scheduler == null ? optimizer.baseLearningRate()
                    : scheduler.learningRate(optimizer.baseLearningRate(), epochsDone);
            if (lr != optimizer.learningRate()) {
                optimizer.setLearningRate(lr);
            }
            loader.order(epochsDone, order);
            for (int i = 0; i < order.length; i++) {
                orderHost[i] = order[i];
            }
            r.trainOrder.copyFrom(orderHost);
            backend.fill(cursor, 0f);
            backend.fill(trainMetrics, 0f);
            long firstStep = (long) (epoch - 1) * batches + 1;
            for (int b = 0; b < full; b++) {
                if (watcher != null && watcher.watches(firstStep + b)) {
                    watchedStep(r, batchSize, firstStep + b, epoch);
                } else {
                    fullStep.run();
                }
                if (perStepCheck) {
                    checkLoss(epoch, b + 1, batchSize, history);
                }
                l.onBatch(epoch, b + 1, batches);
            }
            if (restStep != null) {
                if (watcher != null && watcher.watches(firstStep + full)) {
                    watchedStep(r, rest, firstStep + full, epoch);
                } else {
                    restStep.run();
                }
                if (perStepCheck) {
                    checkLoss(epoch, batches, rest, history);
                }
                l.onBatch(epoch, batches, batches);
            }
            float[] m = trainMetrics.toArray();   // the one read-back of the epoch (waits for the device)
            if (!Float.isFinite(m[0]) || !allFinite(model.parameters().toArray())) {
                throw diverged(epoch, 0, rest > 0 ? rest : batchSize, m[0], history);
            }
            if (watcher != null) {
                watcher.afterEpoch(epoch, model);
            }
            double trainSeconds = (System.nanoTime() - t0) / 1e9;
            double testAcc = test == null ? Double.NaN : evaluate(test);
            double seconds = (System.nanoTime() - t0) / 1e9;
            EpochRecord record = new EpochRecord(epoch, (double) m[0] / used, (double) m[1] / used, testAcc, used / trainSeconds, seconds);
            epochsDone++;
            history.add(record);
            l.onEpoch(record);
        }
        return history;
    }

    /**
     * Accuracy of the model on {@code data} in eval mode (running statistics), batches of the eval
     * batch size. The set is uploaded on first use and kept (per instance) until {@link #close()}.
     */
    public double evaluate(LabeledImages data) {
        return evaluateLossAndAccuracy(data)[1];
    }

    /** {mean loss, accuracy} of the model on {@code data} in eval mode. */
    public double[] evaluateLossAndAccuracy(LabeledImages data) {
        prepare(data);
        Resident r = resident(data);
        int full = data.count() / evalBatchSize;
        int rest = data.count() % evalBatchSize;
        if (data.count() == 0) {
            throw new IllegalArgumentException("cannot evaluate on an empty set");
        }
        Runnable fullStep = full > 0 ? step(r, evalBatchSize, false) : null;
        Runnable restStep = rest > 0 ? step(r, rest, false) : null;
        backend.fill(cursor, 0f);
        backend.fill(evalMetrics, 0f);
        for (int b = 0; b < full; b++) {
            fullStep.run();
        }
        if (restStep != null) {
            restStep.run();
        }
        float[] m = evalMetrics.toArray();
        return new double[] {(double) m[0] / data.count(), (double) m[1] / data.count()};
    }

    /** Frees the resident data, the trainer's tensors and the optimizer state (the model stays on the backend). */
    @Override
    public void close() {
        for (Resident r : resident.values()) {
            r.close();
        }
        resident.clear();
        steps.clear();
        if (cursor != null) {
            cursor.close();
            trainMetrics.close();
            evalMetrics.close();
            cursor = null;
        }
        optimizer.close();
        attachedParams = null;
    }

    // ------------------------------------------------------------------ divergence

    private void checkLoss(int epoch, int step, int batch, History history) {
        float loss = trainMetrics.toArray()[0];
        if (!Float.isFinite(loss)) {
            throw diverged(epoch, step, batch, loss, history);
        }
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The exception for a run that went non-finite in {@code epoch} (at {@code step}, 0 when only
     * the epoch is known), naming the first place it shows: the first layer whose output of the
     * last step (a batch of {@code batch}) is non-finite though its input is not, else the last
     * layer (nearest the loss) whose input gradient is, else the first parameter or statistic.
     */
    private DivergedException diverged(int epoch, int step, int batch, float lossSum, History history) {
        String where = firstNonFinite(batch);
        String what = !Float.isFinite(lossSum) ? "the loss is " + lossSum : "a parameter is not finite";
        return new DivergedException(epoch, step, what + (where == null ? "" : "; first non-finite: " + where), history);
    }

    private String firstNonFinite(int batch) {
        java.util.List<dev.normnet.nn.Layer> layers = model.layers();
        Sequential.Plan plan = model.plan(batch);
        for (int i = 0; i < layers.size(); i++) {
            if (allFinite(plan.activation(i).toArray()) && !allFinite(plan.activation(i + 1).toArray())) {
                return "the output of layer " + i + " (" + layers.get(i).typeName() + ")";
            }
        }
        for (int i = layers.size() - 1; i >= 0; i--) {
            Tensor g = plan.activationGradient(i);
            if (g != null && !allFinite(g.toArray())) {
                return "the input gradient of layer " + i + " (" + layers.get(i).typeName() + ")";
            }
        }
        for (Map.Entry<String, float[]> e : model.state().entrySet()) {
            if (!allFinite(e.getValue())) {
                String name = e.getKey();
                int layer = Integer.parseInt(name.substring(0, name.indexOf('.')));
                return name + " (" + layers.get(layer).typeName() + ")";
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ internals

    private void prepare(LabeledImages data) {
        if (!model.isBuilt()) {
            try {
                model.build(seed);
            } catch (IllegalStateException e) {
                model.build(Shape.of(1, data.height(), data.width()), seed);
            }
        }
        bind();
    }

    /** Moves the built model to the backend, attaches the optimizer and allocates the trainer's tensors, each once. */
    private void bind() {
        if (model.backend() != backend) {
            model.to(backend);
            steps.clear();
        }
        if (attachedParams != model.parameters()) {
            optimizer.attach(backend, model.parameters(), model.gradients());
            attachedParams = model.parameters();
            steps.clear();
        }
        if (cursor == null) {
            cursor = backend.allocate(Shape.of(1));
            trainMetrics = backend.allocate(Shape.of(2));
            evalMetrics = backend.allocate(Shape.of(2));
        }
    }

    private Resident resident(LabeledImages data) {
        Resident r = resident.get(data);
        if (r == null) {
            r = new Resident(data);
            resident.put(data, r);
        }
        return r;
    }

    /** The step for (data set, batch size, mode), built and captured once. */
    private Runnable step(Resident r, int batch, boolean training) {
        StepKey key = new StepKey(r, batch, training);
        Runnable s = steps.get(key);
        if (s == null) {
            s = training ? trainStep(r, batch) : evalStep(r, batch);
            if (graph) {
                s = backend.capture(s);
            }
            steps.put(key, s);
        }
        return s;
    }

    private Runnable trainStep(Resident r, int batch) {
        Sequential.Plan plan = model.plan(batch);
        Tensor labels = r.labels(batch);
        Tensor x = plan.input();
        Tensor logits = plan.output();
        Tensor dlogits = plan.outputGradient();
        Tensor order = r.trainOrder;
        Tensor metrics = trainMetrics;
        return () -> {
            backend.gatherBatch(r.images, order, cursor, x, labels);
            plan.forward(true);
            loss.forwardBackward(logits, labels, dlogits, metrics);
            plan.backward();
            optimizer.step();
        };
    }

    /**
     * One training step as {@link #trainStep}'s, run eagerly with the watcher's calls between its
     * ops (see {@link Watcher}). The ops are the same, so the step computes the same bits.
     */
    private void watchedStep(Resident r, int batch, long step, int epoch) {
        Sequential.Plan plan = model.plan(batch);
        Tensor labels = r.labels(batch);
        watcher.beforeStep(step, epoch, model);
        backend.gatherBatch(r.images, r.trainOrder, cursor, plan.input(), labels);
        plan.forward(true, watcher);
        loss.forwardBackward(plan.output(), labels, plan.outputGradient(), trainMetrics);
        plan.backward();
        watcher.afterBackward(model);
        optimizer.step();
        watcher.afterStep(model);
    }

    private Runnable evalStep(Resident r, int batch) {
        Sequential.Plan plan = model.forwardPlan(batch);
        Tensor labels = r.labels(batch);
        Tensor x = plan.input();
        Tensor logits = plan.output();
        Tensor order = r.identityOrder;
        Tensor metrics = evalMetrics;
        return () -> {
            backend.gatherBatch(r.images, order, cursor, x, labels);
            plan.forward(false);
            loss.forward(logits, labels, metrics);
        };
    }

    private record StepKey(Resident data, int batch, boolean training) {
    }

    /** A data set on the device, with its order tensors and per-batch-size label buffers. */
    private final class Resident {
        final ResidentImages images;
        final Tensor trainOrder;      // (count): the epoch's permutation
        final Tensor identityOrder;   // (count): 0, 1, 2, ... for evaluation
        final Map<Integer, Tensor> labels = new HashMap<>();

        Resident(LabeledImages data) {
            images = backend.uploadImages(data.pixels(), data.labels(), data.count(), data.height(), data.width());
            float[] identity = new float[data.count()];
            for (int i = 0; i < identity.length; i++) {
                identity[i] = i;
            }
            identityOrder = backend.upload(identity, Shape.of(identity.length));
            trainOrder = backend.allocate(Shape.of(data.count()));
        }

        Tensor labels(int batch) {
            return labels.computeIfAbsent(batch, b -> backend.allocate(Shape.of(b)));   // (N)
        }

        void close() {
            images.close();
            trainOrder.close();
            identityOrder.close();
            for (Tensor t : labels.values()) {
                t.close();
            }
        }

        // Identity semantics: one entry per uploaded set.
        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }
    }

    /** {@code setModel}, {@code setBackend} and {@code setOptimizer} are required. */
    public static final class Builder {
        private Sequential model;
        private Backend backend;
        private Optimizer optimizer;
        private LrScheduler scheduler;
        private int batchSize = 256;
        private int evalBatchSize;
        private long seed;
        private boolean graph = true;
        private boolean shuffle = true;
        private boolean dropLast;
        private Watcher watcher;

        public Builder setModel(Sequential value) {
            this.model = value;
            return this;
        }

        public Builder setBackend(Backend value) {
            this.backend = value;
            return this;
        }

        public Builder setOptimizer(Optimizer value) {
            this.optimizer = value;
            return this;
        }

        /** A learning-rate schedule applied before each epoch; none by default. */
        public Builder optScheduler(LrScheduler value) {
            this.scheduler = value;
            return this;
        }

        /** Training batch size, 256 by default. */
        public Builder optBatchSize(int value) {
            this.batchSize = value;
            return this;
        }

        /** Evaluation batch size; the training batch size by default (its plan then serves both). */
        public Builder optEvalBatchSize(int value) {
            this.evalBatchSize = value;
            return this;
        }

        /** Seed of the shuffling (and of the model's initialization when the trainer builds it); 0 by default. */
        public Builder optSeed(long value) {
            this.seed = value;
            return this;
        }

        /** Capture each step once and replay it ({@link Backend#capture}); true by default. */
        public Builder optGraph(boolean value) {
            this.graph = value;
            return this;
        }

        /** Shuffle the training set each epoch; true by default. */
        public Builder optShuffle(boolean value) {
            this.shuffle = value;
            return this;
        }

        /** Drop the last, smaller training batch; false by default (as d2l's loaders). */
        public Builder optDropLast(boolean value) {
            this.dropLast = value;
            return this;
        }

        /**
         * A watcher that sees inside the steps it chooses (see {@link Watcher}); none by default.
         * Watched steps run eagerly, not as a captured graph; the others are unchanged.
         */
        public Builder optWatcher(Watcher value) {
            this.watcher = value;
            return this;
        }

        public Trainer build() {
            if (model == null) throw new IllegalArgumentException("Trainer: setModel is required");
            if (backend == null) throw new IllegalArgumentException("Trainer: setBackend is required");
            if (optimizer == null) throw new IllegalArgumentException("Trainer: setOptimizer is required");
            if (batchSize < 1) throw new IllegalArgumentException("Trainer: batch size must be >= 1, got " + batchSize);
            if (evalBatchSize < 0) throw new IllegalArgumentException("Trainer: eval batch size must be >= 1, got " + evalBatchSize);
            return new Trainer(this);
        }
    }
}
