//! `minga`: the command-line tool of the minga network node.
//!
//! `minga init` sets up a data directory, `minga up` runs the node and its local API, and
//! every other command is a client of that API, except `minga verify FILE`, which checks a
//! signed commitment offline with no node at all.

/// Prints a line on standard output like `println!`, but a reader that went away
/// (`minga list | head`) ends the program quietly, as Unix tools do, instead of a panic.
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}

mod backup;
mod client;
mod commands;
mod contact;
mod doctor;
mod fund;
mod home;
mod keys;
mod network;
mod passphrase;
mod service;
mod show;
mod transfer;
mod up;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Standard output for the commands' results.
pub(crate) mod out {
    use std::io::{ErrorKind, Write};

    /// Writes one line, or bytes as they are; see [`ended`].
    pub fn line(args: std::fmt::Arguments<'_>) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
            ended(&e);
        }
    }

    /// What a failed write to standard output means: a closed pipe ends the program with
    /// success (the reader took what it wanted); anything else is reported.
    pub fn ended(e: &std::io::Error) -> ! {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("minga: cannot write the output: {e}");
        std::process::exit(i32::from(super::exit::USER_ERROR));
    }
}

/// Exit codes, stable for scripts.
pub(crate) mod exit {
    /// The input was wrong, or the node refused it: the message says what and how to fix it.
    pub const USER_ERROR: u8 = 1;
    /// The node's API could not be reached (or failed inside).
    pub const UNREACHABLE: u8 = 2;
    /// A commitment does not verify.
    pub const INVALID: u8 = 3;
    /// The record asked for is not held (or did not arrive within --wait).
    pub const NOT_FOUND: u8 = 4;
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 bad input or refused (one line says what, one says what to do); \
2 the node is not reachable; 3 a commitment that does not verify; 4 no such record (or it did not arrive within --wait).";

#[derive(Parser)]
#[command(
    name = "minga",
    version,
    about = "minga: a peer-to-peer node for cooperatives: offers, needs and signed pledges",
    after_help = EXIT_CODES
)]
struct Cli {
    /// The node's data directory [default: $XDG_DATA_HOME/minga, or ~/.local/share/minga].
    #[arg(long, global = true, value_name = "DIR", env = "MINGA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The API of the node to talk to [default: the one running on --data-dir].
    #[arg(long, global = true, value_name = "HOST:PORT", env = "MINGA_API")]
    api: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up the data directory: keys, API token, config; with --coop, found a co-op.
    Init {
        /// Found a new co-op with this name; this node's member is its founding admin.
        #[arg(long, value_name = "NAME")]
        coop: Option<String>,
    },
    /// Run this machine's node and its local API in the foreground until Ctrl-C.
    Up(up::UpArgs),
    /// Post, list, show or withdraw this co-op's offers.
    #[command(subcommand)]
    Offer(commands::Listing),
    /// Post, list, show or withdraw this co-op's needs.
    #[command(subcommand)]
    Need(commands::Listing),
    /// Pledge part or all of a need, as this node's member.
    Pledge(commands::PledgeArgs),
    /// Accept a pledge made to one of this co-op's needs.
    Accept(commands::AnswerArgs),
    /// Decline a pledge made to one of this co-op's needs.
    Decline(commands::AnswerArgs),
    /// Confirm that (part of) a pledge arrived; partial deliveries add up.
    Deliver(commands::DeliverArgs),
    /// Take back one of this co-op's pledges: a new signed statement; what was delivered stands.
    Cancel(commands::AnswerArgs),
    /// List records of every replicated co-op, with filters.
    List(commands::ListArgs),
    /// Show any record by its id (or a unique prefix of at least 4 digits).
    Show(commands::ShowArgs),
    /// Rank candidate offers for open needs, with the reasons for every score.
    Match(commands::MatchArgs),
    /// Propose pledges that cover as much need as possible, the most urgent first, then the nearest.
    Plan(Output),
    /// Certify, revoke or list the members of this co-op.
    #[command(subcommand)]
    Member(commands::Member),
    /// Give this member another device, or revoke one.
    #[command(subcommand)]
    Device(commands::Device),
    /// Show, trust or untrust co-ops.
    #[command(subcommand)]
    Coop(commands::Coop),
    /// Connected peers and what catch-up exchanged with each.
    Peers(Output),
    /// The node: its id, member, co-ops, peers and sync lag.
    Status(Output),
    /// Print records as they appear or change, and the matches new ones create, until Ctrl-C.
    Watch(Output),
    /// Write a backup of the running node (store and keys), encrypted with a passphrase.
    Backup {
        /// The backup file to create (an age file).
        file: PathBuf,
    },
    /// Bring a node back from a backup into a new data directory, with a new device id.
    Restore {
        /// The backup file `minga backup` wrote.
        file: PathBuf,
    },
    /// Check what newcomers get wrong (permissions, keys, ports, peers, disk, clock) and say what to do.
    Doctor,
    /// Open the node's web page, signed in: prints a one-time link (valid five minutes) and
    /// opens it in the browser when there is one.
    Open {
        /// Only print the link.
        #[arg(long)]
        print: bool,
    },
    /// Run the node as a systemd service: print its unit, or install it.
    #[command(subcommand)]
    Service(service::ServiceCmd),
    /// Encrypt a key file with a passphrase, or take it off.
    #[command(subcommand)]
    Key(keys::KeyCmd),
    /// Verify a pledge, acceptance or delivery: a bundle FILE offline, or a record ID via the node.
    Verify(verify::VerifyArgs),
    /// Contact details only the other side of an accepted pledge can read.
    #[command(subcommand)]
    Contact(contact::ContactCmd),
    /// A revolving fund: loans repaid only from the revenue they generate.
    #[command(subcommand)]
    Fund(fund::FundCmd),
    /// Networks of co-ops: found one, see who is in and who asks to join.
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Print a one-line invite to a network, to send to a co-op that should join.
    Invite(network::InviteArgs),
    /// Ask to join a network with an invite line: this node learns the network and its
    /// co-ops; its admins vouch for this co-op.
    Join(network::JoinArgs),
    /// Export a commitment's bundle, a record's automerge document, or offers and needs as CSV.
    #[command(subcommand)]
    Export(transfer::Export),
    /// Import offers and needs from CSV: every row is checked first; one bad row imports nothing.
    Import(transfer::ImportArgs),
}

