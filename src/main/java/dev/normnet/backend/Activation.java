package dev.normnet.backend;

import dev.normnet.tensor.Tensor;

/**
 * An element-wise activation that a backend may apply inside the op before it (batch norm: see
 * {@link Backend#batchNormActivationForwardTrain}), so that the pair runs as one pass over the
 * data each way. Its {@link #ordinal()} is the activation's code in the CUDA kernels
 * ({@code NN_ACT_*} in common.cuh).
 */
public enum Activation {
    /** y = x. */
    IDENTITY,
    /** y = 1 / (1 + exp(-x)); the input gradient is dy * y * (1 - y). */
    SIGMOID,
    /** y = max(x, 0); the input gradient is dy where y > 0 (exactly where x > 0), else 0. */
    RELU;

    /** Queues y = act(x) as the activation's own op on {@code backend} (x and y may be the same tensor). */
    public void forward(Backend backend, Tensor x, Tensor y) {
        switch (this) {
            case SIGMOID -> backend.sigmoidForward(x, y);
            case RELU -> backend.reluForward(x, y);
            case IDENTITY -> {
                if (x != y) {
                    backend.copy(x, y);
                }
            }
        }
    }

    /**
     * Queues dx, the gradient of the activation's input, from its output y and the gradient dy
     * of y, as the activation's own op on {@code backend} (dx may be dy).
     */
    public void backward(Backend backend, Tensor y, Tensor dy, Tensor dx) {
        switch (this) {
            case SIGMOID -> backend.sigmoidBackward(y, dy, dx);
            case RELU -> backend.reluBackward(y, dy, dx);
            case IDENTITY -> {
                if (dy != dx) {
                    backend.copy(dy, dx);
                }
            }
        }
    }
}
