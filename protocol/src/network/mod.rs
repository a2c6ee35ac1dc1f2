//! Networks of co-ops and admission by vouches: who is in, decided the same way on every node
//! whatever order the statements arrive in.
//!
//! A network is founded by a signed [`NetworkGenesis`] naming its founding co-ops and its rule:
//! how many vouches from admitted co-ops admit a new one. Its id is the hash of that signed
//! genesis. Admins of admitted co-ops [`Vouch`] for a co-op that asked to join; a vouch is
//! taken back by an [`Unvouch`] naming it; a co-op is expelled when as many admitted co-ops as
//! the rule asks sign an [`Expel`] naming it, each with the cut-offs of its logs as that co-op
//! saw them. The rules ([`admission`]):
//!
//! 1. Founders are admitted. A co-op is admitted when at least `vouches` admitted co-ops
//!    other than itself have a vouch for it that no unvouch of theirs withdraws. This is a
//!    least fixed point, computed from the founders outward, so it is one set whatever order
//!    the vouches arrived in, and a ring of co-ops vouching for each other admits none of them.
//! 2. A co-op is expelled when at least `vouches` co-ops admitted by rule 1, other than itself,
//!    sign an expulsion of it. Its cut-offs are the union of theirs: per log, the highest
//!    sequence any of them kept; a log none of them named keeps nothing. Entries past the
//!    cut-offs are refused, as after a member's revocation.
//! 3. Rule 1 is applied again without the expelled co-ops, whose vouches count only when the
//!    entry that carries them is within their cut-offs: what an expelled co-op signed before
//!    stands, nothing after counts. That is the admitted set.

mod invite;
mod statements;

pub use invite::{INVITE_PREFIX, Invite, InviteError, MAX_ADDR_BYTES, MAX_INVITE_ADDRS};
pub use statements::{
    Expel, LogCutoff, MAX_FOUNDERS, NetworkGenesis, NetworkId, Unvouch, Vouch, decode_cutoffs,
    encode_cutoffs,
};

use std::collections::{BTreeMap, BTreeSet};

use crate::canonical::{Signed, Statement};
use crate::ids::{CoopId, LogId, RecordRef};

/// A statement with the entry that carries it: its record, and its log and position, which an
/// expulsion's cut-offs are measured against.
#[derive(Clone, Debug)]
pub struct Placed<T> {
    /// The record.
    pub at: RecordRef,
    /// The log of the entry that created it.
    pub log: LogId,
    /// That entry's sequence number.
    pub seq: u64,
    /// The signed statement.
    pub statement: Signed<T>,
}

impl<T: Statement> Placed<T> {
    fn v(&self) -> &T {
        self.statement.value()
    }
}

/// An expulsion with the cut-offs its record carries (checked against its hash).
#[derive(Clone, Debug)]
pub struct PlacedExpel {
    /// The expulsion.
    pub expel: Placed<Expel>,
    /// Its cut-offs, decoded.
    pub cutoffs: Vec<LogCutoff>,
}

/// Everything known about one network's admissions.
#[derive(Clone, Debug)]
pub struct NetworkFacts {
    /// The network's genesis.
    pub genesis: Signed<NetworkGenesis>,
    /// Vouches for co-ops.
    pub vouches: Vec<Placed<Vouch>>,
    /// Vouches taken back.
    pub unvouches: Vec<Placed<Unvouch>>,
    /// Expulsions.
    pub expels: Vec<PlacedExpel>,
}

/// One expelled co-op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expelled {
    /// The admitted co-ops whose expulsions counted.
    pub by: BTreeSet<CoopId>,
    /// Per log, the last entry that stays valid (logs not here keep nothing).
    pub cutoffs: BTreeMap<LogId, u64>,
}

impl Expelled {
    /// Whether an entry of this co-op at `seq` in `log` stands.
    pub fn keeps(&self, log: &LogId, seq: u64) -> bool {
        self.cutoffs.get(log).is_some_and(|last| seq <= *last)
    }
}

/// Who is in a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The network.
    pub network: NetworkId,
    /// Admitted co-ops, each with the admitted co-ops whose vouches count for it (empty for
    /// founders).
    pub admitted: BTreeMap<CoopId, BTreeSet<CoopId>>,
    /// Co-ops vouched for but not (or no longer) admitted, with the admitted co-ops that
    /// vouch for them: the pending requests.
    pub pending: BTreeMap<CoopId, BTreeSet<CoopId>>,
    /// Expelled co-ops.
    pub expelled: BTreeMap<CoopId, Expelled>,
}

impl Admission {
    /// Whether a co-op is in the network.
    pub fn is_admitted(&self, coop: &CoopId) -> bool {
        self.admitted.contains_key(coop)
    }
}

