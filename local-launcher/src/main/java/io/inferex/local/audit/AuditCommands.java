package io.inferex.local.audit;

import io.inferex.ledger.LedgerConfig;
import io.inferex.local.InferexCli;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./inferex export} and {@code ./inferex audit}. */
public final class AuditCommands {
    private AuditCommands() {}

    /** Where the log is read from: a cluster and the operator's client config, or the newest local run. */
    static class Cluster {
        @Option(names = "--bootstrap-servers", description = "The cluster (with --client-config).")
        String bootstrapServers;

        @Option(names = "--client-config", description = "The operator's client properties (default: the newest ./inferex up run's).")
        Path clientConfig;

        @Option(names = "--run-dir", description = "Run dir of a running `./inferex up` (default: the newest under .inferex/runs).")
        Path runDir;

        @Option(names = "--topic-prefix", defaultValue = "", description = "Read PREFIX+name for each catalogue topic (a log kept under other names).")
        String topicPrefix;

        Map<String, Object> config() {
            Path file = clientConfig;
            if (file == null) {
                if (bootstrapServers != null) {
                    throw new IllegalArgumentException("--bootstrap-servers needs --client-config");
                }
                file = (runDir != null ? runDir : io.inferex.local.BusCommands.newestRun()).resolve(io.inferex.local.LocalStack.CLIENT_PROPERTIES);
            }
            Map<String, Object> c = new LinkedHashMap<>(BusCredentials.read(file));
            if (bootstrapServers != null) {
                c.put("bootstrap.servers", bootstrapServers);
            }
            return c;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
            description = "Write catalogue topics to Avro object container files (one per topic-partition, schema embedded, offsets,"
                    + " keys, timestamps and headers kept) and a manifest.json with offset ranges, counts and sha256.")
    public static final class Export implements Callable<Integer> {
        @Option(names = "--out", required = true, description = "Directory to write.")
        Path out;

        @Option(names = "--topics", split = ",", description = "Topics to export (default: the whole catalogue).")
        List<String> topics;

        @Option(names = "--from", description = "Only records stamped at or after this time (ISO-8601, e.g. 2026-12-01T00:00:00Z).")
        Instant from;

        @Option(names = "--to", description = "Only records stamped at or before this time (ISO-8601).")
        Instant to;

        @picocli.CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Override
        public Integer call() {
            try {
                var m = EventExport.export(cluster.config(), out, topics(topics), cluster.topicPrefix,
                        from == null ? null : from.toEpochMilli(), to == null ? null : to.toEpochMilli(), System.err);
                long records = m.files().stream().mapToLong(EventExport.FileInfo::records).sum();
                System.out.printf("exported %,d records from %d topic-partitions to %s (manifest %s)%n", records, m.files().size(),
                        out, out.resolve(EventExport.MANIFEST));
                return 0;
            } catch (IOException | RuntimeException e) {
                System.err.println("export failed: " + e.getMessage());
                return 2;
            }
        }
    }

    static List<Topic<?, ?>> topics(List<String> names) {
        if (names == null || names.isEmpty()) {
            return Topics.ALL;
        }
        List<Topic<?, ?>> out = new ArrayList<>();
        for (String n : names) {
            out.add(Topics.byName(n.trim()).orElseThrow(() -> new IllegalArgumentException("no topic " + n + " in the catalogue")));
        }
        return out;
    }

    @Command(name = "audit", mixinStandardHelpOptions = true,
            description = "Replay the log through the settlement's own rules and compare with the recorded ledger; exit 0 clean,"
                    + " 1 discrepancies, 2 could not run. SOURCE: an export directory (default: export the cluster first).")
    public static final class Audit implements Callable<Integer> {
        @Parameters(index = "0", arity = "0..1", paramLabel = "SOURCE", description = "An export directory; omit to audit the cluster live.")
        Path source;

        @Option(names = "--report", description = "Where audit-report.json and audit-report.html go (default: SOURCE, or the live export's dir).")
        Path reportDir;

        @Option(names = "--fee-bps", defaultValue = "500", description = "The settlement's fee (inferex.settlement.fee-bps; default ${DEFAULT-VALUE}).")
        int feeBps;

        @Option(names = "--slash-reward-bps", defaultValue = "5000", description = "inferex.settlement.slash-reward-bps (default ${DEFAULT-VALUE}).")
        int slashRewardBps;

        @Option(names = "--payment-replay-window", defaultValue = "P30D", description = "inferex.settlement.payment-replay-window.")
        Duration paymentReplayWindow;

        @Option(names = "--unstake-cooldown", defaultValue = "PT30M", description = "inferex.settlement.unstake-cooldown.")
        Duration unstakeCooldown;

