package dev.normnet.cli;

import dev.normnet.backend.DeviceMemoryException;
import dev.normnet.backend.DeviceUnavailableException;
import dev.normnet.data.DataException;
import dev.normnet.io.ModelFileException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.List;
import picocli.CommandLine;

/**
 * The one error policy of every command: sorts errors into the user's to fix (exit 2) and internal
 * ones (exit 1), and words them as one line.
 *
 * <p>The user's: a bad flag or value (picocli's {@link CommandLine.ParameterException}, or a
 * {@link UsageException} from a command's own checks), a missing, corrupt or wrong-shaped file
 * ({@link FileSystemException}, {@link DataException}, {@link ModelFileException}, a {@link UsageException} from
 * {@link JsonFiles}), a device that was asked for and is not usable
 * ({@link DeviceUnavailableException}), a request too large for the GPU's memory
 * ({@link DeviceMemoryException}: the remedy is a smaller --batch or --resize). Everything else is
 * internal, CUDA errors included (their message names the call or kernel, the op and its sizes).
 */
final class Errors {
    private Errors() {
    }

    /** True for errors caused by the command line, the files it names, or the machine's devices. */
    static boolean isUserError(Throwable t) {
        return t instanceof UsageException
                || t instanceof CommandLine.ParameterException
                || t instanceof DataException
                || t instanceof ModelFileException
                || t instanceof DeviceUnavailableException
                || t instanceof DeviceMemoryException
                || t instanceof FileSystemException;
    }

    /** The message as one line; internal errors also name their exception type. */
    static String oneLine(Throwable t, boolean user) {
        String message;
        if (t instanceof OutOfMemoryError) {
            message = "out of memory (" + t.getMessage() + "); give the JVM more with NORMNET_JAVA_OPTS=-Xmx<size>"
                    + " or use a smaller --batch or --resize";
        } else if (t instanceof FileSystemException f) {
            String reason = f instanceof AccessDeniedException ? "permission denied"
                    : f instanceof NoSuchFileException ? "no such file or directory"
                    : f instanceof NotDirectoryException ? "not a directory"
                    : f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
            message = f.getFile() + ": " + reason;
        } else if (t instanceof DeviceMemoryException) {
            message = t.getMessage() + "; use a smaller --batch or --resize";
        } else if (t instanceof DeviceUnavailableException) {
            message = "no usable GPU: " + t.getMessage();
        } else if (t instanceof CommandLine.ParameterException p) {
            message = lowerFirst(p.getMessage());
            if (p instanceof CommandLine.UnmatchedArgumentException u) {
                List<String> suggestions = u.getSuggestions();
                if (!suggestions.isEmpty()) {
                    message += " (did you mean " + String.join(" or ", suggestions) + "?)";
                }
            }
            String command = p.getCommandLine() == null ? null : p.getCommandLine().getCommandSpec().qualifiedName();
            message += " (see " + (command == null ? "normnet" : command) + " --help)";
        } else {
            message = t.getMessage() == null || t.getMessage().isBlank() ? t.getClass().getName() : t.getMessage();
            if (!user) {
                message = "internal error: " + t.getClass().getSimpleName() + ": " + message
                        + " (run with --debug for the stack trace)";
            }
        }
        return message.replaceAll("\\s*[\\r\\n]+\\s*", "; ").trim();
    }

    /** "Unknown option: ..." becomes "unknown option: ..."; an acronym ("GPU ...") stays. */
    private static String lowerFirst(String s) {
        if (s == null || s.length() < 2 || !Character.isUpperCase(s.charAt(0)) || Character.isUpperCase(s.charAt(1))) {
            return s;
        }
        return Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }
}
