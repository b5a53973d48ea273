package dev.normnet.nn;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * One layer of a {@link Sequential} model.
 *
 * <p>A layer's life: {@link #infer} fixes its sizes from the per-sample input shape (the lazy
 * part: Conv2d and Linear learn their input features here), {@link #initialize} fills its
 * parameters on the host, then {@link Sequential#to} hands it views of the model's flat
 * parameter, gradient and buffer tensors on a device, and {@link #bind} plans one batch size:
 * it receives the activation buffers it reads and writes, allocates its own scratch once, and
 * returns a {@link Step} whose forward and backward only queue backend ops.
 *
 * <p>Shapes passed to {@link #infer} exclude the batch dimension: (C, H, W) for images, (F) for
 * feature vectors.
 */
public abstract class Layer {
    /** The name and shape of a parameter or buffer, as it appears in PyTorch's state_dict. */
    public record Entry(String name, Shape shape) {
    }

    private Tensor[] params = new Tensor[0];
    private Tensor[] grads = new Tensor[0];
    private Tensor[] buffers = new Tensor[0];

    /** The type name torchsummary prints, e.g. {@code Conv2d}, {@code BatchNorm2d}; valid after {@link #infer}. */
    public abstract String typeName();

    /**
     * A new, unbuilt layer with this one's configuration (sizes still to be inferred, no state):
     * what {@link BatchNormFolding} builds a folded model from.
     */
    protected abstract Layer copy();

    /**
     * Fixes this layer's sizes from the per-sample input shape and returns the per-sample output
     * shape. Throws {@link IllegalArgumentException} naming the layer when the input does not fit.
     */
    protected abstract Shape infer(Shape input);

    /** Trainable parameters in PyTorch's order (weight, then bias); valid after {@link #infer}. */
    public List<Entry> parameterEntries() {
        return List.of();
    }

    /** Non-trainable state (running statistics) in PyTorch's order; valid after {@link #infer}. */
    public List<Entry> bufferEntries() {
        return List.of();
    }

    /**
     * Fills the initial values of the parameters and buffers, one array per entry in the order
     * of {@link #parameterEntries()} and {@link #bufferEntries()}; the arrays arrive zeroed.
     */
    protected void initialize(float[][] params, float[][] buffers, SplittableRandom rng, Init init) {
    }

    /**
     * True for element-wise layers whose ops may run in place (y may be x, dx may be dy): the
     * plan then lets them share buffers when that is safe (see {@link #backwardReadsOutput()}).
     */
    protected boolean isInPlaceCapable() {
        return false;
    }

    /**
     * True when this layer's backward pass reads its own forward output (Sigmoid does), so the
     * next layer must not overwrite that output in place. Layers that run in place count as
     * reading their output, since their input and output are then the same buffer.
     */
    protected boolean backwardReadsOutput() {
        return isInPlaceCapable();
    }

    /**
     * Checks that this layer can train on a batch whose input has shape {@code x} (the batch
     * dimension included), before any buffer of a training plan is allocated. Throws
     * {@link IllegalArgumentException}, its message starting with {@code who}, saying why not;
     * most layers train on any batch.
     */
    protected void checkTrainingBatch(String who, Shape x) {
    }

    /**
     * The activation this layer is, when it is one that the layer before it may run inside its
     * own ops (see {@link Step#fuse}); null for every other layer.
     */
    protected Activation fusableActivation() {
        return null;
    }

    /**
     * The pooling this layer is, when it is an average pooling that a batch norm before it (with
     * or without an activation between) may run inside its own ops (see {@link Step#fusePool});
     * null for every other layer.
     */
    protected PoolSpec fusableAveragePool() {
        return null;
    }

    /** True when the output is the input seen with another shape (no op runs, no buffer is allocated). */
    protected boolean isView() {
        return false;
    }

    /**
     * Plans this layer for one batch size. {@code x} (N, input...) and {@code y} (N, output...)
     * are the activations; {@code dy} is the gradient of y (null for a forward-only plan) and
     * {@code dx} the gradient of x to write (null when nothing needs it: the first layer, or a
     * forward-only plan). Scratch the layer needs is allocated here, once, from {@code scratch}
     * (the plan owns and frees it).
     */
    protected abstract Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy);

    /** Allocates per-plan scratch tensors on the plan's backend; the plan frees them when closed. */
    @FunctionalInterface
    public interface Scratch {
        Tensor allocate(Shape shape);
    }

    /** Views of this layer's parameters on the current device, in {@link #parameterEntries()} order. */
    protected final Tensor param(int i) {
        return params[i];
    }

    /** Views of this layer's parameter gradients, same order as {@link #param}. */
    protected final Tensor grad(int i) {
        return grads[i];
    }

    /** Views of this layer's buffers on the current device, in {@link #bufferEntries()} order. */
    protected final Tensor buffer(int i) {
        return buffers[i];
    }

    final void attach(Tensor[] params, Tensor[] grads, Tensor[] buffers) {
        this.params = params;
        this.grads = grads;
        this.buffers = buffers;
    }

    /** A layer planned for one batch size: queues its ops, allocates nothing. */
    public abstract static class Step {
        /** Queues y = layer(x); {@code training} selects batch statistics for BatchNorm. */
        public abstract void forward(boolean training);

        /** Queues dx (when wanted) and the parameter gradients from dy; follows a training-mode forward. */
        public abstract void backward();

        /**
         * A step that does this one's work followed by {@code act} on its output, writing act's
         * output {@code y} and, in backward, reading act's output gradient {@code dy} instead of
         * this step's own; or null when this step cannot (the default). The plan asks for it when
         * the activation runs in place on this step's output, so {@code y} is this step's output
         * buffer. The fused step must compute the same bits as the two steps, share this step's
         * scratch (the plan may run this step's forward, then the activation's, then the fused
         * backward), and allocate nothing.
         */
        protected Step fuse(Activation act, Tensor y, Tensor dy) {
            return null;
        }

        /**
         * A step that does this one's work followed by average pooling of its output under
         * {@code spec}, writing the pooled output {@code pooled} and, in backward, reading its
         * gradient {@code dPooled}; the gradient of this step's output is found inside the fused
         * ops and never written. Null when this step cannot (the default). The same rules as
         * {@link #fuse}: the bits of the separate steps, this step's scratch, nothing allocated.
         */
        protected Step fusePool(PoolSpec spec, Tensor pooled, Tensor dPooled) {
            return null;
        }
    }

    /** A step that does nothing (view layers). */
    static final Step NO_OP = new Step() {
        @Override
        public void forward(boolean training) {
        }

        @Override
        public void backward() {
        }
    };

    static Shape requireRank(String layer, Shape input, int rank) {
        if (input.rank() != rank) {
            throw new IllegalArgumentException(layer + " expects a per-sample input of rank " + rank
                    + (rank == 3 ? " (C, H, W)" : " (features)") + ", got " + input);
        }
        return input;
    }

    /** Uniform(-bound, bound) into {@code dst}. */
    static void uniform(float[] dst, double bound, SplittableRandom rng) {
        for (int i = 0; i < dst.length; i++) {
            dst[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
    }

    /** Weight init by {@code init} (see {@link Init}) and PyTorch's default bias init. */
    static void initWeightAndBias(float[] weight, float[] bias, int fanIn, int fanOut, SplittableRandom rng, Init init) {
        double bound = init == Init.XAVIER ? Math.sqrt(6.0 / (fanIn + fanOut)) : 1.0 / Math.sqrt(fanIn);
        uniform(weight, bound, rng);
        if (bias != null) {
            uniform(bias, fanIn > 0 ? 1.0 / Math.sqrt(fanIn) : 0, rng);
        }
    }

    /** PyTorch's repr of the layer where it has one, e.g. {@code Sigmoid()}. */
    @Override
    public String toString() {
        return getClass().getSimpleName() + "()";
    }
}
