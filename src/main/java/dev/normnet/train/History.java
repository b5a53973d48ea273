package dev.normnet.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The {@link EpochRecord}s of a training run, in order. */
public final class History {
    private final List<EpochRecord> records = new ArrayList<>();

    public void add(EpochRecord record) {
        records.add(record);
    }

    public List<EpochRecord> records() {
        return Collections.unmodifiableList(records);
    }

    /** The last record; throws when empty. */
    public EpochRecord last() {
        if (records.isEmpty()) {
            throw new IllegalStateException("no epochs recorded");
        }
        return records.get(records.size() - 1);
    }

    /**
     * A JSON array with one object per epoch, keys {@code epoch, train_loss, train_acc, test_acc,
     * examples_per_sec, seconds}; a NaN value (no test set) is written as {@code null}.
     */
    public String toJson() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < records.size(); i++) {
            EpochRecord r = records.get(i);
            sb.append(i == 0 ? "\n" : ",\n");
            sb.append("  {\"epoch\": ").append(r.epoch())
                    .append(", \"train_loss\": ").append(number(r.trainLoss()))
                    .append(", \"train_acc\": ").append(number(r.trainAcc()))
                    .append(", \"test_acc\": ").append(number(r.testAcc()))
                    .append(", \"examples_per_sec\": ").append(number(r.examplesPerSec()))
                    .append(", \"seconds\": ").append(number(r.seconds()))
                    .append('}');
        }
        sb.append(records.isEmpty() ? "]" : "\n]");
        return sb.toString();
    }

    private static String number(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "null";
        }
        return Double.toString(v);
    }
}
