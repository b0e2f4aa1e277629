package io.inferex.verifier;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.AcceptedResult;
import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEvent;
import io.inferex.events.EpochSecret;
import io.inferex.events.ShardCase;
import io.inferex.events.ShardCaseStatus;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.VerificationIds;
import io.inferex.state.ExpiringKeys;
import io.inferex.verification.SamplingDraw;
import java.time.Duration;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Stage 2, keyed by the shard's task id: keeps each shard's first ACCEPTED result as a
 * {@link ShardCase} and wires {@link ShardCases} to the stores. Inputs: accepted results (originals
 * and re-executions) from stage 1, the epoch secrets the {@link EpochKeeper} sends every task, and
 * the challenges whose bond settlement locked ({@code challenge-bonds}).
 * Time indexes ({@link ExpiringKeys}, one store): window closes, sample/dispute deadlines, cases
 * waiting for their epoch's secret (one namespace per epoch), closed shards, and held secrets; the
 * once-a-second housekeeping reads them up to now, never a whole store.
 */
final class ShardVerifier implements Processor<String, SpecificRecord, String, Object> {
    /** How long a closed shard is remembered, so a later accepted lease of it is not finalized (settlement pays a shard once). */
    static final long DONE_MEMORY_MS = Duration.ofHours(1).toMillis();
    /** How long after its epoch ends a secret is kept. */
    static final long SECRET_MEMORY_MS = Duration.ofDays(1).toMillis();
    private final VerifierTopology.Config config;
    private ShardCases rules;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, ShardCase> cases;
    private KeyValueStore<String, String> secrets;
    private KeyValueStore<String, NodeReputation> reputations;
    private KeyValueStore<String, Long> timerStore;
    private ExpiringKeys windows;
    private ExpiringKeys deadlines;
    private ExpiringKeys done;
    private ExpiringKeys heldSecrets;

