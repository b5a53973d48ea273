package dev.normnet.backend.cuda;

import dev.normnet.backend.Activation;
import dev.normnet.backend.ElementwiseGeometry;
import dev.normnet.backend.NormGeometry;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of batchnorm.cu: x (N, C) or (N, C, H, W), per-channel tensors (C), statistics per
 * channel over m = N*H*W values (PyTorch's conventions: biased variance to normalize, unbiased
 * for the running variance; see {@link NormGeometry}). Each channel is split over G blocks whose
 * partials a finalize kernel merges in fixed order. An activation after the batch norm rides on
 * the element-wise kernels ({@code act}: the normalize pass writes act(y); the backward passes
 * take the activation's output and gradient).
 */
final class CudaBatchNorm {
    private final OpContext ctx;
    private final Kernel statsPartial;
    private final Kernel statsFinalize;
    private final Kernel normalize;
    private final Kernel forwardEval;
    private final Kernel backwardPartial;
    private final Kernel backwardFinalize;
    private final Kernel backwardDx;

    CudaBatchNorm(OpContext ctx) {
        this.ctx = ctx;
        statsPartial = ctx.kernel("batchnorm_stats_partial");
        statsFinalize = ctx.kernel("batchnorm_stats_finalize");
        normalize = ctx.kernel("batchnorm_normalize");
        forwardEval = ctx.kernel("batchnorm_forward_eval");
        backwardPartial = ctx.kernel("batchnorm_backward_partial");
        backwardFinalize = ctx.kernel("batchnorm_backward_finalize");
        backwardDx = ctx.kernel("batchnorm_backward_dx");
    }

    /**
     * Batch statistics (partials (C, G, 3), then finalize: running statistics, saveMean,
     * saveInvStd, and batchesTracked[0] += 1 when batchesTracked is not null), then y = act(...).
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
        ctx.launch(statsPartial, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).raw(partials).i(g.n()).i(g.c()).i(g.hw()).i(split.chunk()));
        ctx.launch(statsFinalize, g.c(), 1, 1, LaunchGeometry.batchNormFinalizeThreads(split.groups()), 0, g,
                OpContext.args().raw(partials).i(g.c()).i(split.groups()).l(g.m()).ptr(crm).ptr(crv).ptr(csm).ptr(csi)
                        .ptrOrNull(cbt).f(momentum).f(eps));
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
     * sum(dy) and sum(dy * xhat) per channel (partials (C, G, 2), then finalize: dgamma, dbeta),
     * then dx; dy is the batch norm's output gradient, found from the activation's output ay and
     * its gradient ady (ay is not read, and may be null, for the identity).
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
        ctx.launch(backwardPartial, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(csm).ptr(csi).raw(partials).i(g.n()).i(g.c()).i(g.hw())
                        .i(split.chunk()).i(act.ordinal()));
        ctx.launch(backwardFinalize, g.c(), 1, 1, LaunchGeometry.batchNormFinalizeThreads(split.groups()), 0, g,
                OpContext.args().raw(partials).i(g.c()).i(split.groups()).ptr(cdg).ptr(cdb));
        int total = Math.toIntExact(g.size());
        ctx.launch(backwardDx, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(cg).ptr(csm).ptr(csi).ptr(cdg).ptr(cdb).ptr(cdx)
                        .i(g.c()).i(g.hw()).i(total).f((float) g.m()).i(act.ordinal()));
    }
}
