package io.inferex.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.events.Challenge;
import io.inferex.events.InputRow;
import io.inferex.events.ShardResult;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import io.inferex.market.Accounts;
import io.inferex.market.OutputDigest;
import io.inferex.market.Pools;
import io.inferex.topics.Topics;
import io.inferex.verification.ChallengeBonds;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jboss.logging.Logger;

/**
 * Files a customer's challenge of the result behind one line of their batch. The challenge names the
 * line's shard (a result is re-executed, and paid for, a shard at a time), carries as evidence the
 * shard's inputs (re-read from the stored input file with the batch's own shard plan) and the output
 * rows the customer received (the delivered result, spooled until verification is over), and posts
 * the bond {@link ChallengeBonds#required}. Settlement locks the bond or refuses; the verifier
 * disputes it. What became of it is in the {@link ChallengeBook}.
 */
@ApplicationScoped
public class ChallengeService {
    private static final Logger LOG = Logger.getLogger(ChallengeService.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int MAX_REASON_CHARS = 2_000;

    @Inject
    IngestConfig config;

    @Inject
    IngestStore stores;

    @Inject
    TransactionalProducer producer;

    @Inject
    MarketTracker tracker;

    public ChallengeBook.View file(String customerId, String batchId, String body) {
        JsonNode req;
        try {
            req = JSON.readTree(body == null ? "" : body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ApiException.invalid(null, "invalid_json", "The request body is not valid JSON: " + e.getOriginalMessage());
        }
        if (req == null || !req.isObject()) {
            throw ApiException.invalid(null, "invalid_json", "The request body must be a JSON object.");
        }
        JsonNode cid = req.get("custom_id");
        if (cid == null || !cid.isTextual() || cid.asText().isEmpty()) {
            throw ApiException.invalid("custom_id", "missing_required_parameter",
                    "Missing required parameter: 'custom_id' (the line of the batch whose result is challenged).");
        }
        JsonNode why = req.get("reason");
        if (why != null && !why.isNull() && !why.isTextual()) {
            throw ApiException.invalid("reason", "invalid_type", "'reason' must be a string.");
        }
        String reason = why == null || why.isNull() ? "" : why.asText();
        if (reason.length() > MAX_REASON_CHARS) {
            throw ApiException.invalid("reason", "invalid_value", "'reason' is longer than " + MAX_REASON_CHARS + " characters.");
        }
        StoredBatch b = owned(customerId, batchId);
        if (b.finalized() && !b.awaitsVerification()) {
            throw conflict("batch_not_challengeable", "Batch " + batchId + " is " + b.finalStatus()
                    + (OutputFileWriter.FINAL.equals(b.verification()) ? " and its results are final" : "")
                    + ": a result can be challenged only until its challenge window closes.");
        }
        String customId = cid.asText();
        Shard shard = shardOf(b, customId);
        ShardResult delivered = tracker.delivered(b.id(), shard.index()).orElseThrow(() -> conflict("no_result_yet",
                "The line '" + customId + "' has no delivered result yet: there is nothing to challenge."));
        long now = System.currentTimeMillis();
        List<InputRow> inputs = ShardPlanner.task(b.id(), shard.index(), b.shardCount(), b.model(),
                Pools.poolKey(b.model(), config.cell()), b.maxPricePerRowMicros(), shard.lines(), now).getRows();
        long bond = ChallengeBonds.required(inputs.size(), b.maxPricePerRowMicros());
        long available = tracker.spendable(customerId).orElse(0L); // less the escrows held for batches being accepted
        if (available < bond) {
            throw new ApiException(402, OpenAiObjects.error(String.format(Locale.ROOT,
                    "A challenge of this line's shard (%d rows) needs a bond of %d micro-units; your available balance is %d.",
                    inputs.size(), bond, available), "invalid_request_error", "insufficient_funds", null));
        }
        String taskId = ShardPlanner.taskId(b.id(), shard.index(), b.shardCount());
        String id = "chl_" + FileStore.randomHex(12);
        Challenge c = Challenge.newBuilder().setChallengeId(id).setTaskId(taskId).setJobId(b.id())
                .setChallengerId(Accounts.customer(customerId)).setBondMicros(bond).setReason(reason).setCreatedAtMs(now)
                .setOutputDigest(OutputDigest.of(delivered.getRows())).setInputRows(new ArrayList<>(inputs))
                .setRows(new ArrayList<>(delivered.getRows())).build();
        try {
            producer.inTransactionSlot(p -> {
                JobPublisher.publishOne(p, Topics.CHALLENGES, taskId, c, "challenge " + id);
                return null;
            });
        } catch (JobPublisher.PublishFailedException e) {
            LOG.errorf(e, "challenge %s of %s was not published", id, taskId);
            throw ApiException.unavailable(e.outcomeUnknown()
                    ? "The challenge " + id + " was sent but the cluster did not confirm it in time; check GET /v1/batches/"
                            + batchId + "/challenges before filing it again."
                    : "The challenge could not be submitted (nothing was published or locked); retry shortly.");
        }
        ChallengeBook.View v = new ChallengeBook.View(id, b.id(), taskId, customId, Accounts.customer(customerId), bond,
                ChallengeBook.Status.SUBMITTED, reason, "waiting for settlement to lock the bond", now, now);
        tracker.challenges().filed(v);
        LOG.infof("customer %s challenged %s (line %s), bond %d micros: %s", customerId, taskId, customId, bond, id);
        return tracker.challenges().get(id).orElse(v);
    }

    public List<ChallengeBook.View> list(String customerId, String batchId) {
        owned(customerId, batchId);
        return tracker.challenges().ofBatch(batchId);
    }

    public ChallengeBook.View get(String customerId, String batchId, String challengeId) {
        owned(customerId, batchId);
        return tracker.challenges().get(challengeId).filter(v -> v.batchId().equals(batchId))
                .orElseThrow(() -> ApiException.notFound("Challenge", challengeId));
    }

    private StoredBatch owned(String customerId, String batchId) {
        return stores.batch(batchId).filter(x -> x.customerId().equals(customerId))
                .orElseThrow(() -> ApiException.notFound("Batch", batchId));
    }

    private record Shard(int index, List<RequestLine> lines) {}

    /** The shard holding {@code customId}, cut from the stored input exactly as it was published. */
    private Shard shardOf(StoredBatch b, String customId) {
        StoredFile input = stores.store().file(b.inputFileId())
                .orElseThrow(() -> conflict("input_file_gone", "The input file " + b.inputFileId() + " of batch " + b.id() + " is gone."));
        ShardPlanner planner = new ShardPlanner(b.rowsPerShard(), b.maxShardBytes());
        Shard[] found = {null};
        ShardPlanner.Cutter cutter = planner.cutter((index, lines) -> {
            if (found[0] == null && lines.stream().anyMatch(l -> l.customId().equals(customId))) {
                found[0] = new Shard(index, List.copyOf(lines));
            }
        });
        try (InputStream in = Files.newInputStream(stores.store().content(input))) {
            BatchFileValidator.Result r = stores.validator().validate(in, cutter::add);
            cutter.finish();
            if (!r.ok()) {
                throw new IllegalStateException("input file " + input.id() + " of " + b.id() + " no longer validates");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the input of " + b.id(), e);
        }
        if (found[0] == null) {
            throw ApiException.invalid("custom_id", "invalid_value", "Batch " + b.id() + " has no line with custom_id '" + customId + "'.");
        }
        return found[0];
    }

    private static ApiException conflict(String code, String message) {
        return new ApiException(409, OpenAiObjects.error(message, "invalid_request_error", code, null));
    }

    /** The API object of a challenge. */
    static ObjectNode view(ChallengeBook.View v) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", v.id());
        o.put("object", "inferex.challenge");
        o.put("batch_id", v.batchId());
        o.put("task_id", v.taskId());
        if (v.customId() == null) {
            o.putNull("custom_id");
        } else {
            o.put("custom_id", v.customId());
        }
        o.put("bond_micros", v.bondMicros());
        o.put("status", v.status().name().toLowerCase(Locale.ROOT));
        o.put("reason", v.reason());
        o.put("detail", v.detail());
        o.put("created_at", v.createdAtMs() / 1000);
        o.put("updated_at", v.updatedAtMs() / 1000);
        return o;
    }
}
