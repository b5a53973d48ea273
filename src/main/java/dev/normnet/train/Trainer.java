package dev.normnet.train;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ResidentImages;
import dev.normnet.bench.Timer;
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

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
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
 *   <li>with a warm-up ({@link Builder#optWarmup}), a throwaway copy of the model trains for a
 *       moment before the first epoch, so that the JIT has compiled the step before the epoch's
 *       clock starts; the run itself is the same bits with or without it.</li>
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
    private final double warmupSeconds;   // 0: no warm-up
    private Warmup warmup;                // null until the warm-up has run (or found nothing to do)

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
        this.warmupSeconds = b.warmupSeconds;
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
     * not built (with the trainer's seed) and moves it to the backend; runs the warm-up
     * ({@link Builder#optWarmup}) before the first epoch when it has not run.
     */
    public History fit(LabeledImages train, LabeledImages test, int epochs, EpochListener listener) {
        if (epochs < 0) throw new IllegalArgumentException("epochs must be >= 0, got " + epochs);
        EpochListener l = listener == null ? EpochListener.none() : listener;
        prepare(train);
        Resident r = resident(train);
        TrainingPlans plans = trainingPlans(train, r);
        if (epochs > 0 && warmup == null) {
            warmup = runWarmup(r, plans, test);
        }
        int full = plans.full();
        int rest = plans.rest();
        int used = plans.used(batchSize);
        Runnable fullStep = plans.fullStep();
        Runnable restStep = plans.restStep();
        int batches = plans.batches();
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
     * Runs the warm-up the builder asked for ({@link Builder#optWarmup}) now, unless it has run
     * already, and returns what it did ({@link Warmup#NONE} without one); {@link #fit} runs it
     * before its first epoch when it has not run. Prepares as fit does (builds the model when it is
     * not built, moves it to the backend, uploads {@code train}, and {@code test} when not null,
     * and plans the training steps), so a batch the model cannot train on fails here with fit's
     * message. Later calls return the first one's result.
     */
    public Warmup warmUp(LabeledImages train, LabeledImages test) {
        prepare(train);
        Resident r = resident(train);
        TrainingPlans plans = trainingPlans(train, r);
        if (warmup == null) {
            warmup = runWarmup(r, plans, test);
        }
        return warmup;
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
        dropSteps();
        for (Resident r : resident.values()) {
            r.close();
        }
        resident.clear();
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

    /** Forgets the cached steps, releasing what the backend holds for each (a captured step's CUDA graph). */
    private void dropSteps() {
        for (Runnable s : steps.values()) {
            backend.release(s);
        }
        steps.clear();
    }

    /** Moves the built model to the backend, attaches the optimizer and allocates the trainer's tensors, each once. */
    private void bind() {
        if (model.backend() != backend) {
            model.to(backend);
            dropSteps();
        }
        if (attachedParams != model.parameters()) {
            optimizer.attach(backend, model.parameters(), model.gradients());
            attachedParams = model.parameters();
            dropSteps();
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
            s = training ? trainStep(model, optimizer, r, r.trainOrder, cursor, r.labels(batch), trainMetrics, batch)
                    : evalStep(model, r, cursor, r.labels(batch), evalMetrics, batch);
            if (graph) {
                s = backend.capture(s);
            }
            steps.put(key, s);
        }
        return s;
    }

    /**
     * One training step of {@code net} with {@code opt}: the batch at {@code cursor} in {@code order}
     * of {@code r}'s images (labels into {@code labels} (N)), loss sums into {@code metrics} (2).
     */
    private Runnable trainStep(Sequential net, Optimizer opt, Resident r, Tensor order, Tensor cursor, Tensor labels,
                               Tensor metrics, int batch) {
        Sequential.Plan plan = net.plan(batch);
        Tensor x = plan.input();
        Tensor logits = plan.output();
        Tensor dlogits = plan.outputGradient();
        return () -> {
            backend.gatherBatch(r.images, order, cursor, x, labels);
            plan.forward(true);
            loss.forwardBackward(logits, labels, dlogits, metrics);
            plan.backward();
            opt.step();
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

    /** One evaluation step of {@code net}: the batch at {@code cursor} of {@code r}'s images in their order. */
    private Runnable evalStep(Sequential net, Resident r, Tensor cursor, Tensor labels, Tensor metrics, int batch) {
        Sequential.Plan plan = net.forwardPlan(batch);
        Tensor x = plan.input();
        Tensor logits = plan.output();
        Tensor order = r.identityOrder;
        return () -> {
            backend.gatherBatch(r.images, order, cursor, x, labels);
            plan.forward(false);
            loss.forward(logits, labels, metrics);
        };
    }

    private record StepKey(Resident data, int batch, boolean training) {
    }

    /** The training steps of one data set: {@code full} batches of the batch size, then one of {@code rest} (0: none). */
    private record TrainingPlans(int full, int rest, Runnable fullStep, Runnable restStep) {
        int used(int batchSize) {
            return full * batchSize + rest;
        }

        int batches() {
            return full + (rest > 0 ? 1 : 0);
        }
    }

    /**
     * Plans (and builds) the steps of an epoch on {@code train}. Both plans are made before the
     * first step, so a batch the model cannot train on (batch norm with one value per channel, say)
     * fails now, not at the end of the first epoch.
     */
    private TrainingPlans trainingPlans(LabeledImages train, Resident r) {
        int full = train.count() / batchSize;
        int rest = dropLast ? 0 : train.count() % batchSize;
        if (full * batchSize + rest == 0) {
            throw new IllegalArgumentException("training set of " + train.count() + " images gives no batch of " + batchSize
                    + (dropLast ? " with drop-last" : ""));
        }
        Runnable fullStep = full > 0 ? step(r, batchSize, true) : null;
        Runnable restStep;
        try {
            restStep = rest > 0 ? step(r, rest, true) : null;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the last training batch has " + rest + " examples (" + train.count()
                    + " examples, batch " + batchSize + "): " + e.getMessage() + "; use drop-last or another batch size", e);
        }
        return new TrainingPlans(full, rest, fullStep, restStep);
    }

    // ------------------------------------------------------------------ warm-up

    /** Evaluation steps of the warm-up, at most (they also stop after a quarter of the time cap). */
    static final int WARMUP_EVAL_STEPS = 16;
    /** The largest warm-up time cap {@link Builder#optWarmup} takes, in seconds. */
    public static final double MAX_WARMUP_SECONDS = 600;

    /**
     * The warm-up (see {@link Builder#optWarmup}): a copy of the model with a new optimizer of the
     * same settings, its own cursor, metrics and label buffers, trains on {@code r}'s images in
     * their stored order (read, never written) until {@link WarmupRule} says stop, then runs a few
     * evaluation steps on {@code test}; then everything it allocated is freed.
     */
    private Warmup runWarmup(Resident r, TrainingPlans plans, LabeledImages test) {
        if (warmupSeconds == 0) {
            return Warmup.NONE;
        }
        long t0 = System.nanoTime();
        long capNanos = (long) (warmupSeconds * 1e9);
        int batch = plans.full() > 0 ? batchSize : plans.rest();
        Resident evalData = test != null && test.count() > 0 ? resident(test) : null;
        int evalBatch = evalData == null ? 0 : Math.min(evalBatchSize, evalData.count);
        if (!warmupFits(batch, evalBatch)) {
            return Warmup.NONE;
        }
        Sequential net = model.copy();
        Optimizer opt = optimizer.copy();
        List<Tensor> owned = new ArrayList<>();
        try {
            net.to(backend);
            opt.attach(backend, net.parameters(), net.gradients());
            Tensor warmCursor = own(owned, backend.allocate(Shape.of(1)));
            Tensor metrics = own(owned, backend.allocate(Shape.of(2)));
            Runnable step = trainStep(net, opt, r, r.identityOrder, warmCursor, own(owned, backend.allocate(Shape.of(batch))),
                    metrics, batch);
            // As in fit: on the host the loss is read after every step; on a device the step is waited for.
            boolean host = backend.device() == Device.CPU;
            int perPass = r.count / batch;
            WarmupRule rule = new WarmupRule(capNanos, plans.batches(), Timer.jitMillis());
            int steps = 0;
            boolean stop;
            do {
                if (steps % perPass == 0) {
                    backend.fill(warmCursor, 0f);
                }
                long s0 = System.nanoTime();
                step.run();
                if (host) {
                    metrics.toArray();
                } else {
                    backend.synchronize();
                }
                steps++;
                long now = System.nanoTime();
                stop = rule.stop(now - s0, now - t0, Timer.jitMillis());
            } while (!stop);
            int evalSteps = 0;
            if (evalData != null) {
                Runnable eval = evalStep(net, evalData, warmCursor, own(owned, backend.allocate(Shape.of(evalBatch))), metrics,
                        evalBatch);
                long end = System.nanoTime() + capNanos / 4;
                int evalPerPass = evalData.count / evalBatch;
                do {
                    if (evalSteps % evalPerPass == 0) {
                        backend.fill(warmCursor, 0f);
                    }
                    eval.run();
                    evalSteps++;
                } while (evalSteps < WARMUP_EVAL_STEPS && System.nanoTime() < end);
                metrics.toArray();
            }
            return new Warmup(steps, evalSteps, (System.nanoTime() - t0) / 1e9);
        } finally {
            for (Tensor t : owned) {
                t.close();
            }
            opt.close();
            net.close();
        }
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    /**
     * Whether the warm-up's copy fits in what the backend has left beside the run's own state:
     * its training plan for {@code batch} (and forward plan for {@code evalBatch} when that
     * differs), parameters, gradients, two optimizer buffers, running statistics and labels. True
     * when the backend cannot tell.
     */
    private boolean warmupFits(int batch, int evalBatch) {
        long available = backend.availableBytes();
        if (available < 0) {
            return true;
        }
        long values = model.planValues(batch, true) + (evalBatch > 0 && evalBatch != batch ? model.planValues(evalBatch, false) : 0)
                + 4 * model.parameters().size() + model.buffers().size() + batch + evalBatch + 3;
        return 4 * values <= available;
    }

    /** A data set on the device, with its order tensors and per-batch-size label buffers. */
    private final class Resident {
        final int count;
        final ResidentImages images;
        final Tensor trainOrder;      // (count): the epoch's permutation
        final Tensor identityOrder;   // (count): 0, 1, 2, ... for evaluation
        final Map<Integer, Tensor> labels = new HashMap<>();

        Resident(LabeledImages data) {
            count = data.count();
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
        private double warmupSeconds;

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

        /**
         * Warms the JIT before the first epoch for up to {@code maxSeconds} (then a few evaluation
         * steps, for at most a quarter of that); 0, the default, for none. The first epoch's
         * examples per second then measure the compiled step, not the compiler: on the CPU's
         * Vector API path ({@code VectorCpuBackend}) the first epoch otherwise runs at about half
         * the speed of the later ones.
         *
         * <p>Before the first epoch ({@link #fit}, or {@link Trainer#warmUp} called earlier), a copy
         * of the model ({@link Sequential#copy}) with a new optimizer of the same settings
         * ({@link Optimizer#copy}) and its own cursor, metrics and label buffers trains on the
         * training images in their stored order, batches of the batch size, then evaluates a few
         * batches of the test set; then the copy and all it allocated are freed. The run's model,
         * optimizer, data order and buffers are not touched, so the run is the same bits with or
         * without a warm-up (only its times differ). The training steps stop when the step time is
         * steady, when {@code maxSeconds} have passed or after one epoch's steps, whichever comes
         * first (see WarmupRule). No warm-up runs when the backend says the copy's plan and state
         * would not fit beside the run's ({@link Backend#availableBytes}).
         *
         * <p>Where it pays: on the CPU's Vector API path, whose kernels are slow until the JIT's
         * optimizing compiler has compiled them. The reference {@code CpuBackend} would gain next to
         * nothing: it trains LeNet-BN about 15 times slower than the Vector API path
         * (benchmarks/notes/cpu-fast-path.md), so its first epoch lasts a minute or more, while its
         * plain loops are compiled within its first steps; the first epoch's figure would hardly
         * move, and the warm-up would add its seconds. On
         * CUDA the steps are captured graphs whose first runs (eager, then the capture) belong to
         * the run's own model and cannot be done ahead on a copy; the copy's steps run eagerly (a
         * captured graph of the copy would stay with the backend until it closes) and warm only
         * the host side of a launch, which is small. {@code normnet train} therefore warms up on
         * the Vector API path only.
         *
         * @param maxSeconds from 0 to {@value Trainer#MAX_WARMUP_SECONDS}
         */
        public Builder optWarmup(double maxSeconds) {
            this.warmupSeconds = maxSeconds;
            return this;
        }

        public Trainer build() {
            if (model == null) throw new IllegalArgumentException("Trainer: setModel is required");
            if (backend == null) throw new IllegalArgumentException("Trainer: setBackend is required");
            if (optimizer == null) throw new IllegalArgumentException("Trainer: setOptimizer is required");
            if (batchSize < 1) throw new IllegalArgumentException("Trainer: batch size must be >= 1, got " + batchSize);
            if (evalBatchSize < 0) throw new IllegalArgumentException("Trainer: eval batch size must be >= 1, got " + evalBatchSize);
            if (!(warmupSeconds >= 0 && warmupSeconds <= MAX_WARMUP_SECONDS)) {
                throw new IllegalArgumentException("Trainer: warm-up must be from 0 to " + (int) MAX_WARMUP_SECONDS
                        + " seconds, got " + warmupSeconds);
            }
            return new Trainer(this);
        }
    }
}
