package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./normnet} launcher, run after {@code package} against the built jar: with no
 * Fashion-MNIST anywhere it checks the command line before it installs anything. apt-get is a stub
 * that records its calls; it runs only where the launcher would install (as root).
 */
class LauncherIT {
    static final Path LAUNCHER = Path.of("normnet").toAbsolutePath();

    @TempDir
    Path dir;
    Path calls;

    @BeforeEach
    void stubAptGet() throws IOException, InterruptedException {
        Process id = new ProcessBuilder("id", "-u").start();
        assumeTrue(new String(id.getInputStream().readAllBytes()).trim().equals("0") && id.waitFor() == 0,
                "the launcher installs only as root");
        calls = dir.resolve("apt-calls");
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path apt = bin.resolve("apt-get");
        Files.writeString(apt, "#!/bin/sh\necho \"$*\" >> " + calls + "\nexit 1\n");
        Files.setPosixFilePermissions(apt, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private record Run(int status, String out, String err) {
    }

    private Run launch(String... args) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(java.util.stream.Stream.concat(java.util.stream.Stream.of(LAUNCHER.toString()),
                java.util.Arrays.stream(args)).toList()).directory(dir.toFile());
        pb.environment().put("PATH", dir.resolve("bin") + ":" + System.getenv("PATH"));
        pb.environment().put("NORMNET_SYSTEM_DATA", dir.resolve("no-such-dir").toString());
        pb.environment().remove("NORMNET_DATA");
        pb.environment().put("NORMNET_DATA_URL", "http://127.0.0.1:9/");   // nothing listens: a download fails at once
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        int status = p.waitFor();
        return new Run(status, Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void aMistypedFlagIsReportedBeforeAnythingIsInstalled() throws Exception {
        Run r = launch("train", "--epoch", "1");
        assertEquals(2, r.status(), r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("normnet: unknown option") && lines.get(0).contains("did you mean --epochs?"), r.err());
        assertFalse(Files.exists(calls), "apt-get ran before the command line was checked");
        r = launch("train", "--lr", "1e-50");
        assertEquals(2, r.status(), r.err());
        assertFalse(Files.exists(calls), "apt-get ran before the values were checked");
    }

    @Test
    void aValidCommandLineInstallsTheMissingData() throws Exception {
        Run r = launch("train", "--epochs", "1", "--device", "cpu");
        assertTrue(Files.exists(calls), "apt-get was not asked for the data set: " + r.err());
        assertTrue(Files.readString(calls).contains("dataset-fashion-mnist"), Files.readString(calls));
        // The stub installs nothing and the download has nowhere to go: one line, exit 2.
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("could not install dataset-fashion-mnist"), r.err());
    }

    @Test
    void evalChecksItsCommandLineAndModelFileBeforeInstallingTheData() throws Exception {
        Path model = Path.of("src/test/resources/safetensors/normnet_lenet-bn.safetensors").toAbsolutePath();
        Run r = launch("eval", model.toString(), "--batch", "0");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("normnet: --batch"), r.err());
        r = launch("eval", dir.resolve("missing.safetensors").toString());
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("missing.safetensors"), r.err());
        assertFalse(Files.exists(calls), "apt-get ran before the command line and the model file were checked");
        r = launch("eval", model.toString(), "--device", "cpu");
        assertTrue(Files.exists(calls), "apt-get was not asked for the data set: " + r.err());
        assertTrue(Files.readString(calls).contains("dataset-fashion-mnist"), Files.readString(calls));
        assertEquals(2, r.status(), r.err());
        assertFalse(r.out().contains("test loss"), "nothing is evaluated without data: " + r.out());
        assertTrue(r.err().contains("could not install dataset-fashion-mnist"), r.err());
    }
}
