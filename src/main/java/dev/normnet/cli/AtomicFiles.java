package dev.normnet.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes files so that a failure never destroys what was there: the content goes to a temporary
 * file in the same directory, which then replaces the target in one move.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Something that writes a whole file at the path it is given. */
    public interface Writer {
        void write(Path path) throws IOException;
    }

    /** Writes {@code text} as UTF-8 to {@code target} through a temporary file. */
    public static void writeString(Path target, String text) throws IOException {
        write(target, p -> Files.writeString(p, text, StandardCharsets.UTF_8));
    }

    /** Lets {@code writer} fill a temporary file beside {@code target}, then moves it over the target. */
    public static void write(Path target, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            writer.write(tmp);
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Checks, before any long work starts, that {@code target} can be written: its directory
     * exists and is writable, and the target itself is not a directory.
     *
     * @throws UsageException naming the flag and the path
     */
    public static void checkWritable(String flag, Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (Files.isDirectory(abs)) {
            throw new UsageException("--" + flag + " " + target + ": is a directory");
        }
        if (dir == null || !Files.isDirectory(dir)) {
            throw new UsageException("--" + flag + " " + target + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new UsageException("--" + flag + " " + target + ": directory " + dir + " is not writable");
        }
    }
}
