package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServiceResourcesTest {
    private static final String METRICS = """
            # HELP jvm_memory_used_bytes The amount of used memory
            # TYPE jvm_memory_used_bytes gauge
            jvm_memory_used_bytes{area="heap",id="Tenured Gen"} 1.2E8
            jvm_memory_used_bytes{area="heap",id="Eden Space"} 3.0E7
            jvm_memory_used_bytes{area="heap",id="Survivor Space"} 5000000.0
            jvm_memory_used_bytes{area="nonheap",id="Metaspace"} 9.0E7
            jvm_memory_used_bytes_total_not_this{area="heap"} 1.0
            jvm_gc_live_data_size_bytes 8.5E7
            """;

    @Test
    void theHeapIsTheSumOfTheHeapPoolsOnlyAndAnAbsentSeriesReadsAsMinusOne() {
        assertEquals(155_000_000L, ServiceResources.sum(METRICS, "jvm_memory_used_bytes", "area=\"heap\""));
        assertEquals(90_000_000L, ServiceResources.sum(METRICS, "jvm_memory_used_bytes", "area=\"nonheap\""));
        assertEquals(85_000_000L, ServiceResources.sum(METRICS, "jvm_gc_live_data_size_bytes", ""));
        assertEquals(-1L, ServiceResources.sum(METRICS, "jvm_threads_live_threads", ""));
    }

    @Test
    void stateSizeCountsTheFilesUnderTheDirectoryButKafkasSparseIndexesAndKeepsItsPeakAndLastSample(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("matcher");
        assertEquals(0, ServiceResources.directoryBytes(state), "not created yet");
        Files.createDirectories(state.resolve("0_1/rocksdb/leases"));
        Files.write(state.resolve("0_1/rocksdb/leases/000001.sst"), new byte[3_000]);
        Files.write(state.resolve("0_1/.checkpoint"), new byte[100]);
        Files.write(state.resolve("0_1/00000000000000000000.index"), new byte[10_000]); // a broker's sparse preallocated index
        Files.write(state.resolve("0_1/00000000000000000000.timeindex"), new byte[10_000]);
        ServiceResources r = new ServiceResources(Map.of(), Map.of("matcher", state), "Bearer x");
        r.sample();
        Files.delete(state.resolve("0_1/rocksdb/leases/000001.sst")); // compacted away
        r.sample();
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) r.summary().get("matcher");
        assertEquals(3_100L, m.get("state-peak-bytes"));
        assertEquals(100L, m.get("state-last-bytes"));
    }
}