    ShardVerifier(VerifierTopology.Config config) {
        this.config = config;
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        rules = new ShardCases(config.shardRules(), VerifierTopology.registry(context.getStateStore(VerifierTopology.MODELS_GLOBAL_STORE)));
        cases = context.getStateStore(VerifierTopology.CASES_STORE);
        secrets = context.getStateStore(VerifierTopology.SECRETS_STORE);
        reputations = context.getStateStore(VerifierTopology.REPUTATION_GLOBAL_STORE);
        timerStore = context.getStateStore(VerifierTopology.CASE_TIMERS_STORE);
        windows = new ExpiringKeys(timerStore, "window");
        deadlines = new ExpiringKeys(timerStore, "deadline");
        done = new ExpiringKeys(timerStore, "done");
        heldSecrets = new ExpiringKeys(timerStore, "secret");
        context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::housekeeping);
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        long now = context.currentSystemTimeMs();
        Outputs out = new Outputs(record.timestamp());
        if (record.value() instanceof EpochSecret epoch) {
            onSecret(epoch, now, out);
        } else if (record.value() instanceof ChallengeBond bond) {
            onBond(record.key(), bond, now, out);
        } else if (record.value() instanceof AcceptedResult r) {
            String shard = record.key();
            if (!r.getShardTaskId().equals(shard)) {
                out.refuse(r, "accepted result " + r.getLeaseId() + " names shard " + r.getShardTaskId() + " under key " + shard);
                return;
            }
            if (!VerificationIds.isVerification(r.getTaskId()) && r.getTaskId().indexOf(VerificationIds.SEPARATOR) >= 0) {
                out.refuse(r, "accepted result " + r.getLeaseId() + " names task " + r.getTaskId() + ", neither a shard nor a verification id");
                return;
            }
            if (VerificationIds.isVerification(r.getTaskId())) {
                if (done.contains(shard)) {
                    return; // a re-execution that was still out when the shard closed: paid as work, nothing left to decide
                }
                ShardCase c = cases.get(shard);
                if (c == null) {
                    // Only a lease the matcher made from one of our tasks can get here; without a case it is stale or forged.
                    out.refuse(r, "verification result " + r.getLeaseId() + " names shard " + shard + ", which has no open verification");
                    return;
                }
                out.current = r;
                store(shard, rules.onVerification(c, r, now, out));
            } else {
                openCase(shard, r, now, out);
            }
        }
    }

    /** Settlement's answer to a challenge: a LOCKED bond reaches the shard's case; a REFUSED one has nothing to do here. */
    private void onBond(String shard, ChallengeBond bond, long now, Outputs out) {
        Challenge ch = bond.getChallenge();
        out.current = bond;
        if (bond.getStatus() == ChallengeBondStatus.REFUSED) {
            return;
        }
        if (bond.getStatus() != ChallengeBondStatus.LOCKED) {
            out.refuse(bond, "challenge bond " + ch.getChallengeId() + " has status " + bond.getStatus() + ", which this verifier does not know");
            return;
        }
        if (!ch.getTaskId().equals(shard) || VerificationIds.isVerification(shard) || shard.indexOf(VerificationIds.SEPARATOR) >= 0) {
            out.refuse(bond, "challenge " + ch.getChallengeId() + " names task " + ch.getTaskId() + " under key " + shard
                    + "; a challenge names a shard under its own id");
            return;
        }
        ShardCase c = cases.get(shard);
        if (c == null) {
            String why = done.contains(shard) ? "the shard's result has been decided (FINAL or FRAUD)"
                    : "no accepted result of " + shard + " is under verification";
            out.outcome(ShardCases.refusedChallenge(ch, null, "challenge refused: " + why, now));
            return;
        }
        store(shard, rules.onChallenge(c, ch, now, out));
    }

    private void openCase(String shard, AcceptedResult r, long now, Outputs out) {
        ShardCase existing = cases.get(shard);
        if (existing != null || done.contains(shard)) {
            String first = existing != null ? existing.getOriginal().getLeaseId() : "an earlier lease";
            if (existing == null || !existing.getOriginal().getLeaseId().equals(r.getLeaseId())) {
                out.refuse(r, "shard " + shard + " already has an accepted result under verification (" + first
                        + "); a second accepted lease of a shard is not finalized (a shard is paid once)");
            }
            return;
        }
        long epoch = Math.floorDiv(r.getAcceptedAtMs(), config.epochLength().toMillis());
        String secret = secrets.get(Long.toString(epoch));
        out.current = r;
        ShardCase c = rules.open(r, reputations.get(r.getNodeId()), epoch, secret, now, out);
        if (c != null) {
            windows.put(shard, c.getWindowClosesAtMs());
            if (c.getStatus() == ShardCaseStatus.AWAITING_SECRET) {
                awaiting(epoch).put(shard, c.getWindowClosesAtMs());
            }
        }
        store(shard, c);
    }

    /** An epoch's secret reached this task: keep it, and decide every case that was waiting for it. */
    private void onSecret(EpochSecret epoch, long now, Outputs out) {
        if (!isHex64(epoch.getSecret()) || !isHex64(epoch.getCommitment()) || !SamplingDraw.opens(epoch.getCommitment(), epoch.getSecret())) {
            out.refuse(epoch, "sampling secret of epoch " + epoch.getEpoch() + " is missing or does not open its commitment");
            return;
        }
        String key = Long.toString(epoch.getEpoch());
        if (secrets.get(key) == null) {
            secrets.put(key, epoch.getSecret());
            // Held as long as the keeper keeps the epoch: a lagging partition still finds the secret of a result's epoch.
            heldSecrets.put(key, ShardCases.saturatedAdd(epoch.getEndMs(), Math.max(config.epochLength().toMillis(), SECRET_MEMORY_MS)));
        }
        awaiting(epoch.getEpoch()).expire(Long.MAX_VALUE, (shard, at) -> {
            ShardCase c = cases.get(shard);
            if (c != null) {
                out.current = c.getOriginal();
                store(shard, rules.withSecret(c, epoch.getSecret(), now, out));
            }
        });
    }

    private static boolean isHex64(String s) {
        return s != null && s.length() == 64 && s.chars().allMatch(ch -> (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
    }

    private ExpiringKeys awaiting(long epoch) {
        return new ExpiringKeys(timerStore, "await-" + epoch);
    }

    /** Writes the case back with its deadline index, or, when closed (null), forgets it and remembers the shard as done. */
    private void store(String shard, ShardCase c) {
        if (c == null) {
            cases.delete(shard);
            windows.remove(shard);
            deadlines.remove(shard);
            done.put(shard, context.currentSystemTimeMs() + DONE_MEMORY_MS);
            return;
        }
        cases.put(shard, c);
        if (c.getDeadlineMs() > 0) {
            deadlines.put(shard, c.getDeadlineMs());
        } else {
            deadlines.remove(shard);
        }
    }

    private void housekeeping(long now) {
        Outputs out = new Outputs(now);
        deadlines.expire(now, (shard, at) -> {
            ShardCase c = cases.get(shard);
            if (c != null) {
                out.current = c.getOriginal();
                store(shard, rules.onDeadline(c, now, out));
            }
        });
        // A window that closes while a sample or dispute is open is re-checked when that resolves.
        windows.expire(now, (shard, at) -> {
            ShardCase c = cases.get(shard);
            if (c != null) {
                out.current = c.getOriginal();
                NodeReputation executor = reputations.get(c.getOriginal().getNodeId());
                store(shard, rules.finalIfDue(c, now, out, executor != null && executor.getBanned()));
            }
        });
        done.expire(now, (shard, at) -> { });
        heldSecrets.expire(now, (epoch, at) -> secrets.delete(epoch));
    }

    /** Forwards a step's outputs; refusals go to the dead letters with the event they are about. */
    private final class Outputs implements ShardCases.Out {
        private final long ts;
        SpecificRecord current;

        Outputs(long ts) {
            this.ts = ts;
        }

        @Override
        public void task(VerificationTask task) {
            context.forward(new Record<>(task.getPoolKey(), task, ts));
        }

        @Override
        public void outcome(VerificationOutcome outcome) {
            context.forward(new Record<>(outcome.getJobId(), outcome, ts));
        }

        @Override
        public void reputation(ReputationEvent event) {
            context.forward(new Record<>(event.getNodeId(), event, ts));
        }

        @Override
        public void refuse(String reason) {
            refuse(current, reason);
        }

        void refuse(SpecificRecord event, String reason) {
            context.forward(Unprocessable.letter(context, event, reason, VerifierTopology.APPLICATION_ID, ts));
        }
    }
}
