//! `tlsgate audit`: every certificate a cluster depends on, before it expires.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tlsgate audit is not implemented yet")
}
