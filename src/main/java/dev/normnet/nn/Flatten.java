package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * Flattens each sample to a vector, (N, C, H, W) to (N, C*H*W), as PyTorch's {@code nn.Flatten}.
 * The output is a view of the input (row-major data needs no copy), and so is the gradient.
 */
public final class Flatten extends Layer {
    @Override
    protected Layer copy() {
        return new Flatten();
    }

    @Override
    public String typeName() {
        return "Flatten";
    }

    @Override
    protected Shape infer(Shape input) {
        return Shape.of(input.sizeInt());
    }

    @Override
    protected boolean isView() {
        return true;
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return NO_OP;
    }

    @Override
    public String toString() {
        return "Flatten(start_dim=1, end_dim=-1)";
    }
}
