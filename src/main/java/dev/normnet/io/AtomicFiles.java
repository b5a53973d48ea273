package dev.normnet.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Writes output files so that a failure never destroys what was there, and so that nothing but
 * the file named is changed.
 *
 * <ul>
 *   <li>The content goes to a temporary file beside the target, {@code .NAME.<16 hex digits>.tmp},
 *       which then replaces the target in one move. A failure at any point (the writer throws, the
 *       disk is full, the move fails, an {@link Error}) removes the temporary file and leaves the
 *       target as it was.</li>
 *   <li>A target that exists must be a regular file: a directory, a device, a FIFO or a socket is
 *       refused, never replaced.</li>
 *   <li>A symbolic link is followed to its final target, which is written; the link stays a link.
 *       A dangling link creates its target when the target's directory exists.</li>
 *   <li>A target that exists keeps its permissions (and its owner and group where the process may
 *       set them); a new file gets the permissions the umask gives.</li>
 *   <li>No directory is created: a missing one is an error.</li>
 *   <li>Temporary files of an earlier write to the same target that was killed before it could
 *       clean up are removed: names of the form above (and names that continue it with a suffix, which
 *       a writer may use for its own temporary file) last modified more than a minute ago. Nothing
 *       else writes such names; the minute spares the file of a write in progress.</li>
 * </ul>
 */
public final class AtomicFiles {
    /** Temporary files not modified for this long belong to a write that died. */
    public static final long STALE_MILLIS = 60_000;

