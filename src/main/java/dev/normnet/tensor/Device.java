package dev.normnet.tensor;

/** Where a tensor's storage lives. */
public enum Device {
    CPU,
    CUDA;

    /** Lower-case name as used on the command line: {@code cpu}, {@code cuda}. */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
