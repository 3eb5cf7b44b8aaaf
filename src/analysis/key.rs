//! Private keys: just enough parsing to learn the public half, so a key can be matched to a
//! certificate without any private material leaving this module. Nothing here ever formats
//! key bytes into a message.

use super::cert::{bit_length, curve_name, strip_zeros, KeyAlgorithm, PublicKey};
use super::pem::PemBlock;
use pkcs8::der::Decode;

/// RSA keys above this size are refused rather than parsed (bounded work on hostile input).
pub const MAX_RSA_BITS: usize = 16384;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub algorithm: KeyAlgorithm,
    /// The digest of the public half ([`PublicKey`]), never the key's bytes.
    pub public: PublicKey,
    /// "PKCS#1", "PKCS#8", "SEC1".
    pub encoding: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Encrypted,
    /// DSA (`BEGIN DSA PRIVATE KEY` or PKCS#8 with the DSA OID).
    Dsa,
    NotAKey {
        label: String,
    },
    Invalid {
        encoding: &'static str,
    },
    Unsupported {
        algorithm: String,
    },
    TooLarge {
        bits: usize,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Encrypted => f.write_str("is encrypted; Envoy cannot load a key that needs a passphrase (decrypt it with `openssl pkey -in KEY -out KEY.plain`)"),
            KeyError::Dsa => f.write_str("is a DSA key; DSA keys are not supported by Envoy (or TLS 1.3): issue an ECDSA P-256 or RSA 2048 key instead"),
            KeyError::NotAKey { label } => write!(f, "holds a {label} block, not a private key"),
            KeyError::Invalid { encoding } => write!(f, "is not a valid {encoding} private key"),
            KeyError::Unsupported { algorithm } => write!(f, "uses an unsupported key algorithm ({algorithm})"),
            KeyError::TooLarge { bits } => write!(f, "is an RSA key of {bits} bits, above the {MAX_RSA_BITS}-bit limit"),
        }
    }
}

/// Reads the first private-key block of a PEM bundle.
pub fn parse(block: &PemBlock) -> Result<KeyFacts, KeyError> {
    match block.label.as_str() {
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
        _ if block.encrypted_header => Err(KeyError::Encrypted),
        "RSA PRIVATE KEY" => rsa_pkcs1(&block.der, "PKCS#1"),
        "EC PRIVATE KEY" => ec_sec1(&block.der, None, "SEC1"),
        "PRIVATE KEY" => pkcs8(&block.der),
        "DSA PRIVATE KEY" => Err(KeyError::Dsa),
        other => Err(KeyError::NotAKey {
            label: other.to_string(),
        }),
    }
}

fn rsa_pkcs1(der: &[u8], encoding: &'static str) -> Result<KeyFacts, KeyError> {
    let key = pkcs1::RsaPrivateKey::from_der(der).map_err(|_| KeyError::Invalid { encoding })?;
    let n = strip_zeros(key.modulus.as_bytes());
    let bits = bit_length(n);
    if bits > MAX_RSA_BITS {
        return Err(KeyError::TooLarge { bits });
    }
    let e = strip_zeros(key.public_exponent.as_bytes());
    Ok(KeyFacts {
        algorithm: KeyAlgorithm::Rsa { bits },
        public: PublicKey::rsa(n, e),
        encoding,
    })
}

fn ec_sec1(
    der: &[u8],
    curve_oid: Option<String>,
    encoding: &'static str,
) -> Result<KeyFacts, KeyError> {
    let key = sec1::EcPrivateKey::from_der(der).map_err(|_| KeyError::Invalid { encoding })?;
    let oid = key
        .parameters
        .and_then(|p| p.named_curve())
        .map(|o| o.to_string())
        .or(curve_oid)
        .ok_or(KeyError::Invalid { encoding })?;
    let curve = curve_name(&oid);
    let point = match key.public_key {
        Some(p) => p.to_vec(),
        // The public point is optional in SEC1; derive it when a tool left it out.
        None => derive_ec_point(&curve, der).ok_or(KeyError::Invalid { encoding })?,
    };
    Ok(KeyFacts {
        public: PublicKey::ec(&curve, &point),
        algorithm: KeyAlgorithm::Ec { curve },
        encoding,
    })
}

