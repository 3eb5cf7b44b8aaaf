//! `tlsgate dev-certs`: a local CA and a serving certificate for localhost, so `serve --dev`
//! and the README's curl line work offline on a fresh machine.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write ca.crt, ca.key, tls.crt, tls.key into.
    #[arg(long, default_value = "certs-dev")]
    pub dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.force && args.dir.join("tls.crt").exists() {
        anyhow::bail!(
            "{} already holds tls.crt; pass --force to replace it",
            args.dir.display()
        );
    }
    generate(&args.dir, crate::wall_clock())?;
    println!(
        "wrote {0}/ca.crt, {0}/tls.crt and {0}/tls.key (serving localhost, 127.0.0.1, ::1)",
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a 10-year CA and a 1-year serving certificate valid from `now`.
pub fn generate(dir: &Path, now: i64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let start = time::OffsetDateTime::from_unix_timestamp(now - 3600)?;
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "tlsgate development CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "tlsgate");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = start;
    ca.not_after = start + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    leaf.subject_alt_names
        .push(SanType::IpAddress("::1".parse()?));
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.not_before = start;
    leaf.not_after = start + time::Duration::days(365);
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&key, &issuer)?;

    write(dir, "ca.crt", ca_cert.pem().as_bytes(), false)?;
    write(dir, "ca.key", issuer.key().serialize_pem().as_bytes(), true)?;
    write(dir, "tls.crt", leaf_cert.pem().as_bytes(), false)?;
    write(dir, "tls.key", key.serialize_pem().as_bytes(), true)?;
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = private;
    Ok(())
}
