package io.inferex.ledger;

import java.time.Duration;

/**
 * Settlement knobs. {@code feeBps}: protocol fee in basis points of each payout;
 * {@code paymentReplayWindow}: how long a payment id (and a paid verification lease) is
 * remembered (older ones are refused); {@code slashRewardBps}: share of a slashed stake that
 * goes to the outcome's reward account; {@code unstakeCooldown}: how long unstaked stake stays
 * slashable before it is released, which must be longer than the verifier's
 * {@code challengeWindow}, or a node could unstake before its last results are final;
 * {@code finalityGrace}: how long a job whose completion window passed with accepted but not
 * yet final shards waits for their outcomes (longer than the challenge window, too);
 * {@code cancelGrace}: how long a job the customer cancelled stays cancelling before it is closed
 * like an expired one, so that shards already leased can finish and be verified (longer than the
 * matcher's lease timeout, then the finality grace applies to accepted shards as at expiry).
 */
public record LedgerConfig(int feeBps, Duration paymentReplayWindow, int slashRewardBps, Duration unstakeCooldown,
        Duration challengeWindow, Duration finalityGrace, Duration cancelGrace) {
    /** How long applied payment ids are kept; a payment made longer ago is refused as a possible replay. */
    public static final Duration DEFAULT_PAYMENT_REPLAY_WINDOW = Duration.ofDays(30);

    public static final int DEFAULT_SLASH_REWARD_BPS = 5_000;
    public static final Duration DEFAULT_UNSTAKE_COOLDOWN = Duration.ofMinutes(30);
    /** Must equal the verifier's {@code inferex.verifier.challenge-window}. */
    public static final Duration DEFAULT_CHALLENGE_WINDOW = Duration.ofMinutes(10);
    public static final Duration DEFAULT_FINALITY_GRACE = Duration.ofHours(1);
    /** Twice the matcher's default lease timeout (60 s): a shard leased just before the cancel can still answer. */
    public static final Duration DEFAULT_CANCEL_GRACE = Duration.ofMinutes(2);

    public LedgerConfig {
        if (feeBps < 0 || feeBps > 10_000) {
            throw new IllegalArgumentException("fee must be 0..10000 basis points, got " + feeBps);
        }
        if (slashRewardBps < 0 || slashRewardBps > 10_000) {
            throw new IllegalArgumentException("slash reward must be 0..10000 basis points, got " + slashRewardBps);
        }
        for (Duration d : new Duration[] {paymentReplayWindow, unstakeCooldown, challengeWindow, finalityGrace, cancelGrace}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("settlement durations must be positive, got " + d);
            }
        }
        if (unstakeCooldown.compareTo(challengeWindow) <= 0) {
            throw new IllegalArgumentException("unstake cooldown " + unstakeCooldown + " must be longer than the challenge window "
                    + challengeWindow + ": stake must stay slashable until every result it backed is final");
        }
        if (finalityGrace.compareTo(challengeWindow) <= 0) {
            throw new IllegalArgumentException("finality grace " + finalityGrace + " must be longer than the challenge window "
                    + challengeWindow + ": a shard accepted at the deadline must be able to become final");
        }
    }

    /** With the default cancel grace. */
    public LedgerConfig(int feeBps, Duration paymentReplayWindow, int slashRewardBps, Duration unstakeCooldown,
            Duration challengeWindow, Duration finalityGrace) {
        this(feeBps, paymentReplayWindow, slashRewardBps, unstakeCooldown, challengeWindow, finalityGrace, DEFAULT_CANCEL_GRACE);
    }

    public LedgerConfig(int feeBps, Duration paymentReplayWindow) {
        this(feeBps, paymentReplayWindow, DEFAULT_SLASH_REWARD_BPS, DEFAULT_UNSTAKE_COOLDOWN, DEFAULT_CHALLENGE_WINDOW,
                DEFAULT_FINALITY_GRACE);
    }

    public LedgerConfig(int feeBps) {
        this(feeBps, DEFAULT_PAYMENT_REPLAY_WINDOW);
    }
}
