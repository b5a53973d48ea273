package dev.normnet.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Median and spread of repeated measurements. Quartiles interpolate linearly between order
 * statistics (position p * (n - 1)), as numpy's default percentile does, so the Java and Python
 * harnesses summarize runs the same way.
 */
public record Stats(double median, double min, double max, double q1, double q3, double[] runs) {

    public static Stats of(double... values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no measurements");
        }
        double[] v = values.clone();
        Arrays.sort(v);
        return new Stats(percentile(v, 0.5), v[0], v[v.length - 1], percentile(v, 0.25), percentile(v, 0.75), values.clone());
    }

    /** The p-quantile (0..1) of sorted values, interpolating linearly. */
    static double percentile(double[] sorted, double p) {
        double at = p * (sorted.length - 1);
        int lo = (int) Math.floor(at);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }

    /** Half the min-max range relative to the median, in percent. */
    public double spreadPercent() {
        return median == 0 ? 0 : 50.0 * (max - min) / median;
    }

    /** The JSON form: median, min, max, q1, q3, runs. */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("median", median);
        m.put("min", min);
        m.put("max", max);
        m.put("q1", q1);
        m.put("q3", q3);
        List<Object> r = new ArrayList<>();
        for (double x : runs) {
            r.add(x);
        }
        m.put("runs", r);
        return m;
    }
}
