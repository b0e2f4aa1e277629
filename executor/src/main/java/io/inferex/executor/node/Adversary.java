package io.inferex.executor.node;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * A deliberately dishonest node, for tests, the simulation and SREs who need realistic cheaters
 * ({@code inferex.node.adversary}, default {@code none}). Every cheat keeps the result well-formed
 * and correctly signed: the form checks pass, and only re-execution (or its absence, for the
 * liveness cheats) can tell.
 *
 * <ul>
 *   <li>{@code substitute-model}: the node runs the int8 all-MiniLM-L6-v2 while declaring the fp32
 *       model and its digest (the executor loads the other weights; here it is only counted);
 *   <li>{@code random-vectors}: every row is a random unit vector of the right dimension;
 *   <li>{@code corrupt-fraction:F}: in each shard {@code max(1, round(F x rows))} rows (F &gt; 0) are
 *       rotated away from the honest vector to cosine {@link #CORRUPT_COSINE}, still unit-norm;
 *   <li>{@code drop}: the lease is taken (its offset committed) and never answered;
 *   <li>{@code delay:D}: the answer is published D after it is computed (D as {@code 500ms},
 *       {@code 30s}, {@code 2m} or ISO-8601 {@code PT30S});
 *   <li>{@code crash-after:N}: once N results are acknowledged the process halts (no shutdown
 *       hooks, no drain, like a kill -9); the Nth result's offset is not committed.
 * </ul>
 *
 * A mode other than {@code none} logs a WARN at start and one per lease it acts on, and counts
 * those leases ({@link #cheats()}, shown by {@code GET /node}). Thread-safe: the node's slots call
 * it concurrently. Randomness is a function of the seed and the lease id, so a test can replay it.
 */
public final class Adversary {
    private static final Logger LOG = Logger.getLogger(Adversary.class);

    /** Cosine between an honest row and its corrupted replacement under {@code corrupt-fraction}: a near miss, as close as int8's worst rows. */
    public static final double CORRUPT_COSINE = 0.98;

    public enum Kind {
        NONE("none"), SUBSTITUTE_MODEL("substitute-model"), RANDOM_VECTORS("random-vectors"),
        CORRUPT_FRACTION("corrupt-fraction"), DROP("drop"), DELAY("delay"), CRASH_AFTER("crash-after");

        final String configName;

        Kind(String configName) {
            this.configName = configName;
        }
    }

    /**
     * A parsed {@code inferex.node.adversary} value.
     *
     * @param fraction rows corrupted per shard, in (0, 1] ({@code corrupt-fraction} only)
     * @param delay how late the answer goes out ({@code delay} only)
     * @param crashAfter answers before the process halts ({@code crash-after} only)
     */
    public record Mode(Kind kind, double fraction, Duration delay, int crashAfter) {
        public static final Mode NONE = new Mode(Kind.NONE, 0, Duration.ZERO, 0);

        public Mode {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(delay, "delay");
            if (kind == Kind.CORRUPT_FRACTION && !(fraction > 0 && fraction <= 1)) {
                throw new IllegalArgumentException("corrupt-fraction needs a fraction in (0, 1], was " + fraction);
            }
            if (kind == Kind.DELAY && (delay.isNegative() || delay.isZero())) {
                throw new IllegalArgumentException("delay needs a positive duration, was " + delay);
            }
            if (kind == Kind.CRASH_AFTER && crashAfter < 1) {
                throw new IllegalArgumentException("crash-after needs at least 1 answer, was " + crashAfter);
            }
        }

        /** Parses {@code none | substitute-model | random-vectors | corrupt-fraction:F | drop | delay:D | crash-after:N}. */
        public static Mode parse(String text) {
            String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
            int colon = s.indexOf(':');
            String name = colon < 0 ? s : s.substring(0, colon);
            String arg = colon < 0 ? null : s.substring(colon + 1).trim();
            Kind kind = null;
            for (Kind k : Kind.values()) {
                if (k.configName.equals(name)) {
                    kind = k;
                }
            }
            if (kind == null) {
                throw new IllegalArgumentException("unknown adversary mode '" + text + "'; expected none, substitute-model, "
                        + "random-vectors, corrupt-fraction:F, drop, delay:D or crash-after:N");
            }
            boolean needsArg = kind == Kind.CORRUPT_FRACTION || kind == Kind.DELAY || kind == Kind.CRASH_AFTER;
            if (needsArg != (arg != null && !arg.isEmpty())) {
                throw new IllegalArgumentException("adversary mode '" + text + "': " + kind.configName
                        + (needsArg ? " needs an argument after ':'" : " takes no argument"));
            }
            try {
                return switch (kind) {
                    case CORRUPT_FRACTION -> new Mode(kind, Double.parseDouble(arg), Duration.ZERO, 0);
                    case DELAY -> new Mode(kind, 0, duration(arg), 0);
                    case CRASH_AFTER -> new Mode(kind, 0, Duration.ZERO, Integer.parseInt(arg));
                    default -> new Mode(kind, 0, Duration.ZERO, 0);
                };
            } catch (NumberFormatException | DateTimeParseException e) {
                throw new IllegalArgumentException("adversary mode '" + text + "': bad argument '" + arg + "'", e);
            }
        }

        private static Duration duration(String arg) {
            if (arg.startsWith("p")) { // ISO-8601, e.g. PT30S
                return Duration.parse(arg.toUpperCase(Locale.ROOT));
            }
            if (arg.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(arg.substring(0, arg.length() - 2)));
            }
            long n = Long.parseLong(arg.substring(0, arg.length() - 1));
            return switch (arg.charAt(arg.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                default -> throw new NumberFormatException("a duration is <n>ms, <n>s, <n>m or ISO-8601: " + arg);
            };
        }

        /** The config value this mode parses from. */
        @Override
        public String toString() {
            return switch (kind) {
                case CORRUPT_FRACTION -> kind.configName + ":" + fraction;
                case DELAY -> kind.configName + ":" + delay.toMillis() + "ms";
                case CRASH_AFTER -> kind.configName + ":" + crashAfter;
                default -> kind.configName;
            };
        }
    }

    private final Mode mode;
    private final long seed;
    private final Runnable crash;
    private final AtomicLong cheats = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();
    private final AtomicBoolean crashed = new AtomicBoolean();

    /**
     * @param seed drives the random vectors and the choice and direction of corrupted rows (mixed
     *     with each lease id)
     * @param crash what {@code crash-after} does once N answers are out: in the application, halt
     *     the JVM; in a test, record it
     */
    public Adversary(Mode mode, long seed, Runnable crash) {
        this.mode = Objects.requireNonNull(mode, "mode");
        this.seed = seed;
        this.crash = Objects.requireNonNull(crash, "crash");
    }

    /** The honest node. */
    public static Adversary none() {
        return new Adversary(Mode.NONE, 0, () -> {});
    }

    public Mode mode() {
        return mode;
    }

    public boolean active() {
        return mode.kind() != Kind.NONE;
    }

    /** Leases this adversary cheated on (tampered, substituted, dropped, delayed, or the crash). */
    public long cheats() {
        return cheats.get();
    }

    /** Logs the mode loudly at start; silent for {@code none}. */
    public void announce(String nodeId) {
        if (active()) {
            LOG.warnf("ADVERSARY MODE '%s' IS ON for node %s: this node cheats on purpose (inferex.node.adversary); "
                    + "never run it in a real market", mode, nodeId);
        }
    }

    /**
     * The rows the node will declare for a lease, given the honest ones (under
     * {@code substitute-model} they already come from the other model). Returns new arrays for the
     * tampering modes; the input is not modified.
     */
    public List<float[]> tamper(String leaseId, List<float[]> computed) {
        switch (mode.kind()) {
            case SUBSTITUTE_MODEL -> cheated(leaseId, "answered with the int8 model while declaring fp32");
            case RANDOM_VECTORS -> {
                SplittableRandom rnd = random(leaseId);
                List<float[]> out = new ArrayList<>(computed.size());
                for (float[] v : computed) {
                    out.add(randomUnit(rnd, v.length));
                }
                cheated(leaseId, "answered " + out.size() + " random unit vectors");
                return out;
            }
            case CORRUPT_FRACTION -> {
                if (computed.isEmpty()) {
                    return computed;
                }
                SplittableRandom rnd = random(leaseId);
                int n = computed.size();
                int k = corruptedRows(n, mode.fraction());
                boolean[] chosen = chooseRows(rnd, n, k);
                List<float[]> out = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    out.add(chosen[i] ? rotated(computed.get(i), rnd, CORRUPT_COSINE) : computed.get(i).clone());
                }
                cheated(leaseId, "corrupted " + k + " of " + n + " rows");
                return out;
            }
            default -> {
                // answered honestly
            }
        }
        return computed;
    }

    /** Whether the node answers this lease at all: false under {@code drop}, and once {@code crash-after} fired. */
    public boolean answers(String leaseId) {
        if (crashed.get()) {
            return false;
        }
        if (mode.kind() == Kind.DROP) {
            cheated(leaseId, "taken and never answered");
            return false;
        }
        return true;
    }

    /** Called with the result ready, before it is published: sleeps the delay under {@code delay}. */
    public void beforeAnswer(String leaseId) throws InterruptedException {
        if (mode.kind() == Kind.DELAY) {
            cheated(leaseId, "answer held back " + mode.delay().toMillis() + " ms");
            Thread.sleep(mode.delay().toMillis());
        }
    }

    /** Called once a result is acknowledged; under {@code crash-after:N} the Nth call runs the crash action. */
    public void answered(String leaseId) {
        long n = answered.incrementAndGet();
        if (mode.kind() == Kind.CRASH_AFTER && n >= mode.crashAfter() && crashed.compareAndSet(false, true)) {
            cheated(leaseId, "answer " + n + " was the last: crashing the process now");
            crash.run();
        }
    }

    /** Rows {@code corrupt-fraction:F} corrupts in a shard of {@code n}: round(F x n), at least one. */
    public static int corruptedRows(int n, double fraction) {
        return n == 0 ? 0 : Math.min(n, Math.max(1, (int) Math.round(fraction * n)));
    }

    private void cheated(String leaseId, String what) {
        cheats.incrementAndGet();
        LOG.warnf("ADVERSARY %s: lease %s %s", mode, leaseId, what);
    }

    private SplittableRandom random(String leaseId) {
        long h = seed;
        for (byte b : leaseId.getBytes(StandardCharsets.UTF_8)) {
            h = h * 1_000_003L + b;
        }
        return new SplittableRandom(h);
    }

    private static boolean[] chooseRows(SplittableRandom rnd, int n, int k) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        boolean[] chosen = new boolean[n];
        for (int i = 0; i < k; i++) { // partial Fisher-Yates
            int j = i + rnd.nextInt(n - i);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            chosen[idx[i]] = true;
        }
        return chosen;
    }

    /** A uniformly random direction: normalised Gaussian components. */
    static float[] randomUnit(SplittableRandom rnd, int dim) {
        double[] g = new double[dim];
        double norm = 0;
        for (int i = 0; i < dim; i++) {
            g[i] = gaussian(rnd);
            norm += g[i] * g[i];
        }
        norm = Math.sqrt(norm);
        float[] out = new float[dim];
        for (int i = 0; i < dim; i++) {
            out[i] = (float) (g[i] / norm);
        }
        return out;
    }

    /**
     * {@code cos * v + sin * u}, u a random unit vector orthogonal to v: unit-norm, at exactly the
     * given cosine from {@code v} (up to float rounding).
     */
    static float[] rotated(float[] v, SplittableRandom rnd, double cosine) {
        int dim = v.length;
        double[] x = new double[dim];
        double vv = 0;
        for (int i = 0; i < dim; i++) {
            x[i] = v[i];
            vv += x[i] * x[i];
        }
        double vn = Math.sqrt(vv);
        for (int i = 0; i < dim; i++) {
            x[i] /= vn;
        }
        double[] u = new double[dim];
        double dot = 0;
        for (int i = 0; i < dim; i++) {
            u[i] = gaussian(rnd);
            dot += u[i] * x[i];
        }
        double un = 0;
        for (int i = 0; i < dim; i++) {
            u[i] -= dot * x[i];
            un += u[i] * u[i];
        }
        un = Math.sqrt(un);
        double sin = Math.sqrt(1 - cosine * cosine);
        float[] out = new float[dim];
        for (int i = 0; i < dim; i++) {
            out[i] = (float) (cosine * x[i] + sin * u[i] / un);
        }
        return out;
    }

    private static double gaussian(SplittableRandom rnd) { // Box-Muller; SplittableRandom has no nextGaussian on 17
        double u1 = 1.0 - rnd.nextDouble();
        double u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
