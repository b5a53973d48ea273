package dev.normnet.nn;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * y = x, as PyTorch's {@code nn.Identity}: a view (no op runs, no buffer is allocated), with no
 * parameters or buffers. {@link BatchNormFolding} puts one where a folded batch norm was, as
 * PyTorch's {@code torch.ao.quantization.fuse_modules} does, so that the other layers keep their
 * indices and state_dict names.
 */
public final class Identity extends Layer {
    @Override
    protected Layer copy() {
        return new Identity();
    }

    @Override
    public String typeName() {
        return "Identity";
    }

    @Override
    protected Shape infer(Shape input) {
        return input;
    }

    @Override
    protected boolean isView() {
        return true;
    }

    @Override
    protected Step bind(Backend backend, Scratch scratch, Tensor x, Tensor y, Tensor dx, Tensor dy) {
        return NO_OP;
    }

    @Override
    public String toString() {
        return "Identity()";
    }
}
