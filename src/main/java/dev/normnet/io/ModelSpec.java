package dev.normnet.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.normnet.nn.BatchNormFolding;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a model file needs besides its tensors to rebuild its model: the preset
 * ({@link Models#NAMES}), its options and the names of its classes. {@link ModelFile} stores it as
 * JSON in the safetensors metadata under the key {@value ModelFile#METADATA_KEY}:
 * <pre>
 * {"format_version": 1, "model": "lenet-bn", "pool": "avg", "act": "sigmoid", "resize": 28,
 *  "init": "default", "classes": ["T-shirt/top", "Trouser", ...]}
 * </pre>
 * A model whose batch norm was folded ({@link Sequential#foldBatchNorm()}, {@code normnet fold})
 * is written with {@code "format_version": 2} and {@code "folded": true}: the preset stays the
 * unfolded one's name, and loading builds {@link Models#createFolded} (each folded BatchNorm an
 * Identity, so the state_dict names are the preset's without the batch norms' entries). Unfolded
 * models are still written as version 1, so that an older normnet reads them; it refuses a folded
 * file by its version instead of misreading it.
 *
 * @param model   the preset: lenet-bn, lenet, mlp-bn or mlp
 * @param options pool, activation (never null here: the preset's own is written out), input side,
 *                initialization
 * @param classes the name of each output, in order (empty when unknown)
 * @param folded  whether the model's batch norm is folded into the layers before it
 */
public record ModelSpec(String model, ModelOptions options, List<String> classes, boolean folded) {
    /** The version of the metadata layout of an unfolded model (the first one). */
    public static final int FORMAT_VERSION = 1;
    /** The version of the metadata layout of a folded model: version 1 and the "folded" key. */
    public static final int FOLDED_FORMAT_VERSION = 2;
    /** The smallest and largest input side a preset accepts. */
    public static final int MIN_SIDE = 16;
    public static final int MAX_SIDE = 1024;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    public ModelSpec {
        if (!Models.NAMES.contains(model)) {
            throw new IllegalArgumentException("unknown model '" + model + "'; valid: " + String.join(", ", Models.NAMES));
        }
        Objects.requireNonNull(options, "options");
        if (options.activation() == null) {
            options = options.withActivation(model.startsWith("mlp") ? "relu" : "sigmoid");
        }
        if (options.resize() < MIN_SIDE || options.resize() > MAX_SIDE) {
            throw new IllegalArgumentException("input side " + options.resize() + " is outside " + MIN_SIDE + " .. " + MAX_SIDE);
        }
        classes = List.copyOf(classes);
        if (folded && BatchNormFolding.foldedIndices(Models.create(model, options).layers()).isEmpty()) {
            throw new IllegalArgumentException(model + " has no batch norm to fold, so no folded " + model + " exists");
        }
    }

    /** An unfolded model. */
    public ModelSpec(String model, ModelOptions options, List<String> classes) {
        this(model, options, classes, false);
    }

    /** This spec with its batch norm folded. */
    public ModelSpec asFolded() {
        return new ModelSpec(model, options, classes, true);
    }

    /** The model, unbuilt (see {@link Sequential#build(long)}). */
    public Sequential create() {
        return folded ? Models.createFolded(model, options) : Models.create(model, options);
    }

    /** The input side: images are resize x resize. */
    public int side() {
        return options.resize();
    }

    /** The name of class {@code i}, or its number when the classes are not known. */
    public String className(int i) {
        return i < classes.size() ? classes.get(i) : Integer.toString(i);
    }

    /** This spec as the metadata's JSON text. */
    public String toJson() {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("format_version", folded ? FOLDED_FORMAT_VERSION : FORMAT_VERSION);
        o.put("model", model);
        if (folded) {
            o.put("folded", true);
        }
        o.put("pool", options.pool());
        o.put("act", options.activation());
        o.put("resize", options.resize());
        o.put("init", options.init());
        ArrayNode c = o.putArray("classes");
        classes.forEach(c::add);
        return o.toString();
    }

    /**
     * Parses the metadata's JSON text.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static ModelSpec fromJson(String json) {
        JsonNode o;
        try {
            o = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the model description is not JSON (" + e.getOriginalMessage() + ")");
        }
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("the model description is not a JSON object");
        }
        int version = o.path("format_version").asInt(-1);
        if (version != FORMAT_VERSION && version != FOLDED_FORMAT_VERSION) {
            throw new IllegalArgumentException("model description version " + o.path("format_version")
                    + " is not supported (this normnet reads versions " + FORMAT_VERSION + " and " + FOLDED_FORMAT_VERSION + ")");
        }
        JsonNode foldedNode = o.get("folded");
        if (foldedNode != null && !foldedNode.isBoolean()) {
            throw new IllegalArgumentException("'folded' must be true or false, got " + foldedNode);
        }
        boolean folded = foldedNode != null && foldedNode.asBoolean();
        if (folded != (version == FOLDED_FORMAT_VERSION)) {
            throw new IllegalArgumentException("model description version " + version + (folded ? " cannot mark" : " must mark")
                    + " the model folded (version " + FOLDED_FORMAT_VERSION + " is a folded model's, with \"folded\": true)");
        }
        ModelOptions options = new ModelOptions(text(o, "pool"), text(o, "act"), o.path("resize").asInt(-1), text(o, "init"));
        List<String> classes = new ArrayList<>();
        for (JsonNode c : o.path("classes")) {
            if (!c.isTextual()) {
                throw new IllegalArgumentException("class names must be strings, got " + c);
            }
            classes.add(c.asText());
        }
        return new ModelSpec(text(o, "model"), options, classes, folded);
    }

    private static String text(JsonNode o, String key) {
        JsonNode v = o.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException("the model description has no string '" + key + "'");
        }
        return v.asText();
    }
}
