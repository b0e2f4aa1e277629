package io.inferex.ingest;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.util.List;
import java.util.Optional;

/** {@code inferex.ingest.*} in application.properties. */
@ConfigMapping(prefix = "inferex.ingest")
public interface IngestConfig {
    /** Where files, batches and the result spool live. */
    String dataDir();

    /**
     * Static {@code <customerId>:<sha256 hex of the API key>} entries (the load harness's simulated
     * customers); customers issued by {@code ./inferex customers create} come from the
     * {@code customer-keys} topic instead. None by default.
     */
    Optional<List<String>> apiKeys();

    /**
     * Accept the demo key {@code sk-inferex-demo} for customer {@code demo}. Off by default (and in
     * compose); on only in the tests' profile and for {@code ./inferex demo}.
     */
    @WithDefault("false")
    boolean demoKeyEnabled();

    /** Rows per ShardTask (the last shard may have fewer). */
    @WithDefault("16")
    int rowsPerShard();

    /** Most row payload bytes per ShardTask, so a shard record stays below the broker's 1 MB limit. */
    @WithDefault("524288")
    int maxShardBytes();

    /** Highest price per row a job accepts, in micro-units; escrow = rows x this. */
    @WithDefault("200")
    long maxPricePerRowMicros();

    /**
     * How long a new batch's escrow is held against the customer's balance at most, waiting for the
     * ledger to show it (or settlement to fail the job). Normally the ledger shows it in well under a
     * second; the bound frees what a publish whose outcome was never known held.
     */
    @WithDefault("600000")
    long escrowHoldMs();

    /**
     * How far before the earliest creation time of a batch it follows the tracker starts reading
     * results, verdicts and job-status (the producers' clocks stamp those records); see ReplayStart.
     */
    @WithDefault("300000")
    long replayMarginMs();

    /** How often at most the tracker writes its ledger checkpoint (when the ledger moved since). */
    @WithDefault("30000")
    long ledgerCheckpointIntervalMs();

    /** Most request lines in one batch file. */
    @WithDefault("50000")
    int maxLines();

    /** Most bytes in one line of a batch file. */
    @WithDefault("65536")
    int maxLineBytes();

    /** Most bytes in one batch file: OpenAI's 200 MB (MiB here). */
    @WithDefault("209715200")
    long maxFileBytes();

    /** Placement cell of the shards' pool key. */
    @WithDefault("local")
    String cell();

    /**
     * The producer's transactional.id; default {@code inferex-ingest-<inferex.node.name>} (stable, so a
     * restarted instance fences its predecessor), or a random one when no node name is set.
     */
    Optional<String> transactionalId();

    /**
     * How long a lookup of a file or batch id this instance does not know (and a list) waits until it
     * has read {@code ingest-files}/{@code ingest-batches} up to their end, so that what another
     * instance committed before the request is found (read-your-writes across instances); then 404.
     */
    @WithDefault("3000")
    long readYourWritesWaitMs();

    /**
     * Most per-customer transactional producers ({@link CustomerTransactions}) this instance keeps
     * (least recently used closed first): each has its own network thread and up to 8 MiB of buffer.
     */
    @WithDefault("16")
    int customerProducers();

    /** How long a Kafka call (init, send, commit) may block before the batch is refused with 503. */
    @WithDefault("30000")
    int kafkaTimeoutMs();
}
