package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one batch norm, checked once per call by every backend: x (N, C) or
 * (N, C, H, W), and per-channel tensors (C). Statistics are taken per channel over
 * m = N * HW values, HW being H*W for a 4-D input and 1 for a 2-D one.
 *
 * <p>This record is also the one place that states PyTorch's rule for training: with one value
 * per channel (m == 1) the batch variance is undefined, and training fails with "expected more
 * than 1 value per channel when training" ({@link #requireTrainable}).
 */
public record NormGeometry(int n, int c, int hw) {

    /** Values per channel: N for a 2-D input, N*H*W for a 4-D one. */
    public long m() {
        return (long) n * hw;
    }

    /** Elements of x: N * C * HW. */
    public long size() {
        return (long) n * c * hw;
    }

    /**
     * Throws PyTorch's error when a training-mode batch norm over an input of shape {@code x}
     * (the whole batch, (N, C) or (N, C, H, W)) would see one value per channel.
     *
     * @param who names the op or layer in the message
     */
    public static void requireTrainable(String who, Shape x) {
        if (x.rank() >= 2 && x.size() / x.dim(1) <= 1) {
            throw new IllegalArgumentException(who + ": expected more than 1 value per channel when training, got input shape " + x);
        }
    }

    /** Training mode: x, y (same shape); gamma, beta, runningMean, runningVar, saveMean, saveInvStd (C); m > 1. */
    public static NormGeometry forwardTrain(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                            Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        NormGeometry g = of(op, x, "y", y);
        g.channels(op, x, "gamma", gamma, "beta", beta, "runningMean", runningMean, "runningVar", runningVar,
                "saveMean", saveMean, "saveInvStd", saveInvStd);
        requireTrainable(op, x.shape());
        return g;
    }

    /** Eval mode: x, y (same shape); gamma, beta, runningMean, runningVar (C). */
    public static NormGeometry forwardEval(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                           Tensor runningVar, Tensor y) {
        NormGeometry g = of(op, x, "y", y);
        g.channels(op, x, "gamma", gamma, "beta", beta, "runningMean", runningMean, "runningVar", runningVar);
        return g;
    }

    /** Backward: x, dy, dx (same shape); gamma, saveMean, saveInvStd, dgamma, dbeta (C). */
    public static NormGeometry backward(String op, Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                        Tensor dx, Tensor dgamma, Tensor dbeta) {
        NormGeometry g = of(op, x, "dy", dy);
        of(op, x, "dx", dx);
        g.channels(op, x, "gamma", gamma, "saveMean", saveMean, "saveInvStd", saveInvStd, "dgamma", dgamma, "dbeta", dbeta);
        return g;
    }

    /**
     * Backward of batch norm followed by an activation: as {@link #backward}, dy being the
     * gradient of the activation's output y, which has x's shape too.
     */
    public static NormGeometry activationBackward(String op, Tensor x, Tensor y, Tensor dy, Tensor gamma,
                                                  Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dgamma,
                                                  Tensor dbeta) {
        of(op, x, "y", y);
        return backward(op, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    /**
     * Backward of batch norm, an activation and a pooling, from the pooled output's gradient
     * (checked against the pooling by {@link PoolGeometry}): x, the activation's output y and dx
     * of one shape; gamma, saveMean, saveInvStd, dgamma, dbeta (C).
     */
    public static NormGeometry poolBackward(String op, Tensor x, Tensor y, Tensor gamma, Tensor saveMean,
                                            Tensor saveInvStd, Tensor dx, Tensor dgamma, Tensor dbeta) {
        of(op, x, "y", y);
        return backward(op, x, dx, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    private static NormGeometry of(String op, Tensor x, String yName, Tensor y) {
        Shape xs = Checks.shape(op, "x", x);
        Shape ys = Checks.shape(op, yName, y);
        if ((xs.rank() != 2 && xs.rank() != 4) || !ys.equals(xs)) {
            throw new IllegalArgumentException(op + ": expected x (N, C) or (N, C, H, W) and " + yName
                    + " of the same shape; got x " + xs + ", " + yName + " " + ys);
        }
        Checks.elements(op, "x", xs);
        return new NormGeometry(xs.dim(0), xs.dim(1), xs.rank() == 4 ? xs.dim(2) * xs.dim(3) : 1);
    }

    /** Checks (name, tensor) pairs: each must be (C). */
    private void channels(String op, Tensor x, Object... namesAndTensors) {
        Shape expected = Shape.of(c);
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Shape s = Checks.shape(op, name, (Tensor) namesAndTensors[i + 1]);
            if (!s.equals(expected)) {
                throw new IllegalArgumentException(op + ": expected " + name + " (C) = " + expected + " for x " + x.shape()
                        + ", got " + s);
            }
        }
    }

    @Override
    public String toString() {
        return "x (N " + n + ", C " + c + ", HW " + hw + ")";
    }
}
