package io.inferex.verifier;

import io.inferex.events.EpochSecret;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.Verdict;
import io.inferex.state.ExpiringKeys;
import io.inferex.verification.SamplingDraw;
import java.security.SecureRandom;
import java.time.Duration;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The sampling epochs' keeper, in a sub-topology of exactly one task (its source is a one-partition
 * internal topic), so every epoch has one secret. On the wall clock, every second: the current and
 * the next epoch get a secret (32 bytes from {@link SecureRandom}), kept in this task's store (its
 * changelog survives restarts); its commitment is published on {@code sampling-epochs} and the
 * secret is sent to every per-shard task over a private internal topic. An epoch's secret is
 * published {@code revealDelay} after the epoch ends. Epochs are forgotten a day after their reveal.
 */
final class EpochKeeper implements Processor<String, Verdict, String, Object> {
    static final long FORGET_AFTER_REVEAL_MS = Duration.ofDays(1).toMillis();
    private final VerifierTopology.Config config;
    private final SecureRandom random = new SecureRandom();
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, SamplingEpoch> epochs;
    private ExpiringKeys reveals;
    private ExpiringKeys forgets;

    /** A record for {@code sampling-epochs} (commitment, later the reveal). */
    record Published(SamplingEpoch epoch) {}

    /** A secret for the per-shard tasks (private). */
    record ToShards(EpochSecret secret) {}

    EpochKeeper(VerifierTopology.Config config) {
        this.config = config;
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        epochs = context.getStateStore(VerifierTopology.EPOCHS_STORE);
        KeyValueStore<String, Long> timers = context.getStateStore(VerifierTopology.EPOCH_TIMERS_STORE);
        reveals = new ExpiringKeys(timers, "reveal");
        forgets = new ExpiringKeys(timers, "forget");
        context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::tick);
    }

    @Override
    public void process(Record<String, Verdict> record) {
        // The source only gives this processor its single task; nothing is sent on it.
    }

    private void tick(long now) {
        long length = config.epochLength().toMillis();
        long current = Math.floorDiv(now, length);
        for (long e = current; e <= current + 1; e++) {
            ensure(e, length, now);
        }
        reveals.expire(now, (key, at) -> {
            SamplingEpoch kept = epochs.get(key);
            if (kept != null) {
                SamplingEpoch reveal = SamplingEpoch.newBuilder(kept).setPublishedAtMs(now).build();
                context.forward(new Record<>(key, new Published(reveal), now));
                forgets.put(key, ShardCases.saturatedAdd(now, FORGET_AFTER_REVEAL_MS));
            }
        });
        forgets.expire(now, (key, at) -> epochs.delete(key));
    }

    private void ensure(long epoch, long length, long now) {
        String key = Long.toString(epoch);
        if (epochs.get(key) != null || forgets.contains(key)) {
            return;
        }
        String secret = SamplingDraw.newSecret(random);
        SamplingEpoch kept = SamplingEpoch.newBuilder().setEpoch(epoch).setStartMs(epoch * length).setEndMs((epoch + 1) * length)
                .setCommitment(SamplingDraw.commitment(secret)).setSecret(secret).setPublishedAtMs(now).build();
        epochs.put(key, kept);
        reveals.put(key, ShardCases.saturatedAdd(kept.getEndMs(), config.revealDelay().toMillis()));
        // Commitment first: the per-shard tasks can use the secret only after this transaction commits, commitment included.
        context.forward(new Record<>(key, new Published(SamplingEpoch.newBuilder(kept).setSecret(null).build()), now));
        context.forward(new Record<>(key, new ToShards(EpochSecret.newBuilder().setSecret(secret).setEpoch(epoch)
                .setEndMs(kept.getEndMs()).setCommitment(kept.getCommitment()).build()), now));
    }
}
