package dev.normnet.bench;

import java.util.List;

/**
 * One throughput case of {@code normnet bench}: a model at an input size, training or inference,
 * a batch size, a device and whether the step is replayed as a CUDA graph. The list is the same
 * as in benchmarks/pytorch/bench.py, so that ids match across implementations.
 *
 * @param model  {@code lenet-bn} or {@code mlp-bn}
 * @param input  image side (28 or 224)
 * @param mode   {@code train} (gather, forward, loss, backward, update) or {@code infer}
 *               (gather, eval-mode forward, loss and accuracy sums)
 * @param batch  examples per step
 * @param device {@code cpu} or {@code cuda}
 * @param graph  the step is captured once and replayed (GPU only)
 */
public record BenchCase(String model, int input, String mode, int batch, String device, boolean graph) {

    /** (model, input, mode, batch, devices): LeNet-BN 224 uses batch 32 on the CPU (slow) and 128 on the GPU. */
    private record Row(String model, int input, String mode, int batch, List<String> devices) {
    }

    private static final List<String> BOTH = List.of("cpu", "cuda");
    private static final List<Row> ROWS = List.of(
            new Row("lenet-bn", 28, "train", 64, BOTH),
            new Row("lenet-bn", 28, "train", 256, BOTH),
            new Row("lenet-bn", 28, "train", 1024, BOTH),
            new Row("lenet-bn", 28, "infer", 1000, BOTH),
            new Row("lenet-bn", 224, "train", 32, List.of("cpu")),
            new Row("lenet-bn", 224, "infer", 32, List.of("cpu")),
            new Row("lenet-bn", 224, "train", 128, List.of("cuda")),
            new Row("lenet-bn", 224, "infer", 128, List.of("cuda")),
            new Row("mlp-bn", 28, "train", 32, BOTH),
            new Row("mlp-bn", 28, "train", 256, BOTH),
            new Row("mlp-bn", 28, "infer", 1000, BOTH));

    /** The cases for one device, in table order; on a GPU each case runs without and with the graph. */
    public static List<BenchCase> forDevice(String device) {
        List<BenchCase> out = new java.util.ArrayList<>();
        for (Row r : ROWS) {
            if (!r.devices().contains(device)) {
                continue;
            }
            out.add(new BenchCase(r.model(), r.input(), r.mode(), r.batch(), device, false));
            if (device.equals("cuda")) {
                out.add(new BenchCase(r.model(), r.input(), r.mode(), r.batch(), device, true));
            }
        }
        return out;
    }

    public boolean training() {
        return mode.equals("train");
    }

    /** The id shared with the PyTorch script, e.g. {@code lenet-bn-28/train/b256/cuda/graph}. */
    public String id() {
        return model + "-" + input + "/" + mode + "/b" + batch + "/" + device + (graph ? "/graph" : "");
    }

    /**
     * The optimizer of a training case: the first recipe of the d2l batch-norm chapter and its
     * re-tellings for that model: SGD lr 1.0 for LeNet-BN (the {@code sgd} recipe), Adam lr 0.01
     * for MLP-BN (the {@code mlp-adam} recipe).
     */
    public String optimizer() {
        if (!training()) {
            return null;
        }
        return model.equals("mlp-bn") ? "adam lr 0.01" : "sgd lr 1.0";
    }
}
