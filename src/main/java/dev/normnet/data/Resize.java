package dev.normnet.data;

/**
 * Bilinear resizing with half-pixel centres and edge clamping, as
 * {@code torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)}.
 * This is what torchvision's {@code Resize} computes on a float tensor when upsampling (the only
 * direction the reference models use: 28 to 32 or 224). On a PIL image torchvision rounds the
 * result back to uint8 first; normnet keeps the float values.
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
     * Precomputes the source rows, columns and weights of one resize geometry, for resizing many
     * images without recomputing them. {@link Plan#apply} gives bit for bit the result of
     * {@link #bilinear} (the same float expressions, evaluated once per row and column).
     */
    public static Plan plan(int inH, int inW, int outH, int outW) {
        return new Plan(inH, inW, outH, outW);
    }

    /** A resize geometry with its interpolation tables; immutable and safe to share between threads. */
    public static final class Plan {
        private final int inH;
        private final int inW;
        private final int outH;
        private final int outW;
        private final int[] y0; // (outH) first source row, times inW
        private final int[] y1; // (outH) second source row, times inW
        private final float[] ly; // (outH)
        private final int[] x0; // (outW)
        private final int[] x1; // (outW)
        private final float[] lx; // (outW)

        private Plan(int inH, int inW, int outH, int outW) {
            if (inH < 1 || inW < 1 || outH < 1 || outW < 1) {
                throw new IllegalArgumentException("bad resize " + inH + "x" + inW + " -> " + outH + "x" + outW);
            }
            this.inH = inH;
            this.inW = inW;
            this.outH = outH;
            this.outW = outW;
            y0 = new int[outH];
            y1 = new int[outH];
            ly = new float[outH];
            x0 = new int[outW];
            x1 = new int[outW];
            lx = new float[outW];
            float sh = (float) inH / outH;
            float sw = (float) inW / outW;
            for (int oy = 0; oy < outH; oy++) {
                float fy = Math.max((oy + 0.5f) * sh - 0.5f, 0f);
                int r0 = Math.min((int) fy, inH - 1);
                y0[oy] = r0 * inW;
                y1[oy] = Math.min(r0 + 1, inH - 1) * inW;
                ly[oy] = fy - r0;
            }
            for (int ox = 0; ox < outW; ox++) {
                float fx = Math.max((ox + 0.5f) * sw - 0.5f, 0f);
                int c0 = Math.min((int) fx, inW - 1);
                x0[ox] = c0;
                x1[ox] = Math.min(c0 + 1, inW - 1);
                lx[ox] = fx - c0;
            }
        }

        public int inHeight() {
            return inH;
        }

        public int inWidth() {
            return inW;
        }

        public int outHeight() {
            return outH;
        }

        public int outWidth() {
            return outW;
        }

        /** As {@link Resize#bilinear} for this plan's geometry. */
        public void apply(byte[] src, int srcOff, float[] dst, int dstOff, float divisor) {
            if (inH == outH && inW == outW) {
                int n = inH * inW;
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = (src[srcOff + i] & 0xFF) / divisor;
                }
                return;
            }
            for (int oy = 0; oy < outH; oy++) {
                int r0 = srcOff + y0[oy];
                int r1 = srcOff + y1[oy];
                float wy = ly[oy];
                int d = dstOff + oy * outW;
                for (int ox = 0; ox < outW; ox++) {
                    int c0 = x0[ox];
                    int c1 = x1[ox];
                    float wx = lx[ox];
                    float p00 = src[r0 + c0] & 0xFF;
                    float p01 = src[r0 + c1] & 0xFF;
                    float p10 = src[r1 + c0] & 0xFF;
                    float p11 = src[r1 + c1] & 0xFF;
                    float top = p00 + (p01 - p00) * wx;
                    float bottom = p10 + (p11 - p10) * wx;
                    dst[d + ox] = (top + (bottom - top) * wy) / divisor;
                }
            }
        }
    }
}
