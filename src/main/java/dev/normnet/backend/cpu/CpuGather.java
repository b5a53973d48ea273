package dev.normnet.backend.cpu;

import dev.normnet.backend.GatherGeometry;
import dev.normnet.data.Resize;

/**
 * Batch assembly on the CPU (both CPU paths use it): images stay as uint8 on the heap
 * ({@link CpuResidentImages}); each batch is gathered by index, scaled by 1/255 and resized
 * (bilinear, as torch's interpolate with align_corners=False) into x. The order and cursor live
 * in host memory, so their values are checked here.
 */
final class CpuGather {
    private final WorkerPool pool;

    CpuGather(WorkerPool pool) {
        this.pool = pool;
    }

    /** See {@code Backend.gatherBatch}. */
    void gather(String op, CpuResidentImages im, CpuTensor co, CpuTensor cc, CpuTensor cx, CpuTensor cl, GatherGeometry g) {
        int b = g.b(), outH = g.outH(), outW = g.outW();
        float start = cc.get(0);
        if (!(start >= 0f) || start != (int) start) {
            throw new IllegalArgumentException(op + ": cursor must be a non-negative integer, got " + start);
        }
        int first = (int) start;
        if ((long) first + b > co.size()) {
            throw new IllegalArgumentException(op + ": the order ran out: cursor " + first + " + batch " + b
                    + " > " + co.size() + " indices");
        }
        for (int i = 0; i < b; i++) {
            float j = co.get(first + i);
            if (!(j >= 0f && j < im.count()) || j != (int) j) {
                throw new IllegalArgumentException(op + ": order[" + (first + i) + "] = " + j
                        + " is not an image index in [0, " + im.count() + ")");
            }
        }
        byte[] pixels = im.pixels();
        byte[] imageLabels = im.labels();
        int inH = im.height(), inW = im.width();
        float[] xa = cx.data(), la = cl.data();
        int xo = cx.off(), lo = cl.off();
        pool.run(b, 1, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int j = (int) co.get(first + i);
                Resize.bilinear(pixels, j * inH * inW, inH, inW, xa, xo + i * outH * outW, outH, outW, 255f);
                la[lo + i] = imageLabels[j] & 0xFF;
            }
        });
        cc.set(0, start + b);
    }
}
