package dev.normnet.cli;

import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;

/** Builds the model a command line names (--model, --pool, --act, --resize, --init). */
final class ModelFactory {
    private ModelFactory() {
    }

    /** The options of {@code flags}; --init is optional (summary has none). */
    static ModelOptions options(ParsedFlags flags) {
        ModelOptions o = ModelOptions.defaults()
                .withPool(flags.string("pool"))
                .withResize(flags.integer("resize"));
        if (flags.has("act")) {
            o = o.withActivation(flags.string("act"));
        }
        if (flags.spec().flag("init") != null) {
            o = o.withInit(flags.string("init"));
        }
        return o;
    }

    /**
     * The model, built for its input shape with weights drawn from {@code seed}.
     *
     * @throws UsageException when the input is too small for the model
     */
    static Sequential create(ParsedFlags flags, long seed) {
        Sequential model = Models.create(flags.string("model"), options(flags));
        try {
            return model.build(seed);
        } catch (IllegalArgumentException e) {
            model.close();
            throw new UsageException("--resize " + flags.integer("resize") + " does not fit " + flags.string("model")
                    + ": " + e.getMessage(), e);
        }
    }
}
