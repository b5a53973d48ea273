package dev.normnet.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code normnet bundle}: packages a self-contained runtime for a GPU machine without a JDK by
 * running {@code src/main/scripts/bundle.sh} of the source checkout, which the {@code ./normnet}
 * launcher names with {@code -Dnormnet.root=DIR}.
 */
@Command(name = "bundle", sortOptions = false,
        header = "Package a self-contained runtime for a GPU machine without a JDK.",
        description = {"Builds dist/normnet-bundle-linux-x86_64.tar.xz from the source checkout: a jlink Java runtime,",
                "normnet's jars and bin/normnet (src/main/scripts/bundle.sh). Needs the ./normnet launcher, a JDK",
                "and Maven.",
                "",
                "--gpu-check builds dist/normnet-gpu-check-linux-x86_64.tar.xz and the same tree beside it: also the",
                "tests, the JUnit launcher, Fashion-MNIST's .gz files, the PyTorch reference scripts and",
                "bin/gpu-check [--out DIR] [--quick] [--dry-run], which runs the whole GPU check on a machine with an",
                "NVIDIA driver and nothing else."})
final class BundleCommand implements Callable<Integer> {
    /** The system property holding the repository root; the launcher sets it. */
    static final String ROOT_PROPERTY = "normnet.root";

    @Option(names = "--with-tests", description = "also bundle the compiled tests, the JUnit console launcher and "
            + "bin/run-gpu-tests (default: off)")
    boolean withTests;
    @Option(names = "--gpu-check", description = "build the GPU-check bundle instead: the tests, the data and bin/gpu-check "
            + "(default: off)")
    boolean gpuCheck;
    @Option(names = "--no-archive", description = "build only the directory, not the .tar.xz (default: off)")
    boolean noArchive;
    @Option(names = "--skip-build", description = "package the jars already under target/ instead of building (default: off)")
    boolean skipBuild;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Path script = script(System.getProperty(ROOT_PROPERTY));
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        if (withTests) {
            command.add("--with-tests");
        }
        if (gpuCheck) {
            command.add("--gpu-check");
        }
        if (skipBuild) {
            command.add("--skip-build");
        }
        if (noArchive) {
            command.add("--no-archive");
        }
        Process p = new ProcessBuilder(command).directory(script.getParent().toFile()).inheritIO().start();
        return p.waitFor();
    }

    /** The bundle script of the checkout at {@code root}; a usage error without one. */
    static Path script(String root) {
        if (root == null || root.isBlank()) {
            throw new UsageException("bundle needs the source checkout and the ./normnet launcher (run ./normnet bundle "
                    + "from the repository)");
        }
        Path script = Path.of(root, "src", "main", "scripts", "bundle.sh");
        if (!Files.isRegularFile(script)) {
            throw new UsageException("bundle needs the source checkout: " + script + " is missing");
        }
        return script;
    }
}
