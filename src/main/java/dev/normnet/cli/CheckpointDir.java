package dev.normnet.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelFileException;
import dev.normnet.io.ModelSpec;
import dev.normnet.io.SafeTensors;
import dev.normnet.nn.Sequential;
import dev.normnet.train.EpochRecord;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The training state that {@code normnet train --checkpoint-dir DIR} writes after every epoch and
 * {@code normnet train --resume DIR} continues from:
 * <pre>
 * DIR/
 *   epoch-0002/               the state after epoch 2 (the one before the last, kept)
 *   epoch-0003/               the state after epoch 3
 *     model.safetensors       the model file ({@link ModelFile}): parameters, running statistics and
 *                             batch counts under PyTorch's names, and the {@link ModelSpec}
 *     optimizer.safetensors   the optimizer's {@code state()} as F32 tensors (SGD with momentum:
 *                             momentum_buffer; Adam: exp_avg, exp_avg_sq, step), metadata
 *                             {"optimizer": "sgd" or "adam"}
 *     state.json              everything else the next epoch needs, below
 * </pre>
 * {@code state.json}:
 * <pre>
 * {
 *   "format_version": 1,
 *   "epoch": 3,                                      epochs done
 *   "settings": {"model": "lenet-bn", "data": "/abs/dir", "dataset": "fashion-mnist", "epochs": 10,
 *                "batch": 256, "lr": 1.0, "optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0,
 *                "step_size": 2, "gamma": 0.9, "seed": 0, "limit": null, "test_limit": null,
 *                "resize": 28, "pool": "avg", "act": null, "init": "default"},
 *   "files": {"model.safetensors": "SHA-256 in hex", "optimizer.safetensors": "..."},
 *   "data_files": {"train-images-idx3-ubyte.gz": "...", ...},   the data set's files in settings.data
 *                                                    (the four IDX files or the two CSV files; an
 *                                                    image folder's files are not digested)
 *   "history": [{"epoch": 1, "train_loss": ..., ...}, ...]      one EpochRecord per epoch done
 * }
 * </pre>
 * {@code settings} holds every option of {@code train} that shapes the run, under its name with
 * '-' as '_' ({@code epochs} is the total asked for, {@code data} the directory used); the learning
 * rate of the next epoch follows from lr, step_size, gamma and the epoch, its data order from the
 * seed and the epoch.
 *
 * <p>Writing is atomic per epoch: the epoch's directory is written as {@code .epoch-NNNN.tmp} in
 * DIR and renamed into place when complete, so an {@code epoch-NNNN} directory is always whole; then
 * all but the last two are removed (renamed to {@code .epoch-NNNN.old} first). Leftover
 * {@code .tmp} and {@code .old} directories of a killed run are removed at the next write.
 *
 * <p>Reading takes the highest-numbered {@code epoch-NNNN} and checks it whole before anything is
 * used: state.json parses, is of a format version this normnet reads and agrees with itself, and
 * each file has the SHA-256 recorded for it. Every failure is a one-line error naming the file
 * (exit status 2).
 */
final class CheckpointDir {
    /** The version of the state.json layout this class writes and reads. */
    static final int FORMAT_VERSION = 1;
    static final String MODEL = "model.safetensors";
    static final String OPTIMIZER = "optimizer.safetensors";
    static final String STATE = "state.json";
    /** Complete epochs kept. */
    static final int KEEP = 2;
    private static final Pattern EPOCH = Pattern.compile("epoch-(\\d{4,9})");
    private static final Pattern LEFTOVER = Pattern.compile("\\.epoch-\\d{4,9}\\.(tmp|old)");
    private static final String OPTIMIZER_KEY = "optimizer";

    /** The contents of state.json (see the class comment). */
    @JsonPropertyOrder({"format_version", "epoch", "settings", "files", "data_files", "history"})
    record State(@JsonProperty(value = "format_version", required = true) int formatVersion,
                 @JsonProperty(value = "epoch", required = true) int epoch,
                 @JsonProperty(value = "settings", required = true) Map<String, Object> settings,
                 @JsonProperty(value = "files", required = true) Map<String, String> files,
                 @JsonProperty(value = "data_files", required = true) Map<String, String> dataFiles,
                 @JsonProperty(value = "history", required = true) List<EpochRecord> history) {
    }

    private final Path dir;

    /** The checkpoint directory {@code dir}; nothing is touched before the first {@link #write}. */
    CheckpointDir(Path dir) {
        this.dir = dir;
    }

    /**
     * Checks, before any long work, that {@code dir} can take a run's state: a writable directory,
     * or a missing one whose parent exists (only {@code dir} itself is created), holding no state of
     * another run unless it is {@code resumed}, the directory being continued.
     *
     * @throws UsageException naming {@code flag} and the directory
     */
    static void checkTarget(String flag, Path dir, Path resumed) throws IOException {
        String what = flag + " " + dir;
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UsageException(what + ": not a directory");
        }
        if (!Files.exists(dir)) {
            Path parent = dir.toAbsolutePath().getParent();
            if (parent == null || !Files.isDirectory(parent)) {
                throw new UsageException(what + ": directory " + parent + " does not exist (only " + dir.getFileName()
                        + " itself is created)");
            }
            if (!Files.isWritable(parent)) {
                throw new UsageException(what + ": directory " + parent + " is not writable");
            }
            return;
        }
        if (!Files.isWritable(dir)) {
            throw new UsageException(what + ": not writable");
        }
        List<Path> epochs = epochDirs(dir);
        if (!epochs.isEmpty() && (resumed == null || !Files.isDirectory(resumed) || !Files.isSameFile(dir, resumed))) {
            throw new UsageException(what + ": already holds training state (" + epochs.get(epochs.size() - 1).getFileName()
                    + "); continue it with --resume " + dir + ", or name an empty directory");
        }
    }

    /**
     * Writes the state after {@code epoch} (see the class comment), creating the directory itself
     * when missing, then keeps the last {@value #KEEP} epochs.
     *
     * @param optimizer the optimizer's name ("sgd", "adam") and its {@code state()}
     * @param dataFiles the data set's files by name, with their SHA-256 ({@link #digests})
     */
    Path write(int epoch, Sequential model, ModelSpec spec, String optimizerName, Map<String, float[]> optimizer,
               Map<String, Object> settings, Map<String, String> dataFiles, List<EpochRecord> history) throws IOException {
        byte[] modelBytes = ModelFile.contents(model, spec).toBytes();
        SafeTensors.Builder opt = new SafeTensors.Builder().putMetadata(OPTIMIZER_KEY, optimizerName);
        optimizer.forEach((name, v) -> opt.putF32(name, new long[] {v.length}, v));
        byte[] optimizerBytes = opt.toBytes();
        Map<String, String> files = new LinkedHashMap<>();
        files.put(MODEL, sha256(modelBytes));
        files.put(OPTIMIZER, sha256(optimizerBytes));
        State state = new State(FORMAT_VERSION, epoch, settings, files, dataFiles, List.copyOf(history));

        if (!Files.isDirectory(dir)) {
            Files.createDirectory(dir);
        }
        removeLeftovers();
        String name = String.format(Locale.ROOT, "epoch-%04d", epoch);
        Path tmp = dir.resolve("." + name + ".tmp");
        Files.createDirectory(tmp);
        writeSynced(tmp.resolve(MODEL), modelBytes);
        writeSynced(tmp.resolve(OPTIMIZER), optimizerBytes);
        writeSynced(tmp.resolve(STATE), JsonFiles.write(state).getBytes(StandardCharsets.UTF_8));
        Path target = dir.resolve(name);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        List<Path> complete = epochDirs(dir);
        for (Path old : complete.subList(0, Math.max(0, complete.size() - KEEP))) {
            Path doomed = dir.resolve("." + old.getFileName() + ".old");
            Files.move(old, doomed, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(doomed);
        }
        return target;
    }

    /** A state read back and checked whole: its epoch directory and state.json. */
    record Loaded(Path dir, State state) {
        Path stateFile() {
            return dir.resolve(STATE);
        }

        Path model() {
            return dir.resolve(MODEL);
        }

        Path optimizer() {
            return dir.resolve(OPTIMIZER);
        }

        /**
         * Loads the model file into {@code model} (built), after checking that it describes
         * {@code expected}, the model the settings build.
         */
        void loadModel(Sequential model, ModelSpec expected) throws IOException {
            ModelSpec inFile = ModelFile.readSpec(model());
            if (!expected.equals(inFile)) {
                throw new ModelFileException(model() + ": holds " + (inFile == null ? "no model description" : inFile.toJson())
                        + ", but the settings in " + STATE + " build " + expected.toJson());
            }
            ModelFile.loadInto(model, model());
        }

        /** The optimizer state, for an optimizer called {@code name}: F32 vectors, checked further by its loadState. */
        Map<String, float[]> optimizerState(String name) throws IOException {
            Path file = optimizer();
            try (SafeTensors st = SafeTensors.open(file)) {
                String stored = st.metadata().get(OPTIMIZER_KEY);
                if (!name.equals(stored)) {
                    throw new ModelFileException(file + ": holds the state of optimizer " + stored + ", the settings say " + name);
                }
                Map<String, float[]> out = new LinkedHashMap<>();
                for (SafeTensors.Entry e : st.entries().values()) {
                    if (e.dtype() != SafeTensors.DType.F32 || e.shape().length != 1) {
                        throw new ModelFileException(file + ": tensor '" + e.name() + "' is " + e.dtype() + " " + e.shapeText()
                                + ", expected a vector of F32");
                    }
                    out.put(e.name(), st.floats(e.name()));
                }
                return out;
            }
        }

        /**
         * Checks that {@code files}, the data set's files now, are the ones the run started with
         * (same names and SHA-256), and returns their digests.
         *
         * @throws UsageException naming the file that differs
         */
        Map<String, String> checkData(List<Path> files) throws IOException {
            Map<String, String> now = digests(files);
            for (Path f : files) {
                String name = f.getFileName().toString();
                String then = state.dataFiles().get(name);
                if (then == null) {
                    throw new UsageException(f + ": the run read its data from " + new TreeMap<>(state.dataFiles()).keySet()
                            + " (" + stateFile() + "), not from this file");
                }
                if (!then.equals(now.get(name))) {
                    throw new UsageException(f + ": SHA-256 differs from the one recorded in " + stateFile()
                            + " (the data changed since the run started)");
                }
            }
            if (!now.keySet().equals(state.dataFiles().keySet())) {
                throw new UsageException(stateFile() + ": data_files names " + new TreeMap<>(state.dataFiles()).keySet()
                        + ", the data set is now read from " + now.keySet());
            }
            return now;
        }
    }

    /**
     * The last complete state in {@code dir} ({@code --resume DIR}), checked (see the class comment).
     *
     * @throws UsageException when {@code dir} holds no state, or naming the file at fault
     */
    static Loaded read(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new UsageException("--resume " + dir + ": no such directory");
        }
        List<Path> epochs = epochDirs(dir);
        if (epochs.isEmpty()) {
            throw new UsageException("--resume " + dir + ": holds no training state (no epoch-NNNN directory; "
                    + "train --checkpoint-dir writes them)");
        }
        Path last = epochs.get(epochs.size() - 1);
        Path stateFile = last.resolve(STATE);
        if (!Files.isRegularFile(stateFile)) {
            throw new UsageException(stateFile + ": missing (" + last.getFileName() + " is not a complete training state)");
        }
        JsonNode node = JsonFiles.readObject(stateFile);
        JsonNode version = node.get("format_version");
        if (version == null || !version.canConvertToExactIntegral() || version.asInt() < 1) {
            throw new UsageException(stateFile + ": no valid format_version (expected " + FORMAT_VERSION + ")");
        }
        if (version.asInt() > FORMAT_VERSION) {
            throw new UsageException(stateFile + ": format version " + version.asInt() + " is newer than this normnet reads ("
                    + FORMAT_VERSION + "); resume with the normnet that wrote it");
        }
        State state = JsonFiles.convert(node, State.class, stateFile);
        int epoch = epochNumber(last);
        if (state.epoch() != epoch) {
            throw new UsageException(stateFile + ": epoch " + state.epoch() + " in a directory named " + last.getFileName());
        }
        if (state.settings() == null || state.files() == null || state.dataFiles() == null || state.history() == null) {
            throw new UsageException(stateFile + ": settings, files, data_files and history must not be null");
        }
        for (int i = 0; i < state.history().size(); i++) {
            if (state.history().get(i).epoch() != i + 1) {
                throw new UsageException(stateFile + ": history[" + i + "] is epoch " + state.history().get(i).epoch()
                        + ", expected " + (i + 1));
            }
        }
        if (state.history().size() != epoch) {
            throw new UsageException(stateFile + ": history has " + state.history().size() + " epochs, expected " + epoch);
        }
        if (!state.files().keySet().equals(Set.of(MODEL, OPTIMIZER))) {
            throw new UsageException(stateFile + ": files names " + state.files().keySet() + ", expected " + MODEL + " and " + OPTIMIZER);
        }
        for (Map.Entry<String, String> f : state.files().entrySet()) {
            Path file = last.resolve(f.getKey());
            if (!sha256(file).equals(f.getValue())) {
                throw new UsageException(file + ": SHA-256 does not match the one in " + STATE + " (the file is damaged or was changed)");
            }
        }
        return new Loaded(last, state);
    }

    /** The SHA-256 of each file, by file name, in the given order. */
    static Map<String, String> digests(List<Path> files) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (Path f : files) {
            out.put(f.getFileName().toString(), sha256(f));
        }
        return out;
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** The epoch-NNNN directories in {@code dir}, by epoch. */
    private static List<Path> epochDirs(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> EPOCH.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p)).forEach(out::add);
        }
        out.sort((a, b) -> Integer.compare(epochNumber(a), epochNumber(b)));
        return out;
    }

    private static int epochNumber(Path epochDir) {
        Matcher m = EPOCH.matcher(epochDir.getFileName().toString());
        if (!m.matches()) {
            throw new IllegalArgumentException(epochDir + " is not an epoch directory");
        }
        return Integer.parseInt(m.group(1));
    }

    /** Removes the .epoch-NNNN.tmp and .old directories a killed run left. */
    private void removeLeftovers() throws IOException {
        List<Path> leftovers;
        try (Stream<Path> s = Files.list(dir)) {
            leftovers = s.filter(p -> LEFTOVER.matcher(p.getFileName().toString()).matches()).toList();
        }
        for (Path p : leftovers) {
            deleteTree(p);
        }
    }

    /** Deletes {@code root} and what is under it; symbolic links are deleted, never followed. */
    private static void deleteTree(Path root) throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Writes a new file and forces it to the disk before returning. */
    private static void writeSynced(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
    }
}
