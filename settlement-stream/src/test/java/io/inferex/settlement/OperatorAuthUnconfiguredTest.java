package io.inferex.settlement;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;

import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.security.OperatorToken;
import io.inferex.testing.OperatorGateContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Settlement started without an operator token hash: its ledger is closed to everyone, health still answers. */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "settlement"))
@TestProfile(OperatorAuthUnconfiguredTest.NoOperatorToken.class)
class OperatorAuthUnconfiguredTest {
    public static class NoOperatorToken implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(OperatorToken.CONFIG_KEY, "");
        }
    }

    @Test
    void withoutAConfiguredHashTheLedgerIsClosedNotOpen() {
        given().get("/ledger/balances").then().statusCode(503).body("error.code", equalTo("operator_token_not_configured"));
        given().header("Authorization", "Bearer " + OperatorGateContract.TOKEN).get("/ledger/balances").then().statusCode(503);
        given().header("Authorization", "Bearer " + OperatorGateContract.TOKEN).get("/ledger/jobs/x").then().statusCode(503);
        given().get("/q/health/live").then().statusCode(200);
    }
}
