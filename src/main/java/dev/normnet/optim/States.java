package dev.normnet.optim;

import java.util.Map;
import java.util.TreeSet;

/** The checks every {@link Optimizer#loadState} makes before it writes anything. */
final class States {
    private States() {
    }

    /**
     * Checks that {@code state} has exactly the names of {@code lengths}, each with its length, and
     * finite values only.
     *
     * @throws IllegalArgumentException naming the optimizer and the tensor
     */
    static void check(String optimizer, Map<String, float[]> state, Map<String, Integer> lengths) {
        if (!state.keySet().equals(lengths.keySet())) {
            throw new IllegalArgumentException(optimizer + ": state has " + new TreeSet<>(state.keySet())
                    + ", expected " + new TreeSet<>(lengths.keySet()));
        }
        for (Map.Entry<String, Integer> e : lengths.entrySet()) {
            float[] v = state.get(e.getKey());
            if (v.length != e.getValue()) {
                throw new IllegalArgumentException(optimizer + ": state '" + e.getKey() + "' has " + v.length
                        + " values, expected " + e.getValue());
            }
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    throw new IllegalArgumentException(optimizer + ": state '" + e.getKey() + "' holds " + v[i]
                            + " at index " + i);
                }
            }
        }
    }
}