/// Decides who is in a network from its statements (rules in the module's documentation).
/// Statements about other networks, and unvouches or expulsions whose signer co-op does not
/// match, are ignored.
pub fn admission(facts: &NetworkFacts) -> Admission {
    let g = facts.genesis.value();
    let network = facts.genesis.network_id();
    let rule = g.vouches as usize;
    let founders: BTreeSet<CoopId> = g.founders.iter().copied().collect();
    let withdrawn: BTreeSet<RecordRef> = facts
        .unvouches
        .iter()
        .filter(|u| u.v().network == network && u.v().vouch.coop == u.v().coop)
        .map(|u| u.v().vouch)
        .collect();
    // Every standing vouch: (voucher, subject, where it sits).
    let vouches: Vec<&Placed<Vouch>> = facts
        .vouches
        .iter()
        .filter(|v| v.v().network == network && v.v().coop != v.v().subject)
        .filter(|v| !withdrawn.contains(&v.at))
        .collect();

    // Rule 1, with every vouch.
    let none = BTreeSet::new();
    let first = fixed_point(
        &founders,
        &none,
        &none,
        rule,
        vouches.iter().copied(),
        |_| true,
    );

    // Rule 2: expulsions signed by co-ops admitted by rule 1.
    let mut expelled: BTreeMap<CoopId, Expelled> = BTreeMap::new();
    for e in facts
        .expels
        .iter()
        .filter(|e| e.expel.v().network == network)
    {
        let x = e.expel.v();
        if x.coop == x.subject || !first.contains_key(&x.coop) {
            continue;
        }
        let entry = expelled.entry(x.subject).or_insert_with(|| Expelled {
            by: BTreeSet::new(),
            cutoffs: BTreeMap::new(),
        });
        entry.by.insert(x.coop);
        for c in &e.cutoffs {
            let last = entry.cutoffs.entry(c.log).or_insert(c.last_valid);
            *last = (*last).max(c.last_valid);
        }
    }
    expelled.retain(|_, e| e.by.len() >= rule);

    // Rule 3: again, without the expelled, whose vouches count within their cut-offs (an
    // expelled co-op was admitted by rule 1, so what it signed before stands).
    let out: BTreeSet<CoopId> = expelled.keys().copied().collect();
    let admitted = fixed_point(&founders, &out, &out, rule, vouches.iter().copied(), |v| {
        expelled
            .get(&v.v().coop)
            .is_none_or(|e| e.keeps(&v.log, v.seq))
    });
    let mut pending: BTreeMap<CoopId, BTreeSet<CoopId>> = BTreeMap::new();
    for v in &vouches {
        let x = v.v();
        if !admitted.contains_key(&x.subject)
            && !out.contains(&x.subject)
            && admitted.contains_key(&x.coop)
        {
            pending.entry(x.subject).or_default().insert(x.coop);
        }
    }
    Admission {
        network,
        admitted,
        pending,
        expelled,
    }
}

/// The least set holding the founders (minus `out`) and every co-op not in `out` vouched for
/// by at least `rule` co-ops of the set or of `also`, counting only vouches `counts` accepts.
fn fixed_point<'a>(
    founders: &BTreeSet<CoopId>,
    out: &BTreeSet<CoopId>,
    also: &BTreeSet<CoopId>,
    rule: usize,
    vouches: impl Iterator<Item = &'a Placed<Vouch>> + Clone,
    counts: impl Fn(&Placed<Vouch>) -> bool,
) -> BTreeMap<CoopId, BTreeSet<CoopId>> {
    let mut admitted: BTreeMap<CoopId, BTreeSet<CoopId>> = founders
        .iter()
        .filter(|f| !out.contains(f))
        .map(|f| (*f, BTreeSet::new()))
        .collect();
    let counted: Vec<&Placed<Vouch>> = vouches.filter(|v| counts(v)).collect();
    // Each pass admits at least one co-op or stops, so at most one pass per vouch.
    loop {
        let mut by: BTreeMap<CoopId, BTreeSet<CoopId>> = BTreeMap::new();
        for v in &counted {
            let x = v.v();
            let voucher = admitted.contains_key(&x.coop) || also.contains(&x.coop);
            if voucher && !out.contains(&x.subject) {
                by.entry(x.subject).or_default().insert(x.coop);
            }
        }
        let mut grew = false;
        for (subject, vouchers) in by {
            if vouchers.len() >= rule && !admitted.contains_key(&subject) {
                admitted.insert(subject, vouchers);
                grew = true;
            }
        }
        if !grew {
            // Record, for each admitted co-op, every admitted voucher (not only those of the
            // pass that admitted it).
            for v in &counted {
                let x = v.v();
                if (admitted.contains_key(&x.coop) || also.contains(&x.coop))
                    && !founders.contains(&x.subject)
                    && let Some(set) = admitted.get_mut(&x.subject)
                {
                    set.insert(x.coop);
                }
            }
            return admitted;
        }
    }
}
