package dev.normnet.backend.cuda;

import dev.normnet.backend.Activation;
import dev.normnet.backend.ElementwiseGeometry;
import dev.normnet.backend.NormGeometry;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of batchnorm.cu: x (N, C) or (N, C, H, W), per-channel tensors (C), statistics per
 * channel over m = N*H*W values (PyTorch's conventions: biased variance to normalize, unbiased
 * for the running variance; see {@link NormGeometry}). Each channel is split over G blocks; the
 * last block of each channel to finish (a ticket per channel: {@link OpContext#tickets}) merges
 * the channel's partials in fixed order, so each reduction is one launch. An activation after the
 * batch norm rides on the element-wise kernels ({@code act}: the normalize pass writes act(y); the backward passes
 * take the activation's output and gradient).
 */
final class CudaBatchNorm {
    private final OpContext ctx;
    private final Kernel stats;
    private final Kernel normalize;
    private final Kernel forwardEval;
    private final Kernel backwardReduce;
    private final Kernel backwardDx;

    CudaBatchNorm(OpContext ctx) {
        this.ctx = ctx;
        stats = ctx.kernel("batchnorm_stats");
        normalize = ctx.kernel("batchnorm_normalize");
        forwardEval = ctx.kernel("batchnorm_forward_eval");
        backwardReduce = ctx.kernel("batchnorm_backward_reduce");
        backwardDx = ctx.kernel("batchnorm_backward_dx");
    }

    /**
     * Batch statistics (partials (C, G, 3) merged by each channel's last block: running
     * statistics, saveMean, saveInvStd, and batchesTracked[0] += 1 when batchesTracked is not
     * null), then y = act(...): two launches.
     */
    void forwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps, Tensor batchesTracked,
                      Activation act) {
        String op = "batchNormForwardTrain";
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cg = ctx.cuda(op, "gamma", gamma);
        CudaTensor cb = ctx.cuda(op, "beta", beta);
        CudaTensor crm = ctx.cuda(op, "runningMean", runningMean);
        CudaTensor crv = ctx.cuda(op, "runningVar", runningVar);
        CudaTensor cy = ctx.cuda(op, "y", y);
        CudaTensor csm = ctx.cuda(op, "saveMean", saveMean);
        CudaTensor csi = ctx.cuda(op, "saveInvStd", saveInvStd);
        NormGeometry g = NormGeometry.forwardTrain(op, cx, cg, cb, crm, crv, cy, csm, csi);
        CudaTensor cbt = ctx.cudaOrNull(op, "batchesTracked", batchesTracked);
        if (cbt != null) {
            ElementwiseGeometry.index(op, cbt, 0);
        }
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(g.m());
        CUdeviceptr partials = ctx.scratch("batchnorm_stats", 3L * g.c() * split.groups());  // (C, G, 3)
        ctx.launch(stats, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).raw(partials).raw(ctx.tickets(g.c())).i(g.n()).i(g.c()).i(g.hw()).i(split.chunk())
                        .l(g.m()).ptr(crm).ptr(crv).ptr(csm).ptr(csi).ptrOrNull(cbt).f(momentum).f(eps));
        int total = Math.toIntExact(g.size());
        ctx.launch(normalize, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cg).ptr(cb).ptr(csm).ptr(csi).ptr(cy).i(g.c()).i(g.hw()).i(total)
                        .i(act.ordinal()));
    }

    /** y = act(...) from the running statistics, one element-wise launch. */
    void forwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y, float eps,
                     Activation act) {
        String op = "batchNormForwardEval";
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cg = ctx.cuda(op, "gamma", gamma);
        CudaTensor cb = ctx.cuda(op, "beta", beta);
        CudaTensor crm = ctx.cuda(op, "runningMean", runningMean);
        CudaTensor crv = ctx.cuda(op, "runningVar", runningVar);
        CudaTensor cy = ctx.cuda(op, "y", y);
        NormGeometry g = NormGeometry.forwardEval(op, cx, cg, cb, crm, crv, cy);
        int total = Math.toIntExact(g.size());
        ctx.launch(forwardEval, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cg).ptr(cb).ptr(crm).ptr(crv).ptr(cy).i(g.c()).i(g.hw()).i(total).f(eps)
                        .i(act.ordinal()));
    }

    /**
     * sum(dy) and sum(dy * xhat) per channel (partials (C, G, 2) merged by each channel's last
     * block: dbeta, dgamma), then dx: two launches; dy is the batch norm's output gradient, found
     * from the activation's output ay and its gradient ady (ay is not read, and may be null, for
     * the identity).
     */
    void backward(String op, Tensor x, Tensor ay, Tensor ady, Activation act, Tensor gamma, Tensor saveMean,
                  Tensor saveInvStd, Tensor dx, Tensor dgamma, Tensor dbeta) {
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cdy = ctx.cuda(op, "dy", ady);
        CudaTensor cay = act == Activation.IDENTITY ? ctx.cudaOrNull(op, "y", ay) : ctx.cuda(op, "y", ay);
        CudaTensor cg = ctx.cuda(op, "gamma", gamma);
        CudaTensor csm = ctx.cuda(op, "saveMean", saveMean);
        CudaTensor csi = ctx.cuda(op, "saveInvStd", saveInvStd);
        CudaTensor cdx = ctx.cuda(op, "dx", dx);
        CudaTensor cdg = ctx.cuda(op, "dgamma", dgamma);
        CudaTensor cdb = ctx.cuda(op, "dbeta", dbeta);
        NormGeometry g = act == Activation.IDENTITY ? NormGeometry.backward(op, cx, cdy, cg, csm, csi, cdx, cdg, cdb)
                : NormGeometry.activationBackward(op, cx, cay, cdy, cg, csm, csi, cdx, cdg, cdb);
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(g.m());
        CUdeviceptr partials = ctx.scratch("batchnorm_backward", 2L * g.c() * split.groups());  // (C, G, 2)
        ctx.launch(backwardReduce, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(csm).ptr(csi).raw(partials).raw(ctx.tickets(g.c()))
                        .ptr(cdg).ptr(cdb).i(g.n()).i(g.c()).i(g.hw()).i(split.chunk()).i(act.ordinal()));
        int total = Math.toIntExact(g.size());
        ctx.launch(backwardDx, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(cg).ptr(csm).ptr(csi).ptr(cdg).ptr(cdb).ptr(cdx)
                        .i(g.c()).i(g.hw()).i(total).f((float) g.m()).i(act.ordinal()));
    }
}
