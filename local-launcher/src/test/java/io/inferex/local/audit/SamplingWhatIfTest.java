package io.inferex.local.audit;

import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.OutcomeKind;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.market.TaskIds;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingDraw;
import io.inferex.verification.SamplingPolicy;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoublePredicate;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/**
 * The sampling counterfactual on a log held in memory, all nodes established (p at the floor,
 * 0.015): shards whose revealed draw falls between the actual floor and another one, chosen by
 * their draws. Lowering the floor skips a sample that caught fraud (its slash not made, its payout
 * made instead); raising it samples results that never were, whose findings stay unknown.
 */
class SamplingWhatIfTest {
    static final String SECRET = "ab".repeat(32);
    static final LedgerConfig LEDGER = new LedgerConfig(500);
    final Map<Topic<?, ?>, List<List<LogEntry>>> log = new LinkedHashMap<>();
    int nextJob;

    void add(Topic<?, ?> topic, SpecificRecord value) {
        List<LogEntry> p = log.computeIfAbsent(topic, t -> List.of(new ArrayList<>())).get(0);
        p.add(new LogEntry(topic.name(), 0, p.size(), 1_000 + p.size(), "k".getBytes(StandardCharsets.UTF_8), List.of(), null, value));
    }

    /** A one-shard job of {@code customer} whose lease's draw satisfies {@code draw}; returns its outcome, not yet added. */
    VerificationOutcome shard(String customer, String node, OutcomeKind kind, boolean sampled, long epoch, DoublePredicate draw) {
        while (true) {
            String jobId = "j" + nextJob++;
            String task = TaskIds.of(jobId, 0, 1);
            if (draw.test(SamplingDraw.fraction(SECRET, task + "#1"))) {
                add(Topics.JOBS, job(jobId, customer, 10, 1, 100));
                return VerificationOutcome.newBuilder(outcome(kind + ":" + task + "#1", kind, jobId, task, node, 10, 100)).setSampled(sampled)
                        .setSamplingEpoch(epoch).setSamplingProbability(0.015).build();
            }
        }
    }

    SamplingWhatIfTest() {
        add(Topics.SAMPLING_EPOCHS, SamplingEpoch.newBuilder().setEpoch(1).setStartMs(0).setEndMs(10).setCommitment(SamplingDraw.commitment(SECRET))
                .setSecret(SECRET).setPublishedAtMs(20).build());
        // d: sampled at 0.015 (draw in [0.005, 0.015)), caught n-fraud: FRAUD, slashed 50,000.
        VerificationOutcome fraud = shard("acme", "n-fraud", OutcomeKind.FRAUD, true, 1, d -> d >= 0.005 && d < 0.015);
        add(Topics.VERIFICATION_OUTCOMES, fraud);
        add(Topics.LEDGER, Transfer.newBuilder().setTransferId(fraud.getOutcomeId() + "/slash/treasury").setDebitAccount("stake:n-fraud")
                .setCreditAccount("treasury").setAmountMicros(50_000).setKind(TransferKind.SLASH).setJobId(fraud.getJobId())
                .setCause(fraud.getOutcomeId()).setAtMs(2_000).build());
        // a: n-honest, not sampled (draw in [0.015, 0.1)), final.
        add(Topics.VERIFICATION_OUTCOMES, shard("acme", "n-honest", OutcomeKind.FINAL, false, 1, d -> d >= 0.015 && d < 0.1));
        // b: n-fraud's other result, not sampled (draw in [0.015, 0.1)), final.
        add(Topics.VERIFICATION_OUTCOMES, shard("bolt", "n-fraud", OutcomeKind.FINAL, false, 1, d -> d >= 0.015 && d < 0.1));
        // c: sampled under any floor here (draw < 0.005), final.
        add(Topics.VERIFICATION_OUTCOMES, shard("bolt", "n-honest", OutcomeKind.FINAL, true, 1, d -> d < 0.005));
        // e: an epoch whose secret was never revealed.
        add(Topics.VERIFICATION_OUTCOMES, shard("bolt", "n-honest", OutcomeKind.FINAL, false, 2, d -> true));
    }

