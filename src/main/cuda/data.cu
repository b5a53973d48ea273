// data.cu: batch assembly from images kept on the device (uint8 pixels, float labels).
// gather_batch: for i in [0, B): j = order[cursor + i]; x[i, 0] = pixels[j] / 255, resized
// bilinearly to (outH, outW) when that differs from (inH, inW); labels[i] = label[j]; and the
// cursor advances by B, written by the last block to finish (every block has read the old
// cursor by then), so that a batch is one launch.
#include "common.cuh"

// gather_batch v3: one thread per output pixel, 32-bit index arithmetic; the last block to
// finish (nn_last_block) sets cursor[0] to the value every thread read plus B (*ticket must be
// 0 before the first launch). The bilinear arithmetic mirrors
// dev.normnet.data.Resize.bilinear operation by operation with explicitly rounded intrinsics
// (__fmul_rn, __fadd_rn, __fsub_rn are never contracted into fma), and the scale factors
// sh = (float) inH / outH, sw, and the divisor 255 come from the host, so results equal the CPU path bit
// for bit. An index outside [0, count) yields NaN pixels and label -1 (the device cannot throw).
NN_KERNEL void gather_batch(const unsigned char* __restrict__ pixels,  // (count, inH, inW)
                            const float* __restrict__ imageLabels,     // (count)
                            const float* __restrict__ order,           // (orderLength)
                            float* cursor,                             // (1), read by all, then written once
                            unsigned int* ticket,                      // (1)
                            float* __restrict__ x,                     // (B, 1, outH, outW)
                            float* __restrict__ labels,                // (B)
                            int B, int count, int orderLength, int inH, int inW, int outH, int outW,
                            float sh, float sw, float divisor) {
    // 32-bit index arithmetic: x's element count B * outH * outW fits in int (GatherGeometry
    // checks it), and t stays below that plus one grid's threads, under 2^32.
    const unsigned outPlane = (unsigned) outH * (unsigned) outW;
    const unsigned total = (unsigned) B * outPlane;
    const float start = cursor[0];
    const int base = (int) start;
    for (unsigned t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
        const int i = (int) (t / outPlane);
        const int o = (int) (t - (unsigned) i * outPlane);
        const int pos = base + i;
        const int j = (pos >= 0 && pos < orderLength) ? (int) order[pos] : -1;
        const bool valid = j >= 0 && j < count;
        if (o == 0) {
            labels[i] = valid ? imageLabels[j] : -1.0f;
        }
        if (!valid) {
            x[t] = __int_as_float(0x7fc00000);
            continue;
        }
        const unsigned char* src = pixels + (size_t) j * inH * inW;
        const int oy = o / outW;
        const int ox = o % outW;
        if (inH == outH && inW == outW) {
            x[t] = __fdiv_rn((float) src[o], divisor);
            continue;
        }
        float fy = fmaxf(__fsub_rn(__fmul_rn(__fadd_rn((float) oy, 0.5f), sh), 0.5f), 0.0f);
        int y0 = min((int) fy, inH - 1);
        int y1 = min(y0 + 1, inH - 1);
        float ly = __fsub_rn(fy, (float) y0);
        float fx = fmaxf(__fsub_rn(__fmul_rn(__fadd_rn((float) ox, 0.5f), sw), 0.5f), 0.0f);
        int x0 = min((int) fx, inW - 1);
        int x1 = min(x0 + 1, inW - 1);
        float lx = __fsub_rn(fx, (float) x0);
        float p00 = (float) src[y0 * inW + x0];
        float p01 = (float) src[y0 * inW + x1];
        float p10 = (float) src[y1 * inW + x0];
        float p11 = (float) src[y1 * inW + x1];
        float top = __fadd_rn(p00, __fmul_rn(__fsub_rn(p01, p00), lx));
        float bottom = __fadd_rn(p10, __fmul_rn(__fsub_rn(p11, p10), lx));
        x[t] = __fdiv_rn(__fadd_rn(top, __fmul_rn(__fsub_rn(bottom, top), ly)), divisor);
    }
    if (nn_last_block(ticket, gridDim.x) && threadIdx.x == 0) {
        cursor[0] = start + (float) B;
    }
}
