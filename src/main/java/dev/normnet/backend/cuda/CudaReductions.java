package dev.normnet.backend.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * Launch code of reduce.cu: the fixed-order merge of per-block partials (G, T) that ends the
 * deterministic reductions of conv2d backward-filter and split-K GEMM. No float atomics, so a
 * run gives the same bits every time on the same GPU.
 */
final class CudaReductions {
    private final OpContext ctx;
    private final Kernel merge;
    private final Kernel mergeSerial;

    CudaReductions(OpContext ctx) {
        this.ctx = ctx;
        merge = ctx.kernel("partials_merge");
        mergeSerial = ctx.kernel("partials_merge_serial");
    }

    /**
     * Sums partials (G, T) over G in fixed order into out0[0, T0) and out1[0, T - T0), adding
     * bias[o % biasPeriod] when bias is not null: one thread per output when G is small
     * (partials_merge_serial), else one block per output (partials_merge).
     */
    void mergePartials(CUdeviceptr partials, int groups, int outputs, CudaTensor out0, int t0, CudaTensor out1,
                       CudaTensor bias, int biasPeriod, Object shapes) {
        KernelArgs a = OpContext.args().raw(partials).i(groups).i(outputs).ptr(out0).i(t0).ptrOrNull(out1).ptrOrNull(bias)
                .i(biasPeriod);
        if (groups <= LaunchGeometry.SERIAL_MERGE_MAX) {
            ctx.launch(mergeSerial, LaunchGeometry.strideBlocks(outputs), 1, 1, LaunchGeometry.THREADS, 0, shapes, a);
        } else {
            ctx.launch(merge, Math.min(outputs, LaunchGeometry.MAX_STRIDE_BLOCKS), 1, 1, LaunchGeometry.REDUCE_THREADS, 0,
                    shapes, a);
        }
    }
}
