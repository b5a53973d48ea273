package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The argument checks every geometry record shares: a tensor is present, has an expected shape,
 * or has the size of another. Each failure is an {@link IllegalArgumentException} whose message
 * starts with the op and names the argument and the shapes.
 */
final class Checks {
    private Checks() {
    }

    /** The shape of {@code t}; throws when it is null. */
    static Shape shape(String op, String name, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + name + " must not be null");
        }
        return t.shape();
    }

    /** "null" or the shape, for messages about optional arguments. */
    static String describe(Tensor t) {
        return t == null ? "null" : t.shape().toString();
    }

    /** Checks that {@code t} has exactly the shape {@code dims}. */
    static void require(String op, String name, Tensor t, int... dims) {
        Shape expected = Shape.of(dims);
        Shape actual = shape(op, name, t);
        if (!actual.equals(expected)) {
            throw new IllegalArgumentException(op + ": expected " + name + " " + expected + ", got " + actual);
        }
    }

    /** Checks that {@code b} holds as many elements as {@code a} and returns that count. */
    static int sameSize(String op, String aName, Tensor a, String bName, Tensor b) {
        Shape as = shape(op, aName, a);
        Shape bs = shape(op, bName, b);
        if (as.size() != bs.size()) {
            throw new IllegalArgumentException(op + ": " + aName + " " + as + " and " + bName + " " + bs + " differ in size");
        }
        return elements(op, aName, as);
    }

    /** {@code shape.size()} as an int; throws naming the op when it does not fit. */
    static int elements(String op, String name, Shape shape) {
        long size = shape.size();
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + name + " " + shape + " has more than 2^31-1 elements");
        }
        return (int) size;
    }
}
