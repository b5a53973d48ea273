package dev.normnet.backend;

/**
 * Stride and zero padding of a 2-D convolution, the same along height and width.
 * With x (N, C, H, W) and w (K, C, R, S) the output is y (N, K, P, Q) with
 * P = (H + 2*pad - R) / stride + 1 and Q = (W + 2*pad - S) / stride + 1.
 */
public record ConvSpec(int stride, int pad) {
    public ConvSpec {
        if (stride < 1) throw new IllegalArgumentException("stride must be >= 1, got " + stride);
        if (pad < 0) throw new IllegalArgumentException("padding must be >= 0, got " + pad);
    }

    public int outSize(int in, int kernel) {
        int out = (in + 2 * pad - kernel) / stride + 1;
        if (in + 2 * pad < kernel || out < 1) {
            throw new IllegalArgumentException("kernel " + kernel + " does not fit input " + in + " with padding " + pad);
        }
        return out;
    }
}
