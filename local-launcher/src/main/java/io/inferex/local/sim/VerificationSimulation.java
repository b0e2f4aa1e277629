package io.inferex.local.sim;

import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEventKind;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelCatalogue.Tolerance;
import io.inferex.verification.DisputeTally;
import io.inferex.verification.ReputationRules;
import io.inferex.verification.RowComparison;
import io.inferex.verification.SamplingDraw;
import io.inferex.verification.SamplingPolicy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Optimistic verification without Kafka: many shard results from honest nodes and cheaters, each
 * decided by the verifier's own rules ({@link SamplingPolicy}, {@link SamplingDraw} with an epoch
 * secret, {@link RowComparison} under the model's tolerance, {@link DisputeTally},
 * {@link ReputationRules}), so its figures are those of the code that runs in the pipeline. What is
 * modelled is the outputs: each row is a fixed random unit vector (the "true" embedding); an honest
 * execution adds small noise (batch-size and thread variation), the substitute-model cheat larger
 * noise (int8 instead of fp32), corrupt-fraction replaces a share of the rows, random-vectors all of
 * them. The noise levels are parameters, set from the calibration in docs/verification.md.
 *
 * <p>Two parts: a fleet run (honest nodes and one cheater per mode share the results: verification
 * overhead, false fraud verdicts, when each cheater was caught), and detection trials (many fresh
 * cheaters per mode, each alone against the fleet, up to a horizon of its own shards: the share
 * caught within the horizon and the shards until detection).
 */
public final class VerificationSimulation {
    /**
     * The knobs.
     *
     * @param results shard results in the fleet run
     * @param honestNodes honest nodes in the fleet
     * @param rowsPerShard rows per shard
     * @param dimension embedding dimension
     * @param honestNoise per-coordinate standard deviation of honest variation (fp32, other batch sizes/threads)
     * @param int8Noise per-coordinate standard deviation of the substitute model's deviation from fp32
     * @param corruptFraction share of rows a corrupt-fraction cheater replaces
     * @param trials fresh cheaters per mode in the detection trials
     * @param horizon a trial cheater's shards before it counts as undetected
     * @param refereeTimeoutRounds referee rounds before a dispute is INCONCLUSIVE
     * @param warmup honest shards a patient trial cheater answers before it starts cheating
     */
    public record Config(int results, int honestNodes, int rowsPerShard, int dimension, double honestNoise, double int8Noise,
            double corruptFraction, int trials, int horizon, int refereeTimeoutRounds, int warmup, Tolerance tolerance,
            SamplingPolicy.Config sampling, long seed) {
        /** This configuration with another size: results, honest nodes, trials, horizon and warm-up. */
        public Config sized(int results, int honestNodes, int trials, int horizon, int warmup) {
            return new Config(results, honestNodes, rowsPerShard, dimension, honestNoise, int8Noise, corruptFraction, trials, horizon,
                    refereeTimeoutRounds, warmup, tolerance, sampling, seed);
        }

        /** This configuration with other noise levels (per-coordinate sigma of honest and int8 deviations). */
        public Config withNoise(double honest, double int8) {
            return new Config(results, honestNodes, rowsPerShard, dimension, honest, int8, corruptFraction, trials, horizon,
                    refereeTimeoutRounds, warmup, tolerance, sampling, seed);
        }

        public static Config defaults(long seed) {
            return new Config(10_000, 40, 16, ModelCatalogue.ALL_MINILM_L6_V2.dimension(), 2e-5, 4e-3, 0.1, 2_000, 500,
                    io.inferex.market.VerificationIds.MAX_ROUND, 300, ModelCatalogue.ALL_MINILM_L6_V2.tolerance(), SamplingPolicy.DEFAULTS, seed);
        }
    }


    /** How a node answers. */
    public enum Mode {
        HONEST, SUBSTITUTE_MODEL, CORRUPT_FRACTION, RANDOM_VECTORS;

        String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** Per cheat mode: trials, caught within the horizon, and shards until detection (of those caught). */
    public record Detection(Mode mode, int warmup, int trials, int caught, double median, double p99, int max) {
        public double probability() {
            return (double) caught / trials;
        }
    }

