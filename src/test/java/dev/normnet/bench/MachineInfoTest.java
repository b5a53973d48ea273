package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MachineInfoTest {
    @Test
    void headerHasTheKeysThePythonScriptsWrite() {
        Map<String, Object> h = MachineInfo.header("normnet", null, 3, Map.of("quick", true));
        assertEquals(List.of("schema", "implementation", "date", "git_commit", "machine", "gpu", "runtime", "threads", "settings"),
                List.copyOf(h.keySet()));
        assertEquals("normnet-bench/1", h.get("schema"));
        assertNull(h.get("gpu"));
        assertEquals(3, h.get("threads"));
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) h.get("machine");
        assertEquals(List.of("hostname", "os", "cores", "cpu_model", "load_average"), List.copyOf(m.keySet()));
        assertEquals(Runtime.getRuntime().availableProcessors(), m.get("cores"));
        assertFalse(m.get("cpu_model").toString().isBlank());
        assertTrue(h.get("date").toString().endsWith("Z"));
    }

    @Test
    void gpuEntryNamesTheDeviceAndDriver() {
        Map<String, Object> h = MachineInfo.header("normnet", "NVIDIA H100 (sm_90)", 2, Map.of());
        @SuppressWarnings("unchecked")
        Map<String, Object> gpu = (Map<String, Object>) h.get("gpu");
        assertEquals("NVIDIA H100 (sm_90)", gpu.get("name"));
        assertTrue(gpu.containsKey("driver"));
    }
}
