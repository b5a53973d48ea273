package dev.normnet.backend.cuda;

import dev.normnet.backend.ElementwiseGeometry;
import dev.normnet.tensor.Tensor;

/**
 * Launch code of elementwise.cu: fill, copy, addScalar and the activations (sigmoid, ReLU),
 * grid-stride kernels over the n elements of same-sized tensors. In-place use is safe.
 */
final class CudaElementwise {
    private final OpContext ctx;
    private final Kernel fill;
    private final Kernel copy;
    private final Kernel addScalar;
    private final Kernel sigmoidForward;
    private final Kernel sigmoidBackward;
    private final Kernel reluForward;
    private final Kernel reluBackward;

    CudaElementwise(OpContext ctx) {
        this.ctx = ctx;
        fill = ctx.kernel("fill");
        copy = ctx.kernel("copy");
        addScalar = ctx.kernel("add_scalar");
        sigmoidForward = ctx.kernel("sigmoid_forward");
        sigmoidBackward = ctx.kernel("sigmoid_backward");
        reluForward = ctx.kernel("relu_forward");
        reluBackward = ctx.kernel("relu_backward");
    }

    void fill(Tensor t, float value) {
        CudaTensor ct = ctx.cuda("fill", "t", t);
        int n = ElementwiseGeometry.fill("fill", ct).n();
        stride(fill, n, ct, OpContext.args().ptr(ct).f(value).i(n));
    }

    void copy(Tensor src, Tensor dst) {
        CudaTensor s = ctx.cuda("copy", "src", src);
        CudaTensor d = ctx.cuda("copy", "dst", dst);
        int n = ElementwiseGeometry.of("copy", "src", s, "dst", d).n();
        stride(copy, n, s, OpContext.args().ptr(s).ptr(d).i(n));
    }

    /** t[index] += delta in one thread (a step counter inside a captured step). */
    void addScalar(Tensor t, int index, float delta) {
        CudaTensor ct = ctx.cuda("addScalar", "t", t);
        ElementwiseGeometry.index("addScalar", ct, index);
        ctx.launch(addScalar, 1, 1, 1, 1, 0, ct, OpContext.args().ptr(ct).i(index).f(delta));
    }

    void sigmoidForward(Tensor x, Tensor y) {
        forward("sigmoidForward", sigmoidForward, x, y);
    }

    void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        backward("sigmoidBackward", sigmoidBackward, "y", y, dy, dx);
    }

    void reluForward(Tensor x, Tensor y) {
        forward("reluForward", reluForward, x, y);
    }

    void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        backward("reluBackward", reluBackward, "x", x, dy, dx);
    }

    /** y = f(x): kernel (x, y, n). */
    private void forward(String op, Kernel kernel, Tensor x, Tensor y) {
        CudaTensor cx = ctx.cuda(op, "x", x);
        CudaTensor cy = ctx.cuda(op, "y", y);
        int n = ElementwiseGeometry.of(op, "x", cx, "y", cy).n();
        stride(kernel, n, cx, OpContext.args().ptr(cx).ptr(cy).i(n));
    }

    /** dx from the saved forward tensor (y for sigmoid, x for ReLU) and dy: kernel (saved, dy, dx, n). */
    private void backward(String op, Kernel kernel, String savedName, Tensor saved, Tensor dy, Tensor dx) {
        CudaTensor cs = ctx.cuda(op, savedName, saved);
        CudaTensor cdy = ctx.cuda(op, "dy", dy);
        CudaTensor cdx = ctx.cuda(op, "dx", dx);
        int n = ElementwiseGeometry.of(op, savedName, cs, "dy", cdy, "dx", cdx).n();
        stride(kernel, n, cs, OpContext.args().ptr(cs).ptr(cdy).ptr(cdx).i(n));
    }

    private void stride(Kernel kernel, int n, CudaTensor described, KernelArgs a) {
        ctx.launch(kernel, LaunchGeometry.strideBlocks(n), 1, 1, LaunchGeometry.THREADS, 0, described.shape(), a);
    }
}
