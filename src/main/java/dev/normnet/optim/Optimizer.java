package dev.normnet.optim;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Tensor;

import java.util.Map;

/**
 * Updates all parameters of a model in one backend call per step, over the model's flat
 * parameter and gradient tensors (see {@code Sequential.parameters()}).
 *
 * <p>The learning rate lives on the device in {@code hyper[0]}, where the step reads it; changing
 * it between epochs ({@link #setLearningRate}) therefore needs no re-capture of a captured step.
 */
public interface Optimizer extends AutoCloseable {
    /**
     * Binds to flat {@code params} and {@code grads} of equal size on {@code backend} and allocates
     * the optimizer state there (zeros), once. Binding again (another model or backend) starts from
     * fresh state.
     */
    void attach(Backend backend, Tensor params, Tensor grads);

    /**
     * A new optimizer of this kind with this one's settings (base learning rate, momentum or betas,
     * weight decay), not attached: it shares no state with this one.
     */
    Optimizer copy();

    /** Queues one update of every parameter from the current gradients; allocates nothing. */
    void step();

    /** The learning rate the optimizer was built with. */
    float baseLearningRate();

    /** The learning rate in effect. */
    float learningRate();

    /** Sets the learning rate (written to the device, outside any captured step). */
    void setLearningRate(float lr);

    /**
     * A host copy of the state the steps so far have built, by PyTorch's names for it (each
     * optimizer's comment lists them); empty when it keeps none. The learning rate is not part of
     * it (a schedule sets it per epoch). Reading waits for queued steps. Requires {@link #attach}.
     */
    Map<String, float[]> state();

    /**
     * Replaces the state with {@code state} (as {@link #state()} returned it, for the same number
     * of parameters) by copying into the tensors {@link #attach} allocated, so a captured step stays
     * valid. Everything is checked before anything is written: the exact set of names, each length,
     * every value finite (and whatever else the optimizer's comment adds).
     *
     * @throws IllegalArgumentException naming the tensor at fault; the state is then unchanged
     */
    void loadState(Map<String, float[]> state);

    /** Frees the optimizer state on the device. */
    @Override
    void close();
}