    private static final int MAX_LINKS = 40;

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
        Path dest = destination(target);
        Path dir = dest.getParent();
        String name = dest.getFileName().toString();
        removeStale(dir, name);
        Path tmp = createTemp(dir, name);
        try {
            writer.write(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            if (Files.exists(dest)) {
                copyAttributes(dest, tmp);
            }
            try {
                Files.move(tmp, dest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dest, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (Throwable t) {
            removeTemp(dir, tmp, t);
            throw t;
        }
    }

    /**
     * Checks, before any long work starts, that {@code target} can be written: it is a regular file
     * or does not exist yet (after following symbolic links), its directory exists, and a file can
     * be created there (one is, and deleted again).
     *
     * @throws IOException saying what is wrong ({@link #reason} words it without the temporary file)
     */
    public static void checkWritable(Path target) throws IOException {
        Path dest = destination(target);
        Path dir = dest.getParent();
        try {
            Files.delete(createTemp(dir, dest.getFileName().toString()));
        } catch (IOException e) {
            throw new FileSystemException(target.toString(), null, "cannot create a file in directory " + dir
                    + " (" + reason(e) + ")");
        }
    }

    /**
     * True when {@code a} and {@code b} name the same file: the same file when both exist, else the
     * same path once symbolic links and {@code ..} are resolved.
     */
    public static boolean sameFile(Path a, Path b) {
        try {
            if (Files.exists(a) && Files.exists(b)) {
                return Files.isSameFile(a, b);
            }
        } catch (IOException e) {
            // fall through to comparing paths
        }
        return resolved(a).equals(resolved(b));
    }

    private static Path resolved(Path p) {
        try {
            return destination(p);
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    /**
     * The file a write to {@code target} replaces or creates: the end of its chain of symbolic
     * links, in its directory's real path.
     *
     * @throws FileSystemException naming {@code target} when it is not a regular file, cannot be
     *         written, or its directory does not exist
     */
    public static Path destination(Path target) throws IOException {
        BasicFileAttributes now = null;
        try {
            now = Files.readAttributes(target, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            // a new file, or a dangling link
        } catch (FileSystemException e) {
            Path parent = target.toAbsolutePath().getParent();
            if (parent == null || Files.isDirectory(parent)) {
                throw e;
            }
            // the loop below says what is wrong with the directory
        }
        if (now != null && now.isDirectory()) {
            throw new FileSystemException(target.toString(), null, "is a directory");
        }
        if (now != null && !now.isRegularFile()) {
            throw new FileSystemException(target.toString(), null, "not a regular file");
        }
        Path p = target.toAbsolutePath();
        for (int links = 0; ; links++) {
            Path parent = p.getParent();
            Path name = p.getFileName();
            if (parent == null || name == null || name.toString().equals(".") || name.toString().equals("..")) {
                throw new FileSystemException(target.toString(), null, "is a directory");
            }
            if (!Files.exists(parent)) {
                throw new FileSystemException(target.toString(), null, "directory " + parent + " does not exist");
            }
            if (!Files.isDirectory(parent)) {
                throw new FileSystemException(target.toString(), null, parent + " is not a directory");
            }
            p = parent.toRealPath().resolve(name);
            if (!Files.isSymbolicLink(p)) {
                break;
            }
            if (links == MAX_LINKS) {
                throw new FileSystemException(target.toString(), null, "too many levels of symbolic links");
            }
            p = p.getParent().resolve(Files.readSymbolicLink(p));
        }
        if (now != null && !(Files.exists(p, LinkOption.NOFOLLOW_LINKS) && Files.isSameFile(target, p))) {
            // a link the kernel follows but its text does not lead to (as /proc/PID/fd/N of a deleted file)
            throw new FileSystemException(target.toString(), null, "cannot follow its symbolic links to the file");
        }
        if (now != null && !Files.isWritable(p)) {
            throw new AccessDeniedException(target.toString());
        }
        return p;
    }

    /** A new empty file {@code .NAME.<16 hex digits>.tmp} in {@code dir}, with the permissions the umask gives. */
    private static Path createTemp(Path dir, String name) throws IOException {
        while (true) {
            Path tmp = dir.resolve("." + name + "." + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                return Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                // another random name
            }
        }
    }

    /** Removes {@code tmp} and whatever the writer left beside it under its name plus a suffix. */
    private static void removeTemp(Path dir, Path tmp, Throwable failure) {
        String prefix = tmp.getFileName().toString();
        try {
            Files.deleteIfExists(tmp);
            try (DirectoryStream<Path> left = Files.newDirectoryStream(dir,
                    p -> p.getFileName().toString().startsWith(prefix + "."))) {
                for (Path p : left) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    /** Deletes temporary files of earlier writes to {@code dir/name} that died, quietly: the write does not depend on it. */
    private static void removeStale(Path dir, String name) {
        Pattern ours = Pattern.compile(Pattern.quote("." + name + ".") + "[0-9a-f]{16}\\.tmp(\\..+)?");
        long before = System.currentTimeMillis() - STALE_MILLIS;
        try (DirectoryStream<Path> found = Files.newDirectoryStream(dir, p -> ours.matcher(p.getFileName().toString()).matches())) {
            for (Path p : found) {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    if (a.isRegularFile() && a.lastModifiedTime().compareTo(FileTime.fromMillis(before)) < 0) {
                        Files.delete(p);
                    }
                } catch (IOException e) {
                    // gone already, or not ours to delete
                }
            }
        } catch (IOException | RuntimeException e) {
            // an unreadable directory: the write itself will say what is wrong
        }
    }

    /** Gives {@code tmp} the permissions, and where allowed the owner and group, of {@code dest}. */
    private static void copyAttributes(Path dest, Path tmp) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(tmp, PosixFileAttributeView.class);
        if (view == null) {
            return;
        }
        PosixFileAttributes was = Files.readAttributes(dest, PosixFileAttributes.class);
        PosixFileAttributes is = view.readAttributes();
        // Only root may give a file away, and others only to their own groups; where not allowed the
        // file is the writer's, as any new file is.
        try {
            if (!is.group().equals(was.group())) {
                view.setGroup(was.group());
            }
        } catch (FileSystemException e) {
            // kept the writer's group
        }
        try {
            if (!is.owner().equals(was.owner())) {
                view.setOwner(was.owner());
            }
        } catch (FileSystemException e) {
            // kept the writer as owner
        }
        view.setPermissions(was.permissions());
    }

    /** The reason of an I/O error in words, without the path of the temporary file it may name. */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException f) {
            return f instanceof AccessDeniedException ? "permission denied"
                    : f instanceof NoSuchFileException ? "no such file or directory"
                    : f instanceof NotDirectoryException ? "not a directory"
                    : f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
        }
        return e.getMessage() != null && !e.getMessage().isBlank() ? e.getMessage() : e.getClass().getSimpleName();
    }
}
