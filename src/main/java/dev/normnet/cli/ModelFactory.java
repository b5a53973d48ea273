package dev.normnet.cli;

import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import java.util.List;

/** Builds the model a command line names (--model, --pool, --act, --resize, --init). */
final class ModelFactory {
    static final List<String> MODELS = List.of("lenet-bn", "lenet", "mlp-bn", "mlp");
    /** What --model names for a model file: a preset, or a preset with its batch norm folded (name + {@value #FOLDED}). */
    static final String FOLDED = "-folded";
    static final List<String> FILE_MODELS = List.of("lenet-bn", "lenet", "mlp-bn", "mlp", "lenet-bn" + FOLDED, "mlp-bn" + FOLDED);
    static final List<String> POOLS = List.of("avg", "max");
    static final List<String> ACTIVATIONS = List.of("sigmoid", "relu");
    static final List<String> INITS = List.of("default", "xavier");

    private ModelFactory() {
    }

    /** The options; {@code act} and {@code init} may be null (the preset's). */
    static ModelOptions options(String pool, String act, int resize, String init) {
        ModelOptions o = ModelOptions.defaults().withPool(pool).withResize(resize);
        if (act != null) {
            o = o.withActivation(act);
        }
        if (init != null) {
            o = o.withInit(init);
        }
        return o;
    }

    /**
     * The model, built for its input shape with weights drawn from {@code seed}.
     *
     * @throws UsageException when the input is too small for the model
     */
    static Sequential create(String name, ModelOptions options, int resize, long seed) {
        Sequential model = Models.create(name, options);
        try {
            return model.build(seed);
        } catch (IllegalArgumentException e) {
            model.close();
            throw new UsageException("--resize " + resize + " does not fit " + name + ": " + e.getMessage(), e);
        }
    }

    /** Completion candidates (and the help's list) for --model. */
    static final class ModelNames extends java.util.ArrayList<String> {
        ModelNames() {
            super(MODELS);
        }
    }

    /** Completion candidates for the --model of the commands that read a model file. */
    static final class FileModelNames extends java.util.ArrayList<String> {
        FileModelNames() {
            super(FILE_MODELS);
        }
    }

    /** Completion candidates for --pool. */
    static final class PoolNames extends java.util.ArrayList<String> {
        PoolNames() {
            super(POOLS);
        }
    }

    /** Completion candidates for --act. */
    static final class ActivationNames extends java.util.ArrayList<String> {
        ActivationNames() {
            super(ACTIVATIONS);
        }
    }

    /** Completion candidates for --init. */
    static final class InitNames extends java.util.ArrayList<String> {
        InitNames() {
            super(INITS);
        }
    }
}
