package dev.normnet.nn;

import dev.normnet.tensor.Shape;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The reference models, layer for layer as the d2l code builds them, so that state names match
 * PyTorch's {@code nn.Sequential} state_dict.
 *
 * <pre>
 * lenet-bn (d2l 7.5):  0 Conv2d(6, 5)  1 BatchNorm2d  2 act  3 pool(2, 2)
 *                      4 Conv2d(16, 5) 5 BatchNorm2d  6 act  7 pool(2, 2)  8 Flatten
 *                      9 Linear(120)  10 BatchNorm1d 11 act 12 Linear(84) 13 BatchNorm1d 14 act 15 Linear(10)
 * lenet:               the same without the BatchNorm layers (first conv unpadded)
 * mlp-bn:              0 Flatten 1 Linear(32) 2 BatchNorm1d 3 ReLU 4 Linear(32) 5 BatchNorm1d 6 ReLU 7 Linear(10)
 * mlp:                 the same without the BatchNorm layers
 * </pre>
 * act is Sigmoid for the LeNets and ReLU for the MLPs unless {@link ModelOptions#activation()} says
 * otherwise; pool is AvgPool2d or MaxPool2d. The input is (1, resize, resize); the first Linear's
 * input size is inferred (16*4*4 = 256 at 28, 16*5*5 = 400 at 32, 16*53*53 = 44944 at 224).
 */
public final class Models {
    public static final List<String> NAMES = List.of("lenet-bn", "lenet", "mlp-bn", "mlp");

    private Models() {
    }

    /** A new, unbuilt model; call {@link Sequential#build(long)} (the input shape is preset). */
    public static Sequential create(String name, ModelOptions options) {
        List<Layer> layers = switch (name == null ? "" : name) {
            case "lenet-bn" -> lenet(options, true);
            case "lenet" -> lenet(options, false);
            case "mlp-bn" -> mlp(options, true);
            case "mlp" -> mlp(options, false);
            default -> throw new IllegalArgumentException("unknown model '" + name + "'; valid: " + String.join(", ", NAMES));
        };
        return new Sequential(layers, options.initMethod()).optInputShape(Shape.of(1, options.resize(), options.resize()));
    }

    /**
     * The architecture of preset {@code name} with its batch norm folded
     * ({@link Sequential#foldBatchNorm()}): new, unbuilt, each BatchNorm an {@link Identity}, the
     * layer before it with a bias. What a folded model file rebuilds before its state is loaded.
     *
     * @throws IllegalArgumentException for an unknown preset or one without batch norm
     */
    public static Sequential createFolded(String name, ModelOptions options) {
        Sequential model = create(name, options);
        if (BatchNormFolding.foldedIndices(model.layers()).isEmpty()) {
            throw new IllegalArgumentException(name + " has no batch norm to fold");
        }
        return new Sequential(BatchNormFolding.foldedLayers(model.layers()), model.init())
                .optInputShape(Shape.of(1, options.resize(), options.resize()));
    }

    private static List<Layer> lenet(ModelOptions o, boolean bn) {
        Supplier<Layer> act = activation(o.activation() == null ? "sigmoid" : o.activation());
        Supplier<Layer> pool = "max".equals(o.pool()) ? () -> new MaxPool2d(2, 2) : () -> new AvgPool2d(2, 2);
        List<Layer> l = new ArrayList<>();
        l.add(new Conv2d(6, 5));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(pool.get());
        l.add(new Conv2d(16, 5));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(pool.get());
        l.add(new Flatten());
        l.add(new Linear(120));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(new Linear(84));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(new Linear(10));
        return l;
    }

    private static List<Layer> mlp(ModelOptions o, boolean bn) {
        Supplier<Layer> act = activation(o.activation() == null ? "relu" : o.activation());
        List<Layer> l = new ArrayList<>();
        l.add(new Flatten());
        l.add(new Linear(32));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(new Linear(32));
        if (bn) l.add(new BatchNorm());
        l.add(act.get());
        l.add(new Linear(10));
        return l;
    }

    private static Supplier<Layer> activation(String name) {
        return "relu".equals(name) ? ReLU::new : Sigmoid::new;
    }
}
