package dev.normnet.train;

/** A checkpoint file that cannot be read into a model; the message names the file and the tensor. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }
}
