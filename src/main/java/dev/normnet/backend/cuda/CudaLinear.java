package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.LaunchGeometry.ceilDiv;

import dev.normnet.backend.LinearGeometry;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of gemm.cu: the linear layer as strided GEMMs, x (N, I), w (O, I), b (O),
 * y (N, O). C (M, N) = A (M, K) B (K, N) reads A and B through element strides, so no operand is
 * transposed in memory; a small output splits K over the grid's z and {@link CudaReductions}
 * merges the splits (and adds the bias) in fixed order. db is a column sum of dy. The whole
 * backward (dw, dx, db) is one launch of {@code linear_backward} when neither product splits.
 *
 * <p>cuBLAS is not used: JCublas 12.6.0 needs libcublas.so.12, which a machine with only the
 * driver (or only CUDA 13 libraries) lacks.
 */
final class CudaLinear {
    private final OpContext ctx;
    private final CudaReductions reductions;
    private final Kernel sgemm;
    private final Kernel columnSum;
    private final Kernel backward;

    CudaLinear(OpContext ctx, CudaReductions reductions) {
        this.ctx = ctx;
        this.reductions = reductions;
        sgemm = ctx.kernel("sgemm_strided");
        columnSum = ctx.kernel("column_sum");
        backward = ctx.kernel("linear_backward");
    }

    /** y (N, O) = x (N, I) w^T + b. */
    void forward(Tensor x, Tensor w, Tensor b, Tensor y) {
        String op = "linearForward";
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cw = ctx.cuda(op, "w", w);
        CudaTensor cy = ctx.cuda(op, "y", y);
        CudaTensor cb = ctx.cudaOrNull(op, "b", b);
        LinearGeometry g = LinearGeometry.forward(op, cx, cw, cb, cy);
        CudaTensor.requireDisjoint(op, "y", cy, "x", cx, "w", cw, "b", cb);
        gemm(cx.pointer(), g.in(), 1, cw.pointer(), 1, g.in(), cy, cb, g.n(), g.out(), g.in(), g);
    }

    /** dx (N, I) = dy (N, O) w. */
    void backwardData(Tensor dy, Tensor w, Tensor dx) {
        String op = "linearBackwardData";
        CudaTensor cdy = ctx.cuda(op, "dy", dy);
        CudaTensor cw = ctx.cuda(op, "w", w);
        CudaTensor cdx = ctx.cuda(op, "dx", dx);
        LinearGeometry g = LinearGeometry.backwardData(op, cdy, cw, cdx);
        CudaTensor.requireDisjoint(op, "dx", cdx, "dy", cdy, "w", cw);
        gemm(cdy.pointer(), g.out(), 1, cw.pointer(), g.in(), 1, cdx, null, g.n(), g.in(), g.out(), g);
    }

