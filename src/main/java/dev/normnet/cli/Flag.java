package dev.normnet.cli;

import java.util.List;
import java.util.Locale;

/**
 * One command-line flag: its name (without the leading dashes), the kind of value it takes, its
 * default, the range or choices it accepts, and one line of help. Flags are immutable; build them
 * with the static factories.
 */
public final class Flag {

    /** The kind of value a flag takes. */
    public enum Kind { SWITCH, STRING, CHOICE, INT, FLOAT, PATH }

    private final String name;
    private final Kind kind;
    private final String valueName;
    private final String defaultValue;
    private final String defaultText;
    private final List<String> choices;
    private final double min;
    private final boolean minExclusive;
    private final double max;
    private final String help;

    private Flag(String name, Kind kind, String valueName, String defaultValue, String defaultText,
                 List<String> choices, double min, boolean minExclusive, double max, String help) {
        this.name = name;
        this.kind = kind;
        this.valueName = valueName;
        this.defaultValue = defaultValue;
        this.defaultText = defaultText;
        this.choices = choices;
        this.min = min;
        this.minExclusive = minExclusive;
        this.max = max;
        this.help = help;
    }

    /** A flag without a value, off unless given. */
    public static Flag toggle(String name, String help) {
        return new Flag(name, Kind.SWITCH, null, null, "off", List.of(), 0, false, 0, help);
    }

    /** A flag taking one of {@code choices}; the first choice is the default. */
    public static Flag choice(String name, String help, String... choices) {
        return new Flag(name, Kind.CHOICE, String.join("|", choices), choices[0], choices[0],
                List.of(choices), 0, false, 0, help);
    }

    /** A flag taking one of {@code choices}, unset unless given; {@code defaultText} says what unset means. */
    public static Flag optionalChoice(String name, String help, String defaultText, String... choices) {
        return new Flag(name, Kind.CHOICE, String.join("|", choices), null, defaultText, List.of(choices),
                0, false, 0, help);
    }

    /** A whole number in [min, max] with a default. */
    public static Flag integer(String name, String valueName, int defaultValue, int min, int max, String help) {
        return new Flag(name, Kind.INT, valueName, Integer.toString(defaultValue), Integer.toString(defaultValue),
                List.of(), min, false, max, help);
    }

    /** A whole number in [min, max] that is unset unless given; {@code defaultText} says what unset means. */
    public static Flag optionalInteger(String name, String valueName, String defaultText, int min, int max, String help) {
        return new Flag(name, Kind.INT, valueName, null, defaultText, List.of(), min, false, max, help);
    }

    /**
     * A finite number with a default, at least {@code min} (or above it when {@code minExclusive})
     * and at most {@code max}.
     */
    public static Flag number(String name, String valueName, String defaultValue, double min, boolean minExclusive,
                              double max, String help) {
        return new Flag(name, Kind.FLOAT, valueName, defaultValue, defaultValue, List.of(), min, minExclusive, max, help);
    }

    /** A finite number that is unset unless given; {@code defaultText} says what unset means. */
    public static Flag optionalNumber(String name, String valueName, String defaultText, double min,
                                      boolean minExclusive, double max, String help) {
        return new Flag(name, Kind.FLOAT, valueName, null, defaultText, List.of(), min, minExclusive, max, help);
    }

    /** A file or directory path that is unset unless given; {@code defaultText} says what unset means. */
    public static Flag path(String name, String valueName, String defaultText, String help) {
        return new Flag(name, Kind.PATH, valueName, null, defaultText, List.of(), 0, false, 0, help);
    }

    public String name() {
        return name;
    }

    public Kind kind() {
        return kind;
    }

    /** The default as a value string, or null when the flag is unset unless given. */
    public String defaultValue() {
        return defaultValue;
    }

    /** What the help prints after "default:". */
    public String defaultText() {
        return defaultText;
    }

    public List<String> choices() {
        return choices;
    }

    public String help() {
        return help;
    }

    /** "--epochs N", "--model lenet-bn|lenet", "--no-graph". */
    public String usage() {
        return valueName == null ? "--" + name : "--" + name + " " + valueName;
    }

    /**
     * Checks a value given on the command line and returns it in canonical form.
     *
     * @throws UsageException naming the flag and what is wrong with the value
     */
    String check(String value) {
        switch (kind) {
            case SWITCH:
                throw new UsageException("--" + name + " takes no value (got '" + value + "')");
            case CHOICE:
                String lower = value.toLowerCase(Locale.ROOT);
                if (!choices.contains(lower)) {
                    throw new UsageException("--" + name + ": unknown value '" + value + "' (choose one of "
                            + String.join(", ", choices) + ")");
                }
                return lower;
            case INT: {
                long v;
                try {
                    v = Long.parseLong(value.trim());
                } catch (NumberFormatException e) {
                    throw new UsageException("--" + name + ": '" + value + "' is not a whole number");
                }
                checkRange(v, value);
                return Long.toString(v);
            }
            case FLOAT: {
                double v;
                try {
                    v = Double.parseDouble(value.trim());
                } catch (NumberFormatException e) {
                    throw new UsageException("--" + name + ": '" + value + "' is not a number");
                }
                if (!Double.isFinite(v)) {
                    throw new UsageException("--" + name + ": '" + value + "' is not a finite number");
                }
                checkRange(v, value);
                return value.trim();
            }
            case STRING:
            case PATH:
                if (value.isEmpty()) {
                    throw new UsageException("--" + name + " needs a non-empty value");
                }
                return value;
            default:
                throw new IllegalStateException("unhandled flag kind " + kind);
        }
    }

    private void checkRange(double v, String given) {
        boolean low = minExclusive ? v <= min : v < min;
        if (low || v > max) {
            throw new UsageException("--" + name + " must be " + rangeText() + " (got " + given + ")");
        }
    }

    /** "at least 1", "above 0", "between 0 and 1", "from 16 to 1024". */
    String rangeText() {
        String lo = format(min);
        boolean unbounded = max >= Integer.MAX_VALUE || Double.isInfinite(max);
        if (unbounded) {
            return (minExclusive ? "above " : "at least ") + lo;
        }
        if (minExclusive) {
            return "above " + lo + " and at most " + format(max);
        }
        return "from " + lo + " to " + format(max);
    }

    private static String format(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
