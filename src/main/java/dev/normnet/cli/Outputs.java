package dev.normnet.cli;

import dev.normnet.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;

/** The files a command's options name, written by {@link AtomicFiles} with failures worded as usage errors. */
final class Outputs {
    private Outputs() {
    }

    /**
     * As {@link AtomicFiles#write(Path, AtomicFiles.Writer)}, for the file an option names: a failure
     * is a {@link UsageException} naming the option, the path and the reason
     * ({@code --save m.safetensors: No space left on device}).
     */
    static void write(String flag, Path target, AtomicFiles.Writer writer) {
        try {
            AtomicFiles.write(target, writer);
        } catch (IOException e) {
            throw new UsageException(flag + " " + target + ": " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * {@link AtomicFiles#checkWritable}, before any long work starts.
     *
     * @param flag the option naming the file, such as {@code --save}
     * @throws UsageException naming the option, the path and what is wrong
     */
    static void checkWritable(String flag, Path target) {
        try {
            AtomicFiles.checkWritable(target);
        } catch (IOException e) {
            throw new UsageException(flag + " " + target + ": " + AtomicFiles.reason(e), e);
        }
    }
}
