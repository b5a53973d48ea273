package dev.normnet.backend;

/** The requested device cannot be used here; the message is the reason, e.g. {@code "no NVIDIA driver"}. */
public class DeviceUnavailableException extends RuntimeException {
    public DeviceUnavailableException(String reason) {
        super(reason);
    }
}
