package dev.normnet.io;

/**
 * A model file that cannot be read, or cannot be read into the model asked for: not safetensors,
 * corrupt, truncated, hostile, or holding values no trained model has. The message names the file
 * and, where one is at fault, the tensor.
 */
public final class ModelFileException extends RuntimeException {
    public ModelFileException(String message) {
        super(message);
    }

    public ModelFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
