package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one batch gather, checked once per call by every backend: resident images
 * (count, inH, inW), order (count or more indices), cursor (1), x (B, 1, H, W), labels (B).
 * The values of order and cursor live on the device and are checked (where they can be) by the
 * backend that reads them.
 */
public record GatherGeometry(int b, int outH, int outW, int count, int inH, int inW, int orderLength) {

    public static GatherGeometry check(String op, ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        if (images == null) {
            throw new IllegalArgumentException(op + ": images must not be null");
        }
        Shape os = Checks.shape(op, "order", order);
        Shape cs = Checks.shape(op, "cursor", cursor);
        Shape xs = Checks.shape(op, "x", x);
        Shape ls = Checks.shape(op, "labels", labels);
        if (xs.rank() != 4 || xs.dim(1) != 1 || !ls.equals(Shape.of(xs.dim(0))) || cs.size() < 1) {
            throw new IllegalArgumentException(op + ": expected x (B, 1, H, W), labels (B), cursor (1); got x " + xs
                    + ", labels " + ls + ", cursor " + cs);
        }
        Checks.elements(op, "x", xs);
        return new GatherGeometry(xs.dim(0), xs.dim(2), xs.dim(3), images.count(), images.height(), images.width(),
                Checks.elements(op, "order", os));
    }

    /**
     * Checks the arguments of {@link Backend#uploadImages}: count images of height x width
     * pixels (count * height * width bytes) and count labels.
     */
    public static void checkUpload(String op, byte[] pixels, byte[] labels, int count, int height, int width) {
        if (pixels == null || labels == null) {
            throw new IllegalArgumentException(op + ": pixels and labels must not be null");
        }
        if (count < 0 || height < 1 || width < 1) {
            throw new IllegalArgumentException(op + ": bad geometry " + count + " x " + height + " x " + width);
        }
        if ((long) count * height * width != pixels.length) {
            throw new IllegalArgumentException(op + ": " + pixels.length + " pixels for " + count + " images of " + height
                    + " x " + width);
        }
        if (labels.length != count) {
            throw new IllegalArgumentException(op + ": " + labels.length + " labels for " + count + " images");
        }
    }

    @Override
    public String toString() {
        return "images " + count + "x" + inH + "x" + inW + " -> x (" + b + ", 1, " + outH + ", " + outW + ")";
    }
}
