package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * Average pooling as PyTorch's {@code nn.AvgPool2d} (ceil_mode=False, count_include_pad=True):
 * y[n, c, p, q] = mean of the kernel x kernel window of x at (p*stride - pad, q*stride - pad).
 * x (N, C, H, W), y (N, C, P, Q) with P = (H + 2 pad - kernel) / stride + 1.
 */
public final class AvgPool2d extends Layer {
    private final PoolSpec spec;

    /** kernel x kernel windows, stride = kernel, as PyTorch's default. */
    public AvgPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    public AvgPool2d(int kernel, int stride) {
        this(kernel, stride, 0);
    }

    public AvgPool2d(int kernel, int stride, int padding) {
        this.spec = new PoolSpec(kernel, stride, padding);
    }

    public PoolSpec spec() {
        return spec;
    }

    @Override
    protected Layer copy() {
        return new AvgPool2d(spec.kernel(), spec.stride(), spec.pad());
    }

    @Override
    public String typeName() {
        return "AvgPool2d";
    }

    @Override
    protected Shape infer(Shape input) {
        return MaxPool2d.poolShape("AvgPool2d", input, spec);
    }

    /** A batch norm before this pooling (an activation between them or not) may pool inside its own ops. */
    @Override
    protected PoolSpec fusableAveragePool() {
        return spec;
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return new Step() {
            @Override
            public void forward(boolean training) {
                backend.avgPool2dForward(x, y, spec);
            }

            @Override
            public void backward() {
                if (dx != null) {
                    backend.avgPool2dBackward(dy, dx, spec);
                }
            }
        };
    }

    /** PyTorch's repr, e.g. {@code AvgPool2d(kernel_size=2, stride=2, padding=0)}. */
    @Override
    public String toString() {
        return "AvgPool2d(kernel_size=" + spec.kernel() + ", stride=" + spec.stride() + ", padding=" + spec.pad() + ")";
    }
}
