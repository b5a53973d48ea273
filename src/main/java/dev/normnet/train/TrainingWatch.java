package dev.normnet.train;

import dev.normnet.nn.BatchNorm;
import dev.normnet.nn.ReLU;
import dev.normnet.nn.Sequential;
import dev.normnet.nn.Sigmoid;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link Watcher} of {@code normnet train --watch N}: every {@code every} steps it records,
 * for every batch-norm layer and every activation (Sigmoid, ReLU), the 15th, 50th and 85th
 * percentiles of the layer's input over the whole batch (as Figure 1 of Ioffe and Szegedy,
 * 2015), for a batch norm also the batch mean and variance per channel against the running ones,
 * and the L2 norm of every parameter tensor's gradient; after every epoch, gamma and beta of
 * every batch norm. {@link #log()} gives it all as a {@link WatchLog}.
 *
 * <p>Each watched input is copied to the host whole ({@link Tensor#toArray()}, which on a GPU
 * waits for the device) and its percentiles selected: the cost is that of the copies and of selecting in about
 * N x C x H x W floats per watched layer, paid on watched steps only.
 */
public final class TrainingWatch implements Watcher {
    private static final double[] FRACTIONS = {0.15, 0.50, 0.85};

    private final int every;
    private List<WatchLog.Layer> layers;          // set on the first watched step
    private Map<Integer, WatchLog.Layer> byIndex;
    private final List<WatchLog.Step> steps = new ArrayList<>();
    private final List<WatchLog.Epoch> epochs = new ArrayList<>();
    private long nanos;

    // The step being watched.
    private long step;
    private int epoch;
    private Map<String, Input> inputs;
    private Map<String, Double> gradNorms;

    /** Watches steps every, 2 * every, ... */
    public TrainingWatch(int every) {
        if (every < 1) {
            throw new IllegalArgumentException("watch interval must be >= 1, got " + every);
        }
        this.every = every;
    }

    public int every() {
        return every;
    }

    /** What was recorded so far. */
    public WatchLog log() {
        return new WatchLog(every, nanos / 1e9, layers == null ? List.of() : List.copyOf(layers), List.copyOf(steps),
                List.copyOf(epochs));
    }

    /** Host time spent watching so far, in seconds. */
    public double seconds() {
        return nanos / 1e9;
    }

    /** Number of steps watched so far. */
    public int stepsWatched() {
        return steps.size();
    }

    @Override
    public boolean watches(long s) {
        return s % every == 0;
    }

    @Override
    public void beforeStep(long s, int e, Sequential model) {
        layersOf(model);
        this.step = s;
        this.epoch = e;
        this.inputs = new LinkedHashMap<>();
        this.gradNorms = null;
    }

    @Override
    public void beforeLayer(int index, Tensor input) {
        if (byIndex == null || !byIndex.containsKey(index)) {
            return;
        }
        long t0 = System.nanoTime();
        WatchLog.Layer layer = byIndex.get(index);
        float[] x = input.toArray();
        double[][] stats = layer.isBatchNorm() ? channelStats(x, input.shape()) : null;
        double[] p = Percentiles.ofInPlace(x, FRACTIONS);
        inputs.put(layer.name(), new Input(p, stats));
        nanos += System.nanoTime() - t0;
    }

    @Override
    public void afterBackward(Sequential model) {
        long t0 = System.nanoTime();
        gradNorms = new LinkedHashMap<>();
        for (Map.Entry<String, float[]> e : model.gradientState().entrySet()) {
            double sum = 0;
            for (float g : e.getValue()) {
                sum += (double) g * g;
            }
            gradNorms.put(e.getKey(), Math.sqrt(sum));
        }
        nanos += System.nanoTime() - t0;
    }

    @Override
    public void afterStep(Sequential model) {
        long t0 = System.nanoTime();
        Map<String, float[]> state = model.state();
        Map<String, WatchLog.Input> done = new LinkedHashMap<>();
        for (WatchLog.Layer layer : layers) {
            Input in = inputs.get(layer.name());
            if (in == null) {
                continue;
            }
            WatchLog.Input w = in.stats == null
                    ? new WatchLog.Input(in.p[0], in.p[1], in.p[2], null, null, null, null)
                    : new WatchLog.Input(in.p[0], in.p[1], in.p[2], list(in.stats[0]), list(in.stats[1]),
                    list(state.get(layer.index() + ".running_mean")), list(state.get(layer.index() + ".running_var")));
            done.put(layer.name(), w);
        }
        steps.add(new WatchLog.Step(step, epoch, done, gradNorms == null ? Map.of() : gradNorms));
        inputs = null;
        nanos += System.nanoTime() - t0;
    }

    @Override
    public void afterEpoch(int e, Sequential model) {
        long t0 = System.nanoTime();
        layersOf(model);
        Map<String, float[]> state = model.state();
        Map<String, List<Float>> gamma = new LinkedHashMap<>();
        Map<String, List<Float>> beta = new LinkedHashMap<>();
        for (WatchLog.Layer layer : layers) {
            if (layer.isBatchNorm()) {
                gamma.put(layer.name(), list(state.get(layer.index() + ".weight")));
                beta.put(layer.name(), list(state.get(layer.index() + ".bias")));
            }
        }
        epochs.add(new WatchLog.Epoch(e, gamma, beta));
        nanos += System.nanoTime() - t0;
    }

    /** Sets the watched layers from the (built) model, once. */
    private void layersOf(Sequential model) {
        if (layers != null) {
            return;
        }
        List<WatchLog.Layer> list = new ArrayList<>();
        Map<Integer, WatchLog.Layer> map = new LinkedHashMap<>();
        for (int i = 0; i < model.layers().size(); i++) {
            var layer = model.layers().get(i);
            String name = layer.typeName() + "-" + (i + 1);
            WatchLog.Layer w = null;
            if (layer instanceof BatchNorm bn) {
                w = new WatchLog.Layer(i, name, layer.typeName(), bn.channels());
            } else if (layer instanceof Sigmoid || layer instanceof ReLU) {
                w = new WatchLog.Layer(i, name, layer.typeName(), null);
            }
            if (w != null) {
                list.add(w);
                map.put(i, w);
            }
        }
        layers = list;
        byIndex = map;
    }

    /**
     * Per channel of {@code x}, shaped (N, C) or (N, C, H, W): {mean, biased variance}, two
     * passes in double.
     */
    static double[][] channelStats(float[] x, Shape shape) {
        int n = shape.dim(0);
        int c = shape.dim(1);
        int inner = shape.rank() > 2 ? shape.sizeFrom(2) : 1;
        double m = (double) n * inner;
        double[] mean = new double[c];
        double[] var = new double[c];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int base = (b * c + ch) * inner;
                double s = 0;
                for (int k = 0; k < inner; k++) {
                    s += x[base + k];
                }
                mean[ch] += s;
            }
        }
        for (int ch = 0; ch < c; ch++) {
            mean[ch] /= m;
        }
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int base = (b * c + ch) * inner;
                double s = 0;
                for (int k = 0; k < inner; k++) {
                    double d = x[base + k] - mean[ch];
                    s += d * d;
                }
                var[ch] += s;
            }
        }
        for (int ch = 0; ch < c; ch++) {
            var[ch] /= m;
        }
        return new double[][] {mean, var};
    }

    private static List<Float> list(float[] v) {
        List<Float> out = new ArrayList<>(v.length);
        for (float f : v) {
            out.add(f);
        }
        return out;
    }

    private static List<Float> list(double[] v) {
        List<Float> out = new ArrayList<>(v.length);
        for (double d : v) {
            out.add((float) d);
        }
        return out;
    }

    /** A layer's input at the step being watched: percentiles, and {mean, var} per channel for a batch norm. */
    private record Input(double[] p, double[][] stats) {
    }
}
