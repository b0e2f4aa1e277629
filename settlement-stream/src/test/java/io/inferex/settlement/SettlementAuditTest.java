package io.inferex.settlement;

import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.local.audit.AuditCommands;
import io.inferex.local.audit.EventExport;
import io.inferex.local.audit.EventTrace;
import io.inferex.local.audit.ExportArchive;
import io.inferex.local.audit.LedgerAudit;
import io.inferex.local.audit.LogEntry;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingDraw;
import io.inferex.wire.AvroWire;
import io.inferex.wire.SchemaHistory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit of a real settlement log: the settlement topology runs a small market under
 * {@code TopologyTestDriver} (payments, two jobs, accepted verdicts, a FINAL and a FRAUD outcome, an
 * unstake released by the wall clock, a job expired by it); its inputs and outputs, with their
 * record timestamps, are written to the embedded broker (under a per-run topic prefix, so no other
 * test's settlement app reads them), together with a sampling epoch's commitment and reveal; the
 * broker is exported with {@code ./inferex export}'s code. The untouched export audits clean; each
 * tampered copy (re-sealed, so only the events themselves give it away) is named and exits 1.
 * The driver stands in for the settlement service because its wall clock is the test's: the
 * punctuations happen at known times without waiting 30 minutes or 24 hours.
 */
class SettlementAuditTest {
    static final LedgerConfig CONFIG = new LedgerConfig(SettlementTopologyTestBase.FEE_BPS);
    static final String TASK0 = TaskIds.of("j1", 0, 2);
    static final String TASK1 = TaskIds.of("j1", 1, 2);
    static final String TASK_J3 = TaskIds.of("j3", 0, 1);
    static Path export;

    record Input(Topic<String, ?> topic, String key, byte[] value, long ts) {}

    @BeforeAll
    static void runTheMarketAndExportIt(@TempDir Path tmp) throws Exception {
        // The run ends about now: a broker refuses records stamped more than an hour ahead.
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.SECONDS).minus(Duration.ofHours(25));
        long t = t0.toEpochMilli();
        String secret = secretSampling(TASK1 + "#1", TASK0 + "#1");
        List<Input> inputs = new ArrayList<>();
        List<Input> outputs = new ArrayList<>();
        try (TopologyFixture fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(CONFIG, props), t0)) {
            var payments = fixture.input(Topics.PAYMENTS);
            var jobs = fixture.input(Topics.JOBS);
            var verdicts = fixture.input(Topics.VERDICTS);
            var outcomes = fixture.input(Topics.VERIFICATION_OUTCOMES);
            var challenges = fixture.input(Topics.CHALLENGES);
            Pipe pipe = new Pipe(inputs);
            pipe.in(payments, Topics.PAYMENTS, "customer:acme", at(deposit("p-acme-1", "customer:acme", 1_000_000), t + 1000), t + 1000);
            pipe.in(payments, Topics.PAYMENTS, "node:n1", at(deposit("p-n1", "node:n1", 500_000), t + 1100), t + 1100);
            pipe.in(payments, Topics.PAYMENTS, "node:n2", at(deposit("p-n2", "node:n2", 500_000), t + 1101), t + 1101);
            pipe.in(payments, Topics.PAYMENTS, "node:n1", stake("s-n1", "node:n1", 200_000, t + 1200), t + 1200);
            pipe.in(payments, Topics.PAYMENTS, "node:n2", stake("s-n2", "node:n2", 200_000, t + 1201), t + 1201);
            pipe.in(jobs, Topics.JOBS, "j1", submitted(job("j1", "acme", 10, 2, 200), t + 2000), t + 2000);
            pipe.in(jobs, Topics.JOBS, "j2", submitted(job("j2", "acme", 4, 1, 100), t + 2100), t + 2100);
            pipe.in(verdicts, Topics.VERDICTS, "j1", verdict("v0", "j1", TASK0, "n1", VerdictOutcome.ACCEPTED, 6, 100), t + 3000);
            pipe.in(verdicts, Topics.VERDICTS, "j1", verdict("v1", "j1", TASK1, "n2", VerdictOutcome.ACCEPTED, 4, 150), t + 3100);
            pipe.in(outcomes, Topics.VERIFICATION_OUTCOMES, "j1", VerificationOutcome.newBuilder(
                    outcome("o-final", OutcomeKind.FINAL, "j1", TASK0, "n1", 6, 100)).setSamplingEpoch(7).build(), t + 4000);
            pipe.in(outcomes, Topics.VERIFICATION_OUTCOMES, "j1", VerificationOutcome.newBuilder(
                    outcome("o-fraud", OutcomeKind.FRAUD, "j1", TASK1, "n2", 4, 150)).setSampled(true).setSamplingEpoch(7)
                    .setRewardAccount("node:n1").build(), t + 4100);
            // j3: a customer's challenge of its one shard, upheld (the bond forfeited), then the shard is final.
            pipe.in(jobs, Topics.JOBS, "j3", submitted(job("j3", "acme", 2, 1, 100), t + 2200), t + 2200);
            pipe.in(verdicts, Topics.VERDICTS, "j3", verdict("v3", "j3", TASK_J3, "n1", VerdictOutcome.ACCEPTED, 2, 100), t + 3200);
            pipe.in(challenges, Topics.CHALLENGES, TASK_J3, io.inferex.events.Challenge.newBuilder().setChallengeId("c3")
                    .setTaskId(TASK_J3).setJobId("j3").setChallengerId("customer:acme").setBondMicros(100_000).setReason("audit")
                    .setCreatedAtMs(t + 3300).build(), t + 3300);
            pipe.in(outcomes, Topics.VERIFICATION_OUTCOMES, "j3", VerificationOutcome.newBuilder(
                    outcome("o-upheld3", OutcomeKind.UPHELD, "j3", TASK_J3, "n1", 2, 100)).setChallengeId("c3").build(), t + 3400);
            pipe.in(outcomes, Topics.VERIFICATION_OUTCOMES, "j3", outcome("o-final3", OutcomeKind.FINAL, "j3", TASK_J3, "n1", 2, 100),
                    t + 3500);
            pipe.in(payments, Topics.PAYMENTS, "customer:acme", at(withdrawal("p-acme-2", "customer:acme", 100), t + 5000), t + 5000);
            pipe.in(payments, Topics.PAYMENTS, "stake:n1", at(withdrawal("u-n1", "stake:n1", 50_000), t + 6000), t + 6000);
            fixture.driver().advanceWallClockTime(CONFIG.unstakeCooldown().plusMinutes(1)); // releases n1's unstake
            fixture.driver().advanceWallClockTime(Duration.ofHours(24)); // expires j2
            collect(fixture.output(Topics.LEDGER).readRecordsToList(), Topics.LEDGER, outputs);
            collect(fixture.output(Topics.JOB_STATUS).readRecordsToList(), Topics.JOB_STATUS, outputs);
            collect(fixture.output(Topics.NODE_STAKE).readRecordsToList(), Topics.NODE_STAKE, outputs);
        }
        List<TransferKind> kinds = outputs.stream().filter(o -> o.topic() == Topics.LEDGER)
                .map(o -> AvroWire.of(Transfer.class).decode(o.value()).getKind()).toList();
        assertTrue(kinds.contains(TransferKind.STAKE_RELEASE) && kinds.contains(TransferKind.SLASH), "the run released and slashed: " + kinds);
        assertTrue(kinds.contains(TransferKind.BOND_LOCK) && kinds.contains(TransferKind.BOND_FORFEIT), "the run locked and forfeited a bond: " + kinds);
        SamplingEpoch commit = SamplingEpoch.newBuilder().setEpoch(7).setStartMs(t).setEndMs(t + 3500)
                .setCommitment(SamplingDraw.commitment(secret)).setSecret(null).setPublishedAtMs(t + 500).build();
        inputs.add(new Input(Topics.SAMPLING_EPOCHS, "7", AvroWire.of(SamplingEpoch.class).encode(commit), t + 500));
        inputs.add(new Input(Topics.SAMPLING_EPOCHS, "7", AvroWire.of(SamplingEpoch.class).encode(
                SamplingEpoch.newBuilder(commit).setSecret(secret).setPublishedAtMs(t + 3600).build()), t + 3600));
        // Verdict v0 goes onto the broker as written by an older build: Verdict schema v1 (no outputDigest).
        Input v0 = inputs.stream().filter(i -> i.topic() == Topics.VERDICTS).findFirst().orElseThrow();
        inputs.set(inputs.indexOf(v0), new Input(v0.topic(), v0.key(), encodeAsVersion1(
                AvroWire.of(Verdict.class).decode(v0.value())), v0.ts()));

        String prefix = "audit-" + UUID.randomUUID() + ".";
        List<Topic<?, ?>> topics = List.of(Topics.PAYMENTS, Topics.JOBS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES,
                Topics.CHALLENGES, Topics.SAMPLING_EPOCHS, Topics.LEDGER, Topics.JOB_STATUS, Topics.NODE_STAKE);
        Map<String, Object> client = EmbeddedKafkaBroker.shared().clientConfig();
        try (Admin admin = Admin.create(client)) {
            admin.createTopics(topics.stream().map(tp -> new NewTopic(prefix + tp.name(), tp.partitions(), (short) 1)).toList()).all().get();
            // Until the broker serves every new partition (the admin retries while it answers "not the
            // leader"): an idempotent producer that met that answer on a new partition was seen, under
            // load, retrying its later batches as out of order until its delivery timeout (120 s).
            Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> partitions = new java.util.HashMap<>();
            for (Topic<?, ?> tp : topics) {
                for (int p = 0; p < tp.partitions(); p++) {
                    partitions.put(new org.apache.kafka.common.TopicPartition(prefix + tp.name(), p),
                            org.apache.kafka.clients.admin.OffsetSpec.latest());
                }
            }
            admin.listOffsets(partitions).all().get();
        }
        try (var producer = new KafkaProducer<>(client, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Input> all = new ArrayList<>(inputs);
            all.addAll(outputs);
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (Input i : all) {
                sent.add(producer.send(new ProducerRecord<>(prefix + i.topic().name(), null, i.ts(), i.key().getBytes(StandardCharsets.UTF_8),
                        i.value())));
            }
            for (var f : sent) {
                f.get();
            }
        }
        export = tmp.resolve("export");
        ByteArrayOutputStream bar = new ByteArrayOutputStream();
        EventExport.Manifest m = EventExport.export(client, export, topics, prefix, null, null, new PrintStream(bar, true, StandardCharsets.UTF_8));
        assertEquals(inputs.size() + outputs.size(), m.files().stream().mapToLong(EventExport.FileInfo::records).sum());
        assertTrue(bar.toString(StandardCharsets.UTF_8).contains("100%"), "the progress bar reached 100%");
    }

    @Test
    void anUntouchedExportIncludingARecordOfAnOlderSchemaVersionAuditsCleanAndExitsZero(@TempDir Path reports) throws Exception {
        ExportArchive archive = ExportArchive.open(export);
        LogEntry v0 = archive.all(Topics.VERDICTS).stream().filter(e -> ((Verdict) e.event()).getVerdictId().equals("v0")).findFirst().orElseThrow();
        String v1Fingerprint = Long.toHexString(org.apache.avro.SchemaNormalization.parsingFingerprint64(versionOne()));
        assertEquals(v1Fingerprint, v0.writerFingerprint(), "v0 was written with Verdict schema v1");
        LedgerAudit.Report report = LedgerAudit.run(archive, CONFIG, "test");
        assertEquals(List.of(), report.discrepancies());
        assertEquals(2L, report.totals().get("samplingDecisionsChecked"));
        assertEquals(2L, report.totals().get("punctuations"), "the release and the expiry, replayed at the recorded times");
        assertEquals(0, AuditCommands.audit(archive, CONFIG, "test", reports, quiet()));
        assertTrue(Files.readString(reports.resolve("audit-report.html")).contains("clean"));
    }

    @Test
    void aShardsTraceIsItsVerdictOutcomeAndTransfersInOrderThenWhatWasDeliveredAndABatchsTraceEndsWithItsRefund() throws Exception {
        ExportArchive archive = ExportArchive.open(export);
        List<EventTrace.Link> shard = EventTrace.trace(archive, TASK0, null);
        assertEquals(List.of("Verdict", "VerificationOutcome", "Transfer", "Transfer", EventTrace.DELIVERED),
                shard.stream().map(EventTrace.Link::type).toList());
        assertTrue(shard.get(2).record().contains("o-final/payout/node:n1") || shard.get(3).record().contains("o-final/payout/node:n1"));
        var delivered = new com.fasterxml.jackson.databind.ObjectMapper().readTree(shard.get(4).record());
        assertEquals("final", delivered.get("verification").asText(), "o-final decided v0's lease: " + delivered);
        assertTrue(delivered.get("rows").asText().startsWith("unknown"), "this export holds no results: " + delivered);
        List<EventTrace.Link> batch = EventTrace.trace(archive, "j2", null);
        assertEquals("JobSubmitted", batch.get(0).type());
        assertTrue(batch.get(batch.size() - 1).record().contains("EXPIRED") || batch.get(batch.size() - 2).record().contains("j2/expired"),
                "the expiry ends j2's chain: " + batch);
        assertEquals(List.of(), EventTrace.trace(archive, "no-such-id", null));
    }

    @Test
    void aChangedAmountIsNamedAsAMismatchOfThatTransferAndItsAccounts(@TempDir Path tmp) throws Exception {
        String payout = "o-final/payout/node:n1";
        Path copy = tamper(tmp, Topics.LEDGER, e -> transferId(e).equals(payout), entries -> {
            entries.replaceAll(e -> transferId(e).equals(payout) ? withValue(e, Transfer.newBuilder((Transfer) e.event())
                    .setAmountMicros(((Transfer) e.event()).getAmountMicros() + 1).build()) : e);
            return entries;
        });
        LedgerAudit.Report r = audited(copy);
        assertNamed(r, "TRANSFER_MISMATCH", payout);
        assertNamed(r, "ACCOUNT_MISMATCH", "node:n1");
    }

    @Test
    void aBondForfeitWhoseUpheldDecisionIsDroppedIsNamedAndUnexplained(@TempDir Path tmp) throws Exception {
        Path copy = tamper(tmp, Topics.VERIFICATION_OUTCOMES, e -> ((VerificationOutcome) e.event()).getOutcomeId().equals("o-upheld3"),
                entries -> {
                    entries.removeIf(e -> ((VerificationOutcome) e.event()).getOutcomeId().equals("o-upheld3"));
                    return entries;
                });
        LedgerAudit.Report r = audited(copy);
        assertNamed(r, "FORFEIT_WITHOUT_UPHELD", "o-upheld3/bond_forfeit/node:n1");
    }

    @Test
    void reSettledAtTwiceTheFeeTheNodeLosesExactlyTheExtraFeeToTheTreasuryAndNothingElseChanges() throws Exception {
        ExportArchive archive = ExportArchive.open(export);
        LedgerConfig doubled = AuditCommands.alternative(CONFIG, Map.of("fee-bps", Integer.toString(2 * CONFIG.feeBps())));
        LedgerAudit.WhatIf w = LedgerAudit.whatIf(archive, CONFIG, doubled);
        // Two FINAL payouts, both to n1: 6 x 100 and 2 x 100 micros; the fee on them doubles.
        long extraFee = (600 + 200) * (long) CONFIG.feeBps() / 10_000;
        assertEquals(Map.of("node:n1", -extraFee, "treasury", extraFee),
                w.changed().stream().collect(java.util.stream.Collectors.toMap(LedgerAudit.AccountChange::account,
                        LedgerAudit.AccountChange::delta)));
        assertEquals(0L, w.deltaByKind().values().stream().mapToLong(Long::longValue).sum(), "money is only moved, never made");
        assertEquals(0, w.refusedAlternative() - w.refusedActual());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(2, AuditCommands.whatIf(archive, CONFIG, Map.of("challenge-window", "PT1M"), new PrintStream(out, true, StandardCharsets.UTF_8)),
                "a setting the log cannot re-settle is refused, with the reason");
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("a timing setting would move"));
    }

    @Test
    void aDroppedTransferIsNamedAsMissing(@TempDir Path tmp) throws Exception {
        String fee = "o-final/fee/treasury";
        Path copy = tamper(tmp, Topics.LEDGER, e -> transferId(e).equals(fee), entries -> {
            entries.removeIf(e -> transferId(e).equals(fee));
            return entries;
        });
        assertNamed(audited(copy), "MISSING_TRANSFER", fee);
    }

    @Test
    void aDuplicatedPayoutIsNamedAsADuplicateAndASecondPaymentOfTheShard(@TempDir Path tmp) throws Exception {
        String payout = "o-final/payout/node:n1";
        Path copy = tamper(tmp, Topics.LEDGER, e -> transferId(e).equals(payout), entries -> {
            LogEntry p = entries.stream().filter(e -> transferId(e).equals(payout)).findFirst().orElseThrow();
            LogEntry last = entries.get(entries.size() - 1);
            entries.add(new LogEntry(p.topic(), p.partition(), last.offset() + 1, last.timestamp(), p.key(), p.headers(),
                    p.writerFingerprint(), p.value()));
            return entries;
        });
        LedgerAudit.Report r = audited(copy);
        assertNamed(r, "DUPLICATE_TRANSFER", payout);
        assertNamed(r, "DOUBLE_PAYOUT", "j1/" + TASK0);
    }

    @Test
    void anOutcomeForgedToClaimASampleTheSecretDidNotDrawIsNamed(@TempDir Path tmp) throws Exception {
        Path copy = tamper(tmp, Topics.VERIFICATION_OUTCOMES, e -> outcomeId(e).equals("o-final"), entries -> {
            entries.replaceAll(e -> outcomeId(e).equals("o-final")
                    ? withValue(e, VerificationOutcome.newBuilder((VerificationOutcome) e.event()).setSampled(true).build()) : e);
            return entries;
        });
        assertNamed(audited(copy), "SAMPLING_FORGED", "o-final");
    }

    @Test
    void aForgedVerificationVerdictIsNamedByThePaymentTheLedgerNeverMade(@TempDir Path tmp) throws Exception {
        String sample = VerificationIds.sample(TASK0);
        Path copy = tamper(tmp, Topics.VERDICTS, e -> e.keyText().equals("j1"), entries -> {
            LogEntry last = entries.get(entries.size() - 1);
            Verdict forged = Verdict.newBuilder(verdict("v-forged", "j1", sample, "n2", VerdictOutcome.ACCEPTED, 6, 100))
                    .setDecidedAtMs(last.timestamp() + 50).build();
            entries.add(new LogEntry(last.topic(), last.partition(), last.offset() + 1, last.timestamp() + 50, last.key(), List.of(),
                    AvroWire.of(Verdict.class).fingerprint(), forged));
            return entries;
        });
        assertNamed(audited(copy), "MISSING_TRANSFER", "v-forged/payout/node:n2");
    }

    @Test
    void twoEventsOfOneKeyInTheOtherOrderAreNamedByTheTransferTheReplayRefuses(@TempDir Path tmp) throws Exception {
        Path copy = tamper(tmp, Topics.PAYMENTS, e -> paymentId(e).equals("p-acme-2"), entries -> {
            int deposit = indexOf(entries, "p-acme-1");
            int withdrawal = indexOf(entries, "p-acme-2");
            LogEntry d = entries.get(deposit);
            LogEntry w = entries.get(withdrawal);
            entries.set(deposit, withValue(d, w.value()));
            entries.set(withdrawal, withValue(w, d.value()));
            return entries;
        });
        LedgerAudit.Report r = audited(copy);
        assertNamed(r, "UNEXPLAINED_TRANSFER", "p-acme-2/withdrawal/external");
        assertTrue(r.discrepancies().stream().anyMatch(d -> d.detail().contains("exceeds balance")), "says why the replay refuses it");
    }

    @Test
    void aFileChangedWithoutResealingTheManifestAndAnExportWithoutTheLedgerAreReported(@TempDir Path tmp) throws Exception {
        var sealed = EventExport.readManifest(export);
        Path copy = tamper(tmp, Topics.PAYMENTS, e -> paymentId(e).equals("p-acme-2"), entries -> {
            entries.removeIf(e -> paymentId(e).equals("p-acme-2"));
            return entries;
        });
        EventExport.writeManifest(copy, sealed);
        LedgerAudit.Report r = audited(copy);
        assertTrue(r.discrepancies().stream().anyMatch(d -> d.kind().equals("EXPORT_INTEGRITY") && d.subject().startsWith("payments-")),
                "the changed file is named: " + r.discrepancies());
        EventExport.writeManifest(copy, new EventExport.Manifest(sealed.format(), sealed.createdAtMs(), sealed.source(), sealed.topicPrefix(),
                null, null, sealed.topics(), sealed.files().stream().filter(f -> !f.topic().equals(Topics.LEDGER.name())).toList()));
        assertEquals(2, AuditCommands.audit(ExportArchive.open(copy), CONFIG, "test", tmp.resolve("r"), quiet()));
    }

    // --- the run ---

    /** Pipes events into the driver at their record time and keeps them for the broker. */
    record Pipe(List<Input> inputs) {
        <V extends SpecificRecord> void in(org.apache.kafka.streams.TestInputTopic<String, V> topic, Topic<String, V> t, String key, V value, long ts) {
            topic.pipeInput(key, value, ts);
            @SuppressWarnings("unchecked")
            Class<V> type = (Class<V>) value.getClass();
            inputs.add(new Input(t, key, AvroWire.of(type).encode(value), ts));
        }
    }

    static <V extends SpecificRecord> void collect(List<TestRecord<String, V>> records, Topic<String, V> topic, List<Input> out) {
        for (TestRecord<String, V> r : records) {
            @SuppressWarnings("unchecked")
            Class<V> type = (Class<V>) r.value().getClass();
            out.add(new Input(topic, r.key(), AvroWire.of(type).encode(r.value()), r.timestamp()));
        }
    }

    static Payment at(Payment p, long ts) {
        return Payment.newBuilder(p).setAtMs(ts).build();
    }

    static Payment stake(String id, String account, long amount, long ts) {
        return Payment.newBuilder(deposit(id, account, amount)).setKind(PaymentKind.STAKE).setAtMs(ts).build();
    }

    static Payment withdrawal(String id, String account, long amount) {
        return Payment.newBuilder(deposit(id, account, amount)).setKind(PaymentKind.WITHDRAWAL).build();
    }

    static JobSubmitted submitted(JobSubmitted j, long ts) {
        return JobSubmitted.newBuilder(j).setSubmittedAtMs(ts).build();
    }

    /** A secret whose draw samples {@code sampled} and not {@code notSampled} at p = 0.1 (the outcomes' p). */
    static String secretSampling(String sampled, String notSampled) {
        Random random = new Random(42);
        while (true) {
            byte[] seed = new byte[32];
            random.nextBytes(seed);
            SecureRandom fixed = new SecureRandom() {
                @Override
                public void nextBytes(byte[] bytes) {
                    System.arraycopy(seed, 0, bytes, 0, bytes.length);
                }
            };
            String s = SamplingDraw.newSecret(fixed);
            if (SamplingDraw.sampled(s, sampled, 0.1) && !SamplingDraw.sampled(s, notSampled, 0.1)) {
                return s;
            }
        }
    }

    static Schema versionOne() {
        return SchemaHistory.versionsOf(Verdict.getClassSchema().getFullName()).stream().filter(v -> v.version() == 1)
                .findFirst().orElseThrow().schema();
    }

    /** The verdict as an older build wrote it: single-object encoding under Verdict schema v1. */
    static byte[] encodeAsVersion1(Verdict v) throws IOException {
        Schema old = versionOne();
        GenericRecord r = new GenericData.Record(old);
        for (Schema.Field f : old.getFields()) {
            Object value = v.get(f.name());
            r.put(f.name(), value instanceof Enum<?> e ? new GenericData.EnumSymbol(f.schema(), e.name()) : value);
        }
        ByteBuffer b = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), old).encode(r);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    // --- tampering ---

    static Path copyOf(Path tmp) throws IOException {
        Path copy = tmp.resolve("copy");
        Files.createDirectories(copy);
        try (var files = Files.list(export)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        return copy;
    }

    /** Copies the export, edits the partition of {@code topic} holding an entry that {@code which} picks, and re-seals the manifest. */
    static Path tamper(Path tmp, Topic<?, ?> topic, Predicate<LogEntry> which, UnaryOperator<List<LogEntry>> edit) throws IOException {
        Path copy = copyOf(tmp);
        for (List<LogEntry> partition : ExportArchive.open(copy).partitions(topic)) {
            if (partition.stream().anyMatch(which)) {
                EventExport.rewrite(copy, topic, partition.get(0).partition(), edit.apply(new ArrayList<>(partition)));
                return copy;
            }
        }
        throw new AssertionError("no entry of " + topic.name() + " to tamper with");
    }

    static LedgerAudit.Report audited(Path copy) throws Exception {
        ExportArchive archive = ExportArchive.open(copy);
        assertEquals(1, AuditCommands.audit(archive, CONFIG, "test", copy.resolve("report"), quiet()));
        return LedgerAudit.run(archive, CONFIG, "test");
    }

    static void assertNamed(LedgerAudit.Report r, String kind, String subject) {
        assertTrue(r.discrepancies().stream().anyMatch(d -> d.kind().equals(kind) && d.subject().equals(subject)),
                kind + " " + subject + " in " + r.discrepancies());
    }

    static LogEntry withValue(LogEntry e, Object value) {
        return new LogEntry(e.topic(), e.partition(), e.offset(), e.timestamp(), e.key(), e.headers(), e.writerFingerprint(), value);
    }

    static String transferId(LogEntry e) {
        return e.event() instanceof Transfer t ? t.getTransferId() : "";
    }

    static String outcomeId(LogEntry e) {
        return e.event() instanceof VerificationOutcome o ? o.getOutcomeId() : "";
    }

    static String paymentId(LogEntry e) {
        return e.event() instanceof Payment p ? p.getPaymentId() : "";
    }

    static int indexOf(List<LogEntry> entries, String paymentId) {
        for (int i = 0; i < entries.size(); i++) {
            if (paymentId(entries.get(i)).equals(paymentId)) {
                return i;
            }
        }
        throw new AssertionError("no payment " + paymentId);
    }

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    }
}
