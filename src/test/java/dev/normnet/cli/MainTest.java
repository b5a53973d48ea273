package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The command line's contract: help text, version, exit statuses, one-line errors. */
class MainTest {
    static final List<String> COMMANDS = List.of("train", "eval", "predict", "summary", "inspect", "fold", "bench", "plot", "experiment",
            "bundle", "completion");

    @Test
    void topLevelHelpListsEveryCommand() {
        CliTestSupport.Result r = CliTestSupport.run("--help");
        assertEquals(0, r.status());
        assertEquals("", r.err());
        for (String command : COMMANDS) {
            assertTrue(r.out().contains("\n  " + command + " "), "help lacks " + command + ":\n" + r.out());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"train", "eval", "predict", "summary", "inspect", "fold", "bench", "plot", "experiment", "bundle",
        "completion"})
    void commandHelpListsEveryOptionWithItsDefault(String command) {
        for (String flag : List.of("--help", "-h")) {
            CliTestSupport.Result r = CliTestSupport.run(command, flag);
            assertEquals(0, r.status(), r.err());
            assertEquals("", r.err());
            assertTrue(r.out().contains("Usage: normnet " + command), r.out());
            // One option's entry: its names at the start of a line, then its description up to the next option.
            CommandLine cl = Main.commandLine(System.out, System.err).getSubcommands().get(command);
            String help = r.out().replaceAll("\\s+", " ");
            for (OptionSpec o : cl.getCommandSpec().options()) {
                assertTrue(help.contains(o.longestName()), "help of " + command + " lacks " + o.longestName() + ":\n" + r.out());
                if (o.usageHelp() || o.versionHelp()) {
                    continue;
                }
                String description = String.join(" ", o.description());
                assertTrue(description.contains("(default: "), command + " " + o.longestName() + " states no default: " + description);
                String shown = description.replace("${DEFAULT-VALUE}", String.valueOf(o.defaultValue()));
                assertTrue(help.contains(shown), "help of " + command + " lacks '" + shown + "':\n" + r.out());
            }
        }
    }

