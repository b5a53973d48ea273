package dev.normnet.nn;

import dev.normnet.tensor.Shape;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Batch norm folded into the convolution or linear layer before it, for inference.
 *
 * <p>In eval mode a {@link BatchNorm} is an affine map per channel o, with the running statistics:
 * <pre>
 * BN(z)[o] = gamma[o] * (z[o] - running_mean[o]) / sqrt(running_var[o] + eps) + beta[o]
 *          = s[o] * z[o] + (beta[o] - s[o] * running_mean[o]),     s[o] = gamma[o] / sqrt(running_var[o] + eps)
 * </pre>
 * When z is the output of a {@link Conv2d} or {@link Linear}, z[o] = sum(W[o, ...] * x) + b[o], the
 * two compose into one layer of the same shape:
 * <pre>
 * W'[o, ...] = s[o] * W[o, ...]
 * b'[o]      = s[o] * (b[o] - running_mean[o]) + beta[o]        (b[o] = 0 for a layer without bias)
 * </pre>
 * These are the formulas of PyTorch's {@code torch.nn.utils.fusion.fuse_conv_bn_weights} and
 * {@code fuse_linear_bn_weights}. normnet computes each W' and b' in float64 from the float32
 * parameters (eps widened from the layer's float32 value, as the eval-mode batch norm uses it) and
 * rounds once to float32, so each folded value is the float32 nearest to the exact one; PyTorch
 * computes them in float32 (a few roundings each).
 *
 * <p>What folds: every BatchNorm whose layer directly before it is a Conv2d or a Linear. The
 * folded model has the same layers at the same indices, with an {@link Identity} in place of each
 * folded BatchNorm and the layer before it given a bias when it had none. A BatchNorm after any
 * other layer (an activation, a pooling layer, a Flatten, another BatchNorm, or first in the model)
 * is not folded and stays in place with its running statistics. The state_dict names are therefore
 * those of the unfolded model without the folded BatchNorms' entries: LeNet-BN folded keeps
 * {@code 0.weight}, {@code 0.bias}, {@code 4.weight}, ... and has no {@code 1.*}, {@code 5.*},
 * {@code 10.*}, {@code 13.*}; PyTorch loads it into the same {@code nn.Sequential} with
 * {@code nn.Identity()} at those indices (what {@code torch.ao.quantization.fuse_modules} leaves).
 *
 * <p>Folding is for inference only: the folded model computes the eval-mode output of the
 * original, and training it would not be training the original with batch norm.
 */
public final class BatchNormFolding {
    private BatchNormFolding() {
    }

    /** The folded weight (same shape as the layer's) and bias (one per output channel). */
    public record Folded(float[] weight, float[] bias) {
    }

    /**
     * Folds one eval-mode batch norm into the layer before it (see the class comment).
     *
     * @param weight (O, ...) row-major: O rows of {@code weight.length / O} values
     * @param bias   (O), or null for a layer without bias (taken as zeros)
     * @param gamma  (O), and {@code beta}, {@code mean}, {@code var}: the batch norm's weight,
     *               bias, running mean and running variance
     * @param eps    the batch norm's eps
     */
    public static Folded fold(float[] weight, float[] bias, float[] gamma, float[] beta, float[] mean, float[] var, double eps) {
        int channels = gamma.length;
        if (beta.length != channels || mean.length != channels || var.length != channels
                || (bias != null && bias.length != channels) || channels == 0 || weight.length % channels != 0) {
            throw new IllegalArgumentException("batch norm of " + channels + " channels (beta " + beta.length + ", mean "
                    + mean.length + ", var " + var.length + ") cannot fold into a weight of " + weight.length + " values"
                    + (bias == null ? "" : " and a bias of " + bias.length));
        }
        int row = weight.length / channels;
        float[] w = new float[weight.length];
        float[] b = new float[channels];
        for (int o = 0; o < channels; o++) {
            double s = gamma[o] / Math.sqrt((double) var[o] + eps);
            for (int j = 0; j < row; j++) {
                w[o * row + j] = (float) (s * weight[o * row + j]);
            }
            double b0 = bias == null ? 0.0 : bias[o];
            b[o] = (float) (s * (b0 - mean[o]) + beta[o]);
        }
        return new Folded(w, b);
    }

    /** True when layer {@code i} is a BatchNorm that folds into layer {@code i - 1} (a Conv2d or Linear). */
    public static boolean folds(List<Layer> layers, int i) {
        return i > 0 && layers.get(i) instanceof BatchNorm
                && (layers.get(i - 1) instanceof Conv2d || layers.get(i - 1) instanceof Linear);
    }

    /** The indices of the BatchNorm layers that fold (each into the layer before it), in order. */
    public static List<Integer> foldedIndices(List<Layer> layers) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            if (folds(layers, i)) {
                out.add(i);
            }
        }
        return out;
    }

    /**
     * The layers of the folded model, new and unbuilt: an {@link Identity} for each BatchNorm that
     * folds, the layer before it with a bias, every other layer a copy.
     */
    public static List<Layer> foldedLayers(List<Layer> layers) {
        List<Layer> out = new ArrayList<>(layers.size());
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            boolean target = i + 1 < layers.size() && folds(layers, i + 1);
            if (folds(layers, i)) {
                out.add(new Identity());
            } else if (target && layer instanceof Conv2d c) {
                out.add(new Conv2d(c.outChannels(), c.kernel(), c.spec().stride(), c.spec().pad(), true));
            } else if (target && layer instanceof Linear l) {
                out.add(new Linear(l.outFeatures(), true));
            } else {
                out.add(layer.copy());
            }
        }
        return out;
    }

    /**
     * A new model, built on the host for {@code model}'s input shape, holding {@code model}'s
     * eval-mode function with every foldable BatchNorm folded (see the class comment).
     * {@code model} (built; on a backend or not) is not changed. A model with nothing to fold gives
     * a copy.
     */
    public static Sequential fold(Sequential model) {
        List<Layer> layers = model.layers();
        Shape input = model.inputShape();
        Sequential folded = new Sequential(foldedLayers(layers), model.init()).optInputShape(input);
        folded.build(input, 0);
        Map<String, float[]> from = model.state();
        Map<String, float[]> to = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            if (folds(layers, i)) {
                continue;   // folded into layer i - 1, which was handled with it
            }
            if (i + 1 < layers.size() && folds(layers, i + 1)) {
                BatchNorm bn = (BatchNorm) layers.get(i + 1);
                String n = (i + 1) + ".";
                Folded f = fold(from.get(i + ".weight"), from.get(i + ".bias"), from.get(n + "weight"), from.get(n + "bias"),
                        from.get(n + "running_mean"), from.get(n + "running_var"), bn.eps());
                to.put(i + ".weight", f.weight());
                to.put(i + ".bias", f.bias());
                continue;
            }
            String prefix = i + ".";
            from.forEach((name, v) -> {
                if (name.startsWith(prefix)) {
                    to.put(name, v);
                }
            });
        }
        folded.loadState(to);
        return folded;
    }
}
