package dev.normnet.cli;

import picocli.CommandLine.Option;

/** The model-variant options {@code train} and {@code summary} share (a picocli mixin): --pool and --act. */
final class VariantOptions {
    @Option(names = "--pool", paramLabel = "avg|max", defaultValue = "avg", completionCandidates = ModelFactory.PoolNames.class,
            description = "pooling of the LeNet models (default: ${DEFAULT-VALUE})")
    String pool;
    @Option(names = "--act", paramLabel = "sigmoid|relu", completionCandidates = ModelFactory.ActivationNames.class,
            description = "activation (default: sigmoid for the LeNets, relu for the MLPs)")
    String act;

    /** Checks both values (a usage error names the option) and puts them in lower case. */
    void check() {
        pool = Check.choice("--pool", pool, ModelFactory.POOLS);
        act = Check.choice("--act", act, ModelFactory.ACTIVATIONS);
    }
}
