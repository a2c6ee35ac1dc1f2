//! `minga`: the command-line tool of the minga network node.
//!
//! `minga up` runs this machine's node; `minga verify` checks signed commitments offline. The
//! commands that talk to a running node come next.

mod up;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use minga_protocol::{Bundle, Commitment, MAX_BUNDLE_BYTES, Verified};

/// Exit codes, stable for scripts.
mod exit {
    /// The input was wrong or unreadable: the message says what and how to fix it.
    pub const USER_ERROR: u8 = 1;
    /// The commitment does not verify.
    pub const INVALID: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "minga",
    version,
    about = "minga: a peer-to-peer node for cooperatives: offers, needs and signed pledges",
    after_help = "Exit codes: 0 ok, 1 bad input (one line says what and a hint), 3 a commitment that does not verify."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run this machine's minga node in the foreground until Ctrl-C.
    Up(up::UpArgs),
    /// Verify a signed pledge, acceptance or delivery bundle offline. No node is needed.
    Verify {
        /// The bundle file (JSON, as `minga export` writes it).
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the signed bytes, the signature and the signer's key into DIR, as
        /// `statement`, `signature` and `signer.pem`, for `openssl pkeyutl -verify`.
        #[arg(long, value_name = "DIR")]
        extract: Option<PathBuf>,
    },
}

/// An error for the user: one line, a hint, and the exit code.
pub(crate) struct Failure {
    message: String,
    hint: Option<String>,
    code: u8,
}

impl Failure {
    pub(crate) fn user(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            hint: Some(hint.into()),
            code: exit::USER_ERROR,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Verify {
            file,
            json,
            extract,
        } => verify(&file, json, extract.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("minga: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn verify(file: &Path, json: bool, extract: Option<&Path>) -> Result<(), Failure> {
    let shown = file.display();
    let meta = std::fs::metadata(file).map_err(|e| {
        Failure::user(
            format!("cannot read {shown}: {e}"),
            "give the path of a bundle file",
        )
    })?;
    if meta.len() > MAX_BUNDLE_BYTES as u64 {
        return Err(Failure::user(
            format!(
                "{shown} is {} bytes; a bundle is at most {MAX_BUNDLE_BYTES}",
                meta.len()
            ),
            "is this really a minga bundle?",
        ));
    }
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::user(format!("cannot read {shown}: {e}"), "check the path"))?;
    let bundle = Bundle::from_json(&bytes).map_err(|e| {
        Failure::user(
            format!("{shown}: {e}"),
            "a bundle is the JSON that `minga export` writes",
        )
    })?;
    let verified = bundle.verify();
    let outcome = match &verified {
        Ok(v) => {
            if let Some(dir) = extract {
                extract_parts(&v.commitment, &bundle.signer_pem, dir)?;
            }
            report_valid(v, json);
            return Ok(());
        }
        Err(e) => e.to_string(),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "valid": false, "file": shown.to_string(), "reason": outcome })
        );
    }
    Err(Failure {
        message: format!("INVALID: {shown}: {outcome}"),
        hint: Some("do not rely on this commitment; ask its signer for a fresh export".into()),
        code: exit::INVALID,
    })
}

fn report_valid(v: &Verified, json: bool) {
    let c = &v.commitment;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "valid": true,
                "kind": c.kind(),
                "signer": c.signer().to_string(),
                "coop": c.coop().to_string(),
                "coop_name": v.coop_name,
                "role": v.role,
                "certificate": v.certificate.to_string(),
                "issued": c.issued().to_string(),
                "statement": String::from_utf8_lossy(c.signed_bytes().0),
            })
        );
        return;
    }
    println!("valid {}", c.kind());
    println!("  signer       {}", c.signer());
    println!("  co-op        {} ({})", v.coop_name, c.coop());
    println!("  role         {}", v.role);
    println!("  certificate  {}", v.certificate);
    println!("  signed       {}", c.issued());
    println!("statement:");
    for line in String::from_utf8_lossy(c.signed_bytes().0).lines() {
        println!("  {line}");
    }
}

fn extract_parts(c: &Commitment, signer_pem: &str, dir: &Path) -> Result<(), Failure> {
    let (bytes, sig) = c.signed_bytes();
    let write = |name: &str, content: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|e| {
            Failure::user(
                format!("cannot write {}: {e}", path.display()),
                "give a directory that exists and is writable",
            )
        })
    };
    write("statement", bytes)?;
    write("signature", &sig.0)?;
    write("signer.pem", signer_pem.as_bytes())?;
    eprintln!(
        "wrote {0}/statement, {0}/signature, {0}/signer.pem; check with:\n  openssl pkeyutl -verify -pubin -inkey {0}/signer.pem -rawin -in {0}/statement -sigfile {0}/signature",
        dir.display()
    );
    Ok(())
}
