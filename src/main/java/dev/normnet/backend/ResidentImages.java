package dev.normnet.backend;

/** A labelled image set kept on a backend's device; see {@link Backend#uploadImages}. */
public interface ResidentImages extends AutoCloseable {
    int count();

    int height();

    int width();

    @Override
    void close();
}
