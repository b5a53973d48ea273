package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.GpuTest;
import dev.normnet.backend.Backends;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench --device all} as bin/gpu-check runs it, on one small case: the GPU's eager and
 * CUDA-graphed steps and the CPU's, each timed, the GPU's against the CPU's, in a complete JSON
 * file that names the GPU.
 */
@GpuTest
class CudaBenchCommandTest {
    @TempDir
    Path tmp;

    @Test
    void gpuCasesEagerAndGraphedBesideTheCpu() throws Exception {
        assumeTrue(Backends.cudaStatus().available(), "CUDA unavailable: " + Backends.cudaStatus().explain());
        Path data = SyntheticData.write(tmp.resolve("data"), 512, 128);
        Path json = tmp.resolve("bench.json");
        CliTestSupport.Result r = CliTestSupport.run("bench", "--device", "all", "--quick", "--repeats", "1", "--seconds",
                "0.05", "--only", "^lenet-bn-28/train/b64/", "--data", data.toString(), "--json", json.toString());
        assertEquals(0, r.status(), r.err());
        JsonNode doc = JsonFiles.readObject(json);
        assertTrue(doc.get("complete").asBoolean(), doc.toString());
        assertTrue(doc.get("gpu").get("name").asText().contains("sm_"), doc.get("gpu").toString());
        List<String> ids = new ArrayList<>();
        for (JsonNode c : doc.get("cases")) {
            ids.add(c.get("id").asText());
            assertTrue(c.get("examples_per_sec").get("median").asDouble() > 0, c.toString());
            if (c.get("device").asText().equals("cuda")) {
                assertEquals("lenet-bn-28/train/b64/cpu", c.get("speedup_reference").asText(), c.toString());
                assertTrue(c.get("speedup_vs_cpu").asDouble() > 0, c.toString());
            }
        }
        assertEquals(List.of("lenet-bn-28/train/b64/cuda", "lenet-bn-28/train/b64/cuda/graph", "lenet-bn-28/train/b64/cpu"),
                ids);
    }
}
