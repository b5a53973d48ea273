package dev.normnet.optim;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Adam as PyTorch's {@code torch.optim.Adam} (L2 weight decay added to the gradient, not AdamW;
 * no amsgrad), with step t counted from 1:
 * <pre>
 * g = grad + weightDecay * p
 * m = beta1 * m + (1 - beta1) * g
 * v = beta2 * v + (1 - beta2) * g^2
 * p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * Defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0. One {@link Backend#adamStep} call
 * updates the whole model; lr is {@code hyper[0]} and t is {@code hyper[1]}, advanced on the
 * device by each step, so a captured step keeps counting.
 *
 * <p>{@link #state()}, as PyTorch names it: {@code exp_avg} (m) and {@code exp_avg_sq} (v), one
 * value per parameter, and {@code step} (t, one value: the steps taken, exact as a float up to
 * 2^24). {@link #loadState} also requires {@code exp_avg_sq} non-negative and {@code step} a whole
 * number from 0 to 2^24.
 */
public final class Adam implements Optimizer {
    private static final String EXP_AVG = "exp_avg";
    private static final String EXP_AVG_SQ = "exp_avg_sq";
    private static final String STEP = "step";
    private static final float MAX_STEP = 1 << 24;   // the last count a float holds exactly
    private final float baseLr;
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private float lr;
    private Backend backend;
    private Tensor params;
    private Tensor grads;
    private Tensor m;       // (P) first moment
    private Tensor v;       // (P) second moment
    private Tensor hyper;   // (2): lr, t

    private Adam(Builder b) {
        this.baseLr = b.lr;
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.eps = b.eps;
        this.weightDecay = b.weightDecay;
        this.lr = b.lr;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void attach(Backend backend, Tensor params, Tensor grads) {
        if (params.size() != grads.size()) {
            throw new IllegalArgumentException("Adam: params " + params.shape() + " and grads " + grads.shape() + " differ in size");
        }
        close();
        this.backend = backend;
        this.params = params;
        this.grads = grads;
        this.m = backend.allocate(params.shape());
        this.v = backend.allocate(params.shape());
        this.hyper = backend.upload(new float[] {lr, 0f}, Shape.of(2));
    }

    @Override
    public Adam copy() {
        return builder().setLearningRate(baseLr).optBetas(beta1, beta2).optEps(eps).optWeightDecay(weightDecay).build();
    }

    @Override
    public void step() {
        requireAttached();
        backend.addScalar(hyper, 1, 1f);
        backend.adamStep(params, grads, m, v, hyper, beta1, beta2, eps, weightDecay);
    }

    @Override
    public float baseLearningRate() {
        return baseLr;
    }

    @Override
    public float learningRate() {
        return lr;
    }

    /** Sets lr in hyper[0]; the step count hyper[1] is kept (read back, then written with the new lr). */
    @Override
    public void setLearningRate(float value) {
        this.lr = value;
        if (hyper != null) {
            float[] h = hyper.toArray();
            h[0] = value;
            hyper.copyFrom(h);
        }
    }

    @Override
    public Map<String, float[]> state() {
        requireAttached();
        Map<String, float[]> out = new LinkedHashMap<>();
        out.put(EXP_AVG, m.toArray());
        out.put(EXP_AVG_SQ, v.toArray());
        out.put(STEP, new float[] {hyper.toArray()[1]});
        return out;
    }

    @Override
    public void loadState(Map<String, float[]> state) {
        requireAttached();
        int n = Math.toIntExact(params.size());
        States.check("Adam", state, Map.of(EXP_AVG, n, EXP_AVG_SQ, n, STEP, 1));
        float[] sq = state.get(EXP_AVG_SQ);
        for (int i = 0; i < sq.length; i++) {
            if (sq[i] < 0) {
                throw new IllegalArgumentException("Adam: state '" + EXP_AVG_SQ + "' holds the negative value " + sq[i]
                        + " at index " + i + " (a mean of squares is never negative)");
            }
        }
        float t = state.get(STEP)[0];
        if (!(t >= 0 && t <= MAX_STEP) || t != Math.rint(t)) {
            throw new IllegalArgumentException("Adam: state '" + STEP + "' is " + t + ", expected a whole number from 0 to 2^24");
        }
        m.copyFrom(state.get(EXP_AVG));
        v.copyFrom(sq);
        hyper.copyFrom(new float[] {lr, t});
    }

    private void requireAttached() {
        if (backend == null) {
            throw new IllegalStateException("Adam: attach(backend, params, grads) first");
        }
    }

    @Override
    public void close() {
        if (m != null) m.close();
        if (v != null) v.close();
        if (hyper != null) hyper.close();
        m = null;
        v = null;
        hyper = null;
        backend = null;
    }

    @Override
    public String toString() {
        return "Adam(lr=" + baseLr + ", betas=(" + beta1 + ", " + beta2 + "), eps=" + eps + ", weightDecay=" + weightDecay + ")";
    }

    /** {@code setLearningRate} is required; the rest default to PyTorch's values. */
    public static final class Builder {
        private float lr = Float.NaN;
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float eps = 1e-8f;
        private float weightDecay;

        public Builder setLearningRate(float value) {
            this.lr = value;
            return this;
        }

        public Builder optBetas(float b1, float b2) {
            this.beta1 = b1;
            this.beta2 = b2;
            return this;
        }

        public Builder optEps(float value) {
            this.eps = value;
            return this;
        }

        public Builder optWeightDecay(float value) {
            this.weightDecay = value;
            return this;
        }

        public Adam build() {
            if (Float.isNaN(lr)) throw new IllegalArgumentException("Adam: setLearningRate is required");
            if (!(lr > 0)) throw new IllegalArgumentException("Adam: learning rate must be > 0, got " + lr);
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("Adam: betas must be in [0, 1), got (" + beta1 + ", " + beta2 + ")");
            }
            if (!(eps > 0)) throw new IllegalArgumentException("Adam: eps must be > 0, got " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("Adam: weight decay must be >= 0, got " + weightDecay);
            return new Adam(this);
        }
    }
}
