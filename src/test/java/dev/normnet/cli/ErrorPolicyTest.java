package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.normnet.backend.Backends;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The one error policy, command by command: a usage or input error is exactly one stderr line
 * starting {@code normnet: } and exit status 2; an internal error is one line naming the exception
 * and exit status 1; the stack trace only with --debug.
 */
class ErrorPolicyTest {
    @TempDir
    Path tmp;

    private static void oneLineExitTwo(CliTestSupport.Result r, String what) {
        assertEquals(2, r.status(), what + " -> " + r.err());
        String[] err = r.errLines();
        assertEquals(1, err.length, what + " -> " + r.err());
        assertTrue(err[0].startsWith("normnet: "), what + " -> " + err[0]);
        assertFalse(err[0].contains("Usage:"), what + " -> " + err[0]);
    }

    @ParameterizedTest
    @ValueSource(strings = {"train --bogus", "eval --bogus m.safetensors", "predict --bogus m.safetensors x.png", "summary --bogus", "inspect --bogus m.safetensors",
        "bench --bogus", "plot --bogus x.json", "bundle --bogus", "completion --bogus"})
    void aBadFlag(String line) {
        CliTestSupport.Result r = CliTestSupport.run(line.split(" "));
        oneLineExitTwo(r, line);
        assertTrue(r.err().contains("--bogus"), r.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"train --epochs x", "summary --resize x", "bench --repeats x", "plot --width x x.json",
        "train --seed 1.5", "summary --batch -1", "bench --seconds 601", "plot --height 99999 x.json"})
    void aBadValue(String line) {
        CliTestSupport.Result r = CliTestSupport.run(line.split(" "));
        oneLineExitTwo(r, line);
        String option = line.split(" ")[1];
        assertTrue(r.err().contains(option), "the message names " + option + ": " + r.err());
    }

    @Test
    void aMissingFile() {
        Path missing = tmp.resolve("missing");
        for (String[] args : new String[][] {
            {"train", "--device", "cpu", "--data", missing.toString()},
            {"eval", missing.toString()},
            {"predict", missing.toString(), missing + ".png"},
            {"inspect", missing.toString()},
            {"bench", "--device", "cpu", "--data", missing.toString()},
            {"plot", "--out", tmp.resolve("x.png").toString(), missing + ".json"},
        }) {
            CliTestSupport.Result r = CliTestSupport.run(args);
            oneLineExitTwo(r, String.join(" ", args));
            assertTrue(r.err().contains(missing.toString()), r.err());
        }
    }

    @Test
    void bundleOutsideTheCheckoutNamesTheMissingScript() {
        String old = System.getProperty(BundleCommand.ROOT_PROPERTY);
        System.setProperty(BundleCommand.ROOT_PROPERTY, tmp.toString());
        try {
            CliTestSupport.Result r = CliTestSupport.run("bundle", "--skip-build");
            oneLineExitTwo(r, "bundle");
            assertTrue(r.err().contains(tmp.resolve("src/main/scripts/bundle.sh").toString()), r.err());
        } finally {
            if (old == null) {
                System.clearProperty(BundleCommand.ROOT_PROPERTY);
            } else {
                System.setProperty(BundleCommand.ROOT_PROPERTY, old);
            }
        }
    }

    @Test
    void anOutputPathThatCannotBeWritten() throws Exception {
        Path history = Files.createDirectories(tmp.resolve("a-directory"));
        oneLineExitTwo(CliTestSupport.run("train", "--history", history.toString()), "train --history DIR");
        Path h = Files.writeString(tmp.resolve("h.json"), "{\"history\": [{\"epoch\": 1, \"train_loss\": 0.5, "
                + "\"train_acc\": 0.8, \"test_acc\": 0.8, \"examples_per_sec\": 100, \"seconds\": 1}]}");
        oneLineExitTwo(CliTestSupport.run("plot", "--out", history.toString(), h.toString()), "plot --out DIR");
        oneLineExitTwo(CliTestSupport.run("bench", "--device", "cpu", "--json", history.toString()), "bench --json DIR");
    }

