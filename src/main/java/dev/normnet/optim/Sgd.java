package dev.normnet.optim;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Stochastic gradient descent as PyTorch's {@code torch.optim.SGD} (dampening 0, no Nesterov):
 * <pre>
 * g = grad + weightDecay * p
 * v = momentum * v + g              (v starts at 0, so the first step has v = g, as PyTorch)
 * p = p - lr * (momentum == 0 ? g : v)
 * </pre>
 * One {@link Backend#sgdStep} call updates the whole model; lr is read from {@code hyper[0]}.
 *
 * <p>{@link #state()}: {@code momentum_buffer} (v, one value per parameter) with momentum, as
 * PyTorch names it; nothing without.
 */
public final class Sgd implements Optimizer {
    private static final String MOMENTUM_BUFFER = "momentum_buffer";
    private final float baseLr;
    private final float momentum;
    private final float weightDecay;
    private float lr;
    private Backend backend;
    private Tensor params;
    private Tensor grads;
    private Tensor velocity;   // (P), null without momentum
    private Tensor hyper;      // (1): lr

    private Sgd(Builder b) {
        this.baseLr = b.lr;
        this.momentum = b.momentum;
        this.weightDecay = b.weightDecay;
        this.lr = b.lr;
    }

    public static Builder builder() {
        return new Builder();
    }

    public float momentum() {
        return momentum;
    }

    public float weightDecay() {
        return weightDecay;
    }

    @Override
    public void attach(Backend backend, Tensor params, Tensor grads) {
        if (params.size() != grads.size()) {
            throw new IllegalArgumentException("Sgd: params " + params.shape() + " and grads " + grads.shape() + " differ in size");
        }
        close();
        this.backend = backend;
        this.params = params;
        this.grads = grads;
        this.velocity = momentum == 0 ? null : backend.allocate(params.shape());
        this.hyper = backend.upload(new float[] {lr}, Shape.of(1));
    }

    @Override
    public Sgd copy() {
        return builder().setLearningRate(baseLr).optMomentum(momentum).optWeightDecay(weightDecay).build();
    }

    @Override
    public void step() {
        requireAttached();
        backend.sgdStep(params, grads, velocity, hyper, momentum, weightDecay);
    }

    @Override
    public float baseLearningRate() {
        return baseLr;
    }

    @Override
    public float learningRate() {
        return lr;
    }

    @Override
    public void setLearningRate(float value) {
        this.lr = value;
        if (hyper != null) {
            hyper.copyFrom(new float[] {value});
        }
    }

    @Override
    public Map<String, float[]> state() {
        requireAttached();
        Map<String, float[]> out = new LinkedHashMap<>();
        if (velocity != null) {
            out.put(MOMENTUM_BUFFER, velocity.toArray());
        }
        return out;
    }

    @Override
    public void loadState(Map<String, float[]> state) {
        requireAttached();
        States.check("Sgd", state, velocity == null ? Map.of() : Map.of(MOMENTUM_BUFFER, Math.toIntExact(params.size())));
        if (velocity != null) {
            velocity.copyFrom(state.get(MOMENTUM_BUFFER));
        }
    }

    private void requireAttached() {
        if (backend == null) {
            throw new IllegalStateException("Sgd: attach(backend, params, grads) first");
        }
    }

    @Override
    public void close() {
        if (velocity != null) velocity.close();
        if (hyper != null) hyper.close();
        velocity = null;
        hyper = null;
        backend = null;
    }

    @Override
    public String toString() {
        return "Sgd(lr=" + baseLr + ", momentum=" + momentum + ", weightDecay=" + weightDecay + ")";
    }

    /** {@code setLearningRate} is required; momentum and weight decay default to 0. */
    public static final class Builder {
        private float lr = Float.NaN;
        private float momentum;
        private float weightDecay;

        public Builder setLearningRate(float value) {
            this.lr = value;
            return this;
        }

        public Builder optMomentum(float value) {
            this.momentum = value;
            return this;
        }

        public Builder optWeightDecay(float value) {
            this.weightDecay = value;
            return this;
        }

        public Sgd build() {
            if (Float.isNaN(lr)) throw new IllegalArgumentException("Sgd: setLearningRate is required");
            if (!(lr > 0)) throw new IllegalArgumentException("Sgd: learning rate must be > 0, got " + lr);
            if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("Sgd: momentum must be in [0, 1), got " + momentum);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("Sgd: weight decay must be >= 0, got " + weightDecay);
            return new Sgd(this);
        }
    }
}
