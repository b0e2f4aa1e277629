package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.JobState;
import io.inferex.events.OutcomeKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.JobStatus;
import io.inferex.events.ShardResult;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.Accounts;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.smallrye.config.WithDefault;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Startup with a history (issue 10, "Startup and growth"): how long ingest's {@link MarketTracker}
 * takes from start until balances answer and its reading settles, and how many records it reads,
 * with {@code -Dinferex.benchmark.jobs} (default 5,000) completed jobs in the log (each: a result of
 * 4 rows of 384 floats, its verdict, two job-status records, five ledger transfers, its FINAL
 * verification outcome, and every 50th a challenge: its bond, DISPUTED and UPHELD outcomes; stamped
 * two days ago), on the embedded broker. Three starts of a fresh tracker on one data dir: "everything from
 * offset 0" (the old behaviour: replay margin of ten years, no checkpoint), "first start" (job topics
 * from now less the margin, no checkpoint yet: the ledger from its beginning) and "restart" (from the
 * checkpoint the first start wrote at shutdown). The balances and the challenges must be equal in
 * all three, and the restart reads none of that history again. Not a suite
 * test: it runs only with {@code -Dinferex.benchmark=true}:
 *
 * <pre>./mvnw -o -pl ingest -am test -Dtest=TrackerStartupBenchmark -Dsurefire.failIfNoSpecifiedTests=false -Dinferex.benchmark=true</pre>
 */
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class TrackerStartupBenchmark {
    private static final long TWO_DAYS_MS = 2 * 24 * 3600_000L;

    @Test
    void startupWithAHistoryOfCompletedJobs() throws Exception {
        int jobs = Integer.getInteger("inferex.benchmark.jobs", 5_000);
        int records = publishHistory(jobs);
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "test-ingest-data")), "startup-");
        System.out.printf(Locale.ROOT, "history: %,d jobs, %,d records; load average %s%n", jobs, records,
                Files.readString(Path.of("/proc/loadavg")).trim());
        Start before = start(dir, 10L * 365 * 24 * 3600_000L);
        Files.deleteIfExists(dir.resolve(MarketTracker.CHECKPOINT_FILE));
        Start first = start(dir, 300_000);
        Start restart = start(dir, 300_000);
        for (var s : List.of(before, first, restart)) {
            System.out.printf(Locale.ROOT, "%-26s balances after %,6d ms, settled after %,6d ms, %,9d records read, heap used %,d MB%n",
                    s.name(), s.balanceMs(), s.settledMs(), s.records(), s.heapMb());
        }
        assertEquals(before.balance(), first.balance());
        assertEquals(before.balance(), restart.balance());
        assertEquals(jobs / 50 + (jobs % 50 == 0 ? 0 : 1), before.challenges().size());
        assertEquals(before.challenges(), first.challenges());
        assertEquals(before.challenges(), restart.challenges());
        assertEquals(0, restart.records(), "the restart reads nothing its checkpoint covers");
    }

    private record Start(String name, long balanceMs, long settledMs, long records, long heapMb, CustomerBalances.View balance,
            List<ChallengeBook.View> challenges) {}

    private static int counter;

    private Start start(Path dir, long marginMs) throws Exception {
        String name = List.of("everything from offset 0", "first start", "restart (checkpoint)").get(counter++);
        IngestConfig config = config(dir, marginMs);
        IngestStore stores = new IngestStore();
        stores.config = config;
        stores.kafka = new java.util.HashMap<>(EmbeddedKafkaBroker.shared().clientConfig());
        stores.init();
        MarketTracker t = new MarketTracker();
        t.stores = stores;
        t.config = config;
        t.kafka = new java.util.HashMap<>(EmbeddedKafkaBroker.shared().clientConfig());
        System.gc();
        long t0 = System.nanoTime();
        t.onStart(null);
        while (t.balance("bench-c0").isEmpty()) {
            Thread.sleep(5);
        }
        long balanceMs = (System.nanoTime() - t0) / 1_000_000;
        long seen = -1;
        long lastChange = System.nanoTime();
        while (System.nanoTime() - lastChange < 2_000_000_000L) {
            long now = (long) t.stats().get("recordsSeen");
            if (now != seen) {
                seen = now;
                lastChange = System.nanoTime();
            }
            Thread.sleep(10);
        }
        long settledMs = Math.max(balanceMs, (lastChange - t0) / 1_000_000);
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long heapMb = (rt.totalMemory() - rt.freeMemory()) >> 20;
        CustomerBalances.View v = t.balance("bench-c0").orElseThrow();
        List<ChallengeBook.View> challenges = t.challenges().views();
        t.onStop(null);
        return new Start(name, balanceMs, settledMs, seen, heapMb, v, challenges);
    }

    /** IngestConfig with every default, the data dir and the replay margin given. */
    private static IngestConfig config(Path dir, long marginMs) {
        return (IngestConfig) Proxy.newProxyInstance(IngestConfig.class.getClassLoader(), new Class<?>[] {IngestConfig.class},
                (proxy, m, args) -> switch (m.getName()) {
                    case "dataDir" -> dir.toString();
                    case "replayMarginMs" -> marginMs;
                    case "apiKeys" -> java.util.Optional.empty();
                    default -> {
                        String d = m.getAnnotation(WithDefault.class).value();
                        Class<?> r = m.getReturnType();
                        yield r == long.class ? Long.parseLong(d) : r == int.class ? Integer.parseInt(d)
                                : r == boolean.class ? Boolean.parseBoolean(d) : d;
                    }
                });
    }

    private static int publishHistory(int jobs) throws Exception {
        io.inferex.topics.TopicProvisioner.ensureTopics(EmbeddedKafkaBroker.shared().clientConfig(), (short) 1, Topics.ALL);
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 512 * 1024);
        int[] n = {0};
        long base = System.currentTimeMillis() - TWO_DAYS_MS;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < jobs; i++) {
                long at = base + i;
                String job = "batch_bench" + i;
                String c = Accounts.customer("bench-c" + (i % 100));
                String e = Accounts.escrow(job);
                List<String> ids = List.of("a", "b", "c", "d");
                ShardResult r = Results.result(job, 0, 1, 1, ids, i);
                send(producer, n, Topics.LEDGER, job, at, transfer(Accounts.EXTERNAL, c, 10_000, TransferKind.DEPOSIT, null, at));
                send(producer, n, Topics.LEDGER, job, at, transfer(c, e, 800, TransferKind.ESCROW, job, at));
                send(producer, n, Topics.JOB_STATUS, job, at, status(job, JobState.IN_PROGRESS, at));
                send(producer, n, Topics.RESULTS, r.getTaskId(), at, r);
                send(producer, n, Topics.VERDICTS, job, at, Results.verdict(r, VerdictOutcome.ACCEPTED));
                send(producer, n, Topics.LEDGER, job, at, transfer(e, Accounts.node("n1"), 380, TransferKind.PAYOUT, job, at));
                send(producer, n, Topics.LEDGER, job, at, transfer(e, Accounts.TREASURY, 20, TransferKind.FEE, job, at));
                send(producer, n, Topics.LEDGER, job, at, transfer(e, c, 400, TransferKind.REFUND, job, at));
                send(producer, n, Topics.JOB_STATUS, job, at, status(job, JobState.COMPLETED, at));
                if (i % 50 == 0) {
                    String id = "chl_bench" + i;
                    Challenge ch = Challenge.newBuilder().setChallengeId(id).setTaskId(r.getTaskId()).setJobId(job).setChallengerId(c)
                            .setBondMicros(1_000).setReason("bench").setCreatedAtMs(at).build();
                    send(producer, n, Topics.CHALLENGE_BONDS, r.getTaskId(), at, ChallengeBond.newBuilder().setChallenge(ch)
                            .setStatus(ChallengeBondStatus.LOCKED).setReason("locked").setAtMs(at).build());
                    for (OutcomeKind k : List.of(OutcomeKind.DISPUTED, OutcomeKind.UPHELD)) {
                        VerificationOutcome o = Results.outcome(r, k, null);
                        o.setChallengeId(id);
                        o.setDecidedAtMs(at);
                        send(producer, n, Topics.VERIFICATION_OUTCOMES, r.getTaskId(), at, o);
                    }
                } else {
                    VerificationOutcome o = Results.outcome(r, OutcomeKind.FINAL, null);
                    o.setDecidedAtMs(at);
                    send(producer, n, Topics.VERIFICATION_OUTCOMES, r.getTaskId(), at, o);
                }
            }
            producer.flush();
        }
        return n[0];
    }

    private static <V> void send(KafkaProducer<byte[], byte[]> p, int[] n, Topic<String, V> topic, String key, long at, V value) {
        ProducerRecord<byte[], byte[]> r = JobPublisher.record(topic, key, value);
        p.send(new ProducerRecord<>(r.topic(), null, at, r.key(), r.value()));
        n[0]++;
    }

    private static Transfer transfer(String from, String to, long micros, TransferKind kind, String job, long at) {
        return Transfer.newBuilder().setTransferId(java.util.UUID.randomUUID().toString()).setDebitAccount(from)
                .setCreditAccount(to).setAmountMicros(micros).setKind(kind).setJobId(job).setCause("bench").setAtMs(at).build();
    }

    private static JobStatus status(String job, JobState state, long at) {
        return JobStatus.newBuilder().setJobId(job).setCustomerId("bench").setState(state).setRowCount(4)
                .setCompletedRows(state == JobState.COMPLETED ? 4 : 0).setFailedRows(0).setShardCount(1)
                .setShardsDone(state == JobState.COMPLETED ? 1 : 0).setSpentMicros(0).setUpdatedAtMs(at).build();
    }
}
