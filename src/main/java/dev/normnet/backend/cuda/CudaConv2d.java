package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.LaunchGeometry.ceilDiv;

import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.ConvSpec;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * Launch code of conv2d.cu: x (N, C, H, W), w (K, C, R, S), b (K), y (N, K, P, Q). Forward and
 * backward-data are direct convolutions with weights staged in shared memory; backward-filter
 * writes per-group partials that {@link CudaReductions} merges in fixed order.
 */
final class CudaConv2d {
    private final OpContext ctx;
    private final CudaReductions reductions;
    private final Kernel forward;
    private final Kernel forwardNarrow;
    private final Kernel backwardData;
    private final Kernel backwardDataNarrow;
    private final Kernel backwardFilterPartial;

    CudaConv2d(OpContext ctx, CudaReductions reductions) {
        this.ctx = ctx;
        this.reductions = reductions;
        forward = ctx.kernel("conv2d_forward");
        forwardNarrow = ctx.kernel("conv2d_forward_cb6");
        backwardData = ctx.kernel("conv2d_backward_data");
        backwardDataNarrow = ctx.kernel("conv2d_backward_data_cb6");
        backwardFilterPartial = ctx.kernel("conv2d_backward_filter_partial");
    }

    /**
     * Grid (ceil(P*Q / threads), ceil(K / perThread), min(N, 65535)), threads from
     * {@link LaunchGeometry#convThreads}, perThread output channels per thread
     * ({@link LaunchGeometry#convChannelsPerThread}: 6 for conv1's 6, else 8).
     */
    void forward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        String op = "conv2dForward";
        CudaTensor cx = ctx.cuda(op, "x", x);  // (N, C, H, W)
        CudaTensor cw = ctx.cuda(op, "w", w);  // (K, C, R, S)
        CudaTensor cy = ctx.cuda(op, "y", y);  // (N, K, P, Q)
        CudaTensor cb = ctx.cudaOrNull(op, "b", b);  // (K) or null
        ConvGeometry g = ConvGeometry.forward(op, cx, cw, cb, cy, spec);
        int perThread = LaunchGeometry.convChannelsPerThread(g.k());
        int chunk = LaunchGeometry.convChunk(g.c(), g.r(), g.s(), perThread);
        long pixels = (long) g.p() * g.q();
        int threads = LaunchGeometry.convThreads(pixels);
        ctx.launch(perThread == LaunchGeometry.CONV_CB ? forward : forwardNarrow,
                (int) ceilDiv(pixels, threads), LaunchGeometry.channelBlocks(g.k(), perThread),
                LaunchGeometry.batchGrid(g.n()), threads, LaunchGeometry.convSharedBytes(chunk, g.r(), g.s(), perThread), g,
                sizes(OpContext.args().ptr(cx).ptr(cw).ptrOrNull(cb).ptr(cy), g).i(chunk));
    }

    /**
     * Grid (ceil(H*W / threads), ceil(C / perThread), min(N, 65535)), threads from
     * {@link LaunchGeometry#convThreads}, perThread input channels per thread
     * ({@link LaunchGeometry#convChannelsPerThread}: 6 for conv2's 6, else 8).
     */
    void backwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        String op = "conv2dBackwardData";
        CudaTensor cdy = ctx.cuda(op, "dy", dy);  // (N, K, P, Q)
        CudaTensor cw = ctx.cuda(op, "w", w);     // (K, C, R, S)
        CudaTensor cdx = ctx.cuda(op, "dx", dx);  // (N, C, H, W)
        ConvGeometry g = ConvGeometry.backwardData(op, cdy, cw, cdx, spec);
        int perThread = LaunchGeometry.convChannelsPerThread(g.c());
        int chunk = LaunchGeometry.convChunk(g.k(), g.r(), g.s(), perThread);
        long pixels = (long) g.h() * g.w();
        int threads = LaunchGeometry.convThreads(pixels);
        ctx.launch(perThread == LaunchGeometry.CONV_CB ? backwardData : backwardDataNarrow,
                (int) ceilDiv(pixels, threads),
                LaunchGeometry.channelBlocks(g.c(), perThread), LaunchGeometry.batchGrid(g.n()), threads,
                LaunchGeometry.convSharedBytes(chunk, g.r(), g.s(), perThread), g,
                sizes(OpContext.args().ptr(cdy).ptr(cw).ptr(cdx), g).i(chunk));
    }

    /** Partials (G, T), T = K*C*R*S (+ K for db), grid (ceil(T / threads), G); then the fixed-order merge. */
    void backwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        String op = "conv2dBackwardFilter";
        CudaTensor cx = ctx.cuda(op, "x", x);      // (N, C, H, W)
        CudaTensor cdy = ctx.cuda(op, "dy", dy);   // (N, K, P, Q)
        CudaTensor cdw = ctx.cuda(op, "dw", dw);   // (K, C, R, S)
        CudaTensor cdb = ctx.cudaOrNull(op, "db", db);  // (K) or null
        ConvGeometry g = ConvGeometry.backwardFilter(op, cx, cdy, cdw, cdb, spec);
        int kcrs = g.k() * g.c() * g.r() * g.s();
        int outputs = kcrs + (cdb == null ? 0 : g.k());
        LaunchGeometry.Split split = LaunchGeometry.filterSplit(outputs, (long) g.n() * g.p() * g.q());
        CUdeviceptr partials = ctx.scratch("conv2d_backward_filter", (long) outputs * split.groups());  // (G, T)
        int threads = LaunchGeometry.filterThreads(outputs);
        ctx.launch(backwardFilterPartial, (int) ceilDiv(outputs, threads), split.groups(), 1, threads, 0, g,
                sizes(OpContext.args().ptr(cx).ptr(cdy).raw(partials), g).i(outputs).i(split.chunk()));
        reductions.mergePartials(partials, split.groups(), outputs, cdw, kcrs, cdb, null, 1, g);
    }

    /** Appends N, C, H, W, K, R, S, P, Q, stride, pad: the sizes every conv2d kernel takes after its pointers. */
    private static KernelArgs sizes(KernelArgs a, ConvGeometry g) {
        return a.i(g.n()).i(g.c()).i(g.h()).i(g.w()).i(g.k()).i(g.r()).i(g.s()).i(g.p()).i(g.q()).i(g.stride()).i(g.pad());
    }
}