        @Option(names = "--challenge-window", defaultValue = "PT10M", description = "inferex.settlement.challenge-window.")
        Duration challengeWindow;

        @Option(names = "--finality-grace", defaultValue = "PT1H", description = "inferex.settlement.finality-grace.")
        Duration finalityGrace;

        @Option(names = "--cancel-grace", defaultValue = "PT2M", description = "inferex.settlement.cancel-grace.")
        Duration cancelGrace;

        @Option(names = "--with", split = ",", paramLabel = "KEY=VALUE",
                description = "Re-settle the same history under other settings and print who would have been paid, refunded or"
                        + " slashed differently: fee-bps, slash-reward-bps (money settings; the events stay the ones recorded);"
                        + " sampling-floor, sampling-new-node-p (which results the revealed draws would have sampled instead).")
        java.util.Map<String, String> with;

        @Option(names = "--sampling-floor", defaultValue = "0.015", description = "inferex.verifier.sampling.floor the log was made with.")
        double samplingFloor;

        @Option(names = "--sampling-new-node-p", defaultValue = "0.25", description = "inferex.verifier.sampling.new-node-p the log was made with.")
        double samplingNewNodeP;

        @picocli.CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Override
        public Integer call() {
            ExportArchive archive;
            LedgerConfig config;
            String from;
            try {
                config = new LedgerConfig(feeBps, paymentReplayWindow, slashRewardBps, unstakeCooldown, challengeWindow, finalityGrace,
                        cancelGrace);
                Path dir = source;
                if (dir == null) {
                    Path audits = Files.createDirectories(InferexCli.home().resolve(".inferex/audits"));
                    dir = Files.createTempDirectory(audits, "export-");
                    System.err.println("exporting the cluster to " + dir + " first");
                    EventExport.export(cluster.config(), dir, Topics.ALL, cluster.topicPrefix, null, null, System.err);
                }
                from = dir.toString();
                archive = ExportArchive.open(dir);
            } catch (IOException | RuntimeException e) {
                System.err.println("audit could not run: " + e.getMessage());
                return 2;
            }
            if (with != null && !with.isEmpty()) {
                SamplingPolicy.Config sampling = new SamplingPolicy.Config(samplingFloor, samplingNewNodeP,
                        SamplingPolicy.DEFAULTS.warmupObservations(), SamplingPolicy.DEFAULTS.trustedScore());
                return whatIf(archive, config, sampling, with, System.out);
            }
            return audit(archive, config, from, reportDir != null ? reportDir : archive.dir(), System.out);
        }
    }

