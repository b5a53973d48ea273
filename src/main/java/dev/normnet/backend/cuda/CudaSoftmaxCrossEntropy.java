package dev.normnet.backend.cuda;

import dev.normnet.backend.LossGeometry;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of softmax_ce.cu: the fused softmax cross-entropy over logits (N, K) and labels
 * (N), one launch. One warp per row writes the row's loss and correctness to scratch (and
 * dlogits, when wanted); the last block to finish adds them, in fixed order, to metrics (2) =
 * (loss sum, correct count).
 */
final class CudaSoftmaxCrossEntropy {
    private final OpContext ctx;
    private final Kernel softmaxCe;

    CudaSoftmaxCrossEntropy(OpContext ctx) {
        this.ctx = ctx;
        softmaxCe = ctx.kernel("softmax_ce");
    }

    void forwardBackward(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        String op = "softmaxCrossEntropy";
        CudaTensor cl = ctx.cuda(op, "logits", logits);       // (N, K)
        CudaTensor cy = ctx.cuda(op, "labels", labels);       // (N)
        CudaTensor cd = ctx.cudaOrNull(op, "dlogits", dlogits);  // (N, K) or null
        CudaTensor cm = ctx.cuda(op, "metrics", metrics);     // (2)
        LossGeometry g = LossGeometry.softmaxCrossEntropy(op, cl, cy, cd, cm);
        CudaTensor.requireDisjoint(op, "dlogits", cd, "labels", cy, "metrics", cm);
        if (cd != null && cd.overlaps(cl) && (cd.offset() != cl.offset() || cd.size() != cl.size())) {
            // in place, each lane writes the classes it read; a shifted window would write rows other warps read
            throw new IllegalArgumentException(op + ": dlogits " + cd.shape() + " overlaps logits " + cl.shape()
                    + " without being the same elements; the gradient may be written over the logits only in place");
        }
        CudaTensor.requireDisjoint(op, "metrics", cm, "logits", cl, "labels", cy);
        CUdeviceptr rowLoss = ctx.scratch("softmax_ce rows", 2L * g.n());  // (2, N): loss, then correct
        CUdeviceptr rowCorrect = rowLoss.withByteOffset((long) g.n() * Float.BYTES);
        ctx.launch(softmaxCe, LaunchGeometry.softmaxBlocks(g.n()), 1, 1, 32 * LaunchGeometry.SOFTMAX_ROWS_PER_BLOCK, 0, g,
                OpContext.args().ptr(cl).ptr(cy).ptrOrNull(cd).raw(rowLoss).raw(rowCorrect).raw(ctx.tickets(1)).ptr(cm)
                        .i(g.n()).i(g.k()));
    }
}
