package dev.normnet.data;

/**
 * A data set file that cannot be used: missing, malformed, inconsistent with its partner file, or
 * a download that failed or did not match its pinned digest. The message is one line and names the
 * file (or directory, or URL) and what is wrong with it.
 */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