    static SamplingPolicy.Config floor(double f) {
        return new SamplingPolicy.Config(f, 0.25, 100, 0.9);
    }

    @Test
    void aLowerFloorSkipsTheSampleThatCaughtFraudSoItsSlashIsNotMadeAndItsPayoutIs() {
        SamplingWhatIf.Result r = SamplingWhatIf.run(ExportArchive.of(log), SamplingPolicy.DEFAULTS, floor(0.005), LEDGER);
        assertEquals(1, r.changed().size(), "only the fraud's sample falls between 0.005 and 0.015: " + r.changed());
        SamplingWhatIf.Decision d = r.changed().get(0);
        assertEquals(SamplingWhatIf.Change.WOULD_SKIP, d.change());
        assertEquals("n-fraud", d.node());
        assertEquals("fraud", d.finding());
        assertEquals(50_000, d.slashMicros());
        assertEquals(1_000 - 50, d.payoutInsteadMicros(), "10 rows x 100, less the 5 % fee");
        assertEquals(1_000, r.byCustomer().get("acme").customerPaysInsteadMicros(), "acme pays for the wrong result");
        assertEquals(1, r.total().fraudsUncaught());
        assertEquals(4, r.recomputed());
        assertEquals(1, r.unknownNoSecret(), "the unrevealed epoch's decision cannot be recomputed");
    }

    @Test
    void aHigherFloorSamplesResultsThatNeverWereWithFindingsUnknownAndNamesTheNodeLaterConvicted() {
        SamplingWhatIf.Result r = SamplingWhatIf.run(ExportArchive.of(log), SamplingPolicy.DEFAULTS, floor(0.1), LEDGER);
        assertEquals(2, r.changed().size(), r.changed().toString());
        assertTrue(r.changed().stream().allMatch(d -> d.change() == SamplingWhatIf.Change.WOULD_SAMPLE && d.finding().startsWith("unknown")
                && d.slashMicros() == 0 && d.payoutInsteadMicros() == 0), "nothing is invented about what they would have found");
        assertEquals("unknown; node later convicted of fraud", r.changed().stream().filter(d -> d.node().equals("n-fraud")).findFirst()
                .orElseThrow().finding());
        assertEquals("unknown", r.changed().stream().filter(d -> d.node().equals("n-honest")).findFirst().orElseThrow().finding());
        assertEquals(2_000, r.total().extraCostMicros(), "two shards of 10 rows at 100 micros");
        assertEquals(1, r.byCustomer().get("acme").wouldSample());
        assertEquals(1, r.byCustomer().get("bolt").wouldSample());
        assertEquals(0.1, r.changed().get(0).alternativeP(), 1e-12);
    }

    @Test
    void aRecordedPTheActualPolicyCannotGiveIsCountedUnknownAndTheCommandPrintsTotals() {
        assertTrue(Double.isNaN(SamplingWhatIf.alternativeP(SamplingPolicy.DEFAULTS, floor(0.1), 0.01)), "below the actual floor");
        assertEquals(1.0, SamplingWhatIf.alternativeP(SamplingPolicy.DEFAULTS, floor(0.1), 1.0), "a banned node stays sampled");
        assertEquals(0.25, SamplingWhatIf.alternativeP(SamplingPolicy.DEFAULTS, floor(0.1), 0.25), 1e-12, "a new node stays at newNodeP");
        add(Topics.PAYMENTS, io.inferex.testing.LedgerEvents.deposit("p", "customer:acme", 1));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(0, AuditCommands.whatIf(ExportArchive.of(log), LEDGER, SamplingPolicy.DEFAULTS, Map.of("sampling-floor", "0.005"),
                new PrintStream(out, true, StandardCharsets.UTF_8)));
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("WOULD SKIP") && text.contains("per node:") && text.contains("per customer:") && text.contains("total:"), text);
    }
}
