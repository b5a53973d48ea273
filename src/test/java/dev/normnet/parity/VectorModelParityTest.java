package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cpu.VectorCpuBackend;

/**
 * The golden LeNet-BN and MLP-BN training steps on the fast CPU path (what {@code Backends.cpu()} returns when the
 * JVM has the Vector API); skipped, with the reason, without it.
 */
class VectorModelParityTest extends ModelParityCases {
    @Override
    protected String unavailableReason() {
        return Backends.vectorApiAvailable() ? null : "no jdk.incubator.vector in this JVM (--add-modules jdk.incubator.vector)";
    }

    @Override
    protected Backend createBackend() {
        return new VectorCpuBackend();
    }

    @Override
    protected String label() {
        return "cpu vector";
    }
}
