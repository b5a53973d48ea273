package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import dev.normnet.Closeness;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * One golden case: the {@code .npy} files under {@code src/test/resources/golden/<case>/} written
 * by {@code src/test/python/make_golden.py}, and the comparison rule the parity tests apply.
 *
 * <p>Rule: a tensor matches its reference when {@code max |got - ref| <= TOLERANCE * scale},
 * with {@code scale = max |ref|} over the whole reference tensor (float32 sums carry an error
 * proportional to the magnitude of their terms, not to each result, so the tensor's own scale is
 * the yardstick). A reference that is zero by construction has no scale of its own; the caller
 * names one ({@link #check(String, float[], NpyReader.Array, double)}). The references are float64
 * results rounded to float32.
 */
final class Golden {
    static final double TOLERANCE = 1e-5;

    private final String name;
    private final String label;
    private final List<String> report = new ArrayList<>();
    private double worst;

    /** @param label the backend or context the numbers come from, used in messages */
    Golden(String name, String label) {
        this.name = name;
        this.label = label;
    }

    String name() {
        return name;
    }

    boolean has(String file) {
        return Golden.class.getResource(path(file)) != null;
    }

    NpyReader.Array load(String file) {
        String path = path(file);
        try (InputStream in = Golden.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalArgumentException("golden file " + path + " is missing from the test class path;"
                        + " regenerate with /usr/bin/python3 src/test/python/make_golden.py");
            }
            return NpyReader.read(in, path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read golden file " + path, e);
        }
    }

    /** The file's values on the backend, shaped as stored. */
    Tensor upload(Backend backend, String file) {
        NpyReader.Array a = load(file);
        return backend.upload(a.data(), Shape.of(a.shape()));
    }

    /** The file's values on the backend with another shape of the same size. */
    Tensor upload(Backend backend, String file, Shape shape) {
        NpyReader.Array a = load(file);
        if (a.data().length != shape.size()) {
            throw new IllegalArgumentException(a.name() + ": " + a.data().length + " values do not fit shape " + shape);
        }
        return backend.upload(a.data(), shape);
    }

    /** Checks a tensor against the reference file of the same shape; returns the relative error. */
    double check(String what, Tensor got, String file) {
        NpyReader.Array ref = load(file);
        if (!got.shape().equals(Shape.of(ref.shape()))) {
            fail(where(what) + ": shape " + got.shape() + " but the reference " + ref.name() + " has "
                    + Shape.of(ref.shape()));
        }
        return check(what, got.toArray(), ref, 0.0);
    }

    double check(String what, float[] got, NpyReader.Array ref) {
        return check(what, got, ref, 0.0);
    }

    /**
     * Checks {@code got} against {@code ref} under the rule above; {@code zeroScale} is the scale
     * used when the reference is all zeros. Fails with the largest difference, where it is, and
     * both values.
     */
    double check(String what, float[] got, NpyReader.Array ref, double zeroScale) {
        float[] r = ref.data();
        if (got.length != r.length) {
            fail(where(what) + ": " + got.length + " values but the reference " + ref.name() + " has " + r.length);
        }
        double[] expected = new double[r.length];
        boolean zero = true;
        for (int i = 0; i < r.length; i++) {
            expected[i] = r[i];
            zero &= r[i] == 0f;
        }
        String where = where(what) + " (reference " + ref.name() + ")";
        Closeness.Report closeness;
        if (zero && zeroScale > 0) {
            double[] scale = new double[r.length];
            java.util.Arrays.fill(scale, zeroScale);
            closeness = Closeness.assertClose(where, expected, got, TOLERANCE, scale);
        } else {
            closeness = Closeness.assertClose(where, expected, got, TOLERANCE);
        }
        double rel = closeness.worstRatio() * TOLERANCE;
        worst = Math.max(worst, rel);
        report.add(String.format(Locale.ROOT, "%s %.1e", what, rel));
        return rel;
    }

    /** One line with the relative error of every tensor checked so far, printed by the tests. */
    String summary() {
        return String.format(Locale.ROOT, "parity %s %s: worst %.2e [%s]", label, name, worst, String.join(", ", report));
    }

    double worst() {
        return worst;
    }

    private String where(String what) {
        return label + " " + name + "/" + what;
    }

    private String path(String file) {
        return "/golden/" + name + "/" + file + ".npy";
    }
}
