package io.inferex.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

class StreamHealthTest {

    @Test
    void anAppThatStoppedProcessingIsNeitherReadyNorLive() {
        for (State s : new State[] {State.ERROR, State.PENDING_ERROR, State.NOT_RUNNING, State.PENDING_SHUTDOWN}) {
            assertEquals(new StreamHealth(s.name(), false, false), StreamHealth.of(s), s.name());
        }
    }

    @Test
    void aProcessingAppIsReadyAndLiveAndAStartingOneIsLiveButNotReady() {
        assertEquals(new StreamHealth("RUNNING", true, true), StreamHealth.of(State.RUNNING));
        assertEquals(new StreamHealth("REBALANCING", true, true), StreamHealth.of(State.REBALANCING));
        assertEquals(new StreamHealth("CREATED", false, true), StreamHealth.of(State.CREATED));
    }
}