    /** What the fleet run saw. */
    public record FleetRun(int results, long reexecutions, long disputes, long falseFraud, long frauds,
            Map<Mode, Integer> cheaterShardsUntilCaught, long honestSamples, long secondHalfReexecutions) {
        /** Extra executions per result over the whole run (nodes start new, so sampled more). */
        public double overhead() {
            return (double) reexecutions / results;
        }

        /** Extra executions per result over the second half, once the fleet is established. */
        public double steadyOverhead() {
            return (double) secondHalfReexecutions / (results - results / 2);
        }
    }

    public record Report(Config config, FleetRun fleet, List<Detection> detection) {}

    private final Config c;
    private final SplittableRandom random;
    private final Map<String, NodeReputation> reputation = new HashMap<>();
    private final List<float[]> corpus = new ArrayList<>();
    private long clock = 1;
    private long leaseSeq;
    private String secret;
    private long reexecutions;
    private long disputes;

    public VerificationSimulation(Config config) {
        this.c = config;
        this.random = new SplittableRandom(config.seed());
        for (int i = 0; i < 512; i++) {
            corpus.add(unit(gaussian(config.dimension())));
        }
        newEpoch();
    }

    public Report run() {
        FleetRun fleet = fleetRun();
        List<Detection> detection = new ArrayList<>();
        for (int warmup : List.of(0, c.warmup())) {
            for (Mode m : List.of(Mode.CORRUPT_FRACTION, Mode.SUBSTITUTE_MODEL, Mode.RANDOM_VECTORS)) {
                detection.add(trials(m, warmup));
            }
        }
        return new Report(c, fleet, detection);
    }

    private FleetRun fleetRun() {
        reputation.clear();
        reexecutions = 0;
        disputes = 0;
        Map<String, Mode> nodes = new LinkedHashMap<>();
        for (int i = 0; i < c.honestNodes(); i++) {
            nodes.put("honest-" + i, Mode.HONEST);
        }
        for (Mode m : List.of(Mode.CORRUPT_FRACTION, Mode.SUBSTITUTE_MODEL, Mode.RANDOM_VECTORS)) {
            nodes.put("cheat-" + m.label(), m);
        }
        List<String> ids = new ArrayList<>(nodes.keySet());
        Map<Mode, Integer> caughtAfter = new LinkedHashMap<>();
        Map<String, Integer> shardsOf = new HashMap<>();
        long falseFraud = 0;
        long frauds = 0;
        long honestSamples = 0;
        long atHalf = 0;
        for (int r = 0; r < c.results(); r++) {
            if (r == c.results() / 2) {
                atHalf = reexecutions;
            }
            if (r % 1_000 == 0) {
                newEpoch();
            }
            List<String> live = ids.stream().filter(n -> !banned(n)).toList();
            String executor = live.get(random.nextInt(live.size()));
            Mode mode = nodes.get(executor);
            shardsOf.merge(executor, 1, Integer::sum);
            Outcome o = verify(executor, mode, nodes, live);
            if (o.sampled && mode == Mode.HONEST) {
                honestSamples++;
            }
            if (o.fraud) {
                frauds++;
                if (mode == Mode.HONEST) {
                    falseFraud++;
                } else {
                    caughtAfter.putIfAbsent(mode, shardsOf.get(executor));
                }
            }
        }
        return new FleetRun(c.results(), reexecutions, disputes, falseFraud, frauds, caughtAfter, honestSamples,
                reexecutions - atHalf);
    }

    /**
     * Fresh cheaters in {@code cheat} mode, each alone among the honest fleet. With {@code warmup}
     * &gt; 0 each first answers that many shards honestly (building reputation, so it is sampled at
     * the floor) and only then starts cheating: the patient cheater, the harder case.
     */
    private Detection trials(Mode cheat, int warmup) {
        List<Integer> until = new ArrayList<>();
        for (int t = 0; t < c.trials(); t++) {
            reputation.clear();
            newEpoch();
            Map<String, Mode> nodes = new LinkedHashMap<>();
            for (int i = 0; i < c.honestNodes(); i++) {
                nodes.put("honest-" + i, Mode.HONEST);
            }
            String cheater = "cheat-" + t;
            nodes.put(cheater, cheat);
            List<String> live = new ArrayList<>(nodes.keySet());
            for (int s = 0; s < warmup; s++) {
                verify(cheater, Mode.HONEST, nodes, live);
            }
            for (int s = 1; s <= c.horizon(); s++) {
                if (verify(cheater, cheat, nodes, live).fraud) {
                    until.add(s);
                    break;
                }
            }
        }
        until.sort(Integer::compare);
        double median = until.isEmpty() ? Double.NaN : until.get(until.size() / 2);
        double p99 = until.isEmpty() ? Double.NaN : until.get(Math.min(until.size() - 1, (int) Math.ceil(until.size() * 0.99) - 1));
        int max = until.isEmpty() ? 0 : until.get(until.size() - 1);
        return new Detection(cheat, warmup, c.trials(), until.size(), median, p99, max);
    }

