package io.inferex.market;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.HexFormat;

/**
 * A node's Ed25519 identity. The node id is the first 16 hex digits of SHA-256 over the X.509
 * encoding of the public key, so an id cannot be claimed without the key that hashes to it.
 */
public final class NodeIdentity {
    private static final String ALGORITHM = "Ed25519";

    private final KeyPair keyPair;
    private final String nodeId;

    private NodeIdentity(KeyPair keyPair) {
        this.keyPair = keyPair;
        this.nodeId = nodeIdOf(keyPair.getPublic().getEncoded());
    }

    public static NodeIdentity generate() {
        try {
            return new NodeIdentity(KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("JDK lacks Ed25519", e);
        }
    }

    /** Restores an identity from its PKCS#8 private and X.509 public encodings. */
    public static NodeIdentity fromEncoded(byte[] pkcs8Private, byte[] x509Public) {
        try {
            KeyFactory kf = KeyFactory.getInstance(ALGORITHM);
            PrivateKey priv = kf.generatePrivate(new PKCS8EncodedKeySpec(pkcs8Private));
            PublicKey pub = kf.generatePublic(new X509EncodedKeySpec(x509Public));
            return new NodeIdentity(new KeyPair(pub, priv));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not an Ed25519 key pair: " + e.getMessage(), e);
        }
    }

    public String nodeId() {
        return nodeId;
    }

    public byte[] publicKey() {
        return keyPair.getPublic().getEncoded();
    }

    public byte[] privateKey() {
        return keyPair.getPrivate().getEncoded();
    }

    public byte[] sign(byte[] payload) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initSign(keyPair.getPrivate());
            s.update(payload);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("signing failed", e);
        }
    }

    /** The node id a public key hashes to. */
    public static String nodeIdOf(byte[] x509PublicKey) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(x509PublicKey);
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** True only when {@code signature} is a valid Ed25519 signature of {@code payload} by that key. */
    public static boolean verify(byte[] x509PublicKey, byte[] payload, byte[] signature) {
        if (x509PublicKey == null || payload == null || signature == null) {
            return false;
        }
        try {
            PublicKey pub = KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(x509PublicKey));
            Signature s = Signature.getInstance(ALGORITHM);
            s.initVerify(pub);
            s.update(payload);
            return s.verify(signature);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false; // a malformed key or signature from an untrusted node is simply invalid
        }
    }
}
