package io.inferex.security;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;

/**
 * The operator's HTTP credential: a random bearer token of which services know only the SHA-256
 * ({@code inferex.operator.token-sha256}). {@link #decide} is the whole gate of an operator
 * service's HTTP server, framework-free: health probes pass, everything else needs
 * {@code Authorization: Bearer <token>} whose hash equals the configured one (compared in
 * constant time over the hashes, so neither the token's content nor its length shows in the
 * timing). With no hash configured nothing but health passes (503): never open by default.
 */
public final class OperatorToken {
    /** The config key every operator service reads. */
    public static final String CONFIG_KEY = "inferex.operator.token-sha256";
    /** What a refused request is told to send. */
    public static final String CHALLENGE = "Bearer realm=\"inferex-operator\"";

    private static final SecureRandom RANDOM = new SecureRandom();
    private final byte[] hash; // null: no operator token configured

    private OperatorToken(byte[] hash) {
        this.hash = hash;
    }

    /**
     * The gate for a configured hash (64 hex digits); empty config means "no operator token": every
     * protected request is refused. A malformed value throws, naming the key, never the value.
     */
    public static OperatorToken fromConfig(Optional<String> sha256Hex) {
        String hex = sha256Hex.map(String::trim).orElse("");
        if (hex.isEmpty()) {
            return new OperatorToken(null);
        }
        hex = hex.toLowerCase(Locale.ROOT);
        if (!hex.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException(CONFIG_KEY + " must be the 64-hex-digit SHA-256 of the operator token "
                    + "(the token itself is never configured)");
        }
        return new OperatorToken(HexFormat.of().parseHex(hex));
    }

    /** A fresh token: 32 random bytes, base64url without padding (43 characters). */
    public static String generate() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /** SHA-256 of the token's UTF-8 bytes, lowercase hex: what a service is configured with. */
    public static String sha256Hex(String token) {
        return HexFormat.of().formatHex(sha256(token));
    }

    /** Whether health probes, and only they, pass without a credential: {@code /q/health} and below. */
    public static boolean isOpenPath(String normalizedPath) {
        return normalizedPath != null && (normalizedPath.equals("/q/health") || normalizedPath.startsWith("/q/health/"));
    }

    public boolean configured() {
        return hash != null;
    }

    /** Whether this header carries the operator token. */
    public boolean accepts(String authorizationHeader) {
        String token = Bearer.token(authorizationHeader);
        if (hash == null || token == null) {
            return false;
        }
        return MessageDigest.isEqual(hash, sha256(token));
    }

    /** What to do with a request: pass it on, or answer with this status, challenge and JSON body. */
    public record Decision(boolean allowed, int status, String body) {
        static final Decision ALLOW = new Decision(true, 200, null);

        /** A 401 carries {@code WWW-Authenticate: }{@link #CHALLENGE}. */
        public boolean challenges() {
            return status == 401;
        }
    }

    /** The gate: {@code path} as the server normalized it, {@code authorizationHeader} as received (or null). */
    public Decision decide(String normalizedPath, String authorizationHeader) {
        if (isOpenPath(normalizedPath)) {
            return Decision.ALLOW;
        }
        if (hash == null) {
            return refusal(503, "operator_token_not_configured",
                    "operator endpoints of this service are disabled",
                    "no operator token hash is configured (" + CONFIG_KEY + "); they are never open without one");
        }
        if (Bearer.token(authorizationHeader) == null) {
            return refusal(401, "missing_operator_token", "this endpoint needs the operator credential",
                    "no 'Authorization: Bearer <operator token>' header");
        }
        if (!accepts(authorizationHeader)) {
            return refusal(401, "invalid_operator_token", "this endpoint needs the operator credential",
                    "the bearer token is not the operator token");
        }
        return Decision.ALLOW;
    }

    private static Decision refusal(int status, String code, String what, String why) {
        // Constant texts only: nothing from the request is echoed, so no escaping is needed.
        return new Decision(false, status,
                "{\"error\":{\"code\":\"" + code + "\",\"what\":\"" + what + "\",\"why\":\"" + why + "\"}}");
    }

    private static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
