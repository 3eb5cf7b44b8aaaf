//! `tlsgate codes` and `tlsgate explain CODE`: the finding codes and their docs/codes.md
//! sections, without leaving the terminal.

use crate::finding::Code;
use crate::report::{codes, sarif};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A finding code, as printed in brackets: `cert-expired`, `host-not-covered`, ...
    #[arg(value_name = "CODE")]
    pub code: String,
}

/// One line per code: code, default severity, what it means.
pub fn list() -> anyhow::Result<ExitCode> {
    let width = Code::ALL
        .iter()
        .map(|c| c.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for &code in Code::ALL {
        out.push_str(&format!(
            "{:width$}  {:4}  {}\n",
            code.as_str(),
            code.default_severity().to_string(),
            sarif::short_description(code)
        ));
    }
    out.push_str("\n`tlsgate explain CODE` prints what a code means, how it breaks traffic, the fix and how to skip it.\n");
    super::lint::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let code: Code = args
        .code
        .trim()
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}; `tlsgate codes` lists them"))?;
    let section = codes::section(code)
        .ok_or_else(|| anyhow::anyhow!("docs/codes.md has no section for {code}"))?;
    super::lint::write_stdout(&format!("{section}\n\n{}\n", codes::help_uri(code)))?;
    Ok(ExitCode::SUCCESS)
}
