package io.inferex.ingest;

import io.inferex.events.ModelRegistered;
import io.inferex.market.ModelRegistry;
import io.inferex.topics.Topics;
import io.inferex.wire.UndecodableRecordException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Map;
import org.jboss.logging.Logger;

/**
 * Follows the model registry ({@code models}, compacted) into a {@link ModelRegistry.Book}
 * ({@link CompactedTopicFeed}): batch lines may name any model of the registry. Ingest is the
 * reader that dead-letters a refused registration (malformed, a built-in id, a second model under a
 * registered id, a tombstone) with {@link ModelRegistry#decide}'s reason.
 */
@ApplicationScoped
public class ModelFeed extends CompactedTopicFeed<ModelRegistered> {
    private static final Logger LOG = Logger.getLogger(ModelFeed.class);

    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    Map<String, Object> kafka;

    private final ModelRegistry.Book book = new ModelRegistry.Book();

    public ModelFeed() {
        super(Topics.MODELS);
    }

    void onStart(@Observes StartupEvent ev) {
        start();
    }

    void onStop(@Observes ShutdownEvent ev) throws InterruptedException {
        stop();
    }

    @Override
    protected Map<String, Object> kafka() {
        return kafka;
    }

    @Override
    protected void apply(String key, ModelRegistered value) {
        if (book.apply(key, value) instanceof ModelRegistry.Decision.Refuse r) {
            throw new UndecodableRecordException("model registration " + key + " refused: " + r.reason(), null);
        }
    }

    @Override
    protected void caughtUp() {
        LOG.infof("model registrations read: %d", book.size());
    }

    /** The built-in models and every registration read so far. */
    public ModelRegistry registry() {
        return book.registry();
    }

    public int registrations() {
        return book.size();
    }
}
