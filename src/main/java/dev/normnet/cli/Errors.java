package dev.normnet.cli;

import dev.normnet.data.DataException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/** Sorts errors into the user's to fix (exit 2) and internal ones (exit 1), and words them as one line. */
final class Errors {
    private Errors() {
    }

    /** True for errors caused by the command line, the files it names, or the machine's devices. */
    static boolean isUserError(Throwable t) {
        return t instanceof UsageException
                || t instanceof DataException
                || t instanceof FileSystemException;
    }

    /** The message as one line; internal errors also name their exception type. */
    static String oneLine(Throwable t, boolean user) {
        String message;
        if (t instanceof OutOfMemoryError) {
            message = "out of memory (" + t.getMessage() + "); give the JVM more with NORMNET_JAVA_OPTS=-Xmx<size>"
                    + " or use a smaller --batch or --resize";
        } else if (t instanceof FileSystemException) {
            FileSystemException f = (FileSystemException) t;
            String reason = f instanceof AccessDeniedException ? "permission denied"
                    : f instanceof NoSuchFileException ? "no such file or directory"
                    : f instanceof NotDirectoryException ? "not a directory"
                    : f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
            message = f.getFile() + ": " + reason;
        } else {
            message = t.getMessage() == null || t.getMessage().isBlank() ? t.getClass().getName() : t.getMessage();
            if (!user) {
                message = "internal error: " + t.getClass().getSimpleName() + ": " + message
                        + " (run with --debug for the stack trace)";
            }
        }
        return message.replaceAll("\\s*[\\r\\n]+\\s*", "; ").trim();
    }
}
