package dev.normnet.backend;

/**
 * A device ran out of memory for a request the command line made (a batch or an input size too
 * large for the GPU). The message names what was being allocated or launched, its sizes, and what
 * the device had free; the device stays usable, so the program may go on with less.
 */
public class DeviceMemoryException extends RuntimeException {
    public DeviceMemoryException(String message) {
        super(message);
    }
}
