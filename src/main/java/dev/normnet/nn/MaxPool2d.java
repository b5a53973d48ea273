package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * Max pooling as PyTorch's {@code nn.MaxPool2d} (ceil_mode=False; padding never wins):
 * y[n, c, p, q] = max of the kernel x kernel window of x at (p*stride - pad, q*stride - pad).
 * The backward pass sends each window's gradient to its first maximum in row-major order.
 * x (N, C, H, W), y (N, C, P, Q) with P = (H + 2 pad - kernel) / stride + 1.
 */
public final class MaxPool2d extends Layer {
    private final PoolSpec spec;

    /** kernel x kernel windows, stride = kernel, as PyTorch's default. */
    public MaxPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    public MaxPool2d(int kernel, int stride) {
        this(kernel, stride, 0);
    }

    public MaxPool2d(int kernel, int stride, int padding) {
        this.spec = new PoolSpec(kernel, stride, padding);
    }

    public PoolSpec spec() {
        return spec;
    }

    @Override
    protected Layer copy() {
        return new MaxPool2d(spec.kernel(), spec.stride(), spec.pad());
    }

    @Override
    public String typeName() {
        return "MaxPool2d";
    }

    @Override
    protected Shape infer(Shape input) {
        return poolShape("MaxPool2d", input, spec);
    }

    static Shape poolShape(String layer, Shape input, PoolSpec spec) {
        requireRank(layer, input, 3);
        try {
            return Shape.of(input.dim(0), spec.outSize(input.dim(1)), spec.outSize(input.dim(2)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(layer + ": input " + input + ": " + e.getMessage(), e);
        }
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return new Step() {
            @Override
            public void forward(boolean training) {
                backend.maxPool2dForward(x, y, spec);
            }

            @Override
            public void backward() {
                if (dx != null) {
                    backend.maxPool2dBackward(x, dy, dx, spec);
                }
            }
        };
    }

    /** PyTorch's repr, e.g. {@code MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)}. */
    @Override
    public String toString() {
        return "MaxPool2d(kernel_size=" + spec.kernel() + ", stride=" + spec.stride() + ", padding=" + spec.pad()
                + ", dilation=1, ceil_mode=False)";
    }
}
