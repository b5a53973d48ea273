package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which Java the {@code ./normnet} launcher runs: {@code $JAVA_HOME}'s when set, else the newest
 * JDK 25 or later with the Vector API module under {@code $NORMNET_JVM_DIR}, else java on the PATH.
 * The JDKs here are stubs whose {@code java} prints its name and the flags it was given.
 */
class LauncherJdkIT {
    @TempDir
    Path dir;

    private Path jdk(String name, String version, boolean vector) throws IOException {
        Path home = Files.createDirectories(dir.resolve("jvm").resolve(name));
        Path bin = Files.createDirectories(home.resolve("bin"));
        Files.writeString(home.resolve("release"), "JAVA_VERSION=\"" + version + "\"\nMODULES=\"java.base java.logging"
                + (vector ? " jdk.incubator.vector" : "") + " jdk.unsupported\"\n");
        Path java = bin.resolve("java");
        Files.writeString(java, "#!/bin/sh\necho \"ran " + name + " $*\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        return home;
    }

    private String launch(Path javaHome) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(LauncherIT.LAUNCHER.toString(), "--version")).directory(dir.toFile());
        pb.environment().put("NORMNET_JVM_DIR", dir.resolve("jvm").toString());
        if (javaHome == null) {
            pb.environment().remove("JAVA_HOME");
        } else {
            pb.environment().put("JAVA_HOME", javaHome.toString());
        }
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    @Test
    void theNewestJdkFromTwentyFiveOnWithTheVectorModuleIsPreferred() throws Exception {
        Path jdk17 = jdk("jdk-17", "17.0.15", true);
        jdk("jdk-21", "21.0.4", true);
        jdk("jdk-25", "25.0.3", true);
        jdk("jdk-27-novector", "27.0.1", false);
        String out = launch(null);
        assertTrue(out.startsWith("ran jdk-25 "), out);
        assertTrue(out.contains("--add-modules jdk.incubator.vector") && out.contains("--enable-native-access=ALL-UNNAMED"), out);
        jdk("jdk-26", "26", true);
        assertTrue(launch(null).startsWith("ran jdk-26 "), "26 is newer than 25");
        assertTrue(launch(jdk17).startsWith("ran jdk-17 "), "JAVA_HOME chooses");
    }

    @Test
    void withoutAJdkFromTwentyFiveOnJavaOnThePathRuns() throws Exception {
        jdk("jdk-21", "21.0.4", true);
        jdk("jdk-25-novector", "25.0.3", false);
        String out = launch(null);
        assertTrue(out.startsWith("normnet "), "the real java on the PATH prints the version: " + out);
    }
}
