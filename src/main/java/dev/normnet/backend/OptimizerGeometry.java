package dev.normnet.backend;

import dev.normnet.tensor.Tensor;

/**
 * The size of one optimizer update over flat buffers, checked once per call by every backend:
 * params, grads and the state buffers hold n elements each; hyper holds the hyper-parameters
 * read on the device (lr, and for Adam the step count).
 */
public record OptimizerGeometry(int n) {

    /** SGD: velocity is required (and checked) only when momentum != 0; hyper holds lr. */
    public static OptimizerGeometry sgd(String op, Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum) {
        int n = Checks.sameSize(op, "params", params, "grads", grads);
        if (momentum != 0f) {
            Checks.sameSize(op, "params", params, "velocity (required when momentum != 0)", velocity);
        }
        if (Checks.shape(op, "hyper", hyper).size() < 1) {
            throw new IllegalArgumentException(op + ": hyper must hold lr at index 0, got shape " + hyper.shape());
        }
        return new OptimizerGeometry(n);
    }

    /** Adam: m and v of params' size; hyper holds lr and the step count t. */
    public static OptimizerGeometry adam(String op, Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper) {
        int n = Checks.sameSize(op, "params", params, "grads", grads);
        Checks.sameSize(op, "params", params, "m", m);
        Checks.sameSize(op, "params", params, "v", v);
        if (Checks.shape(op, "hyper", hyper).size() < 2) {
            throw new IllegalArgumentException(op + ": hyper must hold lr and the step count t, got shape " + hyper.shape());
        }
        return new OptimizerGeometry(n);
    }
}
