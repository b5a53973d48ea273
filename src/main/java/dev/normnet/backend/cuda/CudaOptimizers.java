package dev.normnet.backend.cuda;

import dev.normnet.backend.OptimizerGeometry;
import dev.normnet.tensor.Tensor;

/**
 * Launch code of optim.cu: SGD and Adam as one grid-stride launch over a flat parameter buffer.
 * The learning rate (and Adam's step count) are read from {@code hyper} on the device, so a
 * captured step follows a schedule.
 */
final class CudaOptimizers {
    private final OpContext ctx;
    private final Kernel sgd;
    private final Kernel adam;

    CudaOptimizers(OpContext ctx) {
        this.ctx = ctx;
        sgd = ctx.kernel("sgd_step");
        adam = ctx.kernel("adam_step");
    }

    /** params, grads, velocity (n); velocity only when momentum != 0; hyper (lr, ...). */
    void sgd(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        String op = "sgdStep";
        CudaTensor cp = ctx.cuda(op, "params", params);
        CudaTensor cg = ctx.cuda(op, "grads", grads);
        CudaTensor cv = momentum != 0f ? ctx.cuda(op, "velocity (required when momentum != 0)", velocity) : null;
        CudaTensor ch = ctx.cuda(op, "hyper", hyper);
        int n = OptimizerGeometry.sgd(op, cp, cg, cv, ch, momentum).n();
        ctx.launch(sgd, LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, cp.shape(),
                OpContext.args().ptr(cp).ptr(cg).ptrOrNull(cv).ptr(ch).f(momentum).f(weightDecay).i(n));
    }

    /** params, grads, m, v (n); hyper (lr, t). */
    void adam(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
              float beta1, float beta2, float eps, float weightDecay) {
        String op = "adamStep";
        CudaTensor cp = ctx.cuda(op, "params", params);
        CudaTensor cg = ctx.cuda(op, "grads", grads);
        CudaTensor cm = ctx.cuda(op, "m", m);
        CudaTensor cv = ctx.cuda(op, "v", v);
        CudaTensor ch = ctx.cuda(op, "hyper", hyper);
        int n = OptimizerGeometry.adam(op, cp, cg, cm, cv, ch).n();
        ctx.launch(adam, LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, cp.shape(),
                OpContext.args().ptr(cp).ptr(cg).ptr(cm).ptr(cv).ptr(ch).f(beta1).f(beta2).f(eps).f(weightDecay).i(n));
    }
}
