//! PEM splitting (RFC 7468), written here rather than borrowed because tlsgate needs what
//! generic parsers drop: the legacy `Proc-Type: 4,ENCRYPTED` header, the line of each block,
//! a clear answer for DER where PEM is expected, and a hard cap on the number of blocks.

use base64::Engine;

/// One `-----BEGIN X-----` … `-----END X-----` block.
#[derive(Debug, Clone)]
pub struct PemBlock {
    pub label: String,
    /// RFC 1421 headers present (`Proc-Type: 4,ENCRYPTED` marks an encrypted legacy key).
    pub encrypted_header: bool,
    pub der: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemError {
    Empty,
    /// Binary ASN.1 (starts with a SEQUENCE tag) where PEM text was expected.
    LooksLikeDer,
    NoPemBlock,
    Unterminated {
        label: String,
    },
    BadBase64 {
        index: usize,
        label: String,
    },
    TooManyBlocks {
        limit: usize,
    },
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemError::Empty => f.write_str("is empty"),
            PemError::LooksLikeDer => f.write_str(
                "holds binary DER, not PEM (convert it with `openssl x509 -inform der -in FILE -out FILE.pem`)",
            ),
            PemError::NoPemBlock => f.write_str("holds no PEM block (no -----BEGIN ...----- line)"),
            PemError::Unterminated { label } => write!(f, "has a BEGIN {label} without its END line"),
            PemError::BadBase64 { index, label } => {
                write!(f, "PEM block #{index} ({label}) is not valid base64")
            }
            PemError::TooManyBlocks { limit } => write!(f, "holds more than {limit} PEM blocks"),
        }
    }
}

/// Splits `input` into PEM blocks. Text outside blocks is ignored, as OpenSSL does (so the
/// output of `openssl x509 -text` still parses).
pub fn parse(input: &[u8], limit: usize) -> Result<Vec<PemBlock>, PemError> {
    let trimmed = input.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = trimmed else {
        return Err(PemError::Empty);
    };
    if input[start] == 0x30 && !input.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(PemError::LooksLikeDer);
    }
    // Valid UTF-8 is the norm; the lossy conversion only runs for the rest.
    let text = match std::str::from_utf8(input) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(input),
    };
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if blocks.len() == limit {
            return Err(PemError::TooManyBlocks { limit });
        }
        let label = label.to_string();
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut encrypted_header = false;
        let mut terminated = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                terminated = true;
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED") {
                    encrypted_header = true;
                }
                continue;
            }
            body.push_str(l);
        }
        if !terminated {
            return Err(PemError::Unterminated { label });
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::BadBase64 {
                index: blocks.len(),
                label: label.clone(),
            })?;
        blocks.push(PemBlock {
            label,
            encrypted_header,
            der,
        });
    }
    if blocks.is_empty() {
        return Err(PemError::NoPemBlock);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_two_blocks_and_ignores_text_between() {
        let input = b"subject=CN=x\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\nnoise\n-----BEGIN CERTIFICATE-----\nAwQ=\n-----END CERTIFICATE-----\n";
        let blocks = parse(input, 10).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
        assert_eq!(blocks[1].der, vec![3, 4]);
    }

    #[test]
    fn der_input_is_named_as_der() {
        assert_eq!(
            parse(&[0x30, 0x82, 0x01, 0x00, 0x05], 10).unwrap_err(),
            PemError::LooksLikeDer
        );
    }

    #[test]
    fn missing_end_line_is_unterminated() {
        let err = parse(b"-----BEGIN CERTIFICATE-----\nAAEC\n", 10).unwrap_err();
        assert_eq!(
            err,
            PemError::Unterminated {
                label: "CERTIFICATE".into()
            }
        );
    }

    #[test]
    fn block_count_is_bounded() {
        let one = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        let err = parse(one.repeat(3).as_bytes(), 2).unwrap_err();
        assert_eq!(err, PemError::TooManyBlocks { limit: 2 });
    }

    #[test]
    fn legacy_encrypted_header_is_seen() {
        let input = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        assert!(parse(input, 10).unwrap()[0].encrypted_header);
    }

    #[test]
    fn bad_base64_names_the_block() {
        let input = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse(input, 10).unwrap_err(),
            PemError::BadBase64 {
                index: 0,
                label: "CERTIFICATE".into()
            }
        );
    }
}