    @ParameterizedTest
    @ValueSource(strings = {"train", "bench"})
    void cudaWithoutAGpu(String command) throws Exception {
        assumeFalse(Backends.cudaStatus().available(), "this machine has a usable GPU");
        Path data = SyntheticData.write(tmp.resolve("data"), 50, 20);
        CliTestSupport.Result r = CliTestSupport.run(command, "--device", "cuda", "--data", data.toString());
        oneLineExitTwo(r, command + " --device cuda");
        assertTrue(r.err().startsWith("normnet: --device cuda: no usable GPU: " + Backends.cudaStatus().reason()), r.err());
    }

    @Test
    void aDeviceUnavailableExceptionIsTheUsers() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.report(new dev.normnet.backend.DeviceUnavailableException("no NVIDIA driver"),
                new PrintStream(err, true, StandardCharsets.UTF_8), false);
        assertEquals(2, status);
        assertEquals("normnet: no usable GPU: no NVIDIA driver", err.toString(StandardCharsets.UTF_8).trim());
    }

    @Test
    void outOfGpuMemoryIsTheUsersAndNamesTheRemedy() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.report(new dev.normnet.backend.DeviceMemoryException("out of GPU memory: [256, 6, 220, 220] needs "
                + "283.6 MiB (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY); the GPU has 12.0 MiB free of 80.0 GiB"),
                new PrintStream(err, true, StandardCharsets.UTF_8), false);
        assertEquals(2, status);
        assertEquals("normnet: out of GPU memory: [256, 6, 220, 220] needs 283.6 MiB (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY); "
                + "the GPU has 12.0 MiB free of 80.0 GiB; use a smaller --batch or --resize", err.toString(StandardCharsets.UTF_8).trim());
    }

    @Test
    void aCudaFaultIsInternalAndOneLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.report(new dev.normnet.backend.cuda.CudaException("cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS "
                + "(the last kernel queued: conv2d_forward, x (2, 3, 8, 8))", 700), new PrintStream(err, true, StandardCharsets.UTF_8), false);
        assertEquals(1, status);
        String line = err.toString(StandardCharsets.UTF_8).trim();
        assertEquals(1, line.lines().count(), line);
        assertTrue(line.startsWith("normnet: internal error: CudaException: cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS"), line);
        assertTrue(line.contains("conv2d_forward, x (2, 3, 8, 8)"), line);
    }

    /** A command that fails the way a bug does. */
    @Command(name = "broken")
    static final class Broken implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("the plan has no buffer for layer 3");
        }
    }

    private static CliTestSupport.Result runBroken(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        CommandLine cl = Main.commandLine(o, e);
        cl.addSubcommand(new Broken());
        int status = Main.execute(cl, args, o, e);
        return new CliTestSupport.Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void anInternalErrorIsOneLineAndExitOne() {
        CliTestSupport.Result r = runBroken("broken");
        assertEquals(1, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertEquals("normnet: internal error: IllegalStateException: the plan has no buffer for layer 3 "
                + "(run with --debug for the stack trace)", r.errLines()[0]);
    }

    @Test
    void theStackTraceOnlyWithDebug() {
        assumeFalse("1".equals(System.getenv("NORMNET_DEBUG")), "NORMNET_DEBUG=1 is set");
        CliTestSupport.Result r = runBroken("broken", "--debug");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.errLines().length > 1, r.err());
        assertTrue(r.err().contains("at dev.normnet.cli.ErrorPolicyTest$Broken.call"), r.err());
        for (String[] args : new String[][] {{"train", "--epochs", "0"}, {"bench", "--device", "tpu"},
            {"plot", "missing.json"}, {"summary", "--model", "vgg"}, {"bundle", "--bogus"}}) {
            assertEquals(1, CliTestSupport.run(args).errLines().length, String.join(" ", args));
            String[] withDebug = new String[args.length + 1];
            System.arraycopy(args, 0, withDebug, 0, args.length);
            withDebug[args.length] = "--debug";
            CliTestSupport.Result d = CliTestSupport.run(withDebug);
            assertEquals(2, d.status(), d.err());
            assertTrue(d.errLines().length > 1 && d.errLines()[1].contains("Exception"), String.join(" ", args) + ": " + d.err());
        }
    }
}
