package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cpu.VectorCpuBackend;

/** The golden per-op cases on the fast CPU path with one thread (its results must not depend on the count). */
class VectorSingleThreadBackendParityTest extends BackendParityCases {
    @Override
    protected String unavailableReason() {
        return Backends.vectorApiAvailable() ? null : "no jdk.incubator.vector in this JVM (--add-modules jdk.incubator.vector)";
    }

    @Override
    protected Backend createBackend() {
        return new VectorCpuBackend(1);
    }

    @Override
    protected String label() {
        return "cpu vector(1 thread)";
    }
}
