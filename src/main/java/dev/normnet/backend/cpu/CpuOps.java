package dev.normnet.backend.cpu;

import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.LinearGeometry;
import dev.normnet.backend.NormGeometry;
import dev.normnet.backend.PoolGeometry;

/**
 * The op families a CPU backend is made of, each checked (shapes, by the geometry records) and
 * converted to {@link CpuTensor}s by {@link CpuBackend} before it is called. The reference path
 * has one implementation per family ({@link CpuConv2d}, {@link CpuLinear}, {@link CpuBatchNorm},
 * {@link CpuPooling}, {@link CpuElementwise}); the fast path replaces them with
 * {@link VectorConv2d}, {@link VectorLinear}, {@link VectorBatchNorm}, {@link VectorPooling} and
 * {@link VectorElementwise}, each of which names the shapes it hands to the reference. Softmax
 * cross-entropy, the optimizers and the batch gather have one CPU implementation, used by both.
 */
record CpuOps(Conv2d conv2d, Linear linear, BatchNorm batchNorm, Pooling pooling, Elementwise elementwise) {

    /** The reference implementation of every family, sharing {@code pool}. */
    static CpuOps reference(WorkerPool pool) {
        return new CpuOps(new CpuConv2d(pool), new CpuLinear(pool), new CpuBatchNorm(pool), new CpuPooling(pool),
                new CpuElementwise(pool));
    }

    /** Convolution: forward, and the gradients with respect to the input and to the filter and bias. */
    interface Conv2d {
        void forward(CpuTensor x, CpuTensor w, CpuTensor b, CpuTensor y, ConvGeometry g);

        void backwardData(CpuTensor dy, CpuTensor w, CpuTensor dx, ConvGeometry g);

        void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dw, CpuTensor db, ConvGeometry g);
    }

    /** Linear layer (GEMM): forward, and the gradients with respect to the input and to the weight and bias. */
    interface Linear {
        void forward(CpuTensor x, CpuTensor w, CpuTensor b, CpuTensor y, LinearGeometry g);

        void backwardData(CpuTensor dy, CpuTensor w, CpuTensor dx, LinearGeometry g);

        void backwardWeight(CpuTensor x, CpuTensor dy, CpuTensor dw, CpuTensor db, LinearGeometry g);
    }

    /** Batch norm in training and eval mode, and its backward pass. */
    interface BatchNorm {
        void forwardTrain(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor runningMean, CpuTensor runningVar,
                          CpuTensor y, CpuTensor saveMean, CpuTensor saveInvStd, float momentum, float eps, NormGeometry g);

        void forwardEval(CpuTensor x, CpuTensor gamma, CpuTensor beta, CpuTensor runningMean, CpuTensor runningVar,
                         CpuTensor y, float eps, NormGeometry g);

        void backward(CpuTensor x, CpuTensor dy, CpuTensor gamma, CpuTensor saveMean, CpuTensor saveInvStd,
                      CpuTensor dx, CpuTensor dgamma, CpuTensor dbeta, NormGeometry g);
    }

    /** Average and max pooling, forward and backward. */
    interface Pooling {
        void avgForward(CpuTensor x, CpuTensor y, PoolGeometry g);

        void avgBackward(CpuTensor dy, CpuTensor dx, PoolGeometry g);

        void maxForward(CpuTensor x, CpuTensor y, PoolGeometry g);

        void maxBackward(CpuTensor x, CpuTensor dy, CpuTensor dx, PoolGeometry g);
    }

    /** The activations, over n elements. */
    interface Elementwise {
        void sigmoidForward(CpuTensor x, CpuTensor y, int n);

        void sigmoidBackward(CpuTensor y, CpuTensor dy, CpuTensor dx, int n);

        void reluForward(CpuTensor x, CpuTensor y, int n);

        void reluBackward(CpuTensor x, CpuTensor dy, CpuTensor dx, int n);
    }
}
