package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {

    @Test
    void aFailedWriteKeepsTheOldFileAndLeavesNoTemporary(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("history.json");
        Files.writeString(target, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(target, p -> {
            Files.writeString(p, "half");
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(target));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void aSuccessfulWriteReplacesTheFile(@TempDir Path dir) throws IOException {
        Path target = dir.resolve("h.json");
        Files.writeString(target, "old");
        AtomicFiles.writeString(target, "new");
        assertEquals("new", Files.readString(target));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void unwritableTargetsAreRefusedUpFront(@TempDir Path dir) {
        UsageException e = assertThrows(UsageException.class,
                () -> AtomicFiles.checkWritable("save", dir.resolve("missing").resolve("m.ckpt")));
        assertEquals("--save " + dir.resolve("missing").resolve("m.ckpt") + ": directory " + dir.resolve("missing")
                + " does not exist", e.getMessage());
        assertThrows(UsageException.class, () -> AtomicFiles.checkWritable("history", dir));
    }
}
