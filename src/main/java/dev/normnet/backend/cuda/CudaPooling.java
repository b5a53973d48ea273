package dev.normnet.backend.cuda;

import dev.normnet.backend.PoolGeometry;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Tensor;

/**
 * Launch code of pool.cu: average and max pooling over x (N, C, H, W) into y (N, C, P, Q), one
 * thread per output element forward and per input element backward (gather form: no atomics).
 */
final class CudaPooling {
    private final OpContext ctx;
    private final Kernel avgForward;
    private final Kernel avgBackward;
    private final Kernel maxForward;
    private final Kernel maxBackward;

    CudaPooling(OpContext ctx) {
        this.ctx = ctx;
        avgForward = ctx.kernel("avg_pool2d_forward");
        avgBackward = ctx.kernel("avg_pool2d_backward");
        maxForward = ctx.kernel("max_pool2d_forward");
        maxBackward = ctx.kernel("max_pool2d_backward");
    }

    void avgForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "avgPool2dForward";
        CudaTensor cx = ctx.cuda(op, "x", x);  // (N, C, H, W)
        CudaTensor cy = ctx.cuda(op, "y", y);  // (N, C, P, Q)
        PoolGeometry g = PoolGeometry.forward(op, cx, cy, spec);
        launch(avgForward, g.outputSize(), g, OpContext.args().ptr(cx).ptr(cy));
    }

    void avgBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "avgPool2dBackward";
        CudaTensor cdy = ctx.cuda(op, "dy", dy);  // (N, C, P, Q)
        CudaTensor cdx = ctx.cuda(op, "dx", dx);  // (N, C, H, W)
        PoolGeometry g = PoolGeometry.backward(op, cdy, cdx, spec);
        launch(avgBackward, g.inputSize(), g, OpContext.args().ptr(cdy).ptr(cdx));
    }

    void maxForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "maxPool2dForward";
        CudaTensor cx = ctx.cuda(op, "x", x);  // (N, C, H, W)
        CudaTensor cy = ctx.cuda(op, "y", y);  // (N, C, P, Q)
        PoolGeometry g = PoolGeometry.forward(op, cx, cy, spec);
        launch(maxForward, g.outputSize(), g, OpContext.args().ptr(cx).ptr(cy));
    }

    /** dx gets dy at the first maximum of each window (recomputed from x). */
    void maxBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "maxPool2dBackward";
        CudaTensor cx = ctx.cuda(op, "x", x);     // (N, C, H, W)
        CudaTensor cdy = ctx.cuda(op, "dy", dy);  // (N, C, P, Q)
        CudaTensor cdx = ctx.cuda(op, "dx", dx);  // (N, C, H, W)
        PoolGeometry g = PoolGeometry.maxBackward(op, cx, cdy, cdx, spec);
        launch(maxBackward, g.inputSize(), g, OpContext.args().ptr(cx).ptr(cdy).ptr(cdx));
    }

    /** Every pooling kernel takes its tensors, then planes, H, W, P, Q, kernel, stride, pad. */
    private void launch(Kernel kernel, long threads, PoolGeometry g, KernelArgs a) {
        a.i(g.planes()).i(g.h()).i(g.w()).i(g.p()).i(g.q()).i(g.kernel()).i(g.stride()).i(g.pad());
        ctx.launch(kernel, LaunchGeometry.wideStrideBlocks(threads), 1, 1, LaunchGeometry.THREADS, 0, g, a);
    }
}
