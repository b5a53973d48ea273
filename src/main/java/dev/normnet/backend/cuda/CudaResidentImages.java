package dev.normnet.backend.cuda;

import dev.normnet.backend.ResidentImages;

/** A labelled image set in device memory: uint8 pixels (count, height, width) and float labels (count). */
final class CudaResidentImages implements ResidentImages {
    private final CudaBackend backend;
    final CudaTensor.Storage pixels;  // (count * height * width) bytes, allocated as ceil(bytes / 4) floats
    final CudaTensor labels;          // (count)
    private final int count;
    private final int height;
    private final int width;

    CudaResidentImages(CudaBackend backend, CudaTensor.Storage pixels, CudaTensor labels, int count, int height, int width) {
        this.backend = backend;
        this.pixels = pixels;
        this.labels = labels;
        this.count = count;
        this.height = height;
        this.width = width;
    }

    CudaBackend backend() {
        return backend;
    }

    @Override
    public int count() {
        return count;
    }

    @Override
    public int height() {
        return height;
    }

    @Override
    public int width() {
        return width;
    }

    @Override
    public void close() {
        backend.free(pixels);
        labels.close();
    }
}