fn derive_ec_point(curve: &str, sec1_der: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    let alg = match curve {
        "P-256" => &ECDSA_P256_SHA256_ASN1_SIGNING,
        "P-384" => &ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => return None,
    };
    let pair = EcdsaKeyPair::from_private_key_der(alg, sec1_der).ok()?;
    Some(pair.public_key().as_ref().to_vec())
}

fn pkcs8(der: &[u8]) -> Result<KeyFacts, KeyError> {
    let encoding = "PKCS#8";
    let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|_| KeyError::Invalid { encoding })?;
    match info.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => rsa_pkcs1(info.private_key, encoding),
        "1.2.840.10045.2.1" => {
            let curve = info.algorithm.parameters_oid().ok().map(|o| o.to_string());
            ec_sec1(info.private_key, curve, encoding)
        }
        "1.3.101.112" => {
            let public = match info.public_key {
                Some(p) => p.to_vec(),
                None => derive_ed25519(info.private_key).ok_or(KeyError::Invalid { encoding })?,
            };
            Ok(KeyFacts {
                algorithm: KeyAlgorithm::Ed25519,
                public: PublicKey::ed25519(&public),
                encoding,
            })
        }
        "1.2.840.10040.4.1" => Err(KeyError::Dsa),
        other => Err(KeyError::Unsupported {
            algorithm: other.to_string(),
        }),
    }
}

/// RFC 8410: the private key is an OCTET STRING holding the 32-byte seed.
fn derive_ed25519(private_key: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let seed = pkcs8::der::asn1::OctetStringRef::from_der(private_key).ok()?;
    let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_bytes()).ok()?;
    Some(pair.public_key().as_ref().to_vec())
}

/// Does the private key belong to the certificate? By the digests of their public material:
/// EC points as encoded, which is how every common tool writes them (uncompressed).
pub fn matches(key: &KeyFacts, cert_key: &PublicKey) -> bool {
    key.public == *cert_key
}

/// Why a PEM private key cannot serve with a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairError {
    /// The bytes do not split into PEM blocks (the reason, never the bytes).
    NotPem(String),
    NoKeyBlock,
    Key(KeyError),
    /// The key is readable and belongs to another certificate.
    Mismatch {
        facts: KeyFacts,
    },
}

impl PairError {
    /// The finding code of this failure, the same in every door: an encrypted key is
    /// `key-encrypted`, another certificate's key `key-mismatch`, anything unreadable
    /// `secret-malformed`.
    pub fn code(&self) -> crate::finding::Code {
        use crate::finding::Code;
        match self {
            PairError::Key(KeyError::Encrypted) => Code::KeyEncrypted,
            PairError::Mismatch { .. } => Code::KeyMismatch,
            _ => Code::SecretMalformed,
        }
    }
}

impl std::fmt::Display for PairError {
    /// The predicate after the key's name: "`tls.key` is encrypted; …".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PairError::NotPem(e) => f.write_str(e),
            PairError::NoKeyBlock => f.write_str("holds no PRIVATE KEY block"),
            PairError::Key(e) => e.fmt(f),
            PairError::Mismatch { facts } => write!(
                f,
                "({} {}) does not belong to the certificate",
                facts.algorithm, facts.encoding
            ),
        }
    }
}

/// The one key↔certificate rule: reads the first private-key block of `bytes` and, when
/// `cert_key` is given, checks that it is that certificate's key. Used by the analysis of
/// Secrets, the audit of kubeadm PKI and kubeconfigs, and so by every door.
pub fn check_pair(bytes: &[u8], cert_key: Option<&PublicKey>) -> Result<KeyFacts, PairError> {
    check_facts(read(bytes)?, cert_key)
}

/// The public facts of the first private key in a PEM bundle.
pub fn read(bytes: &[u8]) -> Result<KeyFacts, PairError> {
    let blocks = super::pem::parse(bytes, 4).map_err(|e| PairError::NotPem(e.to_string()))?;
    let block = blocks
        .into_iter()
        .find(|b| b.label.contains("PRIVATE KEY"))
        .ok_or(PairError::NoKeyBlock)?;
    parse(&block).map_err(PairError::Key)
}

/// [`check_pair`] for a key already read.
pub fn check_facts(facts: KeyFacts, cert_key: Option<&PublicKey>) -> Result<KeyFacts, PairError> {
    match cert_key {
        Some(k) if !matches(&facts, k) => Err(PairError::Mismatch { facts }),
        _ => Ok(facts),
    }
}
