package dev.normnet.backend.cuda;

import dev.normnet.backend.Activation;
import dev.normnet.backend.ElementwiseGeometry;
import dev.normnet.backend.NormGeometry;
import dev.normnet.backend.PoolGeometry;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of batchnorm.cu: x (N, C) or (N, C, H, W), per-channel tensors (C), statistics per
 * channel over m = N*H*W values (PyTorch's conventions: biased variance to normalize, unbiased
 * for the running variance; see {@link NormGeometry}). Each channel is split over G blocks; the
 * last block of each channel to finish (a ticket per channel: {@link OpContext#tickets}) merges
 * the channel's partials in fixed order, so each reduction is one launch; when each channel is one
 * block (m up to {@link LaunchGeometry#BN_VALUES_PER_BLOCK}, as after a linear layer), that block
 * goes on to the element-wise pass too, so each direction is one launch. An activation after the
 * batch norm rides on the element-wise kernels ({@code act}: the normalize pass writes act(y); the backward passes
 * take the activation's output and gradient), and so does an average pooling after it whose windows tile the plane
 * ({@link #tiles}): the normalizing pass also writes the pooled output, and the backward passes take the pooled
 * gradient.
 */
final class CudaBatchNorm {
    private final OpContext ctx;
    private final Kernel stats;
    private final Kernel normalize;
    private final Kernel normalizePool;
    private final Kernel forwardEval;
    private final Kernel backwardReduce;
    private final Kernel backwardDx;
    private final Kernel statsNormalize;
    private final Kernel backwardReduceDx;

    CudaBatchNorm(OpContext ctx) {
        this.ctx = ctx;
        stats = ctx.kernel("batchnorm_stats");
        normalize = ctx.kernel("batchnorm_normalize");
        normalizePool = ctx.kernel("batchnorm_normalize_pool");
        forwardEval = ctx.kernel("batchnorm_forward_eval");
        backwardReduce = ctx.kernel("batchnorm_backward_reduce");
        backwardDx = ctx.kernel("batchnorm_backward_dx");
        statsNormalize = ctx.kernel("batchnorm_stats_normalize");
        backwardReduceDx = ctx.kernel("batchnorm_backward_reduce_dx");
    }

    /**
     * Whether {@code pool} after a batch norm of output {@code y} rides on its kernels: windows
     * that tile the plane (kernel == stride, no padding, the kernel dividing H and W).
     */
    static boolean tiles(PoolSpec pool, Tensor y) {
        if (pool == null || pool.kernel() != pool.stride() || pool.pad() != 0 || y == null || y.shape().rank() != 4) {
            return false;
        }
        return y.shape().dim(2) % pool.kernel() == 0 && y.shape().dim(3) % pool.kernel() == 0;
    }

    /**
     * Batch statistics (partials (C, G, 3) merged by each channel's last block: running
     * statistics, saveMean, saveInvStd, and batchesTracked[0] += 1 when batchesTracked is not
     * null), then y = act(...), and with {@code pool} (null for none; it must {@link #tiles})
     * pooled = avgPool(y) in the same pass: two launches, one when each channel is one block and
     * nothing pools.
     */
    void forwardTrain(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps, Tensor batchesTracked,
                      Activation act, PoolSpec pool, Tensor pooled) {
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
        CudaTensor cp = pool == null ? null : ctx.cuda(op, "pooled", pooled);
        PoolGeometry pg = pool == null ? null : poolGeometry(op, cy, cp, pool);   // checked before any launch
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(g.m());
        CUdeviceptr partials = ctx.scratch("batchnorm_stats", 3L * g.c() * split.groups());  // (C, G, 3)
        if (split.groups() == 1 && pool == null) {
            // One block per channel: it normalizes its channel after the merge, one launch in all.
            ctx.launch(statsNormalize, 1, g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                    OpContext.args().ptr(cx).raw(partials).i(g.n()).i(g.c()).i(g.hw()).l(g.m()).ptr(crm).ptr(crv)
                            .ptr(csm).ptr(csi).ptrOrNull(cbt).f(momentum).f(eps).ptr(cg).ptr(cb).ptr(cy)
                            .i(act.ordinal()));
            return;
        }
        ctx.launch(stats, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).raw(partials).raw(ctx.tickets(g.c())).i(g.n()).i(g.c()).i(g.hw()).i(split.chunk())
                        .l(g.m()).ptr(crm).ptr(crv).ptr(csm).ptr(csi).ptrOrNull(cbt).f(momentum).f(eps));
        if (pool != null) {
            normalizePool(cx, cg, cb, csm, csi, cy, cp, pg, eps, false, act, g);
            return;
        }
        int total = Math.toIntExact(g.size());
        ctx.launch(normalize, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cg).ptr(cb).ptr(csm).ptr(csi).ptr(cy).i(g.c()).i(g.hw()).i(total)
                        .i(act.ordinal()));
    }

    /** The pooling of y into pooled, which must {@link #tiles}. */
    private static PoolGeometry poolGeometry(String op, CudaTensor cy, CudaTensor cp, PoolSpec pool) {
        requireTiles(op, pool, cy);
        return PoolGeometry.of(op, "y", cy, "pooled", cp, pool);
    }

    /** batchnorm_normalize_pool: one thread per pooled output, its tile of y written on the way. */
    private void normalizePool(CudaTensor cx, CudaTensor cg, CudaTensor cb, CudaTensor mean, CudaTensor scale,
                               CudaTensor cy, CudaTensor cp, PoolGeometry pg, float eps, boolean eval, Activation act,
                               NormGeometry g) {
        int total = Math.toIntExact(pg.outputSize());
        ctx.launch(normalizePool, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cg).ptr(cb).ptr(mean).ptr(scale).ptr(cy).ptr(cp).i(g.c()).i(pg.h())
                        .i(pg.w()).i(pg.kernel()).i(total).f(eps).i(eval ? 1 : 0).i(act.ordinal()));
    }

    private static void requireTiles(String op, PoolSpec pool, Tensor y) {
        if (!tiles(pool, y)) {
            throw new IllegalArgumentException(op + ": the pooling " + pool + " does not tile y " + y.shape()
                    + " (kernel == stride, no padding, the kernel dividing H and W)");
        }
    }

    /**
     * y = act(...) from the running statistics, and with {@code pool} (null for none; it must
     * {@link #tiles}) pooled = avgPool(y): one element-wise launch.
     */
    void forwardEval(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
                     float eps, Activation act, PoolSpec pool, Tensor pooled) {
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cg = ctx.cuda(op, "gamma", gamma);
        CudaTensor cb = ctx.cuda(op, "beta", beta);
        CudaTensor crm = ctx.cuda(op, "runningMean", runningMean);
        CudaTensor crv = ctx.cuda(op, "runningVar", runningVar);
        CudaTensor cy = ctx.cuda(op, "y", y);
        NormGeometry g = NormGeometry.forwardEval(op, cx, cg, cb, crm, crv, cy);
        if (pool != null) {
            CudaTensor cp = ctx.cuda(op, "pooled", pooled);
            normalizePool(cx, cg, cb, crm, crv, cy, cp, poolGeometry(op, cy, cp, pool), eps, true, act, g);
            return;
        }
        int total = Math.toIntExact(g.size());
        ctx.launch(forwardEval, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cg).ptr(cb).ptr(crm).ptr(crv).ptr(cy).i(g.c()).i(g.hw()).i(total).f(eps)
                        .i(act.ordinal()));
    }

    /**
     * sum(dy) and sum(dy * xhat) per channel (partials (C, G, 2) merged by each channel's last
     * block: dbeta, dgamma), then dx: two launches, one when each channel is one block and
     * nothing pools; dy is the batch norm's output gradient, found from the activation's output ay and its gradient ady (ay is not read, and may be null, for
     * the identity); with {@code pool} (null for none; it must {@link #tiles}) ady is the gradient
     * of the average pooling of ay, (N, C, H/k, W/k), and each element's share is found inside
     * both passes.
     */
    void backward(String op, Tensor x, Tensor ay, Tensor ady, Activation act, Tensor gamma, Tensor saveMean,
                  Tensor saveInvStd, Tensor dx, Tensor dgamma, Tensor dbeta, PoolSpec pool) {
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cdy = ctx.cuda(op, pool == null ? "dy" : "dPooled", ady);
        CudaTensor cay = act == Activation.IDENTITY ? ctx.cudaOrNull(op, "y", ay) : ctx.cuda(op, "y", ay);
        CudaTensor cg = ctx.cuda(op, "gamma", gamma);
        CudaTensor csm = ctx.cuda(op, "saveMean", saveMean);
        CudaTensor csi = ctx.cuda(op, "saveInvStd", saveInvStd);
        CudaTensor cdx = ctx.cuda(op, "dx", dx);
        CudaTensor cdg = ctx.cuda(op, "dgamma", dgamma);
        CudaTensor cdb = ctx.cuda(op, "dbeta", dbeta);
        NormGeometry g;
        int poolK = 0;
        if (pool == null) {
            g = act == Activation.IDENTITY ? NormGeometry.backward(op, cx, cdy, cg, csm, csi, cdx, cdg, cdb)
                    : NormGeometry.activationBackward(op, cx, cay, cdy, cg, csm, csi, cdx, cdg, cdb);
        } else {
            // y and dx as x, dPooled as y pooled (ay is written by the forward pass for the identity too).
            CudaTensor y = ctx.cuda(op, "y", ay);
            g = NormGeometry.poolBackward(op, cx, y, cg, csm, csi, cdx, cdg, cdb);
            requireTiles(op, pool, y);
            PoolGeometry.of(op, "y", y, "dPooled", cdy, pool);
            if (cdx.overlaps(cdy)) {
                throw new IllegalArgumentException(op + ": dx must not be dPooled");
            }
            poolK = pool.kernel();
        }
        int width = pool == null ? 1 : x.shape().dim(3);  // the plane's width, read only with pooling
        LaunchGeometry.Split split = LaunchGeometry.batchNormSplit(g.m());
        CUdeviceptr partials = ctx.scratch("batchnorm_backward", 2L * g.c() * split.groups());  // (C, G, 2)
        if (split.groups() == 1 && pool == null) {
            // One block per channel: it writes its channel's dx after the merge, one launch in all.
            ctx.launch(backwardReduceDx, 1, g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                    OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(cg).ptr(csm).ptr(csi).raw(partials).ptr(cdg)
                            .ptr(cdb).ptr(cdx).i(g.n()).i(g.c()).i(g.hw()).f((float) g.m()).i(act.ordinal()));
            return;
        }
        ctx.launch(backwardReduce, split.groups(), g.c(), 1, LaunchGeometry.REDUCE_THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(csm).ptr(csi).raw(partials).raw(ctx.tickets(g.c()))
                        .ptr(cdg).ptr(cdb).i(g.n()).i(g.c()).i(g.hw()).i(split.chunk()).i(act.ordinal()).i(poolK).i(width));
        int total = Math.toIntExact(g.size());
        ctx.launch(backwardDx, LaunchGeometry.strideBlocks(total), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptrOrNull(cay).ptr(cdy).ptr(cg).ptr(csm).ptr(csi).ptr(cdg).ptr(cdb).ptr(cdx)
                        .i(g.c()).i(g.hw()).i(total).f((float) g.m()).i(act.ordinal()).i(poolK).i(width));
    }
}
