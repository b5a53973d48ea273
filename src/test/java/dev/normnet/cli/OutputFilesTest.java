package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.io.ModelFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The output files of every command (train --history and --save, plot --out, bench --json): refused
 * up front, before any work, when they cannot be written as asked; written through symbolic links
 * with the permissions they had. Commands that must fail get a --data directory that does not exist,
 * so that none of them could train or measure for long even if the output check let them through.
 */
class OutputFilesTest {
    @TempDir
    Path dir;

    private Path missingData() {
        return dir.resolve("no-data");
    }

    private static void refused(CliTestSupport.Result r, String message) {
        assertEquals(2, r.status(), r.err());
        assertEquals("normnet: " + message, r.err().strip());
        assertFalse(r.out().contains("epoch"), r.out());
    }

    private static boolean isFifo(Path p) throws IOException {
        return Files.readAttributes(p, "unix:mode").get("mode") instanceof Integer m && (m & 0170000) == 0010000;
    }

    private Path history() throws IOException {
        return Files.writeString(dir.resolve("h.json"), "{\"history\": [{\"epoch\": 1, \"train_loss\": 0.5, "
                + "\"train_acc\": 0.8, \"test_acc\": 0.8, \"examples_per_sec\": 100, \"seconds\": 1}]}\n");
    }

    // ---------------------------------------------------------------- train

    @Test
    void trainRefusesAFifoOrADeviceAsOutput() throws Exception {
        Path pipe = CliTestSupport.fifo(dir.resolve("pipe"));
        refused(CliTestSupport.run("train", "--data", missingData().toString(), "--save", pipe.toString()),
                "--save " + pipe + ": not a regular file");
        refused(CliTestSupport.run("train", "--data", missingData().toString(), "--history", pipe.toString()),
                "--history " + pipe + ": not a regular file");
        assertTrue(isFifo(pipe));
        for (String device : new String[] {"/dev/null", "/dev/full"}) {
            Path node = Path.of(device);
            if (Files.exists(node) && !Files.isRegularFile(node)) {
                refused(CliTestSupport.run("train", "--data", missingData().toString(), "--save", device),
                        "--save " + device + ": not a regular file");
                assertFalse(Files.isRegularFile(node), device + " is still a device");
            }
        }
    }

    @Test
    void trainRefusesOneFileForHistoryAndSave() throws IOException {
        Path f = dir.resolve("run.out");
        refused(CliTestSupport.run("train", "--data", missingData().toString(), "--history", f.toString(),
                "--save", f.toString()), "--history " + f + " and --save " + f + " are the same file");
        Path link = Files.createSymbolicLink(dir.resolve("link.out"), f.getFileName());
        refused(CliTestSupport.run("train", "--data", missingData().toString(), "--history", f.toString(),
                "--save", link.toString()), "--history " + f + " and --save " + link + " are the same file");
        assertFalse(Files.exists(f));
    }

    @Test
    void trainRefusesADirectoryWhereNoFileCanBeCreatedBeforeTraining() {
        assumeTrue(Files.isDirectory(Path.of("/proc/self")), "no /proc here");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", missingData().toString(),
                "--history", "/proc/x.json");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("normnet: --history /proc/x.json: cannot create a file in directory /proc ("),
                r.err());
    }

    @Test
    void trainWritesThroughSymbolicLinksAndKeepsPermissions() throws IOException {
        Path data = SyntheticData.write(dir.resolve("data"), 64, 20);
        Path runs = Files.createDirectories(dir.resolve("runs"));
        Path ckpt = runs.resolve("m.safetensors");
        Path saveLink = Files.createSymbolicLink(dir.resolve("latest.safetensors"), dir.relativize(ckpt));
        Path history = Files.writeString(runs.resolve("h.json"), "old");
        boolean posix = Files.getFileAttributeView(history, PosixFileAttributeView.class) != null;
        if (posix) {
            Files.setPosixFilePermissions(history, PosixFilePermissions.fromString("rw-rw-r--"));
        }
        Path historyLink = Files.createSymbolicLink(dir.resolve("latest.json"), history);
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--threads", "1", "--model", "mlp-bn", "--epochs", "1", "--batch", "16",
                "--save", saveLink.toString(), "--history", historyLink.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(Files.isSymbolicLink(saveLink) && Files.isSymbolicLink(historyLink));
        try (Sequential model = Models.create("mlp-bn", ModelOptions.defaults()).build(99)) {
            ModelFile.loadInto(model, ckpt);
        }
        assertEquals(1, JsonFiles.read(history, HistoryFile.class).history().size());
        if (posix) {
            assertEquals("rw-rw-r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(history)));
        }
        try (var left = Files.list(runs)) {
            assertArrayEquals(new String[] {"h.json", "m.safetensors"}, left.map(p -> p.getFileName().toString()).sorted()
                    .toArray(String[]::new));
        }
    }

    // ---------------------------------------------------------------- plot

    @Test
    void plotRefusesToWriteOverItsInput() throws IOException {
        Path h = history();
        String before = Files.readString(h);
        refused(CliTestSupport.run("plot", "--out", h.toString(), h.toString()),
                "--out " + h + " and input " + h + " are the same file");
        Path dotted = dir.resolve("sub").resolve("..").resolve("h.json");
        Files.createDirectories(dir.resolve("sub"));
        refused(CliTestSupport.run("plot", "-o", dotted.toString(), h.toString()),
                "--out " + dotted + " and input " + h + " are the same file");
        // the default picture, h.png, is the second input
        Path png = Files.writeString(dir.resolve("h.png"), before);
        refused(CliTestSupport.run("plot", h.toString(), png.toString()),
                "--out " + png + " and input " + png + " are the same file");
        assertEquals(before, Files.readString(h));
        assertEquals(before, Files.readString(png));
    }

    @Test
    void plotCreatesNoDirectory() throws IOException {
        Path h = history();
        Path out = dir.resolve("missing").resolve("x.png");
        refused(CliTestSupport.run("plot", "--out", out.toString(), h.toString()),
                "--out " + out + ": directory " + dir.resolve("missing") + " does not exist");
        assertFalse(Files.exists(dir.resolve("missing")));
    }

    @Test
    void plotRefusesAFifo() throws Exception {
        Path pipe = CliTestSupport.fifo(dir.resolve("pipe.png"));
        refused(CliTestSupport.run("plot", "--out", pipe.toString(), history().toString()),
                "--out " + pipe + ": not a regular file");
        assertTrue(isFifo(pipe));
    }

    // ---------------------------------------------------------------- bench

    @Test
    void benchCreatesNoDirectory() {
        Path json = dir.resolve("missing").resolve("d").resolve("x.json");
        refused(CliTestSupport.run("bench", "--device", "cpu", "--data", missingData().toString(), "--json", json.toString()),
                "--json " + json + ": directory " + dir.resolve("missing").resolve("d") + " does not exist");
        assertFalse(Files.exists(dir.resolve("missing")));
    }

    @Test
    void benchRefusesAFifo() throws Exception {
        Path pipe = CliTestSupport.fifo(dir.resolve("pipe.json"));
        refused(CliTestSupport.run("bench", "--device", "cpu", "--data", missingData().toString(), "--json", pipe.toString()),
                "--json " + pipe + ": not a regular file");
        assertTrue(isFifo(pipe));
    }
}
