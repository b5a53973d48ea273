package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.LaunchGeometry.ceilDiv;

import dev.normnet.backend.GatherGeometry;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * Launch code of data.cu: a labelled image set kept on the device (uint8 pixels, float labels)
 * and the gather of a batch from it, x (B, 1, H, W) and labels (B), in the order a device
 * tensor gives from a device cursor, which the same launch advances by B.
 */
final class CudaGather {
    private final OpContext ctx;
    private final Kernel gather;

    CudaGather(OpContext ctx) {
        this.ctx = ctx;
        gather = ctx.kernel("gather_batch");
    }

    /** Copies count images of height x width pixels, and their labels, to the device. */
    ResidentImages upload(byte[] pixels, byte[] labels, int count, int height, int width) {
        String op = "uploadImages";
        ctx.enter();
        ctx.noTransferWhileCapturing(op, null);
        GatherGeometry.checkUpload(op, pixels, labels, count, height, width);
        CudaTensor.Storage pixelStorage = ctx.memory.allocate(Math.max(1, ceilDiv(pixels.length, Float.BYTES)), "uploadImages pixels");
        ctx.memory.upload(pixelStorage.base, pixels, "uploadImages pixels");
        float[] labelValues = new float[count];
        for (int i = 0; i < count; i++) {
            labelValues[i] = labels[i] & 0xFF;
        }
        CudaTensor labelTensor = (CudaTensor) ctx.owner().allocate(Shape.of(Math.max(count, 1)));  // (count)
        if (count > 0) {
            labelTensor.view(0, Shape.of(count)).copyFrom(labelValues);
        }
        return new CudaResidentImages(ctx.owner(), pixelStorage, labelTensor, count, height, width);
    }

    /** x[i] = images[order[cursor + i]] / 255 (resized bilinearly to H x W), labels[i] its label; cursor += B. */
    void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        String op = "gatherBatch";
        CudaTensor co = ctx.cuda(op, "order", order);    // (count or more)
        CudaTensor cc = ctx.cuda(op, "cursor", cursor);  // (1)
        CudaTensor cx = ctx.cuda(op, "x", x);            // (B, 1, H, W)
        CudaTensor cl = ctx.cuda(op, "labels", labels);  // (B)
        GatherGeometry g = GatherGeometry.check(op, images, co, cc, cx, cl);
        if (!(images instanceof CudaResidentImages im) || im.backend() != ctx.owner()) {
            throw new IllegalArgumentException(op + ": images must come from this CudaBackend's uploadImages, got "
                    + images.getClass().getName());
        }
        float sh = (float) g.inH() / g.outH();
        float sw = (float) g.inW() / g.outW();
        ctx.launch(gather, LaunchGeometry.wideStrideBlocks((long) g.b() * g.outH() * g.outW()), 1, 1, LaunchGeometry.THREADS, 0, g,
                OpContext.args().raw(im.pixels.base).ptr(im.labels).ptr(co).ptr(cc).raw(ctx.tickets(1)).ptr(cx).ptr(cl)
                        .i(g.b()).i(g.count()).i(g.orderLength()).i(g.inH()).i(g.inW()).i(g.outH()).i(g.outW())
                        .f(sh).f(sw).f(255f));
    }
}
