package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * 2-D convolution (cross-correlation, as PyTorch's {@code nn.Conv2d}; lazy like
 * {@code nn.LazyConv2d}: the input channels come from the first input shape).
 *
 * <pre>
 * y[n, k, p, q] = b[k] + sum over c, r, s of w[k, c, r, s] * x[n, c, p*stride + r - pad, q*stride + s - pad]
 * </pre>
 * x (N, C, H, W), w (K, C, R, R), b (K), y (N, K, P, Q) with P = (H + 2 pad - R) / stride + 1.
 * Parameters: {@code weight} (K, C, R, R), {@code bias} (K) when enabled.
 */
public final class Conv2d extends Layer {
    private final int outChannels;
    private final int kernel;
    private final ConvSpec spec;
    private final boolean bias;
    private int inChannels = -1;

    /** K output channels, an R x R kernel, stride 1, no padding, with bias. */
    public Conv2d(int outChannels, int kernel) {
        this(outChannels, kernel, 1, 0, true);
    }

    public Conv2d(int outChannels, int kernel, int stride, int padding, boolean bias) {
        if (outChannels < 1) throw new IllegalArgumentException("Conv2d: out channels must be >= 1, got " + outChannels);
        if (kernel < 1) throw new IllegalArgumentException("Conv2d: kernel must be >= 1, got " + kernel);
        this.outChannels = outChannels;
        this.kernel = kernel;
        this.spec = new ConvSpec(stride, padding);
        this.bias = bias;
    }

    public int inChannels() {
        return inChannels;
    }

    public int outChannels() {
        return outChannels;
    }

    /** Side R of the R x R kernel. */
    public int kernel() {
        return kernel;
    }

    public ConvSpec spec() {
        return spec;
    }

    public boolean hasBias() {
        return bias;
    }

    @Override
    protected Layer copy() {
        return new Conv2d(outChannels, kernel, spec.stride(), spec.pad(), bias);
    }

    @Override
    public String typeName() {
        return "Conv2d";
    }

    @Override
    protected Shape infer(Shape input) {
        requireRank("Conv2d", input, 3);
        inChannels = input.dim(0);
        try {
            return Shape.of(outChannels, spec.outSize(input.dim(1), kernel), spec.outSize(input.dim(2), kernel));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Conv2d: input " + input + ": " + e.getMessage(), e);
        }
    }

    @Override
    public List<Entry> parameterEntries() {
        Entry w = new Entry("weight", Shape.of(outChannels, inChannels, kernel, kernel));
        return bias ? List.of(w, new Entry("bias", Shape.of(outChannels))) : List.of(w);
    }

    @Override
    protected void initialize(float[][] params, float[][] buffers, SplittableRandom rng, Init init) {
        int fanIn = inChannels * kernel * kernel;
        int fanOut = outChannels * kernel * kernel;
        initWeightAndBias(params[0], bias ? params[1] : null, fanIn, fanOut, rng, init);
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
                backend.conv2dForward(x, w, b, y, spec);
            }

            @Override
            public void backward() {
                backend.conv2dBackwardFilter(x, dy, dw, db, spec);
                if (dx != null) {
                    backend.conv2dBackwardData(dy, w, dx, spec);
                }
            }
        };
    }

    /** PyTorch's repr, e.g. {@code Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))}; in channels read "?" before build. */
    @Override
    public String toString() {
        String in = inChannels < 0 ? "?" : Integer.toString(inChannels);
        return "Conv2d(" + in + ", " + outChannels + ", kernel_size=(" + kernel + ", " + kernel + "), stride=("
                + spec.stride() + ", " + spec.stride() + ")" + (spec.pad() > 0 ? ", padding=(" + spec.pad() + ", " + spec.pad() + ")" : "")
                + (bias ? "" : ", bias=False") + ")";
    }
}
