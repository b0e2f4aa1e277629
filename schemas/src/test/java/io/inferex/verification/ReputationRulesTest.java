package io.inferex.verification;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEventKind;
import org.junit.jupiter.api.Test;

class ReputationRulesTest {
    @Test
    void aNewNodeStartsAtTheInitialScoreAndMovesByTheEwma() {
        NodeReputation r = ReputationRules.apply(null, "n", ReputationEventKind.FORM_ACCEPTED, null, 5);
        assertEquals(ReputationRules.INITIAL_SCORE * (1 - ReputationRules.ALPHA) + ReputationRules.ALPHA, r.getScore(), 1e-12);
        assertEquals(1, r.getObservations());
        assertEquals(5, r.getUpdatedAtMs());
        NodeReputation down = ReputationRules.apply(r, "n", ReputationEventKind.REFEREE_OUTVOTED, null, 6);
        assertEquals(r.getScore() * (1 - ReputationRules.ALPHA), down.getScore(), 1e-12);
    }

    @Test
    void everyKindHasADirectionAndGoodEventsRaiseBadOnesLower() {
        for (ReputationEventKind k : ReputationEventKind.values()) {
            if (k == ReputationEventKind.UNKNOWN || k == ReputationEventKind.FRAUD) {
                continue;
            }
            NodeReputation after = ReputationRules.apply(null, "n", k, null, 1);
            assertTrue(ReputationRules.sign(k) > 0 ? after.getScore() > ReputationRules.INITIAL_SCORE
                    : after.getScore() < ReputationRules.INITIAL_SCORE, k.toString());
        }
    }

    @Test
    void fraudBansForGoodAndNothingLaterLiftsIt() {
        NodeReputation r = ReputationRules.apply(null, "n", ReputationEventKind.FORM_ACCEPTED, null, 1);
        NodeReputation banned = ReputationRules.apply(r, "n", ReputationEventKind.FRAUD, "2 referees disagree", 2);
        assertTrue(banned.getBanned());
        assertEquals(0.0, banned.getScore());
        assertEquals("2 referees disagree", banned.getReason());
        for (int i = 0; i < 100; i++) {
            banned = ReputationRules.apply(banned, "n", ReputationEventKind.SAMPLE_AGREED, null, 3 + i);
        }
        assertTrue(banned.getBanned());
        assertEquals(0.0, banned.getScore());
    }

    @Test
    void anUnknownKindIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ReputationRules.apply(null, "n", ReputationEventKind.UNKNOWN, null, 1));
    }
}
