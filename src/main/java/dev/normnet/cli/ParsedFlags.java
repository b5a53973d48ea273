package dev.normnet.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The flags of one command line after parsing and checking: each declared flag has either the
 * value given, its default, or no value (optional flags not given).
 */
public final class ParsedFlags {
    private final CommandSpec spec;
    private final Map<String, String> given;

    ParsedFlags(CommandSpec spec, Map<String, String> given) {
        this.spec = spec;
        this.given = given;
    }

    /** The command these flags belong to. */
    public CommandSpec spec() {
        return spec;
    }

    /** True when the flag appeared on the command line. */
    public boolean isGiven(String name) {
        declared(name);
        return given.containsKey(name);
    }

    /** True when the flag has a value, given or by default. */
    public boolean has(String name) {
        return raw(name) != null;
    }

    /** A switch: true when given. */
    public boolean on(String name) {
        return "true".equals(raw(name));
    }

    public String string(String name) {
        return required(name);
    }

    public int integer(String name) {
        return Integer.parseInt(required(name));
    }

    /** The value, or {@code fallback} when the flag has none. */
    public int integer(String name, int fallback) {
        String v = raw(name);
        return v == null ? fallback : Integer.parseInt(v);
    }

    public double number(String name) {
        return Double.parseDouble(required(name));
    }

    /** The path, or null when the flag was not given. */
    public Path path(String name) {
        String v = raw(name);
        return v == null ? null : Path.of(v);
    }

    /** Every declared flag except --help and --debug, with its effective value (null when unset). */
    public Map<String, String> effective() {
        Map<String, String> out = new LinkedHashMap<>();
        for (Flag f : spec.flags()) {
            if (f == CommandSpec.HELP || f == CommandSpec.DEBUG) {
                continue;
            }
            out.put(f.name(), f.kind() == Flag.Kind.SWITCH ? Boolean.toString(on(f.name())) : raw(f.name()));
        }
        return out;
    }

    /**
     * Like {@link #effective()} with typed values for JSON: whole numbers as Long, numbers as
     * Double, switches as Boolean, the rest as String, null when unset.
     */
    public Map<String, Object> effectiveTyped() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : effective().entrySet()) {
            String v = e.getValue();
            Flag.Kind kind = spec.flag(e.getKey()).kind();
            Object typed = v == null ? null
                    : kind == Flag.Kind.INT ? (Object) Long.parseLong(v)
                    : kind == Flag.Kind.FLOAT ? (Object) Double.parseDouble(v)
                    : kind == Flag.Kind.SWITCH ? (Object) Boolean.parseBoolean(v)
                    : v;
            out.put(e.getKey(), typed);
        }
        return out;
    }

    private String raw(String name) {
        Flag f = declared(name);
        String v = given.get(name);
        return v != null ? v : f.defaultValue();
    }

    private String required(String name) {
        String v = raw(name);
        if (v == null) {
            throw new IllegalStateException("--" + name + " has no value and no default");
        }
        return v;
    }

    private Flag declared(String name) {
        Flag f = spec.flag(name);
        if (f == null) {
            throw new IllegalArgumentException("no flag --" + name + " declared for " + spec.name());
        }
        return f;
    }
}
