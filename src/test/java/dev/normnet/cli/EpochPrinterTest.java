package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.train.EpochRecord;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The progress rule: a bar on a terminal only; a redirected log gets exactly one line per epoch. */
class EpochPrinterTest {

    @Test
    void aBarOnlyOnTheConsolesStandardOutput() {
        PrintStream other = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertFalse(EpochPrinter.drawsBar(other, true), "not stdout");
        assertFalse(EpochPrinter.drawsBar(System.out, false), "stdout redirected: no console");
        assertTrue(EpochPrinter.drawsBar(System.out, true));
        assertFalse(EpochPrinter.drawsBar(other), "a stream of the test's own is never a terminal");
    }

    @Test
    void withoutATerminalOneLinePerEpochAndNothingElse() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        try (EpochPrinter p = new EpochPrinter(out, EpochPrinter.drawsBar(out))) {
            p.header();
            for (int epoch = 1; epoch <= 3; epoch++) {
                for (int b = 1; b <= 50; b++) {
                    p.onBatch(epoch, b, 50);
                }
                p.onEpoch(new EpochRecord(epoch, 0.5, 0.8, 0.75, 1234.5, 2.0));
            }
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        String[] lines = text.split("\n");
        assertEquals(4, lines.length, text);
        assertFalse(text.contains("\r") || text.contains("\033"), "no control characters in a log: " + text);
        assertEquals("    2      0.5000     0.8000    0.7500        1235      2.0", lines[2]);
    }

    @Test
    void onATerminalTheBarIsClearedBeforeTheEpochsLine() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        try (EpochPrinter p = new EpochPrinter(out, true)) {
            for (int b = 1; b <= 20; b++) {
                p.onBatch(1, b, 20);
            }
            p.onEpoch(new EpochRecord(1, 0.5, 0.8, 0.75, 1234.5, 2.0));
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("20/20"), "the bar counts batches: " + text);
        assertTrue(text.endsWith(EpochPrinter.line(new EpochRecord(1, 0.5, 0.8, 0.75, 1234.5, 2.0)) + System.lineSeparator()), text);
    }
}
