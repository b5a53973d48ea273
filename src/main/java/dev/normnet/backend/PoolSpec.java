package dev.normnet.backend;

/**
 * Window, stride and padding of a 2-D pooling. Output size (H + 2*pad - kernel) / stride + 1
 * (floor, as PyTorch with ceil_mode=False). Average pooling counts padded zeros in the divisor
 * (PyTorch's count_include_pad=True); max pooling ignores padding.
 */
public record PoolSpec(int kernel, int stride, int pad) {
    public PoolSpec {
        if (kernel < 1) throw new IllegalArgumentException("pool kernel must be >= 1, got " + kernel);
        if (stride < 1) throw new IllegalArgumentException("pool stride must be >= 1, got " + stride);
        if (pad < 0 || pad > kernel / 2) {
            throw new IllegalArgumentException("pool padding must be in [0, kernel/2], got " + pad);
        }
    }

    public int outSize(int in) {
        int out = (in + 2 * pad - kernel) / stride + 1;
        if (out < 1) {
            throw new IllegalArgumentException("pool kernel " + kernel + " does not fit input " + in);
        }
        return out;
    }
}