    @Test
    void helpWinsOverOtherFlags() {
        CliTestSupport.Result r = CliTestSupport.run("train", "--epochs", "0", "--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("Usage: normnet train"), r.out());
    }

    @Test
    void trainHelpNamesTheDocumentedFlagsAndDefaults() {
        String help = CliTestSupport.run("train", "--help").out();
        for (String expected : List.of("--model=lenet-bn|lenet|mlp-bn|mlp", "--epochs=N", "(default: 10)",
                "--batch=N", "(default: 256)", "--lr=RATE", "(default: 1.0)", "--optimizer=sgd|adam",
                "--momentum=M", "--weight-decay=WD", "--step-size=N", "--gamma=G", "--device=auto|cpu|cuda",
                "--seed=S", "--limit=N", "--resize=PX", "(default: 28)", "--pool=avg|max", "--act=sigmoid|relu",
                "--init=default|xavier", "--history=FILE.json", "--no-graph", "--no-warmup", "--save=FILE", "--threads=N",
                "--data=DIR", "--dataset=fashion-mnist|mnist", "--debug")) {
            assertTrue(help.contains(expected), "train help lacks '" + expected + "'");
        }
    }

    @Test
    void versionNamesTheCommitTheJarWasBuiltFrom() throws Exception {
        CliTestSupport.Result r = CliTestSupport.run("--version");
        assertEquals(0, r.status(), r.err());
        String line = r.out().trim();
        assertTrue(line.matches("normnet \\S+ \\((commit [0-9a-f]{40}(-dirty)?|unknown commit)\\)"), line);
        Path root = Path.of("").toAbsolutePath();
        if (Files.exists(root.resolve(".git"))) {
            Process p = new ProcessBuilder("git", "rev-parse", "HEAD").redirectErrorStream(true).start();
            String head = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor() == 0) {
                assertTrue(line.contains("commit " + head), line + " does not name HEAD " + head);
            }
        }
        assertEquals(r.out(), CliTestSupport.run("train", "--version").out(), "every command prints the same version");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "train --bogus", "train --epoch 3", "train --epochs", "train --epochs ten", "train --epochs 0",
        "train --epochs 2.5", "train --lr -1", "train --lr 0", "train --lr nan", "train --lr NaN", "train --batch 0",
        "train --momentum 1.5", "train --weight-decay -0.1", "train --model resnet", "train --optimizer rmsprop",
        "train --device tpu", "train --dataset cifar", "train --resize 8", "train --gamma 0.5",
        "train --step-size 0", "train --threads 0", "train --limit -5", "train --epochs 2 --epochs 3",
        "train --no-graph=yes", "train stray", "train --batch 1", "train --optimizer adam --momentum 0.9",
        "summary --model vgg", "summary --batch x", "summary --resize 2000", "bench --device tpu", "bench --seconds 0",
        "bench --only ((", "bench --threads", "bench --bogus", "bench --repeats 0", "plot", "plot --width abc x.json",
        "plot --height 0 x.json", "eval", "eval m.safetensors --batch 0", "eval m.safetensors --model vgg",
        "eval m.safetensors --top 3", "predict", "predict m.safetensors", "predict m.safetensors x.png --top 0",
        "predict m.safetensors x.png --threads 0", "inspect", "inspect a b", "inspect m.safetensors --resize 9", "fold", "fold m.safetensors", "fold m.safetensors --out", "bundle --bogus", "bundle", "completion extra",
        "experiment", "experiment nonsense", "experiment all --seeds 0", "experiment bn-speed --epochs 0", "experiment all --device tpu",
        "nonsense", "--nonsense", ""})
    void badUsageIsOneLineAndExitTwo(String line) {
        String[] args = line.isEmpty() ? new String[0] : line.split(" ");
        CliTestSupport.Result r = CliTestSupport.run(args);
        assertEquals(2, r.status(), line + " -> " + r.err());
        assertEquals("", r.out(), line);
        String[] err = r.errLines();
        assertEquals(1, err.length, line + " -> " + r.err());
        assertTrue(err[0].startsWith("normnet: "), err[0]);
        assertFalse(err[0].contains("Exception"), err[0]);
        assertFalse(err[0].contains("Usage:"), err[0]);
    }

    @Test
    void errorsNameTheFlagAndTheProblem() {
        assertEquals("normnet: --epochs must be from 1 to 100000 (got 0)", CliTestSupport.run("train", "--epochs", "0").err().trim());
        assertEquals("normnet: --lr must be above 0 and at most 1000000 (got -1)",
                CliTestSupport.run("train", "--lr", "-1").err().trim());
        assertTrue(CliTestSupport.run("train", "--lr=abc").err().startsWith("normnet: invalid value for option '--lr': 'abc'"));
        assertTrue(CliTestSupport.run("train", "--epochs", "--lr", "1").err()
                .startsWith("normnet: expected parameter for option '--epochs' but found '--lr'"));
        assertEquals("normnet: --device: unknown value 'tpu' (choose one of auto, cpu, cuda)",
                CliTestSupport.run("train", "--device", "tpu").err().trim());
        assertTrue(CliTestSupport.run("train", "--epoch", "3").err().contains("did you mean --epochs?"));
        assertEquals("normnet: --seconds must be above 0 and at most 600 (got 0)",
                CliTestSupport.run("bench", "--seconds", "0").err().trim());
        assertTrue(CliTestSupport.run("bundle").err().startsWith("normnet: bundle needs the source checkout and the ./normnet launcher"));
    }

    @Test
    void choicesAcceptAnyCase() {
        CliTestSupport.Result r = CliTestSupport.run("summary", "--model", "MLP-BN", "--act", "ReLU");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("mlp-bn, input 1x28x28"), r.out());
    }

    @Test
    void historyIntoAMissingDirectoryFailsBeforeTraining(@TempDir Path tmp) {
        Path target = tmp.resolve("no-such-dir").resolve("h.json");
        CliTestSupport.Result r = CliTestSupport.run("train", "--history", target.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("normnet: --history " + target), r.err());
        assertEquals(1, r.errLines().length);
    }

    @Test
    void debugAddsTheStackTrace() {
        CliTestSupport.Result r = CliTestSupport.run("train", "--debug", "--epochs", "0");
        assertEquals(2, r.status());
        assertTrue(r.errLines().length > 1);
        assertTrue(r.err().contains("at dev.normnet.cli."), r.err());
    }

    @Test
    void completionPrintsABashScriptForEveryCommand() {
        CliTestSupport.Result r = CliTestSupport.run("completion");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("complete -F"), r.out());
        for (String command : List.of("train", "eval", "predict", "summary", "inspect", "fold", "bench", "plot", "experiment", "bundle")) {
            assertTrue(r.out().contains(command), "completion lacks " + command);
        }
        assertTrue(r.out().contains("lenet-bn"), "completion offers the model names");
        assertTrue(r.out().contains("sgd-vs-adam"), "completion offers the experiment names");
    }

    @Test
    void internalErrorsExitOne() {
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int status = Main.report(new IllegalStateException("broken\ninvariant"), new java.io.PrintStream(err, true), false);
        assertEquals(1, status);
        assertEquals("normnet: internal error: IllegalStateException: broken; invariant (run with --debug for the stack trace)",
                err.toString().trim());
    }
}