    private record Outcome(boolean sampled, boolean fraud) {}

    /** One accepted result of {@code executor}: the sampling decision and, if sampled, re-execution and any dispute. */
    private Outcome verify(String executor, Mode mode, Map<String, Mode> nodes, List<String> live) {
        int[] rows = new int[c.rowsPerShard()];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = random.nextInt(corpus.size());
        }
        event(executor, ReputationEventKind.FORM_ACCEPTED);
        String lease = "job-sim/" + (leaseSeq++) + "#1";
        double p = SamplingPolicy.probability(c.sampling(), reputation.get(executor));
        if (!SamplingDraw.sampled(secret, lease, p)) {
            return new Outcome(false, false); // its rows matter only to a re-execution: not computed
        }
        List<EmbeddingRow> answer = execute(mode, rows);
        String sampler = pick(live, List.of(executor));
        if (sampler == null) {
            return new Outcome(true, false);
        }
        reexecutions++;
        boolean agrees = RowComparison.compare(answer, execute(nodes.get(sampler), rows), c.tolerance()).agree();
        if (agrees) {
            event(executor, ReputationEventKind.SAMPLE_AGREED);
            return new Outcome(true, false);
        }
        disputes++;
        List<DisputeTally.Vote> votes = new ArrayList<>();
        List<List<EmbeddingRow>> alternatives = new ArrayList<>(); // the first answer of each group that disagrees with the executor
        List<String> involved = new ArrayList<>(List.of(executor, sampler));
        DisputeTally.Decision decision = DisputeTally.Decision.OPEN;
        for (int round = 1; round <= c.refereeTimeoutRounds() && decision == DisputeTally.Decision.OPEN; round++) {
            String referee = pick(live, involved);
            if (referee == null) {
                break;
            }
            involved.add(referee);
            if (DisputeTally.refusal(referee, executor, sampler, votes.stream().map(DisputeTally.Vote::nodeId).toList()).isPresent()) {
                continue;
            }
            reexecutions++;
            List<EmbeddingRow> refereeRows = execute(nodes.get(referee), rows);
            int group = DisputeTally.AGREES;
            if (!RowComparison.compare(answer, refereeRows, c.tolerance()).agree()) {
                group = -2;
                for (int g = 0; g < alternatives.size() && group == -2; g++) {
                    if (RowComparison.compare(alternatives.get(g), refereeRows, c.tolerance()).agree()) {
                        group = g;
                    }
                }
                if (group == -2) {
                    alternatives.add(refereeRows);
                    group = alternatives.size() - 1;
                }
            }
            votes.add(new DisputeTally.Vote(referee, "r" + round, "", group));
            decision = DisputeTally.decide(votes);
        }
        if (decision != DisputeTally.Decision.OPEN) {
            int deciding = DisputeTally.majorityVote(votes, decision).orElseThrow().group();
            for (DisputeTally.Vote v : votes) {
                event(v.nodeId(), v.group() == deciding ? ReputationEventKind.REFEREE_MAJORITY : ReputationEventKind.REFEREE_OUTVOTED);
            }
        }
        if (decision == DisputeTally.Decision.FRAUD) {
            event(executor, ReputationEventKind.FRAUD);
            return new Outcome(true, true);
        }
        if (decision == DisputeTally.Decision.UPHELD) {
            event(sampler, ReputationEventKind.SAMPLER_OUTVOTED);
        }
        return new Outcome(true, false);
    }

    private String pick(List<String> live, List<String> excluded) {
        List<String> eligible = live.stream().filter(n -> !excluded.contains(n) && !banned(n)).toList();
        return eligible.isEmpty() ? null : eligible.get(random.nextInt(eligible.size()));
    }

