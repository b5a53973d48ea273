package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Fully connected layer, {@code y = x W^T + b}, as PyTorch's {@code nn.Linear}; lazy like
 * {@code nn.LazyLinear}: the input features come from the first input shape.
 * x (N, I), W (O, I), b (O), y (N, O). Parameters: {@code weight} (O, I), {@code bias} (O).
 */
public final class Linear extends Layer {
    private final int outFeatures;
    private final boolean bias;
    private int inFeatures = -1;

    public Linear(int outFeatures) {
        this(outFeatures, true);
    }

    public Linear(int outFeatures, boolean bias) {
        if (outFeatures < 1) throw new IllegalArgumentException("Linear: out features must be >= 1, got " + outFeatures);
        this.outFeatures = outFeatures;
        this.bias = bias;
    }

    public int inFeatures() {
        return inFeatures;
    }

    public int outFeatures() {
        return outFeatures;
    }

    public boolean hasBias() {
        return bias;
    }

    @Override
    protected Layer copy() {
        return new Linear(outFeatures, bias);
    }

    @Override
    public String typeName() {
        return "Linear";
    }

    @Override
    protected Shape infer(Shape input) {
        if (input.rank() != 1) {
            throw new IllegalArgumentException("Linear expects a per-sample input of rank 1 (features), got "
                    + input + "; put a Flatten before it");
        }
        inFeatures = input.dim(0);
        return Shape.of(outFeatures);
    }

    @Override
    public List<Entry> parameterEntries() {
        Entry w = new Entry("weight", Shape.of(outFeatures, inFeatures));
        return bias ? List.of(w, new Entry("bias", Shape.of(outFeatures))) : List.of(w);
    }

    @Override
    protected void initialize(float[][] params, float[][] buffers, SplittableRandom rng, Init init) {
        initWeightAndBias(params[0], bias ? params[1] : null, inFeatures, outFeatures, rng, init);
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        Tensor w = param(0);
        Tensor b = bias ? param(1) : null;
        Tensor dw = dy == null ? null : grad(0);
        Tensor db = dy == null || !bias ? null : grad(1);
        return new Step() {
            @Override
            public void forward(boolean training) {
                backend.linearForward(x, w, b, y);
            }

            @Override
            public void backward() {
                backend.linearBackward(x, dy, w, dx, dw, db);
            }
        };
    }

    /** PyTorch's repr, e.g. {@code Linear(in_features=256, out_features=120, bias=True)}. */
    @Override
    public String toString() {
        return "Linear(in_features=" + (inFeatures < 0 ? "?" : Integer.toString(inFeatures)) + ", out_features=" + outFeatures
                + ", bias=" + (bias ? "True" : "False") + ")";
    }
}
