package dev.normnet.data;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Finds the directory that holds a data set. The order:
 * <ol>
 * <li>an explicit directory ({@code --data DIR}): when given it is the only place looked at. It may
 * hold the data set in three layouts, tried in this order (see {@link DataSource.Layout}): the four
 * IDX files; else the two Kaggle CSV files ({@code fashion-mnist_train.csv} and
 * {@code fashion-mnist_test.csv}, for MNIST {@code mnist_train.csv} and {@code mnist_test.csv}, each
 * raw or .gz); else an image folder ({@code DIR/train/CLASS/*.png} and {@code DIR/test/CLASS/*.png},
 * or .jpg, .jpeg). A directory with none of them is an error naming the directory and what each
 * layout lacks;</li>
 * <li>{@code $NORMNET_DATA}: that directory itself, or torchvision's layout under it
 * ({@code $NORMNET_DATA/FashionMNIST/raw});</li>
 * <li>{@code ./data/FashionMNIST/raw} ({@code ./data/MNIST/raw} for MNIST), torchvision's layout
 * under the working directory;</li>
 * <li>the system package's directory ({@code /usr/share/datasets/fashion-mnist}, Debian's
 * dataset-fashion-mnist);</li>
 * <li>otherwise the four files are downloaded from the data set's official location into
 * {@code ./data/<Name>/raw}, each checked against its pinned digests before it is kept
 * (see {@link Downloader}).</li>
 * </ol>
 * The download location can be replaced with the system property {@value #BASE_URL_PROPERTY} or the
 * environment variable {@value #BASE_URL_ENV} (a mirror, or a local server in tests).
 * <p>
 * The static {@link #find(String, Path)} uses the real environment and working directory; tests
 * build an instance with their own environment map, working directory and system directory.
 */
public final class DataDiscovery {
    /** Environment variable naming a data directory. */
    public static final String DATA_ENV = "NORMNET_DATA";
    /** System property that replaces the download location (a URL ending with '/'). */
    public static final String BASE_URL_PROPERTY = "normnet.data.url";
    /** Environment variable that replaces the download location (a URL ending with '/'). */
    public static final String BASE_URL_ENV = "NORMNET_DATA_URL";

    private final Map<String, String> env;
    private final Path workingDir;
    private final Map<String, Path> systemDirs;
    private final String baseUrl;
    private final PrintStream log;

    /**
     * @param env        the environment to read {@value #DATA_ENV} and {@value #BASE_URL_ENV} from
     * @param workingDir the directory that {@code ./data} is relative to
     * @param systemDirs replaces a data set's system directory, by id (a null value: none); data
     *                   sets not in the map keep their own
     * @param baseUrl    replaces the download location when not null (takes precedence over the
     *                   environment)
     * @param log        where progress ("downloading ...") is printed; null for silence
     */
    public DataDiscovery(Map<String, String> env, Path workingDir, Map<String, Path> systemDirs,
                         String baseUrl, PrintStream log) {
        this.env = Map.copyOf(Objects.requireNonNull(env, "env"));
        this.workingDir = Objects.requireNonNull(workingDir, "workingDir").toAbsolutePath();
        this.systemDirs = new HashMap<>(Objects.requireNonNull(systemDirs, "systemDirs"));
        this.baseUrl = baseUrl;
        this.log = log;
    }

    /**
     * Environment variable that replaces Fashion-MNIST's system directory
     * ({@code /usr/share/datasets/fashion-mnist}); the launcher reads it too.
     */
    public static final String SYSTEM_DATA_ENV = "NORMNET_SYSTEM_DATA";

    /** Discovery with the process environment, the current directory and the system property. */
    public static DataDiscovery system() {
        String systemData = System.getenv(SYSTEM_DATA_ENV);
        Map<String, Path> systemDirs = systemData == null || systemData.isBlank() ? Map.of()
                : Map.of(FashionMnist.DATASET.id(), Path.of(systemData));
        return new DataDiscovery(System.getenv(), Path.of(""), systemDirs,
                System.getProperty(BASE_URL_PROPERTY), System.err);
    }

    /**
     * Finds (or downloads) {@code dataset} ("fashion-mnist" or "mnist") with the process environment;
     * {@code explicitDir} is {@code --data DIR} or null.
     */
    public static Path find(String dataset, Path explicitDir) {
        return system().locate(dataset, explicitDir);
    }

    /** Finds (or downloads) {@code dataset} like {@link #find}, and says in which layout it is. */
    public static DataSource findSource(String dataset, Path explicitDir) {
        return system().locateSource(dataset, explicitDir);
    }

    /**
     * Finds the data set like {@link #find} and reads its train and test splits; image-folder pictures
     * are resized to {@value DataSource#DEFAULT_SIDE} x {@value DataSource#DEFAULT_SIDE}.
     */
    public static DatasetSplits load(String dataset, Path explicitDir) {
        return load(dataset, explicitDir, DataSource.DEFAULT_SIDE);
    }

    /**
     * Finds the data set like {@link #find} and reads its train and test splits; image-folder pictures
     * are resized to {@code imageSide x imageSide} (see {@link DataSource#load}).
     */
    public static DatasetSplits load(String dataset, Path explicitDir, int imageSide) {
        return findSource(dataset, explicitDir).load(imageSide);
    }

    /** The description of a data set by its id: "fashion-mnist" (also "fashion_mnist", "fashionmnist") or "mnist". */
    public static IdxDataset dataset(String id) {
        Objects.requireNonNull(id, "dataset");
        switch (id.toLowerCase(Locale.ROOT)) {
            case "fashion-mnist":
            case "fashion_mnist":
            case "fashionmnist":
                return FashionMnist.DATASET;
            case "mnist":
                return Mnist.DATASET;
            default:
                throw new IllegalArgumentException("unknown data set '" + id + "' (known: fashion-mnist, mnist)");
        }
    }

    /** Finds or downloads the directory of {@code dataset}; see the class comment for the order. */
    public Path locate(String dataset, Path explicitDir) {
        return locateSource(dataset, explicitDir).dir();
    }

    /** Finds or downloads the directory of a data set described by {@code ds}. */
    public Path locate(IdxDataset ds, Path explicitDir) {
        return locateSource(ds, explicitDir).dir();
    }

    /** Finds or downloads {@code dataset}, and says in which layout it is; see the class comment for the order. */
    public DataSource locateSource(String dataset, Path explicitDir) {
        IdxDataset ds = dataset(dataset);
        if (systemDirs.containsKey(ds.id())) {
            ds = ds.withSystemDir(systemDirs.get(ds.id()));
        }
        return locateSource(ds, explicitDir);
    }

    /**
     * Finds or downloads the data set described by {@code ds}. Without an explicit directory only the
     * IDX layout is looked for (and downloaded).
     */
    public DataSource locateSource(IdxDataset ds, Path explicitDir) {
        if (explicitDir != null) {
            return explicit(ds, explicitDir.isAbsolute() ? explicitDir : workingDir.resolve(explicitDir));
        }
        return new DataSource(ds, locateIdx(ds), DataSource.Layout.IDX);
    }

    /** The layout of {@code --data DIR}: IDX, else CSV, else image folder, else an error saying what each lacks. */
    private static DataSource explicit(IdxDataset ds, Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new DataException("--data " + dir + ": no such directory");
        }
        String missingIdx = ds.firstMissing(dir);
        if (missingIdx == null) {
            return new DataSource(ds, dir, DataSource.Layout.IDX);
        }
        String missingCsv = null;
        for (String name : ds.csvNames()) {
            if (missingCsv == null && IdxDataset.locate(dir, name) == null) {
                missingCsv = name + "[.gz]";
            }
        }
        if (missingCsv == null) {
            return new DataSource(ds, dir, DataSource.Layout.CSV);
        }
        if (ImageFolder.isLayout(dir)) {
            return new DataSource(ds, dir, DataSource.Layout.IMAGE_FOLDER);
        }
        String missingFolder = Files.isDirectory(dir.resolve("train")) ? "test" : "train";
        throw new DataException("--data " + dir + ": no " + ds.id() + " data in any of the three layouts: "
                + "IDX files (missing " + missingIdx + "; needs " + String.join(", ", ds.baseNames())
                + ", each raw or .gz), CSV files (missing " + missingCsv + "; needs "
                + String.join(" and ", ds.csvNames()) + "), or an image folder (no " + missingFolder
                + " directory; needs train/CLASS/*.png and test/CLASS/*.png, or .jpg, .jpeg)");
    }

    /** Finds or downloads the IDX files of {@code ds} when no directory is given. */
    private Path locateIdx(IdxDataset ds) {
        List<String> looked = new ArrayList<>();
        String fromEnv = env.get(DATA_ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            Path root = workingDir.resolve(fromEnv);
            for (Path dir : List.of(root, root.resolve(ds.folderName()).resolve("raw"))) {
                if (ds.firstMissing(dir) == null) {
                    return dir;
                }
                looked.add(dir.toString());
            }
            if (log != null) {
                log.println("$" + DATA_ENV + "=" + fromEnv + " holds no " + ds.id() + " files (neither there nor in "
                        + ds.folderName() + "/raw under it); looking further");
            }
        } else {
            looked.add("$" + DATA_ENV + " (not set)");
        }
        Path local = localDir(ds);
        if (ds.firstMissing(local) == null) {
            return local;
        }
        looked.add(local.toString());
        if (ds.systemDir() != null) {
            if (ds.firstMissing(ds.systemDir()) == null) {
                return ds.systemDir();
            }
            looked.add(ds.systemDir().toString());
        }
        String base = downloadBase(ds);
        try {
            new Downloader(log).download(ds, base, local);
        } catch (DataException e) {
            StringBuilder how = new StringBuilder();
            if (ds.installHint() != null) {
                how.append(ds.installHint()).append(", or ");
            }
            how.append("pass --data DIR with the four files ").append(String.join(", ", ds.baseNames()))
                    .append(" (raw or .gz)");
            throw new DataException(ds.id() + " not found (looked in " + String.join(", ", looked)
                    + ") and the download failed: " + e.getMessage() + ". To get it: " + how, e);
        }
        return local;
    }

    /** Where a download goes and where torchvision keeps the files: {@code ./data/<Name>/raw}. */
    public Path localDir(IdxDataset ds) {
        return workingDir.resolve("data").resolve(ds.folderName()).resolve("raw");
    }

    /** The download location: the constructor's, else {@value #BASE_URL_ENV}, else the data set's own. */
    String downloadBase(IdxDataset ds) {
        String base = baseUrl;
        if (base == null || base.isBlank()) {
            base = env.get(BASE_URL_ENV);
        }
        if (base == null || base.isBlank()) {
            return ds.downloadBase();
        }
        return base.endsWith("/") ? base : base + "/";
    }
}
