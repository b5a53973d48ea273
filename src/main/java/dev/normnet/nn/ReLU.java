package dev.normnet.nn;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/** y = max(x, 0), element by element; dx = x > 0 ? dy : 0. Any shape. Named as PyTorch's {@code nn.ReLU}. */
public final class ReLU extends Layer {
    @Override
    protected Layer copy() {
        return new ReLU();
    }

    @Override
    public String typeName() {
        return "ReLU";
    }

    @Override
    protected Shape infer(Shape input) {
        return input;
    }

    @Override
    protected boolean isInPlaceCapable() {
        return true;
    }

    @Override
    protected Activation fusableActivation() {
        return Activation.RELU;
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return new Step() {
            @Override
            public void forward(boolean training) {
                backend.reluForward(x, y);
            }

            @Override
            public void backward() {
                if (dx != null) {
                    backend.reluBackward(x, dy, dx);
                }
            }
        };
    }

    @Override
    public String toString() {
        return "ReLU()";
    }
}
