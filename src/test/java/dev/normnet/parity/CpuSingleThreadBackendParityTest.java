package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.cpu.CpuBackend;

/** The golden per-op cases on the CPU backend with one thread (its results must not depend on the count). */
class CpuSingleThreadBackendParityTest extends BackendParityCases {
    @Override
    protected Backend createBackend() {
        return new CpuBackend(1);
    }

    @Override
    protected String label() {
        return "cpu(1 thread)";
    }
}
