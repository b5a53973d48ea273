package dev.normnet.cli;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A command's name, one-paragraph description and flags: enough to parse its arguments and to
 * print its help. Every command also accepts {@code --help} and {@code --debug}.
 */
public final class CommandSpec {

    /** Prints the help and exits with status 0. */
    public static final Flag HELP = Flag.toggle("help", "print this help and exit");
    /** Prints the stack trace of an error (as does NORMNET_DEBUG=1). */
    public static final Flag DEBUG = Flag.toggle("debug", "on an error, also print its stack trace (as NORMNET_DEBUG=1 does)");

    private static final int HELP_COLUMNS = 100;

    private final String name;
    private final String description;
    private final Map<String, Flag> flags;

    public CommandSpec(String name, String description, List<Flag> flags) {
        this.name = name;
        this.description = description;
        Map<String, Flag> byName = new LinkedHashMap<>();
        for (Flag f : flags) {
            if (byName.put(f.name(), f) != null) {
                throw new IllegalArgumentException("flag --" + f.name() + " declared twice for " + name);
            }
        }
        byName.putIfAbsent(DEBUG.name(), DEBUG);
        byName.putIfAbsent(HELP.name(), HELP);
        this.flags = Collections.unmodifiableMap(byName);
    }

    public String name() {
        return name;
    }

    /** All flags in help order, including --debug and --help. */
    public List<Flag> flags() {
        return new ArrayList<>(flags.values());
    }

    public Flag flag(String name) {
        return flags.get(name);
    }

    /**
     * Parses {@code args} (everything after the command name). Accepts {@code --name value} and
     * {@code --name=value}; a flag may appear once. With {@code --help} anywhere, the rest is not
     * checked.
     *
     * @throws UsageException for an unknown flag, a missing or malformed value, a repeated flag or
     *         a stray argument
     */
    public ParsedFlags parse(String[] args) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String arg : args) {
            if (arg.equals("--help") || arg.equals("-h")) {
                // Help wins over any other flag, valid or not.
                values.put(HELP.name(), "true");
                return new ParsedFlags(this, values);
            }
        }
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--") || arg.length() == 2) {
                if (arg.equals("-h")) {
                    values.put(HELP.name(), "true");
                    continue;
                }
                throw new UsageException("unexpected argument '" + arg + "' for " + name + " (see normnet " + name + " --help)");
            }
            String key = arg.substring(2);
            String inline = null;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                inline = key.substring(eq + 1);
                key = key.substring(0, eq);
            }
            Flag flag = flags.get(key);
            if (flag == null) {
                String hint = closest(key);
                throw new UsageException("unknown flag --" + key + " for " + name
                        + (hint == null ? "" : " (did you mean --" + hint + "?)")
                        + (hint == null ? " (see normnet " + name + " --help)" : ""));
            }
            if (values.containsKey(key) && flag != HELP && flag != DEBUG) {
                throw new UsageException("--" + key + " given more than once");
            }
            String value;
            if (flag.kind() == Flag.Kind.SWITCH) {
                if (inline != null) {
                    flag.check(inline); // throws: a switch takes no value
                }
                value = "true";
            } else {
                if (inline != null) {
                    value = inline;
                } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                    value = args[++i];
                } else {
                    throw new UsageException("--" + key + " needs a value (" + flag.usage() + ")");
                }
                value = flag.check(value);
            }
            values.put(key, value);
        }
        return new ParsedFlags(this, values);
    }

    /** The help text: usage line, description, then every flag with its default. */
    public String help() {
        StringBuilder sb = new StringBuilder();
        sb.append("usage: normnet ").append(name).append(" [flags]\n\n");
        sb.append(description).append("\n\nflags:\n");
        int width = 0;
        for (Flag f : flags.values()) {
            width = Math.max(width, f.usage().length());
        }
        width = Math.min(width, 34);
        for (Flag f : flags.values()) {
            String usage = f.usage();
            sb.append("  ").append(usage);
            if (usage.length() > width) {
                sb.append('\n').append(" ".repeat(width + 2));
            } else {
                sb.append(" ".repeat(width - usage.length()));
            }
            String text = f.help();
            String dflt = "(default: " + f.defaultText() + ")";
            if (width + 4 + text.length() + 1 + dflt.length() <= HELP_COLUMNS) {
                sb.append("  ").append(text).append(' ').append(dflt).append('\n');
            } else {
                sb.append("  ").append(text).append('\n').append(" ".repeat(width + 4)).append(dflt).append('\n');
            }
        }
        return sb.toString();
    }

    /** The declared flag nearest to {@code key} by edit distance, or null when none is close. */
    private String closest(String key) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : flags.keySet()) {
            int d = editDistance(key, candidate);
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        return bestDistance <= Math.max(1, key.length() / 3) ? best : null;
    }

    static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
