package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** What the tests that build and run host programs (the kernel emulation, the emulated driver's checks) share. */
final class NativeTools {
    static final Path SOURCES = Path.of("src/main/cuda");
    static final Path HARNESS = Path.of("src/test/cuda");

    private NativeTools() {
    }

    /** g++ on the PATH, or null. */
    static String gxx() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir, "g++");
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }

    /** Runs {@code command} with {@code env} added; fails unless it exits 0 in time. Returns its output (stderr merged). */
    static String run(List<String> command, Map<String, String> env, long timeoutSeconds) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process p = builder.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(timeoutSeconds, TimeUnit.SECONDS), "timed out: " + command);
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + " " + env + " failed:\n" + text);
        return text;
    }

    /** The "N passed, 0 failed" count on the last line of a harness's output; fails on any other last line. */
    static int passedChecks(String out, String what) {
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.matches("\\d+ passed, 0 failed"), what + ", last line: " + last);
        return Integer.parseInt(last.split(" ")[0]);
    }
}
