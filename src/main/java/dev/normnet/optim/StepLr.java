package dev.normnet.optim;

/**
 * PyTorch's {@code StepLR(optimizer, step_size, gamma)} stepped once per epoch: the learning rate
 * for epoch e (0-based) is
 * <pre>
 * lr(e) = baseLr * gamma^floor(e / stepSize)
 * </pre>
 * The trainer writes it into the optimizer's device-side {@code hyper[0]} before each epoch.
 */
public final class StepLr implements LrScheduler {
    private final int stepSize;
    private final float gamma;

    public StepLr(int stepSize, float gamma) {
        if (stepSize < 1) throw new IllegalArgumentException("StepLr: stepSize must be >= 1, got " + stepSize);
        if (!(gamma > 0)) throw new IllegalArgumentException("StepLr: gamma must be > 0, got " + gamma);
        this.stepSize = stepSize;
        this.gamma = gamma;
    }

    public int stepSize() {
        return stepSize;
    }

    public float gamma() {
        return gamma;
    }

    @Override
    public float learningRate(float baseLr, int epoch) {
        if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        return (float) (baseLr * Math.pow(gamma, epoch / stepSize));
    }
}
