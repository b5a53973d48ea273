package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Layers applied in order, as PyTorch's {@code nn.Sequential}: the model type of normnet.
 *
 * <p>Life of a model:
 * <ol>
 *   <li>{@link #build(Shape, long)} runs lazy shape inference over a per-sample input shape
 *       (Conv2d and Linear learn their input sizes) and initializes the parameters on the host.</li>
 *   <li>{@link #to(Backend)} moves the state to a device. All parameters of the model live in
 *       one flat tensor ({@link #parameters()}), their gradients in a second tensor of the same
 *       layout ({@link #gradients()}), running statistics in a third ({@link #buffers()}); each
 *       layer's weight and bias are views into them. An optimizer therefore updates the whole
 *       model in one call.</li>
 *   <li>{@link #plan(int)} allocates, once per batch size, every activation, activation gradient
 *       and per-layer scratch buffer; a {@link Plan}'s forward and backward only queue ops, so a
 *       training step allocates nothing and can be captured and replayed. Flatten is a view;
 *       Sigmoid and ReLU write their gradient over the incoming one, and their output over
 *       their input when the layer before does not read its own output in backward (after
 *       Conv2d, Linear, BatchNorm, pooling).</li>
 * </ol>
 *
 * <p>{@link #state()} and {@link #loadState(Map)} use PyTorch's state_dict names for the same
 * {@code nn.Sequential}: {@code "0.weight"}, {@code "1.running_mean"}, {@code "1.num_batches_tracked"}.
 *
 * <p>(Longer than most files here: the model, its state-dict mapping and its plans share one set
 * of flat buffers, and a plan is an inner class that reads them.)
 */
public final class Sequential implements AutoCloseable {
    /** Each parameter view starts at a multiple of this many floats (128 bytes) in the flat buffers. */
    static final int ALIGN = 32;

    private final List<Layer> layers;
    private final Init init;
    private Shape defaultInput;
    private boolean fuseActivations = true;

    // Set by build.
    private Shape input;
    private Shape[] shapes;          // shapes[i] = per-sample input of layer i; shapes[L] = output
    private long[][] paramOffsets;   // [layer][entry] offset into the flat parameter buffer
    private long[][] bufferOffsets;  // [layer][entry] offset into the flat buffer of running statistics
    private long paramSize;          // flat sizes, alignment gaps included
    private long bufferSize;
    private float[] hostParams;      // authoritative while no backend holds the model
    private float[] hostBuffers;
    private String lostWith;         // the backend closed while it held the state (whose host copy is then stale)

    // Set by to(backend).
    private Backend backend;
    private Tensor params;           // (paramSize)
    private Tensor grads;            // (paramSize)
    private Tensor buffers;          // (bufferSize)
    private final Map<Integer, Plan> trainPlans = new HashMap<>();
    private final Map<Integer, Plan> forwardPlans = new HashMap<>();

    public Sequential(Layer... layers) {
        this(List.of(layers), Init.DEFAULT);
    }

    public Sequential(List<Layer> layers, Init init) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("Sequential needs at least one layer");
        }
        this.layers = List.copyOf(layers);
        this.init = init;
    }

    /** Sets the per-sample input shape {@link #build(long)} uses (presets set their resize here). */
    public Sequential optInputShape(Shape sample) {
        this.defaultInput = sample;
        return this;
    }

    public List<Layer> layers() {
        return layers;
    }

    /**
     * Whether plans run an activation (Sigmoid, ReLU) and an average pooling after a batch norm
     * as part of the batch norm, one backend op each way for the group (see {@link Plan}); true
     * by default. The fused ops compute the same bits as the layers' own, so this changes only
     * the number of passes, launches and buffers; false is for measuring that. Set it before the
     * first plan is made.
     *
     * @throws IllegalStateException when the model already has plans
     */
    public Sequential optFuseActivations(boolean value) {
        if (!trainPlans.isEmpty() || !forwardPlans.isEmpty()) {
            throw new IllegalStateException("fusion is fixed once a plan exists: set it before the first plan");
        }
        this.fuseActivations = value;
        return this;
    }

    /** See {@link #optFuseActivations}. */
    public boolean fusesActivations() {
        return fuseActivations;
    }

    public Init init() {
        return init;
    }

    // ------------------------------------------------------------------ build

    /** Builds for the input shape given by {@link #optInputShape} (set by the presets). */
    public Sequential build(long seed) {
        if (defaultInput == null) {
            throw new IllegalStateException("no input shape set: call build(Shape sample, long seed)");
        }
        return build(defaultInput, seed);
    }

    /**
     * Infers every layer's sizes from the per-sample input shape (e.g. (1, 28, 28)) and
     * initializes the parameters from {@code seed}. Rebuilding re-initializes; a model held by a
     * backend cannot be rebuilt.
     */
    public Sequential build(Shape sample, long seed) {
        if (backend != null) {
            throw new IllegalStateException("cannot rebuild a model that is on a backend");
        }
        Shape[] s = new Shape[layers.size() + 1];
        s[0] = sample;
        for (int i = 0; i < layers.size(); i++) {
            try {
                s[i + 1] = layers.get(i).infer(s[i]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("layer " + i + " (" + layers.get(i).getClass().getSimpleName() + "): " + e.getMessage(), e);
            }
        }
        long[][] po = new long[layers.size()][];
        long[][] bo = new long[layers.size()][];
        long p = 0;
        long b = 0;
        for (int i = 0; i < layers.size(); i++) {
            List<Layer.Entry> pe = layers.get(i).parameterEntries();
            po[i] = new long[pe.size()];
            for (int j = 0; j < pe.size(); j++) {
                po[i][j] = p;
                p = align(p + pe.get(j).shape().size());
            }
            List<Layer.Entry> be = layers.get(i).bufferEntries();
            bo[i] = new long[be.size()];
            for (int j = 0; j < be.size(); j++) {
                bo[i][j] = b;
                b += be.get(j).shape().size();
            }
        }
        float[] hp = new float[Math.toIntExact(p)];
        float[] hb = new float[Math.toIntExact(b)];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            List<Layer.Entry> pe = layer.parameterEntries();
            List<Layer.Entry> be = layer.bufferEntries();
            float[][] pv = new float[pe.size()][];
            for (int j = 0; j < pv.length; j++) {
                pv[j] = new float[pe.get(j).shape().sizeInt()];
            }
            float[][] bv = new float[be.size()][];
            for (int j = 0; j < bv.length; j++) {
                bv[j] = new float[be.get(j).shape().sizeInt()];
            }
            layer.initialize(pv, bv, rng.split(), init);
            for (int j = 0; j < pv.length; j++) {
                System.arraycopy(pv[j], 0, hp, (int) po[i][j], pv[j].length);
            }
            for (int j = 0; j < bv.length; j++) {
                System.arraycopy(bv[j], 0, hb, (int) bo[i][j], bv[j].length);
            }
        }
        this.input = sample;
        this.shapes = s;
        this.paramOffsets = po;
        this.bufferOffsets = bo;
        this.paramSize = p;
        this.bufferSize = b;
        this.hostParams = hp;
        this.hostBuffers = hb;
        return this;
    }

    private static long align(long n) {
        return (n + ALIGN - 1) / ALIGN * ALIGN;
    }

    public boolean isBuilt() {
        return shapes != null;
    }

    /** The per-sample input shape the model was built for, e.g. (1, 28, 28). */
    public Shape inputShape() {
        requireBuilt();
        return input;
    }

    /** The per-sample output shape, e.g. (10). */
    public Shape outputShape() {
        requireBuilt();
        return shapes[shapes.length - 1];
    }

    /** The per-sample input shape of layer {@code i} (i = layer count gives the model's output). */
    public Shape shapeBefore(int i) {
        requireBuilt();
        return shapes[i];
    }

    private void requireBuilt() {
        if (shapes == null) {
            throw new IllegalStateException("the model is not built yet: call build(Shape sample, long seed)");
        }
    }

    /** Number of trainable parameter values (alignment gaps excluded). */
    public long parameterCount() {
        requireBuilt();
        long n = 0;
        for (Layer l : layers) {
            for (Layer.Entry e : l.parameterEntries()) {
                n += e.shape().size();
            }
        }
        return n;
    }

    /**
     * A new model for inference in which every BatchNorm that directly follows a Conv2d or Linear
     * is folded into that layer's weight and bias (eval-mode batch norm is an affine map; the
     * formulas are in {@link BatchNormFolding}). This model is not changed, and the new one shares
     * nothing with it: it is built on the host for the same input shape (call {@link #to} to run
     * it). In the new model each folded BatchNorm is an {@link Identity}, so the other layers keep
     * their indices and state_dict names, and a Conv2d or Linear without bias gains one. A
     * BatchNorm not directly after a Conv2d or Linear (after an activation, pooling or Flatten, or
     * first) is left in place. Its outputs are this model's eval-mode outputs up to float32
     * rounding; it is not meant for training.
     */
    public Sequential foldBatchNorm() {
        requireBuilt();
        return BatchNormFolding.fold(this);
    }

    /**
     * A new model with copies of this one's layers ({@link Layer#copy}) and initialization, built on
     * the host for the same input shape and holding the same parameters and running statistics
     * (those of the backend when this model is on one). The two share nothing: training one leaves
     * the other as it was.
     */
    public Sequential copy() {
        requireBuilt();
        requireState();
        List<Layer> fresh = new ArrayList<>(layers.size());
        for (Layer layer : layers) {
            fresh.add(layer.copy());
        }
        Sequential c = new Sequential(fresh, init);
        c.defaultInput = defaultInput;
        c.fuseActivations = fuseActivations;
        c.build(input, 0);
        c.hostParams = backend != null ? params.toArray() : hostParams.clone();
        c.hostBuffers = backend != null ? buffers.toArray() : hostBuffers.clone();
        return c;
    }

    // ------------------------------------------------------------------ device

    /**
     * Moves the model's state to {@code backend} (uploading it), or back to the host when null.
     * Plans made for the previous backend are freed.
     */
    public Sequential to(Backend target) {
        requireBuilt();
        forgetClosedBackend();
        if (target == backend) {
            return this;
        }
        if (backend != null) {
            hostParams = params.toArray();
            hostBuffers = buffers.toArray();
            releaseDevice();
        }
        if (target == null) {
            return this;
        }
        requireState();
        Tensor p = target.upload(hostParams, Shape.of(Math.toIntExact(paramSize)));     // (P)
        Tensor g = target.allocate(Shape.of(Math.toIntExact(paramSize)));               // (P)
        Tensor b = target.upload(hostBuffers, Shape.of(Math.toIntExact(bufferSize)));   // (B)
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            List<Layer.Entry> pe = layer.parameterEntries();
            Tensor[] pv = new Tensor[pe.size()];
            Tensor[] gv = new Tensor[pe.size()];
            for (int j = 0; j < pv.length; j++) {
                pv[j] = p.view(paramOffsets[i][j], pe.get(j).shape());
                gv[j] = g.view(paramOffsets[i][j], pe.get(j).shape());
            }
            List<Layer.Entry> be = layer.bufferEntries();
            Tensor[] bv = new Tensor[be.size()];
            for (int j = 0; j < bv.length; j++) {
                bv[j] = b.view(bufferOffsets[i][j], be.get(j).shape());
            }
            layer.attach(pv, gv, bv);
        }
        this.backend = target;
        this.params = p;
        this.grads = g;
        this.buffers = b;
        return this;
    }

    /** The backend holding the model, or null. */
    public Backend backend() {
        return backend;
    }

    /** All trainable parameters, one flat tensor on the backend (each layer's weight is a view). */
    public Tensor parameters() {
        requireDevice();
        return params;
    }

    /** Gradients of {@link #parameters()}, same layout; written (not accumulated) by each backward pass. */
    public Tensor gradients() {
        requireDevice();
        return grads;
    }

    /** Running statistics (BatchNorm's running mean, variance and batch counter), one flat tensor. */
    public Tensor buffers() {
        requireDevice();
        return buffers;
    }

    private void requireDevice() {
        if (backend == null) {
            throw new IllegalStateException("the model is not on a backend: call to(backend)");
        }
    }

    /**
     * When the backend holding the model was closed first, forgets the device state it freed, and
     * with it what was trained there: the host copy is older, so reading the state fails
     * ({@link #requireState}) until {@link #loadState} gives it one. The same on every backend, so
     * that code which closes a backend too early fails on the CPU as it would on a GPU.
     */
    private void forgetClosedBackend() {
        if (backend != null && backend.isClosed()) {
            lostWith = backend.describe();
            releaseDevice();
        }
    }

    /** Throws when the state went with a closed backend ({@link #forgetClosedBackend}). */
    private void requireState() {
        forgetClosedBackend();
        if (lostWith != null) {
            throw new IllegalStateException("the model's state is gone: its backend (" + lostWith + ") was closed while "
                    + "it held the model; close the model, or move it with to(null), before closing its backend "
                    + "(or give it a state with loadState)");
        }
    }

    private void releaseDevice() {
        for (Plan plan : trainPlans.values()) {
            plan.free();
        }
        for (Plan plan : forwardPlans.values()) {
            plan.free();
        }
        trainPlans.clear();
        forwardPlans.clear();
        params.close();
        grads.close();
        buffers.close();
        for (Layer layer : layers) {
            layer.attach(new Tensor[0], new Tensor[0], new Tensor[0]);
        }
        backend = null;
        params = null;
        grads = null;
        buffers = null;
    }

    /**
     * Frees the device state and all plans; the state stays available on the host. Close a model
     * before its backend: closed after it, the model has lost what was trained there, and reading
     * its state fails (closing it is still quiet).
     */
    @Override
    public void close() {
        if (backend != null) {
            to(null);
        }
    }

    // ------------------------------------------------------------------ plans

    /**
     * The training plan (forward and backward) for {@code batch} samples, created on first use
     * and cached. Its buffers are owned by the model and freed when it moves or closes.
     */
    public Plan plan(int batch) {
        requireDevice();
        Plan p = trainPlans.get(batch);
        if (p == null) {
            p = new Plan(batch, true);
            trainPlans.put(batch, p);
        }
        return p;
    }

    /**
     * A plan for forward passes only (evaluation) with {@code batch} samples: the training plan of
     * that size when one exists (its buffers serve both), otherwise a forward-only plan, cached.
     */
    public Plan forwardPlan(int batch) {
        requireDevice();
        Plan p = trainPlans.get(batch);
        if (p != null) {
            return p;
        }
        p = forwardPlans.get(batch);
        if (p == null) {
            p = new Plan(batch, false);
            forwardPlans.put(batch, p);
        }
        return p;
    }

    /**
     * The float32 values the plan for {@code batch} allocates for its input, activations and (when
     * {@code training}) activation gradients, with the plan's rules for views and in-place layers;
     * the layers' own scratch (a few values per channel, and one gradient buffer per batch norm
     * whose input gradient no earlier layer needs) is not counted. Allocates nothing: for checking
     * that a plan fits before making it.
     *
     * @throws IllegalArgumentException when one of those tensors would hold more than 2^31 - 1 values,
     *                                  naming the layer and the shape
     */
    public long planValues(int batch, boolean training) {
        requireBuilt();
        int n = layers.size();
        boolean[] needGrad = new boolean[n + 1];
        for (int i = 1; i <= n; i++) {
            needGrad[i] = needGrad[i - 1] || !layers.get(i - 1).parameterEntries().isEmpty();
        }
        long total = elements("the input", shapes[0], batch);
        boolean gradAllocated = false;   // activationGrads[i] != null in the plan
        for (int i = 0; i < n; i++) {
            Layer layer = layers.get(i);
            long out = elements("the output of layer " + i + " (" + layer.typeName() + ")", shapes[i + 1], batch);
            boolean wantGrad = training && (needGrad[i + 1] || i + 1 == n);
            if (layer.isView()) {
                total += !gradAllocated && wantGrad ? out : 0;
                gradAllocated = gradAllocated || wantGrad;
            } else if (layer.isInPlaceCapable()) {
                Layer producer = i == 0 ? null : layers.get(i - 1);
                boolean inPlace = producer != null && !producer.isView() && !producer.backwardReadsOutput();
                total += inPlace ? 0 : out;
                total += !gradAllocated && wantGrad ? out : 0;
                gradAllocated = gradAllocated || wantGrad;
            } else {
                total += out + (wantGrad ? out : 0);
                gradAllocated = wantGrad;
            }
        }
        return total;
    }

    private static long elements(String what, Shape sample, int batch) {
        long v = sample.size() * (long) batch;
        if (v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + " would be " + batch + " x " + sample + " = " + v
                    + " values, more than one tensor holds (2^31 - 1)");
        }
        return v;
    }

    /** Sees each layer's input during {@link Plan#forward(boolean, LayerObserver)}. */
    @FunctionalInterface
    public interface LayerObserver {
        /** Layer {@code index} is about to run on {@code input}, (N, ...) as {@link Plan#activation}. */
        void beforeLayer(int index, Tensor input);
    }

    /**
     * The model planned for one batch size: every buffer allocated once, steps that only queue ops.
     *
     * <p>Fusion: an activation (Sigmoid, ReLU) that runs in place on the output of a batch norm
     * is run by the batch norm's ops ({@link Backend#batchNormActivationForwardTrain} and its
     * eval and backward forms), one op for the pair each way, unless
     * {@link #optFuseActivations} turned it off. Its output buffer then holds the activation's
     * output, as it does unfused (in place); in backward, the pair's shared gradient buffer holds
     * the gradient of the activation's output, the batch norm's output gradient being found
     * inside the fused op and never written. An average pooling right after the pair (or right
     * after a batch norm) joins it ({@link Backend#batchNormActivationPoolForwardTrain} and its
     * eval and backward forms): the pooling's input still holds the activation's output, but its
     * gradient is found inside the fused ops, so the plan allocates no buffer for it and
     * {@link #activationGradient} is null there.
     */
    public final class Plan {
        private final int batch;
        private final boolean withGradients;
        private final Tensor[] activations;   // activations[i] = input of layer i, (N, shapes[i]...)
        private final Tensor[] activationGrads;
        private final Layer.Step[] steps;
        private final Layer.Step[] runs;      // what forward(boolean) and backward() run: steps, fused pairs as one
        private final int[] runLast;          // runs[r] covers layers up to runLast[r]
        private final List<Tensor> owned = new ArrayList<>();

        private Plan(int batch, boolean withGradients) {
            if (batch < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batch);
            }
            this.batch = batch;
            this.withGradients = withGradients;
            int n = layers.size();
            if (withGradients) {
                for (int i = 0; i < n; i++) {
                    Layer layer = layers.get(i);
                    layer.checkTrainingBatch("layer " + i + " (" + layer.typeName() + ")", shapes[i].withBatch(batch));
                }
            }
            activations = new Tensor[n + 1];
            activationGrads = new Tensor[n + 1];
            steps = new Layer.Step[n];
            List<Layer.Step> fused = new ArrayList<>(n);
            List<Integer> fusedLast = new ArrayList<>(n);
            // needGrad[i]: some layer before activation i has parameters, so its gradient is used.
            boolean[] needGrad = new boolean[n + 1];
            for (int i = 1; i <= n; i++) {
                needGrad[i] = needGrad[i - 1] || !layers.get(i - 1).parameterEntries().isEmpty();
            }
            try {
                activations[0] = own(backend.allocate(shapes[0].withBatch(batch)));   // (N, C, H, W)
                for (int i = 0; i < n; i++) {
                    Layer layer = layers.get(i);
                    Shape out = shapes[i + 1].withBatch(batch);
                    boolean wantGrad = withGradients && (needGrad[i + 1] || i + 1 == n);
                    if (layer.isView()) {
                        activations[i + 1] = activations[i].reshape(out);
                        activationGrads[i + 1] = activationGrads[i] != null ? activationGrads[i].reshape(out)
                                : wantGrad ? own(backend.allocate(out)) : null;
                    } else if (layer.isInPlaceCapable()) {
                        // y over x is safe when the producer of x neither is a view (x would be an
                        // earlier buffer) nor reads its output in backward; dx over dy always is.
                        Layer producer = i == 0 ? null : layers.get(i - 1);
                        boolean inPlace = producer != null && !producer.isView() && !producer.backwardReadsOutput();
                        activations[i + 1] = inPlace ? activations[i] : own(backend.allocate(out));
                        activationGrads[i + 1] = activationGrads[i] != null ? activationGrads[i]
                                : wantGrad ? own(backend.allocate(out)) : null;
                    } else {
                        activations[i + 1] = own(backend.allocate(out));
                        activationGrads[i + 1] = wantGrad ? own(backend.allocate(out)) : null;
                    }
                    steps[i] = layer.bind(backend, shape -> own(backend.allocate(shape)),
                            activations[i], activations[i + 1], activationGrads[i], activationGrads[i + 1]);
                    Layer.Step pair = fuseActivations && i > 0 && activations[i + 1] == activations[i]
                            && layer.fusableActivation() != null && fused.get(fused.size() - 1) == steps[i - 1]
                            ? steps[i - 1].fuse(layer.fusableActivation(), activations[i + 1], activationGrads[i + 1])
                            : null;
                    PoolSpec pool = layer.fusableAveragePool();
                    if (pair == null && fuseActivations && pool != null && i > 0) {
                        // The run before covers layer i - 1; only a batch norm (with its activation) accepts.
                        pair = fused.get(fused.size() - 1).fusePool(pool, activations[i + 1], activationGrads[i + 1]);
                        if (pair != null) {
                            releaseInnerGradient(fusedLast.size() == 1 ? 0 : fusedLast.get(fusedLast.size() - 2) + 1, i);
                        }
                    }
                    if (pair != null) {
                        fused.set(fused.size() - 1, pair);
                        fusedLast.set(fusedLast.size() - 1, i);
                    } else {
                        fused.add(steps[i]);
                        fusedLast.add(i);
                    }
                }
            } catch (RuntimeException e) {
                free();
                throw e;
            }
            runs = fused.toArray(new Layer.Step[0]);
            runLast = fusedLast.stream().mapToInt(Integer::intValue).toArray();
        }

        /**
         * Frees the gradient buffer of the outputs of layers first..last-1 (the inside of a fused
         * run that pools: layer first is the batch norm, last the pooling; in place, they share one
         * buffer), which the fused backward never writes, and leaves those entries null.
         */
        private void releaseInnerGradient(int first, int last) {
            Tensor inner = activationGrads[first + 1];
            for (int k = first + 1; k <= last; k++) {
                if (activationGrads[k] != inner) {
                    throw new IllegalStateException("layers " + first + ".." + last + " do not share one gradient buffer");
                }
                activationGrads[k] = null;
            }
            if (inner != null && owned.remove(inner)) {
                inner.close();
            }
        }

        /** Backend ops each way: the layers' steps, an activation or pooling fused into the batch norm before it counted once. */
        public int runCount() {
            return runs.length;
        }

        private Tensor own(Tensor t) {
            owned.add(t);
            return t;
        }

        public int batch() {
            return batch;
        }

        public boolean hasGradients() {
            return withGradients;
        }

        /** The model input, (N, C, H, W) or (N, F): fill it (e.g. by gatherBatch) before {@link #forward}. */
        public Tensor input() {
            return activations[0];
        }

        /** The model output (N, K), written by {@link #forward}. */
        public Tensor output() {
            return activations[activations.length - 1];
        }

        /** The gradient of the loss with respect to {@link #output()}, to write before {@link #backward}. */
        public Tensor outputGradient() {
            if (!withGradients) {
                throw new IllegalStateException("a forward-only plan has no gradients");
            }
            return activationGrads[activationGrads.length - 1];
        }

        /** Activation {@code i} (the input of layer i; i = layer count gives the output). */
        public Tensor activation(int i) {
            return activations[i];
        }

        /**
         * The gradient of the loss with respect to the input of layer i, (N, ...), after
         * {@link #backward()}; null when the plan has no gradients or nothing needs that one
         * (no layer before i has parameters). For an activation fused into the batch norm before
         * it, this is the buffer it shares with its output's gradient, and holds that (see
         * {@link Plan}); it is null inside a fused run that pools (the input of the activation
         * and of the pooling).
         */
        public Tensor activationGradient(int i) {
            return activationGrads[i];
        }

        /** Queues the forward pass; training mode uses and updates batch statistics. */
        public void forward(boolean training) {
            for (Layer.Step run : runs) {
                run.forward(training);
            }
        }

        /**
         * As {@link #forward(boolean)}, calling {@code observer} with each layer's input just before
         * that layer's ops are queued, while the input still holds its values (a Sigmoid or ReLU
         * may write its output over it). For watching a training step from the host: the observer
         * may read the tensor back, which waits for the device, so a step run this way is eager
         * and never captured. Every layer runs its own ops here, a fused activation too (its
         * input is then written, to be seen); fused ops compute the same bits, so the results
         * are those of {@link #forward(boolean)}, and {@link #backward()} may follow either.
         */
        public void forward(boolean training, LayerObserver observer) {
            for (int i = 0; i < steps.length; i++) {
                observer.beforeLayer(i, activations[i]);
                steps[i].forward(training);
            }
        }

        /** Queues the backward pass from {@link #outputGradient()}, writing {@link #gradients()}. */
        public void backward() {
            if (!withGradients) {
                throw new IllegalStateException("a forward-only plan has no backward pass");
            }
            for (int r = runs.length - 1; r >= 0; r--) {
                if (activationGrads[runLast[r] + 1] != null) {
                    runs[r].backward();
                }
            }
        }

        private void free() {
            for (Tensor t : owned) {
                t.close();
            }
            owned.clear();
        }
    }

    // ------------------------------------------------------------------ state

    /** Names and shapes of the state, in PyTorch's state_dict order. */
    public Map<String, Shape> stateShapes() {
        requireBuilt();
        return collectStateShapes();
    }

    /**
     * Names and shapes of the state the model will have when built for its default input shape
     * ({@link #optInputShape}), inferred without allocating or initializing anything: for checking a
     * model file against the model before building it. Sets the layers' sizes as {@link #build} does.
     */
    public Map<String, Shape> inferStateShapes() {
        if (defaultInput == null) {
            throw new IllegalStateException("no input shape set: call build(Shape sample, long seed)");
        }
        if (backend != null) {
            throw new IllegalStateException("the model is on a backend; use stateShapes()");
        }
        Shape s = defaultInput;
        for (int i = 0; i < layers.size(); i++) {
            try {
                s = layers.get(i).infer(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("layer " + i + " (" + layers.get(i).getClass().getSimpleName() + "): " + e.getMessage(), e);
            }
        }
        return collectStateShapes();
    }

    private Map<String, Shape> collectStateShapes() {
        Map<String, Shape> out = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            for (Layer.Entry e : layers.get(i).parameterEntries()) {
                out.put(i + "." + e.name(), e.shape());
            }
            for (Layer.Entry e : layers.get(i).bufferEntries()) {
                out.put(i + "." + e.name(), e.shape());
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * A host copy of the state with PyTorch's names ("0.weight", "1.running_var", ...), in
     * state_dict order; {@code num_batches_tracked} is a one-element array holding the count.
     */
    public Map<String, float[]> state() {
        requireBuilt();
        requireState();
        float[] p = backend == null ? hostParams : params.toArray();
        float[] b = backend == null ? hostBuffers : buffers.toArray();
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            List<Layer.Entry> pe = layers.get(i).parameterEntries();
            for (int j = 0; j < pe.size(); j++) {
                int off = (int) paramOffsets[i][j];
                out.put(i + "." + pe.get(j).name(), java.util.Arrays.copyOfRange(p, off, off + pe.get(j).shape().sizeInt()));
            }
            List<Layer.Entry> be = layers.get(i).bufferEntries();
            for (int j = 0; j < be.size(); j++) {
                int off = (int) bufferOffsets[i][j];
                out.put(i + "." + be.get(j).name(), java.util.Arrays.copyOfRange(b, off, off + be.get(j).shape().sizeInt()));
            }
        }
        return out;
    }

    /**
     * A host copy of the parameter gradients of the last backward pass, named as the parameters
     * ("0.weight", "0.bias", ...).
     */
    public Map<String, float[]> gradientState() {
        requireDevice();
        float[] g = grads.toArray();
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            List<Layer.Entry> pe = layers.get(i).parameterEntries();
            for (int j = 0; j < pe.size(); j++) {
                int off = (int) paramOffsets[i][j];
                out.put(i + "." + pe.get(j).name(), java.util.Arrays.copyOfRange(g, off, off + pe.get(j).shape().sizeInt()));
            }
        }
        return out;
    }

    /**
     * Replaces the whole state from {@code state} (names as {@link #state()}). Everything is checked
     * before anything is written: a missing or unknown name, or a wrong length, throws
     * {@link IllegalArgumentException} naming the tensor and leaves the model unchanged.
     */
    public void loadState(Map<String, float[]> state) {
        forgetClosedBackend();
        Map<String, Shape> expected = stateShapes();
        for (Map.Entry<String, Shape> e : expected.entrySet()) {
            float[] v = state.get(e.getKey());
            if (v == null) {
                throw new IllegalArgumentException("state is missing tensor '" + e.getKey() + "' " + e.getValue());
            }
            if (v.length != e.getValue().size()) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' has " + v.length
                        + " values, the model expects " + e.getValue() + " (" + e.getValue().size() + ")");
            }
        }
        for (String name : state.keySet()) {
            if (!expected.containsKey(name)) {
                throw new IllegalArgumentException("state has tensor '" + name + "' that the model does not; expected "
                        + expected.keySet());
            }
        }
        float[] p = new float[Math.toIntExact(paramSize)];
        float[] b = new float[Math.toIntExact(bufferSize)];
        for (int i = 0; i < layers.size(); i++) {
            List<Layer.Entry> pe = layers.get(i).parameterEntries();
            for (int j = 0; j < pe.size(); j++) {
                float[] v = state.get(i + "." + pe.get(j).name());
                System.arraycopy(v, 0, p, (int) paramOffsets[i][j], v.length);
            }
            List<Layer.Entry> be = layers.get(i).bufferEntries();
            for (int j = 0; j < be.size(); j++) {
                float[] v = state.get(i + "." + be.get(j).name());
                System.arraycopy(v, 0, b, (int) bufferOffsets[i][j], v.length);
            }
        }
        if (backend == null) {
            hostParams = p;
            hostBuffers = b;
            lostWith = null;
        } else {
            params.copyFrom(p);
            buffers.copyFrom(b);
        }
    }

    // ------------------------------------------------------------------ summary

    /**
     * A table in torchsummary's format: one row per layer (type and 1-based index, output shape
     * with -1 for the batch, parameter count), the totals, and size estimates in MB for a batch of
     * {@code batch}: input, forward/backward activations (outputs counted twice, for their
     * gradients), parameters. Running statistics are buffers and are not counted as parameters.
     */
    public String summary(int batch) {
        requireBuilt();
        String rule = "-".repeat(64) + "\n";
        String doubleRule = "=".repeat(64) + "\n";
        StringBuilder sb = new StringBuilder();
        sb.append(rule);
        sb.append(String.format(Locale.ROOT, "%20s  %25s %15s%n", "Layer (type)", "Output Shape", "Param #"));
        sb.append(doubleRule);
        long total = 0;
        long outputs = 0;
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            long count = 0;
            for (Layer.Entry e : layer.parameterEntries()) {
                count += e.shape().size();
            }
            total += count;
            Shape out = shapes[i + 1];
            outputs += out.size() * batch;
            StringBuilder shape = new StringBuilder("[-1");
            for (int d : out.dims()) {
                shape.append(", ").append(d);
            }
            shape.append(']');
            sb.append(String.format(Locale.ROOT, "%20s  %25s %15s%n", layer.typeName() + "-" + (i + 1), shape,
                    String.format(Locale.ROOT, "%,d", count)));
        }
        double mb = 1024.0 * 1024.0;
        double inputMb = input.size() * (double) batch * 4 / mb;
        double outputMb = 2.0 * outputs * 4 / mb;
        double paramsMb = total * 4.0 / mb;
        sb.append(doubleRule);
        sb.append(String.format(Locale.ROOT, "Total params: %,d%n", total));
        sb.append(String.format(Locale.ROOT, "Trainable params: %,d%n", total));
        sb.append(String.format(Locale.ROOT, "Non-trainable params: %,d%n", 0));
        sb.append(rule);
        sb.append(String.format(Locale.ROOT, "Input size (MB): %.2f%n", inputMb));
        sb.append(String.format(Locale.ROOT, "Forward/backward pass size (MB): %.2f%n", outputMb));
        sb.append(String.format(Locale.ROOT, "Params size (MB): %.2f%n", paramsMb));
        sb.append(String.format(Locale.ROOT, "Estimated Total Size (MB): %.2f%n", inputMb + outputMb + paramsMb));
        sb.append(rule);
        return sb.toString();
    }

    /** PyTorch's repr of an {@code nn.Sequential}: one line per layer, "(i): Layer(...)". */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Sequential(\n");
        for (int i = 0; i < layers.size(); i++) {
            sb.append("  (").append(i).append("): ").append(layers.get(i)).append('\n');
        }
        return sb.append(')').toString();
    }
}
