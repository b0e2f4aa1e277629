package io.inferex.verification;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.verification.DisputeTally.Decision;
import io.inferex.verification.DisputeTally.Vote;
import java.util.List;
import org.junit.jupiter.api.Test;

class DisputeTallyTest {
    static Vote v(String node, boolean agrees) {
        return v(node, agrees ? DisputeTally.AGREES : 0);
    }

    static Vote v(String node, int group) {
        return new Vote(node, node + "-lease", node + "-digest", group);
    }

    @Test
    void twoAgreeingVotesDecideAndFewerDoNot() {
        assertEquals(Decision.OPEN, DisputeTally.decide(List.of()));
        assertEquals(Decision.OPEN, DisputeTally.decide(List.of(v("a", false))));
        assertEquals(Decision.OPEN, DisputeTally.decide(List.of(v("a", false), v("b", true))));
        assertEquals(Decision.FRAUD, DisputeTally.decide(List.of(v("a", false), v("b", false))));
        assertEquals(Decision.UPHELD, DisputeTally.decide(List.of(v("a", true), v("b", true))));
        assertEquals(Decision.FRAUD, DisputeTally.decide(List.of(v("a", false), v("b", true), v("c", false))));
    }

    @Test
    void refereesWhoDisagreeWithTheExecutorButAlsoWithEachOtherConvictNoOne() {
        assertEquals(Decision.OPEN, DisputeTally.decide(List.of(v("a", 0), v("b", 1))));
        assertEquals(Decision.OPEN, DisputeTally.decide(List.of(v("a", 0), v("b", 1), v("c", true))));
        assertEquals(Decision.FRAUD, DisputeTally.decide(List.of(v("a", 0), v("b", 1), v("c", 1))));
        assertEquals("b-lease", DisputeTally.majorityVote(List.of(v("a", 0), v("b", 1), v("c", 1)), Decision.FRAUD).orElseThrow()
                .leaseId());
        assertEquals(Decision.UPHELD, DisputeTally.decide(List.of(v("a", 0), v("b", 1), v("c", true), v("d", true))));
    }

    @Test
    void theCorrectionComesFromTheMajority() {
        List<Vote> votes = List.of(v("a", true), v("b", false), v("c", false));
        assertEquals("b-lease", DisputeTally.majorityVote(votes, Decision.FRAUD).orElseThrow().leaseId());
        assertEquals("a-lease", DisputeTally.majorityVote(votes, Decision.UPHELD).orElseThrow().leaseId());
        assertTrue(DisputeTally.majorityVote(votes, Decision.OPEN).isEmpty());
    }

    @Test
    void theExecutorTheSamplerAndARepeatVoterAreRefused() {
        assertTrue(DisputeTally.refusal("x", "x", "s", List.of()).orElseThrow().contains("executor"));
        assertTrue(DisputeTally.refusal("s", "x", "s", List.of()).orElseThrow().contains("sampler"));
        assertTrue(DisputeTally.refusal("a", "x", "s", List.of("a")).orElseThrow().contains("already voted"));
        assertTrue(DisputeTally.refusal("b", "x", "s", List.of("a")).isEmpty());
    }
}