    /**
     * The settings of {@code actual} with {@code changes} applied. Only money settings: a change of
     * time settings (cooldown, window, grace) would move the wall-clock decisions to times the log
     * cannot tell, and a sampling setting would need re-executions that never ran.
     */
    public static LedgerConfig alternative(LedgerConfig actual, java.util.Map<String, String> changes) {
        int fee = actual.feeBps();
        int reward = actual.slashRewardBps();
        for (var c : changes.entrySet()) {
            String key = c.getKey().trim();
            if (SAMPLING_KEYS.contains(key)) {
                continue; // see samplingAlternative
            }
            if (!key.equals("fee-bps") && !key.equals("slash-reward-bps")) {
                throw new IllegalArgumentException("--with " + key + ": only fee-bps, slash-reward-bps, sampling-floor and"
                        + " sampling-new-node-p can be changed; a timing setting would move the settlement's wall-clock decisions"
                        + " to times the log cannot tell");
            }
            int value;
            try {
                value = Integer.parseInt(c.getValue().trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--with " + c.getKey() + "=" + c.getValue() + ": not a whole number of basis points");
            }
            if (key.equals("fee-bps")) {
                fee = value;
            } else {
                reward = value;
            }
        }
        return new LedgerConfig(fee, actual.paymentReplayWindow(), reward, actual.unstakeCooldown(), actual.challengeWindow(),
                actual.finalityGrace(), actual.cancelGrace());
    }

    /** The sampling settings {@code --with} may change. */
    static final java.util.Set<String> SAMPLING_KEYS = java.util.Set.of("sampling-floor", "sampling-new-node-p");

    /** The verifier's sampling policy of {@code actual} with the sampling {@code changes} applied, or null when none is changed. */
    public static SamplingPolicy.Config samplingAlternative(SamplingPolicy.Config actual, java.util.Map<String, String> changes) {
        double floor = actual.floor();
        double newNodeP = actual.newNodeP();
        boolean any = false;
        for (var c : changes.entrySet()) {
            String key = c.getKey().trim();
            if (!SAMPLING_KEYS.contains(key)) {
                continue;
            }
            double value;
            try {
                value = Double.parseDouble(c.getValue().trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--with " + c.getKey() + "=" + c.getValue() + ": not a probability");
            }
            any = true;
            if (key.equals("sampling-floor")) {
                floor = value;
            } else {
                newNodeP = value;
            }
        }
        return any ? new SamplingPolicy.Config(floor, newNodeP, actual.warmupObservations(), actual.trustedScore()) : null;
    }

    /** {@link #whatIf(ExportArchive, LedgerConfig, SamplingPolicy.Config, java.util.Map, java.io.PrintStream)} with the verifier's default sampling. */
    public static int whatIf(ExportArchive archive, LedgerConfig actual, java.util.Map<String, String> changes, java.io.PrintStream out) {
        return whatIf(archive, actual, SamplingPolicy.DEFAULTS, changes, out);
    }

    /**
     * Prints the counterfactual: for money settings the re-settlement per account, then per kind of
     * account, with totals; for sampling settings which results would have been sampled
     * differently ({@link SamplingWhatIf}), per node and per customer, with totals. Exit 0, or 2 if
     * it could not run.
     */
    public static int whatIf(ExportArchive archive, LedgerConfig actual, SamplingPolicy.Config sampling, java.util.Map<String, String> changes,
            java.io.PrintStream out) {
        LedgerConfig alt;
        SamplingPolicy.Config samplingAlt;
        try {
            alt = alternative(actual, changes);
            samplingAlt = samplingAlternative(sampling, changes);
        } catch (IllegalArgumentException e) {
            out.println("what-if could not run: " + e.getMessage());
            return 2;
        }
        boolean money = changes.keySet().stream().map(String::trim).anyMatch(k -> !SAMPLING_KEYS.contains(k));
        if (money) {
            int rc = moneyWhatIf(archive, actual, alt, changes, out);
            if (rc != 0) {
                return rc;
            }
        }
        if (samplingAlt != null) {
            printSampling(SamplingWhatIf.run(archive, sampling, samplingAlt, actual), out);
        }
        return 0;
    }

    static void printSampling(SamplingWhatIf.Result r, java.io.PrintStream out) {
        out.printf(java.util.Locale.ROOT, "sampling re-drawn under floor=%s, new-node-p=%s (actual: floor=%s, new-node-p=%s)%n",
                r.alternative().floor(), r.alternative().newNodeP(), r.actual().floor(), r.actual().newNodeP());
        out.printf("  %,d decisions recomputed from revealed secrets; unknown: %,d (secret not revealed), %,d (p not from the actual policy)%n",
                r.recomputed(), r.unknownNoSecret(), r.unknownPolicy());
        for (SamplingWhatIf.Decision d : r.changed()) {
            out.printf(java.util.Locale.ROOT, "  %-11s lease %s node %s customer %s: draw %.4f, p %.4f -> %.4f; finding: %s%s%n",
                    d.change() == SamplingWhatIf.Change.WOULD_SAMPLE ? "WOULD SAMPLE" : "WOULD SKIP", d.leaseId(), d.node(), d.customer(),
                    d.draw(), d.actualP(), d.alternativeP(), d.finding(), d.slashMicros() + d.payoutInsteadMicros() > 0
                            ? "; slash not made " + io.inferex.market.Money.format(d.slashMicros()) + ", payout instead "
                                    + io.inferex.market.Money.format(d.payoutInsteadMicros()) : "");
        }
        out.println("  per node:");
        r.byNode().forEach((k, t) -> out.println("    " + tally(k, t)));
        out.println("  per customer:");
        r.byCustomer().forEach((k, t) -> out.println("    " + tally(k, t)));
        out.println("  total: " + tally("", r.total()).trim());
        r.notes().forEach(n -> out.println("  note: " + n));
    }

    private static String tally(String who, SamplingWhatIf.Tally t) {
        return String.format(java.util.Locale.ROOT, "%-24s would sample %d more (est. extra %s, findings unknown; %d of nodes later"
                + " convicted), %d fewer (est. saved %s); frauds not caught by a sample %d: slash not made %s, payout instead %s,"
                + " customers pay %s for them", who, t.wouldSample(), io.inferex.market.Money.format(t.extraCostMicros()), t.frauds(),
                t.wouldSkip(), io.inferex.market.Money.format(t.savedCostMicros()), t.fraudsUncaught(),
                io.inferex.market.Money.format(t.slashNotMadeMicros()), io.inferex.market.Money.format(t.payoutInsteadMicros()),
                io.inferex.market.Money.format(t.customerPaysInsteadMicros()));
    }

    /** Prints the counterfactual re-settlement: per account, then per kind of account, with totals. Exit 0, or 2 if it could not run. */
    static int moneyWhatIf(ExportArchive archive, LedgerConfig actual, LedgerConfig alt, java.util.Map<String, String> changes,
            java.io.PrintStream out) {
        LedgerAudit.WhatIf w;
        try {
            w = LedgerAudit.whatIf(archive, actual, alt);
            out.printf("re-settled under %s (actual: fee-bps=%d, slash-reward-bps=%d)%n", changes, actual.feeBps(), actual.slashRewardBps());
        } catch (LedgerAudit.Unavailable | IllegalArgumentException e) {
            out.println("what-if could not run: " + e.getMessage());
            return 2;
        }
        out.printf("  %-44s %16s %16s %14s%n", "account", "actual", "alternative", "difference");
        for (LedgerAudit.AccountChange c : w.changed()) {
            out.printf("  %-44s %16s %16s %14s%n", c.account(), io.inferex.market.Money.format(c.actual()),
                    io.inferex.market.Money.format(c.alternative()), io.inferex.market.Money.format(c.delta()));
        }
        out.println("  per kind of account (net):");
        w.deltaByKind().forEach((kind, d) -> out.printf("    %-42s %14s%n", kind, io.inferex.market.Money.format(d)));
        out.printf("  %d account(s) changed; events refused: %d actual, %d alternative%n", w.changed().size(), w.refusedActual(),
                w.refusedAlternative());
        return 0;
    }

    @Command(name = "trace", mixinStandardHelpOptions = true,
            description = "Print the chain of events behind ID in time order: a batch id, a shard id, or a custom_id (with --batch):"
                    + " task, assignments and leases, results, verification, verdicts, outcomes, transfers.")
    public static final class Trace implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "ID", description = "A batch id, a shard (task) id, or a custom_id with --batch.")
        String id;

        @Option(names = "--batch", description = "The batch of a custom_id.")
        String batch;

        @Option(names = "--export", description = "An export directory (default: export the cluster first).")
        Path export;

        @Option(names = "--json", description = "Print the chain as JSON.")
        boolean json;

        @picocli.CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Override
        public Integer call() {
            try {
                Path dir = export;
                if (dir == null) {
                    dir = Files.createTempDirectory(Files.createDirectories(InferexCli.home().resolve(".inferex/audits")), "export-");
                    EventExport.export(cluster.config(), dir, Topics.ALL, cluster.topicPrefix, null, null, System.err);
                }
                List<EventTrace.Link> links = EventTrace.trace(ExportArchive.open(dir), id, batch);
                if (json) {
                    System.out.println(EventExport.JSON.writeValueAsString(links.stream().map(l -> {
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("time", Instant.ofEpochMilli(l.timestamp()).toString());
                        m.put("where", l.where());
                        m.put("type", l.type());
                        try {
                            m.put("event", EventExport.JSON.readTree(l.record()));
                        } catch (IOException e) {
                            m.put("event", l.record());
                        }
                        return m;
                    }).toList()));
                } else {
                    links.forEach(l -> System.out.println(EventTrace.line(l)));
                }
                if (links.isEmpty()) {
                    System.err.println("nothing in the log names " + id + (batch == null ? "" : " in batch " + batch));
                    return 1;
                }
                return 0;
            } catch (IOException | RuntimeException e) {
                System.err.println("trace could not run: " + e.getMessage());
                return 2;
            }
        }
    }

    /** Runs the audit, writes its reports and prints a summary; the exit code (0 clean, 1 discrepancies, 2 could not run). */
    public static int audit(ExportArchive archive, LedgerConfig config, String source, Path reportDir, java.io.PrintStream out) {
        LedgerAudit.Report report;
        try {
            report = LedgerAudit.run(archive, config, source);
            AuditReports.write(report, reportDir);
        } catch (LedgerAudit.Unavailable | IOException e) {
            out.println("audit could not run: " + e.getMessage());
            return 2;
        }
        report.totals().forEach((k, v) -> out.printf("  %-34s %,d%n", k, v));
        report.notes().forEach(n -> out.println("note: " + n));
        for (LedgerAudit.Discrepancy d : report.discrepancies()) {
            out.println(d.kind() + " " + d.subject() + ": " + d.detail());
        }
        out.println((report.clean() ? "CLEAN" : "DISCREPANCIES: " + report.discrepancies().size()) + " (reports: "
                + reportDir.resolve(AuditReports.JSON_FILE) + ", " + reportDir.resolve(AuditReports.HTML_FILE) + ")");
        return report.clean() ? 0 : 1;
    }
}
