package dev.normnet.nn;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/** y = 1 / (1 + exp(-x)), element by element; dx = dy * y * (1 - y). Any shape. */
public final class Sigmoid extends Layer {
    @Override
    protected Layer copy() {
        return new Sigmoid();
    }

    @Override
    public String typeName() {
        return "Sigmoid";
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
        return Activation.SIGMOID;
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return new Step() {
            @Override
            public void forward(boolean training) {
                backend.sigmoidForward(x, y);
            }

            @Override
            public void backward() {
                if (dx != null) {
                    backend.sigmoidBackward(y, dy, dx);
                }
            }
        };
    }

    @Override
    public String toString() {
        return "Sigmoid()";
    }
}
