package dev.normnet.cli;

/**
 * A problem the user can fix by changing the command line or the files it names: an unknown flag,
 * a missing or malformed value, a value out of range, a missing file. {@link Main} prints the
 * message as one line on stderr and exits with status 2.
 */
public class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }

    public UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
