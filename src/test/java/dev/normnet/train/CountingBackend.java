package dev.normnet.train;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * A backend that delegates every op and counts device allocations; once {@link #forbidAllocation()}
 * is called, any allocation fails the test. Also counts captures.
 */
final class CountingBackend implements Backend {
    private final Backend inner;
    private boolean forbidden;
    int allocations;
    int captures;

    CountingBackend(Backend inner) {
        this.inner = inner;
    }

    void forbidAllocation() {
        forbidden = true;
    }

    private void count(String what) {
        allocations++;
        if (forbidden) {
            throw new AssertionError(what + " called in steady state");
        }
    }

    @Override
    public Tensor allocate(Shape shape) {
        count("allocate" + shape);
        return inner.allocate(shape);
    }

    @Override
    public Tensor upload(float[] values, Shape shape) {
        count("upload" + shape);
        return inner.upload(values, shape);
    }

    @Override
    public ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        count("uploadImages");
        return inner.uploadImages(pixels, labels, count, height, width);
    }

    @Override
    public Runnable capture(Runnable step) {
        captures++;
        return inner.capture(step);
    }

    @Override
    public void close() {
        inner.close();
    }

    @Override
    public boolean isClosed() {
        return inner.isClosed();
    }

    @Override
    public Device device() {
        return inner.device();
    }

    @Override
    public String describe() {
        return inner.describe();
    }

    @Override
    public void fill(Tensor t, float value) {
        inner.fill(t, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        inner.copy(src, dst);
    }

    @Override
    public void addScalar(Tensor t, int index, float delta) {
        inner.addScalar(t, index, delta);
    }

    @Override
    public void synchronize() {
        inner.synchronize();
    }

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        inner.conv2dForward(x, w, b, y, spec);
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        inner.conv2dBackwardData(dy, w, dx, spec);
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        inner.conv2dBackwardFilter(x, dy, dw, db, spec);
    }

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        inner.linearForward(x, w, b, y);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        inner.linearBackwardData(dy, w, dx);
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        inner.linearBackwardWeight(x, dy, dw, db);
    }

    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        inner.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps);
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y, float eps) {
        inner.batchNormForwardEval(x, gamma, beta, runningMean, runningVar, y, eps);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dgamma, Tensor dbeta) {
        inner.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        inner.avgPool2dForward(x, y, spec);
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        inner.avgPool2dBackward(dy, dx, spec);
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        inner.maxPool2dForward(x, y, spec);
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        inner.maxPool2dBackward(x, dy, dx, spec);
    }

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        inner.sigmoidForward(x, y);
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        inner.sigmoidBackward(y, dy, dx);
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        inner.reluForward(x, y);
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        inner.reluBackward(x, dy, dx);
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        inner.softmaxCrossEntropy(logits, labels, dlogits, metrics);
    }

    @Override
    public void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        inner.sgdStep(params, grads, velocity, hyper, momentum, weightDecay);
    }

    @Override
    public void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper, float beta1, float beta2, float eps, float weightDecay) {
        inner.adamStep(params, grads, m, v, hyper, beta1, beta2, eps, weightDecay);
    }

    @Override
    public void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        inner.gatherBatch(images, order, cursor, x, labels);
    }
}
