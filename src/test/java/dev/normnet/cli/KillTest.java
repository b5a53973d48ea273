package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.io.ModelFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --checkpoint-dir --save} killed with SIGKILL at seeded random moments: every file
 * left is whole or absent (a checkpoint directory reads back, a model file loads, nothing else
 * but temporary files of normnet's own naming), and a resume from what is left finishes the run.
 */
class KillTest {
    @TempDir
    Path dir;

    private Process start(String... args) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), "dev.normnet.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("log.txt").toFile()).start();
    }

    private String[] train(Path data, Path ck, Path save, boolean resume) {
        List<String> a = new ArrayList<>(List.of("train", "--data", data.toString(), "--device", "cpu", "--threads", "1",
                "--model", "mlp-bn", "--epochs", "40", "--batch", "16", "--save", save.toString()));
        a.addAll(resume ? List.of("--resume", ck.toString()) : List.of("--checkpoint-dir", ck.toString()));
        return a.toArray(String[]::new);
    }

    /** Every file under {@code root} is whole: checkpoints read back, the model loads, others are our temporaries. */
    private static void assertWholeOrAbsent(Path ck, Path save) throws IOException {
        if (Files.exists(save)) {
            ModelFile.load(save).close();
        }
        if (Files.isDirectory(ck)) {
            try (Stream<Path> s = Files.list(ck)) {
                for (Path p : s.toList()) {
                    String name = p.getFileName().toString();
                    assertTrue(name.matches("epoch-\\d{4}") || name.startsWith("."), "unexpected " + p);
                }
            }
            boolean any;
            try (Stream<Path> s = Files.list(ck)) {
                any = s.anyMatch(p -> p.getFileName().toString().startsWith("epoch-"));
            }
            if (any) {
                CheckpointDir.read(ck);   // the last complete state, digests checked
            }
        }
        try (Stream<Path> s = Files.list(save.getParent())) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                assertTrue(p.equals(save) || p.equals(ck) || name.equals("data") || name.equals("log.txt")
                        || name.matches("\\.m\\.safetensors\\.[0-9a-f]{16}\\.tmp"), "unexpected " + p);
            }
        }
    }

    @Test
    void sigkillAtRandomMomentsLeavesOnlyWholeFilesAndTheRunResumes() throws Exception {
        Path data = SyntheticData.write(dir.resolve("data"), 256, 64);
        Path ck = dir.resolve("ck");
        Path save = dir.resolve("m.safetensors");
        Process full = start(train(data, ck, save, false));
        assertTrue(full.waitFor(5, TimeUnit.MINUTES));
        assertEquals(0, full.exitValue(), Files.readString(dir.resolve("log.txt")));
        byte[] reference = Files.readAllBytes(save);

        SplittableRandom random = new SplittableRandom(11);
        int kills = 0;
        for (int i = 0; i < 8; i++) {
            deleteTree(ck);
            Files.deleteIfExists(save);
            Process p = start(train(data, ck, save, false));
            // The moment follows the run's progress, not the clock: once epoch k's state exists
            // (k from 1 to 40; at 40 the final --save is being written), a few milliseconds more.
            int k = i == 7 ? 40 : 1 + random.nextInt(39);
            Path epoch = ck.resolve(String.format("epoch-%04d", k));
            while (p.isAlive() && !Files.exists(epoch)) {
                Thread.sleep(2);
            }
            Thread.sleep(random.nextInt(30));
            if (p.isAlive()) {
                p.destroyForcibly();   // SIGKILL
                kills++;
            }
            assertTrue(p.waitFor(1, TimeUnit.MINUTES));
            assertWholeOrAbsent(ck, save);
            if (Files.exists(ck) && Files.list(ck).anyMatch(f -> f.getFileName().toString().startsWith("epoch-"))) {
                Process r = start(train(data, ck, save, true));
                assertTrue(r.waitFor(5, TimeUnit.MINUTES));
                String log = Files.readString(dir.resolve("log.txt"));
                assertTrue(r.exitValue() == 0 || r.exitValue() == 2 && log.contains("has done 40 epochs already"), log);
                if (r.exitValue() == 0) {
                    assertTrue(java.util.Arrays.equals(reference, Files.readAllBytes(save)),
                            "the resumed run's model differs from the uninterrupted run's");
                }
            }
        }
        assertTrue(kills >= 6, "only " + kills + " of 8 runs were killed before they finished");
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.delete(p);
            }
        }
    }

}