    /** dw (O, I) = dy^T x; db (O) = the sum of dy over N. */
    void backwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        String op = "linearBackwardWeight";
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cdy = ctx.cuda(op, "dy", dy);
        CudaTensor cdw = ctx.cuda(op, "dw", dw);
        CudaTensor cdb = ctx.cudaOrNull(op, "db", db);
        LinearGeometry g = LinearGeometry.backwardWeight(op, cx, cdy, cdw, cdb);
        CudaTensor.requireDisjoint(op, "dw", cdw, "x", cx, "dy", cdy);
        CudaTensor.requireDisjoint(op, "db", cdb, "dy", cdy, "dw", cdw);
        gemm(cdy.pointer(), 1, g.out(), cx.pointer(), g.in(), 1, cdw, null, g.out(), g.in(), g.n(), g);
        if (cdb != null) {
            ctx.launch(columnSum, LaunchGeometry.strideBlocks(g.out()), 1, 1, LaunchGeometry.THREADS, 0, g,
                    OpContext.args().ptr(cdy).ptr(cdb).i(g.n()).i(g.out()));
        }
    }

    /**
     * dw = dy^T x, db = the sum of dy over N (when db is not null), dx = dy w (when dx is not null):
     * one launch of linear_backward, whose blocks are the tiles of both products and the columns
     * of db, computed by the code of sgemm_strided and column_sum. When a product would split its
     * sum over the grid's z (a small output over a long k), or dx or db overlaps x (which other
     * blocks of the one launch read), {@link #backwardWeight} then {@link #backwardData}, which read
     * x before writing over it; any other overlap of an output with an input or another output is
     * refused (the kernels would race).
     */
    void backward(Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor db) {
        String op = "linearBackward";
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cdy = ctx.cuda(op, "dy", dy);
        CudaTensor cw = dx == null ? ctx.cudaOrNull(op, "w", w) : ctx.cuda(op, "w", w);
        CudaTensor cdx = ctx.cudaOrNull(op, "dx", dx);
        CudaTensor cdw = ctx.cuda(op, "dw", dw);
        CudaTensor cdb = ctx.cudaOrNull(op, "db", db);
        LinearGeometry g = LinearGeometry.backward(op, cx, cdy, cw, cdx, cdw, cdb);
        CudaTensor wRead = cdx == null ? null : cw;  // w is read only for dx
        CudaTensor.requireDisjoint(op, "dw", cdw, "x", cx, "dy", cdy, "w", wRead);
        CudaTensor.requireDisjoint(op, "db", cdb, "dy", cdy, "dw", cdw, "w", wRead);
        CudaTensor.requireDisjoint(op, "dx", cdx, "dy", cdy, "w", cw, "dw", cdw, "db", cdb);
        boolean unsplit = LaunchGeometry.gemmSplit(g.out(), g.in(), g.n()).groups() == 1
                && (cdx == null || LaunchGeometry.gemmSplit(g.n(), g.in(), g.out()).groups() == 1);
        if (!unsplit || (cdx != null && cdx.overlaps(cx)) || (cdb != null && cdb.overlaps(cx))) {
            backwardWeight(x, dy, dw, db);
            if (dx != null) {
                backwardData(dy, w, dx);
            }
            return;
        }
        long tilesI = ceilDiv(g.in(), LaunchGeometry.GEMM_TILE);
        long blocks = tilesI * ceilDiv(g.out(), LaunchGeometry.GEMM_TILE)
                + (cdx == null ? 0 : tilesI * ceilDiv(g.n(), LaunchGeometry.GEMM_TILE))
                + (cdb == null ? 0 : ceilDiv(g.out(), LaunchGeometry.THREADS));
        ctx.launch(backward, Math.toIntExact(blocks), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().ptr(cx).ptr(cdy).ptrOrNull(cdx == null ? null : cw).ptrOrNull(cdx).ptr(cdw).ptrOrNull(cdb)
                        .i(g.n()).i(g.in()).i(g.out()));
    }

    /** C (m, n) = A (m, k) B (k, n) (+ bias over n), A and B read through element strides; split-K when the output is small. */
    private void gemm(CUdeviceptr a, long sam, long sak, CUdeviceptr b, long sbk, long sbn, CudaTensor c, CudaTensor bias,
                      int m, int n, int k, LinearGeometry shapes) {
        LaunchGeometry.Split split = LaunchGeometry.gemmSplit(m, n, k);
        int gx = (int) ceilDiv(n, LaunchGeometry.GEMM_TILE);
        int gy = (int) ceilDiv(m, LaunchGeometry.GEMM_TILE);
        if (gy > LaunchGeometry.MAX_GRID_YZ) {
            throw new IllegalArgumentException("gemm: " + m + " rows exceed the kernel's grid (" + shapes + ")");
        }
        if (split.groups() == 1) {
            ctx.launch(sgemm, gx, gy, 1, 256, 0, shapes, OpContext.args().raw(a).l(sam).l(sak).raw(b).l(sbk).l(sbn)
                    .ptr(c).ptrOrNull(bias).i(m).i(n).i(k).i(split.chunk()));
            return;
        }
        long mn = (long) m * n;
        CUdeviceptr partials = ctx.scratch("sgemm", mn * split.groups());  // (splits, m, n)
        ctx.launch(sgemm, gx, gy, split.groups(), 256, 0, shapes, OpContext.args().raw(a).l(sam).l(sak).raw(b).l(sbk).l(sbn)
                .raw(partials).nullPointer().i(m).i(n).i(k).i(split.chunk()));
        reductions.mergePartials(partials, split.groups(), Math.toIntExact(mn), c, Math.toIntExact(mn), null, bias, n, shapes);
    }
}
