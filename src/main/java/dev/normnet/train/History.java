package dev.normnet.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The {@link EpochRecord}s of a training run, in order. The command line writes them to a
 * history file ({@code dev.normnet.cli.HistoryFile}).
 */
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

    @Override
    public String toString() {
        return records.toString();
    }
}
