package io.inferex.local.load;

import io.inferex.events.EmbeddingRow;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.random.RandomGenerator;

/**
 * How a simulated cheater answers, named like the executor's adversary modes: its results stay well
 * formed and correctly signed (shape, unit norm, a digest of the rows it sends), so only
 * re-execution can tell them from honest ones.
 *
 * <ul>
 *   <li>{@code random-vectors}: every row a random unit vector;
 *   <li>{@code corrupt-fraction:F}: in each shard, a fraction F of the rows (at least one) replaced
 *       by random unit vectors;
 *   <li>{@code drop}: takes the lease and never answers;
 *   <li>{@code delay:D}: answers honestly, D late (an ISO-8601 or {@code 10s}-style duration).
 * </ul>
 */
public record CheatMode(String kind, double fraction, Duration delay) {
    public static final List<String> KINDS = List.of("random-vectors", "corrupt-fraction", "drop", "delay");

    public CheatMode {
        if (!KINDS.contains(kind)) {
            throw new IllegalArgumentException("'" + kind + "' is not one of " + KINDS);
        }
        if (kind.equals("corrupt-fraction") && !(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("corrupt-fraction needs a fraction in (0, 1], was " + fraction);
        }
    }

    /** {@code random-vectors}, {@code corrupt-fraction:0.1}, {@code drop}, {@code delay:5s}. */
    public static CheatMode parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        int colon = t.indexOf(':');
        String kind = colon < 0 ? t : t.substring(0, colon);
        String arg = colon < 0 ? null : t.substring(colon + 1).trim();
        return switch (kind) {
            case "random-vectors", "drop" -> {
                if (arg != null) {
                    throw new IllegalArgumentException(kind + " takes no argument: " + text);
                }
                yield new CheatMode(kind, 0, Duration.ZERO);
            }
            case "corrupt-fraction" -> {
                if (arg == null) {
                    throw new IllegalArgumentException("corrupt-fraction needs a fraction, e.g. corrupt-fraction:0.1");
                }
                try {
                    yield new CheatMode(kind, Double.parseDouble(arg), Duration.ZERO);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("corrupt-fraction: '" + arg + "' is not a number");
                }
            }
            case "delay" -> {
                if (arg == null) {
                    throw new IllegalArgumentException("delay needs a duration, e.g. delay:5s");
                }
                yield new CheatMode(kind, 0, ScenarioParser.parseDuration(arg));
            }
            default -> throw new IllegalArgumentException("'" + kind + "' is not one of " + KINDS);
        };
    }

    /** Whether the answer's rows are wrong (so a re-execution must disagree). */
    public boolean corrupts() {
        return kind.equals("random-vectors") || kind.equals("corrupt-fraction");
    }

    public boolean answers() {
        return !kind.equals("drop");
    }

    /** The rows this cheater sends instead of {@code honest}: unit vectors of the same dimension. */
    public List<EmbeddingRow> apply(List<EmbeddingRow> honest, RandomGenerator random) {
        if (!corrupts() || honest.isEmpty()) {
            return honest;
        }
        List<EmbeddingRow> out = new ArrayList<>(honest);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < honest.size(); i++) {
            order.add(i);
        }
        java.util.Collections.shuffle(order, new java.util.Random(random.nextLong()));
        int n = kind.equals("random-vectors") ? honest.size() : Math.max(1, (int) Math.round(fraction * honest.size()));
        for (int k = 0; k < n; k++) {
            int i = order.get(k);
            EmbeddingRow row = honest.get(i);
            out.set(i, new EmbeddingRow(row.getCustomId(), randomUnit(row.getEmbedding().size(), random)));
        }
        return out;
    }

    static List<Float> randomUnit(int dimension, RandomGenerator random) {
        double[] v = new double[dimension];
        double sq = 0;
        for (int i = 0; i < dimension; i++) {
            v[i] = random.nextGaussian();
            sq += v[i] * v[i];
        }
        double norm = Math.sqrt(sq);
        List<Float> out = new ArrayList<>(dimension);
        for (double x : v) {
            out.add((float) (x / norm));
        }
        return out;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case "corrupt-fraction" -> kind + ":" + fraction;
            case "delay" -> kind + ":" + delay;
            default -> kind;
        };
    }
}
