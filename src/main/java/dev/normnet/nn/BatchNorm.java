package dev.normnet.nn;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.NormGeometry;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Batch normalization with PyTorch's semantics ({@code nn.BatchNorm1d} for a per-sample input
 * (C), {@code nn.BatchNorm2d} for (C, H, W); chosen by the input rank, lazily sized like
 * {@code nn.LazyBatchNorm2d}).
 *
 * <p>Statistics are per channel over m = N values (2-D input) or m = N*H*W values (4-D input).
 * <pre>
 * training:  mean = sum(x) / m,  var = sum((x - mean)^2) / m           (biased, for normalizing)
 *            y = gamma * (x - mean) / sqrt(var + eps) + beta
 *            running_mean = (1 - momentum) * running_mean + momentum * mean
 *            running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)   (unbiased)
 *            num_batches_tracked += 1
 * eval:      y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
 * </pre>
 * Defaults as PyTorch: momentum 0.1 weighting the <em>new</em> value, eps 1e-5 inside the square
 * root, gamma 1, beta 0, running mean 0, running variance 1, num_batches_tracked 0. Training with
 * m == 1 fails with PyTorch's message "expected more than 1 value per channel when training".
 *
 * <p>This is PyTorch's {@code nn.BatchNorm} convention, so checkpoints and numbers carry over.
 * It differs from the from-scratch {@code batch_norm} of d2l 7.5 that the reference code follows,
 * which writes {@code moving = momentum * moving + (1 - momentum) * batch} with
 * {@code momentum = 0.9} (the momentum weights the <em>old</em> value), updates the running
 * variance with the <em>biased</em> batch variance, keeps no batch counter, and in some versions
 * starts the running variance at 0. The old/new weighting (0.9 / 0.1) is the same as here with the
 * defaults; the running variance differs by the factor m / (m - 1).
 *
 * <p>State names (PyTorch's): parameters {@code weight} (gamma) and {@code bias} (beta); buffers
 * {@code running_mean}, {@code running_var}, {@code num_batches_tracked} (a float holding the count).
 */
public final class BatchNorm extends Layer {
    /** PyTorch's default momentum (weight of the new batch statistic). */
    public static final float DEFAULT_MOMENTUM = 0.1f;
    /** PyTorch's default epsilon, added to the variance inside the square root. */
    public static final float DEFAULT_EPS = 1e-5f;

    private final float momentum;
    private final float eps;
    private int channels = -1;
    private int inputRank = -1;

    public BatchNorm() {
        this(DEFAULT_MOMENTUM, DEFAULT_EPS);
    }

    public BatchNorm(float momentum, float eps) {
        if (!(momentum >= 0 && momentum <= 1)) throw new IllegalArgumentException("BatchNorm: momentum must be in [0, 1], got " + momentum);
        if (!(eps > 0)) throw new IllegalArgumentException("BatchNorm: eps must be > 0, got " + eps);
        this.momentum = momentum;
        this.eps = eps;
    }

    public float momentum() {
        return momentum;
    }

    public float eps() {
        return eps;
    }

    public int channels() {
        return channels;
    }

    @Override
    protected Layer copy() {
        return new BatchNorm(momentum, eps);
    }

    @Override
    public String typeName() {
        return inputRank == 3 ? "BatchNorm2d" : "BatchNorm1d";
    }

    @Override
    protected Shape infer(Shape input) {
        if (input.rank() != 1 && input.rank() != 3) {
            throw new IllegalArgumentException("BatchNorm expects a per-sample input (C) or (C, H, W), got " + input);
        }
        inputRank = input.rank();
        channels = input.dim(0);
        return input;
    }

    @Override
    public List<Entry> parameterEntries() {
        return List.of(new Entry("weight", Shape.of(channels)), new Entry("bias", Shape.of(channels)));
    }

    @Override
    public List<Entry> bufferEntries() {
        return List.of(new Entry("running_mean", Shape.of(channels)), new Entry("running_var", Shape.of(channels)),
                new Entry("num_batches_tracked", Shape.of()));
    }

    @Override
    protected void initialize(float[][] params, float[][] buffers, SplittableRandom rng, Init init) {
        java.util.Arrays.fill(params[0], 1f);   // gamma
        java.util.Arrays.fill(buffers[1], 1f);  // running_var
    }

    /** PyTorch's rule, stated once in {@link NormGeometry#requireTrainable}: training needs m > 1 values per channel. */
    @Override
    protected void checkTrainingBatch(String who, Shape x) {
        NormGeometry.requireTrainable(who, x);
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        Tensor gamma = param(0);
        Tensor beta = param(1);
        Tensor runningMean = buffer(0);
        Tensor runningVar = buffer(1);
        Tensor batchesTracked = buffer(2);
        // Per-plan scratch, allocated once: the statistics the backward pass reuses.
        Tensor saveMean = scratch.allocate(Shape.of(channels));     // (C)
        Tensor saveInvStd = scratch.allocate(Shape.of(channels));   // (C)
        Tensor dgamma = dy == null ? null : grad(0);
        Tensor dbeta = dy == null ? null : grad(1);
        // The backend needs somewhere to write dx even when no layer reads it (BatchNorm first).
        Tensor dxOut = dy == null || dx != null ? dx : scratch.allocate(x.shape());
        return new Step() {
            @Override
            public void forward(boolean training) {
                if (training) {
                    backend.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps,
                            batchesTracked);
                } else {
                    backend.batchNormForwardEval(x, gamma, beta, runningMean, runningVar, y, eps);
                }
            }

            @Override
            public void backward() {
                backend.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dxOut, dgamma, dbeta);
            }

            /** The backend's batch norm with the activation ({@link Backend#batchNormActivationForwardTrain}). */
            @Override
            protected Step fuse(Activation act, Tensor actY, Tensor actDy) {
                return new Step() {
                    @Override
                    public void forward(boolean training) {
                        if (training) {
                            backend.batchNormActivationForwardTrain(x, gamma, beta, runningMean, runningVar, actY,
                                    saveMean, saveInvStd, momentum, eps, batchesTracked, act);
                        } else {
                            backend.batchNormActivationForwardEval(x, gamma, beta, runningMean, runningVar, actY, eps,
                                    act);
                        }
                    }

                    @Override
                    public void backward() {
                        backend.batchNormActivationBackward(x, actY, actDy, act, gamma, saveMean, saveInvStd, dxOut,
                                dgamma, dbeta);
                    }

                    @Override
                    protected Step fusePool(PoolSpec spec, Tensor pooled, Tensor dPooled) {
                        return pooledStep(act, actY, spec, pooled, dPooled);
                    }
                };
            }

            /** The backend's batch norm with the pooling ({@link Backend#batchNormActivationPoolForwardTrain}). */
            @Override
            protected Step fusePool(PoolSpec spec, Tensor pooled, Tensor dPooled) {
                return pooledStep(Activation.IDENTITY, y, spec, pooled, dPooled);
            }

            /** act's output actY is the pooling's input. */
            private Step pooledStep(Activation act, Tensor actY, PoolSpec spec, Tensor pooled, Tensor dPooled) {
                return new Step() {
                    @Override
                    public void forward(boolean training) {
                        if (training) {
                            backend.batchNormActivationPoolForwardTrain(x, gamma, beta, runningMean, runningVar, actY,
                                    saveMean, saveInvStd, momentum, eps, batchesTracked, act, spec, pooled);
                        } else {
                            backend.batchNormActivationPoolForwardEval(x, gamma, beta, runningMean, runningVar, actY,
                                    eps, act, spec, pooled);
                        }
                    }

                    @Override
                    public void backward() {
                        backend.batchNormActivationPoolBackward(x, actY, dPooled, spec, act, gamma, saveMean,
                                saveInvStd, dxOut, dgamma, dbeta);
                    }
                };
            }
        };
    }

    /** PyTorch's repr, e.g. {@code BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)}. */
    @Override
    public String toString() {
        return (inputRank < 0 ? "BatchNorm" : typeName()) + "(" + (channels < 0 ? "?" : Integer.toString(channels))
                + ", eps=" + pythonFloat(this.eps) + ", momentum=" + pythonFloat(momentum) + ", affine=True, track_running_stats=True)";
    }

    /** Formats like Python's repr of a float rounded from float32 (1e-05, 0.1). */
    static String pythonFloat(float v) {
        String s = Float.toString(v);          // 1.0E-5, 0.1
        int e = s.indexOf('E');
        if (e < 0) {
            return s;
        }
        String mant = s.substring(0, e).replaceFirst("\\.0$", "");
        int exp = Integer.parseInt(s.substring(e + 1));
        return mant + "e" + (exp < 0 ? "-" : "+") + String.format(java.util.Locale.ROOT, "%02d", Math.abs(exp));
    }
}
