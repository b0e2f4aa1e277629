package io.inferex.matcher;

import io.inferex.deadletter.Unprocessable;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Copies a node's event to each pool it names, once per distinct pool, or dead-letters it when it
 * names more than {@code maxPools} pools: a node's event never becomes thousands of repartition
 * records. Forwards the event (keyed by pool) or an {@link Unprocessable}.
 */
final class FanOut<V extends SpecificRecord> implements Processor<String, V, String, Object> {
    private final int maxPools;
    private final Function<V, List<String>> poolsOf;
    private final String what;
    private ProcessorContext<String, Object> context;

    FanOut(int maxPools, Function<V, List<String>> poolsOf, String what) {
        this.maxPools = maxPools;
        this.poolsOf = poolsOf;
        this.what = what;
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
    }

    @Override
    public void process(Record<String, V> record) {
        List<String> named = poolsOf.apply(record.value());
        if (named.size() > maxPools) { // checked before de-duplicating: the list itself is the bomb
            context.forward(Unprocessable.letter(context, record.value(), what + " of " + record.key() + " names " + named.size()
                    + " pools; at most " + maxPools + " are allowed", MatcherTopology.APPLICATION_ID, record.timestamp()));
            return;
        }
        Set<String> pools = new LinkedHashSet<>(named);
        for (String pool : pools) {
            context.forward(record.withKey(pool).withValue(record.value()));
        }
    }
}
