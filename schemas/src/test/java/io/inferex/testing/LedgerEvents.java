package io.inferex.testing;

import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;

/** The settlement's input events as tests build them: the ledger rules' unit tests and the settlement topology tests share them. */
public final class LedgerEvents {
    private LedgerEvents() {}

    public static Payment deposit(String id, String account, long amount) {
        return Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(PaymentKind.DEPOSIT)
                .setAmountMicros(amount).setAtMs(System.currentTimeMillis()).build();
    }

    public static JobSubmitted job(String id, String customer, int rows, int shards, long maxPrice) {
        return JobSubmitted.newBuilder().setJobId(id).setCustomerId(customer).setInputFileId("f").setEndpoint("/v1/embeddings")
                .setModel("all-MiniLM-L6-v2").setRowCount(rows).setShardCount(shards).setMaxPricePerRowMicros(maxPrice)
                .setEscrowMicros(rows * maxPrice).setInputDigest("d").setCompletionWindow("24h").setSubmittedAtMs(2).build();
    }

    public static VerificationOutcome outcome(String id, OutcomeKind kind, String job, String task, String node, int rows, long price) {
        return VerificationOutcome.newBuilder().setOutcomeId(id).setKind(kind).setTaskId(task).setJobId(job).setLeaseId(task + "#1")
                .setNodeId(node).setPoolKey("all-MiniLM-L6-v2@local").setRowCount(rows).setPricePerRowMicros(price)
                .setOutputDigest("digest").setSampled(false).setSamplingEpoch(0).setSamplingProbability(0.1).setReason("test")
                .setDecidedAtMs(System.currentTimeMillis()).build();
    }

    public static Verdict verdict(String id, String job, String task, String node, VerdictOutcome outcome, int rows, long price) {
        return Verdict.newBuilder().setVerdictId(id).setTaskId(task).setJobId(job).setLeaseId(task + "#1").setNodeId(node)
                .setPoolKey("all-MiniLM-L6-v2@local").setOutcome(outcome).setReason("test").setRowCount(rows)
                .setPricePerRowMicros(price).setDecidedAtMs(3).build();
    }
}
