package dev.normnet.train;

import dev.normnet.nn.Sequential;

/**
 * Looks inside training on chosen steps ({@link Trainer.Builder#optWatcher}). The trainer asks
 * {@link #watches} before each step; a watched step queues the same ops as any other, but runs
 * eagerly (never as a captured graph) so that the watcher can read tensors back between them:
 * <ol>
 *   <li>{@link #beforeStep};</li>
 *   <li>{@link #beforeLayer} for each layer, its input still intact (see
 *       {@link Sequential.Plan#forward(boolean, Sequential.LayerObserver)});</li>
 *   <li>{@link #afterBackward}: the parameter gradients of this step, before the optimizer uses them;</li>
 *   <li>{@link #afterStep}: parameters and running statistics after the update.</li>
 * </ol>
 * {@link #afterEpoch} follows every epoch's training phase, watched steps or not. A watcher only
 * reads: training computes the same bits with or without one. Steps are counted from 1 over the
 * whole run: step = (epoch - 1) * (batches per epoch) + batch.
 */
public interface Watcher extends Sequential.LayerObserver {
    /** Whether step {@code step} (from 1) is watched. */
    boolean watches(long step);

    /** A watched step of {@code epoch} (from 1) starts; {@code model} is built and on the trainer's backend. */
    void beforeStep(long step, int epoch, Sequential model);

    /** After the backward pass of the watched step: {@link Sequential#gradients()} holds its gradients. */
    void afterBackward(Sequential model);

    /** After the optimizer step of the watched step. */
    void afterStep(Sequential model);

    /** After the training phase of {@code epoch} (before its evaluation). */
    void afterEpoch(int epoch, Sequential model);
}
