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
}