/// `--json` for read commands.
#[derive(Args, Clone, Copy, Default)]
pub(crate) struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// An error for the user: one line, a hint, and the exit code.
pub(crate) struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
    /// The API's error code, when the node refused (`refused`, `coop_key_needed`, …).
    pub api_code: Option<String>,
}

impl Failure {
    pub(crate) fn user(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure {
            api_code: None,
            message: message.into(),
            hint: Some(hint.into()),
            code: exit::USER_ERROR,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
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

fn run(cli: Cli) -> Result<(), Failure> {
    let home = home::Home::at(cli.data_dir)?;
    match cli.command {
        Command::Init { coop } => init(&home, coop.as_deref()),
        Command::Up(args) => up::run(&home, args),
        Command::Key(cmd) => keys::run(&home, cmd),
        Command::Service(cmd) => service::service(cmd),
        Command::Restore { file } => backup::restore(&home, &file),
        Command::Verify(args) if args.is_offline() => verify::offline(&args),
        command => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Failure::user(format!("cannot start: {e}"), "check the system's limits")
                })?;
            runtime.block_on(async {
                if matches!(command, Command::Doctor) {
                    // Even where no client can be set up: that is one of its findings.
                    return doctor::doctor(&home, cli.api.as_deref()).await;
                }
                let api = client::Client::new(&home, cli.api.as_deref())?;
                commands::run(&api, &home, command).await
            })
        }
    }
}

fn init(home: &home::Home, coop: Option<&str>) -> Result<(), Failure> {
    let made = home::init(home, coop)?;
    outln!("data        {}", home.dir.display());
    outln!("member key  {}", made.member);
    match made.founded {
        Some(g) => {
            outln!("co-op       {} {}", g.coop_id(), g.value().name);
            outln!();
            outln!(
                "The co-op key is in {}: whoever holds it controls the co-op.",
                home.path("coop.key").display()
            );
            outln!(
                "Protect it with a passphrase (`minga key protect coop`) and keep a copy offline."
            );
            outln!(
                "Next: minga up, then `minga network create NAME` to found a network, or `minga join LINE` with an invite."
            );
        }
        None => {
            outln!();
            outln!("This member key is not in a co-op yet. Ask an admin of your co-op to run:");
            outln!("    minga member add {}", made.member);
            outln!("and for an invite to the co-op's network, printed by `minga invite`.");
            outln!("Then start your node and follow the invite:");
            outln!("    minga up        (in another terminal)");
            outln!("    minga join 'minga-invite:…'");
        }
    }
    Ok(())
}
