package dev.normnet.backend.cuda;

import java.nio.file.Path;

/**
 * Why JCuda's native driver library did not load, read from the {@link LinkageError} its static
 * initializer threw. JCuda first tries {@code java.library.path}, then unpacks the library from
 * the natives jar into {@code java.io.tmpdir} and loads it from there; the dynamic loader's words
 * for that second attempt say what is missing: {@code libcuda.so.1} (no NVIDIA driver), a
 * {@code GLIBCXX_} or {@code GLIBC_} version (a libstdc++ or glibc older than the one JCuda was
 * built against), or "failed to map segment" (a temp directory mounted noexec).
 */
final class ProbeCause {
    static final String NO_DRIVER = "no NVIDIA driver";
    static final String OLD_LIBSTDCXX = "JCuda's native library needs a newer libstdc++";
    static final String OLD_GLIBC = "JCuda's native library needs a newer glibc";
    static final String NOEXEC_TMPDIR = "the temp directory does not allow executing JCuda's native library";
    static final String NATIVES_FAILED = "JCuda's native library did not load";

    private static final String RESOURCE_ATTEMPT = "Stack trace from the attempt to load the library as a resource:";

    private ProbeCause() {
    }

    /**
     * The status for a probe whose first JCuda call threw {@code e}; {@code tmpdir} is where JCuda
     * unpacks its native library ({@code java.io.tmpdir}).
     */
    static CudaStatus of(LinkageError e, String tmpdir) {
        String text = messages(e);
        String loader = loaderLine(text);  // "/tmp/libJCudaDriver-...so: libcuda.so.1: cannot open shared object file: ..."
        String words = loader != null ? loader : firstLine(text);
        String natives = loader != null && loader.contains(".so: ") ? loader.substring(0, loader.indexOf(".so: ") + 3) : null;
        String reason;
        String hint = "";
        if (words.contains("libcuda.so")) {
            reason = NO_DRIVER;
        } else if (words.contains("GLIBCXX_") || words.contains("CXXABI_") || words.contains("libstdc++")) {
            reason = OLD_LIBSTDCXX;
        } else if (words.contains("GLIBC_")) {
            reason = OLD_GLIBC;
        } else if (words.contains("failed to map segment") || words.contains("Operation not permitted")) {
            reason = NOEXEC_TMPDIR;
            hint = "; set NORMNET_JAVA_OPTS=-Djava.io.tmpdir=DIR to a directory that allows executables";
        } else {
            reason = NATIVES_FAILED;
        }
        String where = natives != null ? "native library " + natives
                : "native library unpacked into " + Path.of(tmpdir == null ? "" : tmpdir).toAbsolutePath();
        return new CudaStatus(false, reason, "none", e.getClass().getSimpleName() + ": " + words + "; " + where + hint);
    }

    /** The messages of {@code t} and its causes, newest first. */
    private static String messages(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c.getMessage() != null) {
                b.append(c.getMessage()).append('\n');
            }
        }
        return b.toString();
    }

    /** The dynamic loader's message for the unpacked library ("PATH: REASON"), or null when there is none. */
    static String loaderLine(String text) {
        int at = text.indexOf(RESOURCE_ATTEMPT);
        String tail = at < 0 ? text : text.substring(at + RESOURCE_ATTEMPT.length());
        String prefix = "java.lang.UnsatisfiedLinkError: ";
        String other = null;
        for (String line : tail.split("\n")) {
            String l = line.trim();
            if (l.startsWith(prefix) && l.contains(".so: ")) {
                return l.substring(prefix.length());
            }
            if (other == null && at >= 0 && !l.isEmpty() && !l.startsWith("at ") && !l.startsWith("---")) {
                other = l;  // e.g. the natives jar holds no library for this platform
            }
        }
        return other;
    }

    private static String firstLine(String text) {
        return text.lines().map(String::trim).filter(s -> !s.isEmpty()).findFirst().orElse("no message");
    }
}
