package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The command line's contract: help text, exit statuses, one-line errors. */
class MainTest {

    @Test
    void topLevelHelpListsEveryCommand() {
        CliTestSupport.Result r = CliTestSupport.run("--help");
        assertEquals(0, r.status());
        assertEquals("", r.err());
        for (String command : List.of("train", "summary", "bench", "plot", "bundle")) {
            assertTrue(r.out().contains("\n  " + command + " "), "help lacks " + command + ":\n" + r.out());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"bench", "plot"})
    void benchAndPlotAreHandedTheirArguments(String command) {
        CliTestSupport.Result r = CliTestSupport.run(command, "--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("usage: normnet " + command), r.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"train", "summary"})
    void commandHelpListsEveryFlagWithItsDefault(String command) {
        CliTestSupport.Result r = CliTestSupport.run(command, "--help");
        assertEquals(0, r.status(), r.err());
        assertEquals("", r.err());
        CommandSpec spec = Main.commands().get(command).spec();
        String[] lines = r.out().split("\\R");
        for (Flag flag : spec.flags()) {
            int at = -1;
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].startsWith("  " + flag.usage() + " ")) {
                    at = i;
                }
            }
            assertTrue(at >= 0, "help of " + command + " lacks " + flag.usage() + ":\n" + r.out());
            // The default sits on the flag's line or on the continuation line right after it.
            String entry = lines[at] + (at + 1 < lines.length && lines[at + 1].startsWith("    ") ? lines[at + 1] : "");
            assertTrue(entry.contains("(default: " + flag.defaultText() + ")"),
                    "help of " + command + " lacks the default of --" + flag.name() + ": " + entry);
        }
    }

    @Test
    void helpWinsOverOtherFlags() {
        CliTestSupport.Result r = CliTestSupport.run("train", "--epochs", "0", "--bogus", "--help");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("usage: normnet train"), r.out());
    }

    @Test
    void trainHelpNamesTheDocumentedFlagsAndDefaults() {
        String help = CliTestSupport.run("train", "--help").out();
        for (String expected : List.of("--model lenet-bn|lenet|mlp-bn|mlp", "--epochs N", "(default: 10)",
                "--batch N", "(default: 256)", "--lr RATE", "(default: 1.0)", "--optimizer sgd|adam",
                "--momentum M", "--weight-decay WD", "--step-size N", "--gamma G", "--device auto|cpu|cuda",
                "--seed S", "--limit N", "--resize PX", "(default: 28)", "--pool avg|max", "--act sigmoid|relu",
                "--init default|xavier", "--history FILE.json", "--no-graph", "--save FILE", "--threads N",
                "--data DIR", "--dataset fashion-mnist|mnist")) {
            assertTrue(help.contains(expected), "train help lacks '" + expected + "'");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "train --bogus", "train --epoch 3", "train --epochs", "train --epochs ten", "train --epochs 0",
        "train --epochs 2.5", "train --lr -1", "train --lr 0", "train --lr nan", "train --batch 0",
        "train --momentum 1.5", "train --weight-decay -0.1", "train --model resnet", "train --optimizer rmsprop",
        "train --device tpu", "train --dataset cifar", "train --resize 8", "train --gamma 0.5",
        "train --step-size 0", "train --threads 0", "train --limit -5", "train --epochs 2 --epochs 3",
        "train --no-graph=yes", "train stray", "train --batch 1", "train --optimizer adam --momentum 0.9",
        "summary --model vgg", "summary --batch x", "nonsense", "--nonsense", ""})
    void badUsageIsOneLineAndExitTwo(String line) {
        String[] args = line.isEmpty() ? new String[0] : line.split(" ");
        CliTestSupport.Result r = CliTestSupport.run(args);
        assertEquals(2, r.status(), line + " -> " + r.err());
        assertEquals("", r.out(), line);
        String[] err = r.errLines();
        assertEquals(1, err.length, line + " -> " + r.err());
        assertTrue(err[0].startsWith("normnet: "), err[0]);
        assertFalse(err[0].contains("Exception"), err[0]);
    }

    @Test
    void errorsNameTheFlagAndTheProblem() {
        assertEquals("normnet: --epochs must be from 1 to 100000 (got 0)", CliTestSupport.run("train", "--epochs", "0").err().trim());
        assertEquals("normnet: --lr must be above 0 and at most 1000000 (got -1)",
                CliTestSupport.run("train", "--lr", "-1").err().trim());
        assertEquals("normnet: --lr: 'abc' is not a number", CliTestSupport.run("train", "--lr=abc").err().trim());
        assertEquals("normnet: --epochs needs a value (--epochs N)",
                CliTestSupport.run("train", "--epochs", "--lr", "1").err().trim());
        assertEquals("normnet: --device: unknown value 'tpu' (choose one of auto, cpu, cuda)",
                CliTestSupport.run("train", "--device", "tpu").err().trim());
        assertTrue(CliTestSupport.run("train", "--epoch", "3").err().contains("did you mean --epochs?"));
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
    void internalErrorsExitOne() {
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        int status = Main.report(new IllegalStateException("broken\ninvariant"), new java.io.PrintStream(err, true), false);
        assertEquals(1, status);
        assertEquals("normnet: internal error: IllegalStateException: broken; invariant (run with --debug for the stack trace)",
                err.toString().trim());
    }
}
