package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.cpu.CpuBackend;

/** The golden per-op cases on the CPU reference backend ({@code Backends.cpu()} without the Vector API) with its default thread count. */
class CpuBackendParityTest extends BackendParityCases {
    @Override
    protected Backend createBackend() {
        return new CpuBackend();
    }
}
