//! `minga verify`: checks a signed pledge, acceptance or delivery. A bundle file is checked
//! offline with no node; a record id is fetched from the node, then checked here the same
//! way, so the answer never rests on the node's word.

use std::path::{Path, PathBuf};

use minga_protocol::{Bundle, Commitment, MAX_BUNDLE_BYTES, Verified};

use crate::client::Client;
use crate::{Failure, exit};

/// `minga verify FILE|ID`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A bundle file (JSON, as `minga export bundle` writes it), or a record id to fetch.
    pub target: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the signed bytes, the signature and the signer's key into DIR, as
    /// `statement`, `signature` and `signer.pem`, for `openssl pkeyutl -verify`.
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
}

impl VerifyArgs {
    /// Whether the target is a file (checked with no node).
    pub fn is_offline(&self) -> bool {
        Path::new(&self.target).is_file()
    }
}

/// Verifies a bundle file.
pub fn offline(args: &VerifyArgs) -> Result<(), Failure> {
    let file = Path::new(&args.target);
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
    check(&bytes, &shown.to_string(), args)
}

/// Fetches a commitment's bundle from the node and verifies it here.
pub async fn online(api: &Client, args: &VerifyArgs) -> Result<(), Failure> {
    if !args.target.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::user(
            format!("{} is neither a file nor a record id", args.target),
            "give the path of a bundle file, or the id of a pledge, acceptance or delivery",
        ));
    }
    let bytes = api
        .bytes(&format!("/v1/records/{}/bundle", args.target))
        .await?;
    check(&bytes, &args.target, args)
}

fn check(bytes: &[u8], shown: &str, args: &VerifyArgs) -> Result<(), Failure> {
    let bundle = Bundle::from_json(bytes).map_err(|e| {
        Failure::user(
            format!("{shown}: {e}"),
            "a bundle is the JSON that `minga export bundle` writes",
        )
    })?;
    let outcome = match &bundle.verify() {
        Ok(v) => {
            if let Some(dir) = &args.extract {
                extract_parts(&v.commitment, &bundle.signer_pem, dir)?;
            }
            report_valid(v, args.json);
            return Ok(());
        }
        Err(e) => e.to_string(),
    };
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "valid": false, "file": shown, "reason": outcome })
        );
    }
    Err(Failure {
        api_code: None,
        message: format!("INVALID: {shown}: {outcome}"),
        hint: Some("do not rely on this commitment; ask its signer for a fresh export".into()),
        code: exit::INVALID,
    })
}
fn report_valid(v: &Verified, json: bool) {
    let c = &v.commitment;
    if json {
        outln!("{}", minga_node::api::verified_json(v));
        return;
    }
    outln!("valid {}", c.kind());
    outln!("  signer       {}", c.signer());
    outln!("  co-op        {} ({})", v.coop_name, c.coop());
    outln!("  role         {}", v.role);
    outln!("  certificate  {}", v.certificate);
    outln!("  signed       {}", c.issued());
    outln!("statement:");
    for line in String::from_utf8_lossy(c.signed_bytes().0).lines() {
        outln!("  {line}");
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
