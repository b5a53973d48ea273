package dev.normnet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The contract the fuzz tests ({@code *FuzzTest}, run with Jazzer) check for every file reader:
 * any input either reads, or is refused with the reader's own documented exception whose message
 * names the file; nothing else escapes (no ArrayIndexOutOfBounds, NegativeArraySize,
 * OutOfMemoryError, StackOverflowError, IllegalState...), and the bytes the reader allocates stay
 * within a bound the test derives from the input's size.
 *
 * <p>Allocation is measured per thread ({@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes}),
 * so it counts what the reader asked for, even when the heap could have granted it.
 *
 * <p>A fuzz test writes each input to one scratch file per test class ({@link #write}), so that
 * messages name a real path and the readers run as the command line runs them.
 */
public final class HostileInput {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /**
     * Added to every allocation bound: what reading any file costs before its size matters (buffers,
     * a parser, messages, and classes loaded and instrumented on first use).
     */
    public static final long SLACK = 16L << 20;

    private final Path dir;

    /** A scratch directory for one fuzz test class, removed at exit. */
    public HostileInput(String name) {
        try {
            dir = Files.createTempDirectory("normnet-fuzz-" + name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        dir.toFile().deleteOnExit();
    }

    /** The scratch directory. */
    public Path dir() {
        return dir;
    }

    /** Writes {@code bytes} to {@code name} in the scratch directory (replacing it) and returns its path. */
    public Path write(String name, byte[] bytes) {
        Path file = dir.resolve(name);
        try {
            Files.createDirectories(file.getParent());
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        file.toFile().deleteOnExit();
        return file;
    }

    private static final ThreadLocal<Boolean> WARMING_UP = ThreadLocal.withInitial(() -> false);

    /** A fuzz test's body. */
    @FunctionalInterface
    public interface Target {
        void run(byte[] input) throws Exception;
    }

    /**
     * Runs {@code target} once on each seed, with allocation unchecked and every outcome ignored, so
     * that the classes a reader loads on first use (and Jazzer instruments) are not counted against
     * the first input measured.
     */
    public static void warmUp(Target target, Read<java.util.Map<String, byte[]>> seeds) {
        WARMING_UP.set(true);
        try {
            for (byte[] seed : seeds.read().values()) {
                try {
                    target.run(seed);
                } catch (Exception | AssertionError e) {
                    // only the loading matters here; the seeds are checked as inputs of their own
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot generate the seeds", e);
        } finally {
            WARMING_UP.set(false);
        }
    }

    /** Something a reader does with a file; it may throw anything. */
    @FunctionalInterface
    public interface Read<T> {
        T read() throws Exception;
    }

    /** What a read gave: the value, or the documented refusal. */
    public record Outcome<T>(T value, RuntimeException refusal, long allocated) {
        public boolean ok() {
            return refusal == null;
        }
    }

    /**
     * Runs {@code read} on {@code file}; a {@code documented} exception is the refusal the reader
     * promises and must name the file; any other throwable is rethrown for Jazzer to
     * report as a finding. The bytes allocated on this thread must stay within {@code maxAllocated}
     * plus {@link #SLACK}.
     */
    public static <T> Outcome<T> read(Path file, Class<? extends RuntimeException> documented, long maxAllocated,
                                      Read<T> read) throws Exception {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        T value = null;
        RuntimeException refusal = null;
        try {
            value = read.read();
        } catch (RuntimeException e) {
            if (!documented.isInstance(e)) {
                throw e;
            }
            refusal = e;
            checkMessage(file, e);
        }
        long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
        if (!WARMING_UP.get() && allocated > maxAllocated + SLACK) {
            throw new AssertionError(file.getFileName() + ": the reader allocated " + allocated
                    + " bytes, more than the " + (maxAllocated + SLACK) + " its input of " + Files.size(file)
                    + " bytes allows" + (refusal != null ? " (then refused it: " + refusal.getMessage() + ")" : ""));
        }
        return new Outcome<>(value, refusal, allocated);
    }

    /**
     * A refusal's message names the file (by its full path, as every reader prints it). The command
     * line prints it as one line whatever it holds (cli/Errors joins lines).
     */
    public static void checkMessage(Path file, Throwable e) {
        String m = e.getMessage();
        if (m == null || !m.contains(file.toString())) {
            throw new AssertionError("a refusal that does not name " + file + ": " + e, e);
        }
    }

    /**
     * Checks that every seed input a fuzz test generates ({@code seeds}: file name to bytes) is
     * committed under {@code src/test/resources/<package>/<Class>Inputs/<method>/}, where Jazzer reads
     * them; with {@code -Dnormnet.fuzz.writeSeeds=true} it (re)writes them there. Only their presence
     * is checked: gzip, PNG and JPEG encoders may give other bytes on another JDK build, and any
     * seed is as good a start. Other files in the folder (inputs the fuzzer found) are left alone.
     */
    public static void checkSeeds(Class<?> test, String method, java.util.Map<String, byte[]> seeds) throws IOException {
        Path dir = Path.of("src/test/resources", test.getPackageName().replace('.', '/'),
                test.getSimpleName() + "Inputs", method);
        boolean write = Boolean.getBoolean("normnet.fuzz.writeSeeds");
        for (java.util.Map.Entry<String, byte[]> e : seeds.entrySet()) {
            Path f = dir.resolve(e.getKey());
            if (write) {
                Files.createDirectories(dir);
                Files.write(f, e.getValue());
            } else {
                check(Files.isRegularFile(f), f + " is missing: generate the seeds with"
                        + " mvn test -Dtest=" + test.getSimpleName() + " -Dnormnet.fuzz.writeSeeds=true");
            }
        }
    }

    /** Throws an AssertionError saying {@code what} unless {@code condition}. */
    public static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }
}
