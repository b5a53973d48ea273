package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SummaryCommandTest {

    @Test
    void lenetBnTotals() {
        CliTestSupport.Result r = CliTestSupport.run("summary", "--model", "lenet-bn");
        assertEquals(0, r.status(), r.err());
        // 156 + 12 + 2416 + 32 + 30840 + 240 + 10164 + 168 + 850 (d2l 7.5's LeNet with batch norm)
        assertTrue(r.out().contains("Total params: 44,878"), r.out());
        assertTrue(r.out().contains("Linear-16"), r.out());
    }

    @Test
    void resizedInputInfersTheFirstLinearLayer() {
        CliTestSupport.Result r = CliTestSupport.run("summary", "--model", "lenet", "--resize", "224", "--batch", "256");
        assertEquals(0, r.status(), r.err());
        // 16 * 53 * 53 = 44944 inputs to Linear(120): 44944 * 120 + 120 = 5,393,400
        assertTrue(r.out().contains("5,393,400"), r.out());
        assertTrue(r.out().contains("Total params: 5,406,986"), r.out());
    }

    @Test
    void mlpDefaultsToRelu() {
        CliTestSupport.Result r = CliTestSupport.run("summary", "--model", "mlp-bn");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("ReLU-4"), r.out());
        assertTrue(r.out().contains("Total params: 26,634"), r.out());
    }
}
