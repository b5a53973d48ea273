package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one-process A/B programs under benchmarks/ab are compiled by hand against the jar (their
 * comments say how); this compiles them against the classes under test, so that a renamed or
 * changed API breaks the build here rather than the next measurement.
 */
class AbProgramsTest {
    @Test
    void benchmarkAbProgramsCompileAgainstTheCurrentClasses(@TempDir Path out) throws IOException {
        List<String> sources = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("benchmarks/ab"))) {
            s.filter(p -> p.toString().endsWith(".java")).sorted().forEach(p -> sources.add(p.toString()));
        }
        assertFalse(sources.isEmpty(), "no programs under benchmarks/ab");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "the tests need a JDK (javax.tools)");
        List<String> args = new ArrayList<>(List.of("--add-modules", "jdk.incubator.vector", "-nowarn", "-Xlint:none",
                "-cp", System.getProperty("java.class.path"), "-d", out.toString()));
        args.addAll(sources);
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int status = javac.run(null, errors, errors, args.toArray(String[]::new));
        assertEquals(0, status, "javac " + sources + ":\n" + errors.toString(StandardCharsets.UTF_8));
    }
}
