package dev.normnet.data;

/**
 * Image resizing. {@link #bilinear} is bilinear resizing with half-pixel centres and edge clamping, as
 * {@code torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)}.
 * This is what torchvision's {@code Resize} computes on a float tensor when upsampling (the only
 * direction the reference models use: 28 to 32 or 224). On a PIL image torchvision rounds the
 * result back to uint8 first; normnet keeps the float values. {@link #resample} brings pictures of
 * any size to the size of a data set's images, uint8 to uint8: area averaging where it shrinks,
 * the same bilinear weights where it grows.
 */
public final class Resize {
    private Resize() {
    }

    /**
     * Resizes one uint8 image to {@code dst[dstOff ..]} (outH x outW floats), dividing pixel values
     * by {@code divisor} (255 for ToTensor's convention, whose float division this matches bit for bit).
     */
    public static void bilinear(byte[] src, int srcOff, int inH, int inW,
                                float[] dst, int dstOff, int outH, int outW, float divisor) {
        if (inH == outH && inW == outW) {
            int n = inH * inW;
            for (int i = 0; i < n; i++) {
                dst[dstOff + i] = (src[srcOff + i] & 0xFF) / divisor;
            }
            return;
        }
        float sh = (float) inH / outH;
        float sw = (float) inW / outW;
        for (int oy = 0; oy < outH; oy++) {
            float fy = Math.max((oy + 0.5f) * sh - 0.5f, 0f);
            int y0 = Math.min((int) fy, inH - 1);
            int y1 = Math.min(y0 + 1, inH - 1);
            float ly = fy - y0;
            for (int ox = 0; ox < outW; ox++) {
                float fx = Math.max((ox + 0.5f) * sw - 0.5f, 0f);
                int x0 = Math.min((int) fx, inW - 1);
                int x1 = Math.min(x0 + 1, inW - 1);
                float lx = fx - x0;
                float p00 = src[srcOff + y0 * inW + x0] & 0xFF;
                float p01 = src[srcOff + y0 * inW + x1] & 0xFF;
                float p10 = src[srcOff + y1 * inW + x0] & 0xFF;
                float p11 = src[srcOff + y1 * inW + x1] & 0xFF;
                float top = p00 + (p01 - p00) * lx;
                float bottom = p10 + (p11 - p10) * lx;
                dst[dstOff + oy * outW + ox] = (top + (bottom - top) * ly) / divisor;
            }
        }
    }

    /**
     * Resizes a uint8 image ({@code inH x inW}, row-major) to {@code outH x outW} uint8 pixels, each
     * axis on its own, with exact rational weights:
     * <ul>
     * <li>an axis that shrinks is area-averaged: output pixel {@code i} covers the input interval
     * {@code [i*in/out, (i+1)*in/out)} and is the mean of the input pixels weighted by how much of
     * each the interval covers (for an integer factor k, the plain mean of k pixels);</li>
     * <li>an axis that grows is interpolated linearly with half-pixel centres and edge clamping, the
     * weights of {@link #bilinear};</li>
     * <li>an axis that keeps its size is copied.</li>
     * </ul>
     * Output pixel (y, x) is {@code sum over i, j of wy[y][i] * wx[x][j] * src[i][j]}, computed exactly in
     * integers and rounded to the nearest integer, halves up. A constant image stays constant; when both
     * axes grow the result is {@link #bilinear}'s value, rounded.
     */
    public static byte[] resample(byte[] src, int inH, int inW, int outH, int outW) {
        if (inH < 1 || inW < 1 || outH < 1 || outW < 1 || (long) inH * inW > src.length) {
            throw new IllegalArgumentException("cannot resample " + src.length + " pixels as " + inH + " x " + inW
                    + " to " + outH + " x " + outW);
        }
        Axis ay = Axis.of(inH, outH);
        Axis ax = Axis.of(inW, outW);
        long[] rows = new long[inH * outW];                   // (inH, outW), scaled by ax.scale
        for (int i = 0; i < inH; i++) {
            for (int x = 0; x < outW; x++) {
                long s = 0;
                int[] w = ax.weights[x];
                for (int k = 0; k < w.length; k++) {
                    s += (long) w[k] * (src[i * inW + ax.first[x] + k] & 0xFF);
                }
                rows[i * outW + x] = s;
            }
        }
        long den = ay.scale * ax.scale;
        byte[] out = new byte[outH * outW];
        for (int y = 0; y < outH; y++) {
            int[] w = ay.weights[y];
            for (int x = 0; x < outW; x++) {
                long s = 0;
                for (int k = 0; k < w.length; k++) {
                    s += w[k] * rows[(ay.first[y] + k) * outW + x];
                }
                out[y * outW + x] = (byte) Math.min(255, (2 * s + den) / (2 * den));
            }
        }
        return out;
    }

    /**
     * The weights of one axis: output {@code i} is {@code sum over k of weights[i][k] * in[first[i] + k]},
     * divided by {@code scale}.
     */
    private record Axis(int[] first, int[][] weights, long scale) {
        static Axis of(int in, int out) {
            int[] first = new int[out];
            int[][] weights = new int[out][];
            if (out == in) {
                for (int i = 0; i < out; i++) {
                    first[i] = i;
                    weights[i] = new int[] {1};
                }
                return new Axis(first, weights, 1);
            }
            if (out < in) {
                // In units of 1/out of an input pixel, output i covers [i*in, (i+1)*in) and input j covers
                // [j*out, (j+1)*out); the weight of j is the length of the overlap.
                for (int i = 0; i < out; i++) {
                    long lo = (long) i * in;
                    long hi = lo + in;
                    int j0 = (int) (lo / out);
                    int j1 = (int) ((hi + out - 1) / out);      // exclusive
                    first[i] = j0;
                    weights[i] = new int[j1 - j0];
                    for (int j = j0; j < j1; j++) {
                        weights[i][j - j0] = (int) (Math.min(hi, (long) (j + 1) * out) - Math.max(lo, (long) j * out));
                    }
                }
                return new Axis(first, weights, in);
            }
            // Growing: the source position of output i is f = (i + 0.5) * in / out - 0.5, clamped at 0;
            // in units of 1/(2*out) that is num = (2i + 1) * in - out.
            long twoOut = 2L * out;
            for (int i = 0; i < out; i++) {
                long num = Math.max((2L * i + 1) * in - out, 0);
                int j0 = (int) Math.min(num / twoOut, in - 1);
                int frac = j0 == in - 1 ? 0 : (int) (num - j0 * twoOut);
                first[i] = j0;
                weights[i] = frac == 0 ? new int[] {(int) twoOut} : new int[] {(int) (twoOut - frac), frac};
            }
            return new Axis(first, weights, twoOut);
        }
    }
}
