package dev.normnet.cli;

import dev.normnet.io.AtomicFiles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    /** The names in {@code d}, sorted. */
    private static Set<String> names(Path d) throws IOException {
        try (Stream<Path> files = Files.list(d)) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static boolean isPosix(Path p) {
        return Files.getFileAttributeView(p, PosixFileAttributeView.class) != null;
    }

    private static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }


    // ---------------------------------------------------------------- whole or not at all

    @Test
    void aSuccessfulWriteReplacesTheFile() throws IOException {
        Path target = dir.resolve("h.json");
        Files.writeString(target, "old");
        AtomicFiles.writeString(target, "new");
        assertEquals("new", Files.readString(target));
        assertEquals(Set.of("h.json"), names(dir));
    }

    @Test
    void aWriterThatThrowsLeavesTheOldFileAndNoTemporary() throws IOException {
        Path target = dir.resolve("history.json");
        Files.writeString(target, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p, "half");
            throw new IOException("disk full");
        }));
        assertThrows(IllegalStateException.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p, "half");
            throw new IllegalStateException("bug");
        }));
        assertThrows(OutOfMemoryError.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p, "half");
            throw new OutOfMemoryError("Java heap space");
        }));
        assertEquals("old", Files.readString(target));
        assertEquals(Set.of("history.json"), names(dir));
    }

    @Test
    void whatAWriterLeavesBesideItsTemporaryFileIsRemovedToo() throws IOException {
        Path target = dir.resolve("m.ckpt");
        Files.writeString(target, "old");
        // a writer with a temporary file of its own, as Checkpoint.save has
        assertThrows(IOException.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p.resolveSibling(p.getFileName() + ".tmp"), "half");
            throw new IOException("No space left on device");
        }));
        assertEquals("old", Files.readString(target));
        assertEquals(Set.of("m.ckpt"), names(dir));
    }

    @Test
    void aFailedMoveLeavesNoTemporary() throws IOException {
        Path target = dir.resolve("out.png");
        // the target turns into a directory that is not empty while the content is written: the move fails
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p, "picture");
            Files.createDirectories(target.resolve("inside"));
        }));
        assertTrue(Files.isDirectory(target.resolve("inside")), e.toString());
        assertEquals(Set.of("out.png"), names(dir));
    }

    @Test
    void aFullDiskIsTheUsersErrorNamingTheOptionAndKeepsTheOldFile() throws IOException {
        Path target = dir.resolve("m.ckpt");
        Files.writeString(target, "the previous checkpoint");
        UsageException e = assertThrows(UsageException.class, () -> Outputs.write("--save", target, p -> {
            Files.write(p, new byte[4096]);
            throw new IOException("No space left on device");
        }));
        assertEquals("--save " + target + ": No space left on device", e.getMessage());
        assertEquals("the previous checkpoint", Files.readString(target));
        assertEquals(Set.of("m.ckpt"), names(dir));
    }

    @Test
    void aFileSystemErrorNamesTheTargetAndTheReasonNotTheTemporaryFile() throws IOException {
        Path target = dir.resolve("h.json");
        UsageException e = assertThrows(UsageException.class, () -> Outputs.write("--history", target, p -> {
            throw new FileSystemException(p.toString(), null, "Read-only file system");
        }));
        assertEquals("--history " + target + ": Read-only file system", e.getMessage());
        assertEquals(Set.of(), names(dir));
    }

    // ---------------------------------------------------------------- never replace what is not a regular file

    @Test
    void aFifoIsRefusedAndStaysAFifo() throws Exception {
        Path pipe = CliTestSupport.fifo(dir.resolve("pipe"));
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--save", pipe));
        assertEquals("--save " + pipe + ": not a regular file", e.getMessage());
        FileSystemException w = assertThrows(FileSystemException.class, () -> AtomicFiles.writeString(pipe, "x"));
        assertEquals("not a regular file", w.getReason());
        e = assertThrows(UsageException.class, () -> JsonFiles.write("--history", pipe, List.of(1)));
        assertEquals("--history " + pipe + ": not a regular file", e.getMessage());
        assertTrue(Files.readAttributes(pipe, "unix:mode").get("mode") instanceof Integer m && (m & 0170000) == 0010000,
                "still a FIFO");
        assertEquals(Set.of("pipe"), names(dir));
    }

    @Test
    void deviceNodesAreRefused() {
        for (String device : List.of("/dev/null", "/dev/full")) {
            Path node = Path.of(device);
            assumeTrue(Files.exists(node) && !Files.isRegularFile(node), device + " is not a device here");
            UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--history", node));
            assertEquals("--history " + device + ": not a regular file", e.getMessage());
        }
    }

    @Test
    void aDirectoryIsRefused() throws IOException {
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--history", dir));
        assertEquals("--history " + dir + ": is a directory", e.getMessage());
        Path link = Files.createSymbolicLink(dir.resolve("to-dir"), dir);
        e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--out", link));
        assertEquals("--out " + link + ": is a directory", e.getMessage());
    }

    // ---------------------------------------------------------------- symbolic links

    @Test
    void aSymbolicLinkIsWrittenThroughAndStaysALink() throws IOException {
        Path real = Files.createDirectories(dir.resolve("runs")).resolve("h.json");
        Files.writeString(real, "old");
        Path link = Files.createSymbolicLink(dir.resolve("latest.json"), Path.of("runs", "h.json"));
        Path chain = Files.createSymbolicLink(dir.resolve("chain.json"), Path.of("latest.json"));
        Outputs.checkWritable("--history", chain);
        AtomicFiles.writeString(chain, "new");
        assertTrue(Files.isSymbolicLink(link) && Files.isSymbolicLink(chain));
        assertEquals(Path.of("latest.json"), Files.readSymbolicLink(chain));
        assertEquals("new", Files.readString(real));
        assertEquals(Set.of("chain.json", "latest.json", "runs"), names(dir));
        assertEquals(Set.of("h.json"), names(dir.resolve("runs")));
    }

    @Test
    void aDanglingLinkCreatesItsTargetWhenItsDirectoryExists() throws IOException {
        Path runs = Files.createDirectories(dir.resolve("runs"));
        Path link = Files.createSymbolicLink(dir.resolve("latest.json"), runs.resolve("new.json"));
        Outputs.checkWritable("--history", link);
        AtomicFiles.writeString(link, "{}");
        assertTrue(Files.isSymbolicLink(link));
        assertEquals("{}", Files.readString(runs.resolve("new.json")));

        Path nowhere = Files.createSymbolicLink(dir.resolve("nowhere.json"), dir.resolve("missing").resolve("x.json"));
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--history", nowhere));
        assertEquals("--history " + nowhere + ": directory " + dir.resolve("missing") + " does not exist", e.getMessage());
        assertThrows(IOException.class, () -> AtomicFiles.writeString(nowhere, "{}"));
        assertFalse(Files.exists(dir.resolve("missing")));
        assertTrue(Files.isSymbolicLink(nowhere));
    }

    @Test
    void aLinkThroughALinkedDirectoryResolvesAsTheSystemDoes() throws IOException {
        // a/up.json -> ../target.json, where a is a link to deep/er: the file is deep/target.json
        Path deep = Files.createDirectories(dir.resolve("deep").resolve("er"));
        Files.createSymbolicLink(deep.resolve("up.json"), Path.of("..", "target.json"));
        Path a = Files.createSymbolicLink(dir.resolve("a"), deep);
        AtomicFiles.writeString(a.resolve("up.json"), "x");
        assertEquals("x", Files.readString(dir.resolve("deep").resolve("target.json")));
        assertFalse(Files.exists(dir.resolve("target.json")));
    }

    @Test
    void aLinkLoopIsRefused() throws IOException {
        Path one = Files.createSymbolicLink(dir.resolve("one"), Path.of("two"));
        Files.createSymbolicLink(dir.resolve("two"), Path.of("one"));
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--save", one));
        assertTrue(e.getMessage().startsWith("--save " + one + ": "), e.getMessage());
        assertThrows(IOException.class, () -> AtomicFiles.writeString(one, "x"));
        assertTrue(Files.isSymbolicLink(one));
    }

    // ---------------------------------------------------------------- permissions

    @Test
    void anExistingFileKeepsItsPermissions() throws IOException {
        assumeTrue(isPosix(dir), "not a POSIX file system");
        Path target = dir.resolve("h.json");
        Files.writeString(target, "old");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r-----"));
        AtomicFiles.writeString(target, "new");
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxrwxr-x"));
        AtomicFiles.write(target, p -> Files.writeString(p, "newer"));
        assertEquals("rwxrwxr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        // also when the writer makes the file anew, as ImageIO and Checkpoint.save do
        AtomicFiles.write(target, p -> {
            Files.delete(p);
            Files.writeString(p, "newest");
        });
        assertEquals("rwxrwxr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        assertEquals("newest", Files.readString(target));
    }

    @Test
    void aNewFileGetsThePermissionsOfAPlainWrite() throws IOException {
        assumeTrue(isPosix(dir), "not a POSIX file system");
        Path plain = Files.writeString(dir.resolve("plain.json"), "x");
        Path target = dir.resolve("h.json");
        AtomicFiles.writeString(target, "x");
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(target));
    }

    @Test
    void anExistingFileKeepsItsOwnerWhenRootWrites() throws IOException {
        assumeTrue(isPosix(dir) && isRoot(), "needs root on a POSIX file system");
        UserPrincipal nobody;
        try {
            nobody = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        } catch (IOException e) {
            assumeTrue(false, "no user nobody");
            return;
        }
        Path target = dir.resolve("h.json");
        Files.writeString(target, "old");
        Files.setOwner(target, nobody);
        AtomicFiles.writeString(target, "new");
        assertEquals(nobody, Files.getOwner(target));
    }

    @Test
    void aReadOnlyFileIsRefusedLikeAPlainWrite() throws IOException {
        assumeTrue(isPosix(dir) && !isRoot(), "root may write any file");
        Path target = dir.resolve("h.json");
        Files.writeString(target, "old");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r--r--r--"));
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--history", target));
        assertEquals("--history " + target + ": permission denied", e.getMessage());
        assertEquals("old", Files.readString(target));
    }

    // ---------------------------------------------------------------- temporary files

    @Test
    void staleTemporaryFilesOfTheTargetAreRemovedAndNothingElse() throws IOException {
        Path target = dir.resolve("h.json");
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 2 * AtomicFiles.STALE_MILLIS);
        List<String> stale = List.of(".h.json.0123456789abcdef.tmp", ".h.json.fedcba9876543210.tmp.tmp");
        List<String> kept = List.of(
                ".h.json.00000000000000aa.tmp",          // a write in progress: modified just now
                ".h.json.0123456789abcdef.tmpx",          // not our naming
                ".h.json.123.tmp",                        // not our naming
                ".h.json.x.0123456789abcdef.tmp",         // the temporary file of another target, h.json.x
                ".g.json.0123456789abcdef.tmp",           // another target's
                "h.json.0123456789abcdef.tmp");           // not hidden: someone's file
        for (String name : stale) {
            Files.setLastModifiedTime(Files.writeString(dir.resolve(name), "half"), old);
        }
        for (String name : kept) {
            Path p = Files.writeString(dir.resolve(name), "keep");
            if (!name.equals(".h.json.00000000000000aa.tmp")) {
                Files.setLastModifiedTime(p, old);
            }
        }
        AtomicFiles.writeString(target, "new");
        Set<String> expected = new TreeSet<>(kept);
        expected.add("h.json");
        assertEquals(expected, names(dir));
    }

    @Test
    void checkWritableTriesToCreateAFileAndLeavesNone() throws IOException {
        Path target = dir.resolve("h.json");
        Outputs.checkWritable("--history", target);
        assertEquals(Set.of(), names(dir));
        Files.writeString(target, "old");
        Outputs.checkWritable("--history", target);
        assertEquals("old", Files.readString(target));
        assertEquals(Set.of("h.json"), names(dir));
    }

    @Test
    void aDirectoryWhereNoFileCanBeCreatedIsRefusedUpFront() {
        // /proc takes no files, not even from root
        Path proc = Path.of("/proc");
        assumeTrue(Files.isDirectory(proc.resolve("self")), "no /proc here");
        UsageException e = assertThrows(UsageException.class,
                () -> Outputs.checkWritable("--history", proc.resolve("x.json")));
        assertTrue(e.getMessage().startsWith("--history /proc/x.json: cannot create a file in directory /proc ("),
                e.getMessage());
    }

    @Test
    void aReadOnlyDirectoryIsRefusedUpFront() throws IOException {
        assumeTrue(isPosix(dir) && !isRoot(), "root may write any directory");
        Path ro = Files.createDirectories(dir.resolve("ro"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            UsageException e = assertThrows(UsageException.class,
                    () -> Outputs.checkWritable("--save", ro.resolve("m.ckpt")));
            assertEquals("--save " + ro.resolve("m.ckpt") + ": cannot create a file in directory " + ro.toRealPath()
                    + " (permission denied)", e.getMessage());
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    // ---------------------------------------------------------------- directories

    @Test
    void aMissingDirectoryIsRefusedAndNotCreated() {
        Path target = dir.resolve("missing").resolve("m.ckpt");
        UsageException e = assertThrows(UsageException.class, () -> Outputs.checkWritable("--save", target));
        assertEquals("--save " + target + ": directory " + dir.resolve("missing") + " does not exist", e.getMessage());
        e = assertThrows(UsageException.class, () -> Outputs.write("--save", target, p -> Files.writeString(p, "x")));
        assertEquals("--save " + target + ": directory " + dir.resolve("missing") + " does not exist", e.getMessage());
        assertFalse(Files.exists(dir.resolve("missing")));
    }

    @Test
    void aFileInPlaceOfTheDirectoryIsRefused() throws IOException {
        Path file = Files.writeString(dir.resolve("file"), "x");
        UsageException e = assertThrows(UsageException.class,
                () -> Outputs.checkWritable("--json", file.resolve("b.json")));
        assertEquals("--json " + file.resolve("b.json") + ": " + file + " is not a directory", e.getMessage());
    }

    // ---------------------------------------------------------------- one file, two uses

    @Test
    void sameFileSeesThroughLinksDotsAndHardLinks() throws IOException {
        Path a = dir.resolve("a.json");
        Path sub = Files.createDirectories(dir.resolve("sub"));
        assertTrue(AtomicFiles.sameFile(a, sub.resolve("..").resolve("a.json")), "neither exists: by path");
        assertFalse(AtomicFiles.sameFile(a, dir.resolve("b.json")));
        Files.writeString(a, "x");
        assertTrue(AtomicFiles.sameFile(a, sub.resolve("..").resolve("a.json")));
        assertTrue(AtomicFiles.sameFile(a, Files.createSymbolicLink(dir.resolve("link.json"), a)));
        assertTrue(AtomicFiles.sameFile(Files.createSymbolicLink(dir.resolve("to-new.json"), Path.of("new.json")),
                dir.resolve("new.json")), "a dangling link and the file it would create");
        assertTrue(AtomicFiles.sameFile(a, Files.createLink(dir.resolve("hard.json"), a)));
        Path copy = Files.writeString(dir.resolve("copy.json"), "x");
        assertFalse(AtomicFiles.sameFile(a, copy));
    }

    @Test
    void distinctFilesNamesBothOptions() throws IOException {
        Path a = dir.resolve("run.json");
        UsageException e = assertThrows(UsageException.class,
                () -> Check.distinctFiles("--history", a, "--save", dir.resolve(".").resolve("run.json")));
        assertEquals("--history " + a + " and --save " + dir.resolve(".").resolve("run.json") + " are the same file",
                e.getMessage());
        Check.distinctFiles("--history", a, "--save", dir.resolve("run.ckpt"));
        Check.distinctFiles("--history", a, "--save", null);
        Check.distinctFiles("--history", null, "--save", null);
        assertEquals(Set.of(), names(dir));
    }
}