    private boolean banned(String node) {
        NodeReputation r = reputation.get(node);
        return r != null && r.getBanned();
    }

    private void event(String node, ReputationEventKind kind) {
        reputation.put(node, ReputationRules.apply(reputation.get(node), node, kind, kind.name(), clock++));
    }

    private void newEpoch() {
        byte[] b = new byte[SamplingDraw.SECRET_BYTES];
        random.nextBytes(b);
        secret = HexFormat.of().formatHex(b);
    }

    /** The rows a node in {@code mode} returns for these corpus rows. */
    private List<EmbeddingRow> execute(Mode mode, int[] rows) {
        List<EmbeddingRow> out = new ArrayList<>(rows.length);
        int corrupt = mode == Mode.CORRUPT_FRACTION ? Math.max(1, (int) Math.round(c.corruptFraction() * rows.length)) : 0;
        for (int i = 0; i < rows.length; i++) {
            float[] truth = corpus.get(rows[i]);
            float[] v = switch (mode) {
                case HONEST -> unit(noisy(truth, c.honestNoise()));
                case SUBSTITUTE_MODEL -> unit(noisy(truth, c.int8Noise()));
                case RANDOM_VECTORS -> unit(gaussian(truth.length));
                case CORRUPT_FRACTION -> i < corrupt ? unit(gaussian(truth.length)) : unit(noisy(truth, c.honestNoise()));
            };
            List<Float> list = new ArrayList<>(v.length);
            for (float f : v) {
                list.add(f);
            }
            out.add(new EmbeddingRow("row-" + i, list));
        }
        return out;
    }

    private float[] noisy(float[] v, double sigma) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] + sigma * gaussianOne());
        }
        return out;
    }

    private float[] gaussian(int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) gaussianOne();
        }
        return out;
    }

    private double gaussianOne() {
        double u = 1.0 - random.nextDouble();
        double v = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    private static float[] unit(float[] v) {
        double sq = 0;
        for (float f : v) {
            sq += (double) f * f;
        }
        double n = Math.sqrt(sq);
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] / n);
        }
        return out;
    }

    /** The report as the CLI prints it. */
    public static String text(Report r) {
        Config c = r.config();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "verification simulation (seed %d): %d results, %d honest nodes, %d rows/shard, dim %d,"
                + " tolerance cos>=%s max-abs<=%s, sampling floor %s new-node p %s%n", c.seed(), c.results(), c.honestNodes(),
                c.rowsPerShard(), c.dimension(), c.tolerance().minCosine(), c.tolerance().maxAbs(), c.sampling().floor(),
                c.sampling().newNodeP()));
        sb.append(String.format(Locale.ROOT, "noise model: honest sigma %s per coordinate, substitute-model (int8) sigma %s, corrupt"
                + " fraction %s%n", c.honestNoise(), c.int8Noise(), c.corruptFraction()));
        FleetRun f = r.fleet();
        sb.append(String.format(Locale.ROOT, "fleet run: %d results, %d re-executions (%.4f per result; %.4f over the second"
                + " half), %d disputes, %d fraud verdicts, %d false fraud verdicts on honest nodes, %d honest results sampled%n",
                f.results(), f.reexecutions(), f.overhead(), f.steadyOverhead(), f.disputes(), f.frauds(), f.falseFraud(),
                f.honestSamples()));
        f.cheaterShardsUntilCaught().forEach((m, n) -> sb.append(String.format(Locale.ROOT,
                "  fleet cheater %-17s caught after %d of its shards%n", m.label(), n)));
        sb.append(String.format(Locale.ROOT, "detection trials (%d cheaters per mode and kind, horizon %d cheating shards):%n",
                c.trials(), c.horizon()));
        for (Detection d : r.detection()) {
            sb.append(String.format(Locale.ROOT, "  %-17s %-26s detected %d/%d (%.2f %%) within %d shards; shards until detection:"
                    + " median %.0f, p99 %.0f, max %d%n", d.mode().label(),
                    d.warmup() == 0 ? "new node" : "after " + d.warmup() + " honest shards", d.caught(), d.trials(),
                    100.0 * d.probability(), c.horizon(), d.median(), d.p99(), d.max()));
        }
        return sb.toString();
    }
}
