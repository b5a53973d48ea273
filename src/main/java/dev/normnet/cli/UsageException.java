package dev.normnet.cli;

/**
 * A problem the user can fix by changing the command line or the files it names: a value out of
 * range, a combination of flags that does not go together, a missing, malformed or wrong-shaped
 * file, an output path that cannot be written. {@link Main} prints the message as one line on
 * stderr and exits with status 2. (Malformed flags themselves are reported by picocli.)
 */
public class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }

    public UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
