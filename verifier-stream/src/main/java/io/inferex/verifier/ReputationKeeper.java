package io.inferex.verifier;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEvent;
import io.inferex.events.ReputationEventKind;
import io.inferex.verification.ReputationRules;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/** Stage 3, keyed by node id: folds each {@link ReputationEvent} into the node's score ({@link ReputationRules}) and publishes it. */
final class ReputationKeeper implements Processor<String, ReputationEvent, String, Object> {
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, NodeReputation> scores;

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        scores = context.getStateStore(VerifierTopology.REPUTATION_STORE);
    }

    @Override
    public void process(Record<String, ReputationEvent> record) {
        ReputationEvent e = record.value();
        if (e.getKind() == ReputationEventKind.UNKNOWN || !e.getNodeId().equals(record.key())) {
            context.forward(Unprocessable.letter(context, e, "reputation event of kind " + e.getKind() + " for node " + e.getNodeId()
                    + " under key " + record.key() + " cannot be applied", VerifierTopology.APPLICATION_ID, record.timestamp()));
            return;
        }
        NodeReputation before = scores.get(e.getNodeId());
        NodeReputation after = ReputationRules.apply(before, e.getNodeId(), e.getKind(), e.getReason(), e.getAtMs());
        if (!after.equals(before)) {
            scores.put(e.getNodeId(), after);
            context.forward(new Record<>(e.getNodeId(), after, record.timestamp()));
        }
    }
}
