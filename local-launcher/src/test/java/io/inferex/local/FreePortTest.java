package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FreePortTest {
    @Test
    void portsHandedOutButNotYetBoundAreNeverHandedOutAgain() {
        // nothing binds them here, as a service's JVM has not yet when the next service gets its port
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 500; i++) {
            ports.add(EmbeddedKafkaBroker.freePort());
        }
        assertEquals(500, ports.size());
    }
}
