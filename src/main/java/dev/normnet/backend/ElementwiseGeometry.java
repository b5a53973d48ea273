package dev.normnet.backend;

import dev.normnet.tensor.Tensor;

/**
 * The size of an element-wise op (sigmoid, ReLU, copy) or of a flat-buffer update: n elements
 * in every tensor it touches. Shapes may differ as long as the sizes agree.
 */
public record ElementwiseGeometry(int n) {

    /** {@code fill}: t must be present. */
    public static ElementwiseGeometry fill(String op, Tensor t) {
        return new ElementwiseGeometry(Checks.elements(op, "t", Checks.shape(op, "t", t)));
    }

    /** Two tensors of one size: x and y of a forward op, src and dst of a copy. */
    public static ElementwiseGeometry of(String op, String aName, Tensor a, String bName, Tensor b) {
        return new ElementwiseGeometry(Checks.sameSize(op, aName, a, bName, b));
    }

    /** Three tensors of one size: y (or x), dy and dx of a backward op. */
    public static ElementwiseGeometry of(String op, String aName, Tensor a, String bName, Tensor b, String cName, Tensor c) {
        int n = Checks.sameSize(op, aName, a, bName, b);
        Checks.sameSize(op, aName, a, cName, c);
        return new ElementwiseGeometry(n);
    }

    /** {@code addScalar}: index must fall inside t. */
    public static ElementwiseGeometry index(String op, Tensor t, int index) {
        ElementwiseGeometry g = fill(op, t);
        if (index < 0 || index >= g.n) {
            throw new IllegalArgumentException(op + ": index " + index + " outside a tensor of shape " + t.shape());
        }
        return g;
    }
}
