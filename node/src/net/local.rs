//! The event loop's answers to local questions about co-ops, membership and single records,
//! and untrusting a co-op.

use minga_protocol::fund::{FundFacts, Held};
use minga_protocol::{NeedStatus, OfferStatus, Record, RecordKind, RecordRef};

use super::event_loop::EventLoop;
use super::{Command, CoopSummary, Listed, Listings, NodeError, RecordDetail, now};
use crate::Status;
use crate::ledger::CoopLedger;
use crate::matching::Listing;

/// The shortest record-id prefix accepted: shorter ones name too many records to be useful.
const MIN_PREFIX: usize = 4;

impl EventLoop {
    pub(super) fn on_local(&mut self, cmd: Command) {
        match cmd {
            Command::Untrust { coop, reply } => {
                let _ = reply.send(self.untrust(coop));
            }
            Command::Coops { reply } => {
                let now = now();
                let coops = self
                    .ledgers
                    .values()
                    .map(|l| {
                        let vector = l.ledger().version_vector();
                        let m = l.ledger().membership();
                        CoopSummary {
                            genesis: l.genesis().clone(),
                            logs: vector.len(),
                            entries: vector.iter().map(|(_, seq)| seq).sum(),
                            members: m.members_at(now).len(),
                            coop_key: m.current_coop_key(),
                            rotation_conflict: m.rotation_conflict(),
                            equivocations: l.equivocations().collect(),
                            waiting: l.ledger().pending_usage(),
                            missing_payloads: l.ledger().missing_payloads().len(),
                            waiting_ahead: l.ledger().waiting_ahead(),
                        }
                    })
                    .collect();
                let _ = reply.send(coops);
            }
            Command::Membership { coop, reply } => {
                let m = self
                    .ledgers
                    .get(&coop)
                    .map(|l| l.ledger().membership().clone())
                    .ok_or(NodeError::UnknownCoop(coop));
                let _ = reply.send(m);
            }
            Command::Detail { id, reply } => {
                let _ = reply.send(self.detail(&id));
            }
            Command::Funds { fund, reply } => {
                let funds: Vec<RecordRef> = match fund {
                    Some(f) => vec![f],
                    None => self
                        .views
                        .keys_of_kind(RecordKind::Fund)
                        .map(|(coop, record)| RecordRef { coop, record })
                        .collect(),
                };
                let facts = funds.iter().filter_map(|f| self.fund_facts(*f)).collect();
                let _ = reply.send(facts);
            }
            Command::Listings { reply } => {
                let now = now();
                let mut out = Listings::default();
                for (kind, into) in [
                    (RecordKind::Need, &mut out.needs),
                    (RecordKind::Offer, &mut out.offers),
                ] {
                    for v in self.views.of_kind(kind) {
                        let open = matches!(
                            self.views.status(&v, now),
                            Some(Status::Need(NeedStatus::Open | NeedStatus::PartlyPledged))
                                | Some(Status::Offer(
                                    OfferStatus::Open | OfferStatus::PartlyPledged
                                ))
                        );
                        if open && let Some(l) = Listing::of(&v, self.views.totals(&v).as_ref()) {
                            into.push(l);
                        }
                    }
                    // Matching is deterministic for a given order: make it co-op and id.
                    into.sort_by_key(|l| (l.coop, l.id));
                }
                let _ = reply.send(out);
            }
            _ => {}
        }
    }

    pub(super) fn untrust(&mut self, coop: minga_protocol::CoopId) -> Result<(), NodeError> {
        if self.ledgers.remove(&coop).is_none() {
            return Err(NodeError::UnknownCoop(coop));
        }
        for key in self.views.keys_of(&coop) {
            self.views.remove(&key);
        }
        CoopLedger::forget(self.store.as_ref(), &coop)?;
        tracing::info!(%coop, "co-op untrusted; its data is deleted");
        Ok(())
    }

    /// Every statement about a fund: those that name it (loans, contributions), those that
    /// name its loans (decisions, disbursements, repayments, reports), and the confirmations
    /// of its transfers. Each record names one thing, so each is visited once.
    fn fund_facts(&self, fund: RecordRef) -> Option<FundFacts> {
        let record = |r: &RecordRef| {
            self.ledgers
                .get(&r.coop)
                .and_then(|l| l.ledger().record(&r.record))
        };
        let Some(Record::Fund(statement)) = record(&fund) else {
            return None;
        };
        let mut facts = FundFacts {
            fund: Held {
                at: fund,
                statement,
            },
            loans: Vec::new(),
            approvals: Vec::new(),
            transfers: Vec::new(),
            reports: Vec::new(),
            confirmations: Vec::new(),
        };
        let mut next = vec![fund];
        while let Some(about) = next.pop() {
            for v in self.views.referring_to(about, false) {
                if !v.kind.is_fund() {
                    continue;
                }
                let at = RecordRef {
                    coop: v.coop,
                    record: v.id,
                };
                match record(&at) {
                    Some(Record::Loan(statement)) => {
                        facts.loans.push(Held { at, statement });
                        next.push(at);
                    }
                    Some(Record::Transfer(statement)) => {
                        facts.transfers.push(Held { at, statement });
                        next.push(at);
                    }
                    Some(Record::Approval(statement)) => {
                        facts.approvals.push(Held { at, statement })
                    }
                    Some(Record::Report(statement)) => facts.reports.push(Held { at, statement }),
                    Some(Record::Confirmation(statement)) => {
                        facts.confirmations.push(Held { at, statement })
                    }
                    _ => {}
                }
            }
        }
        Some(facts)
    }

    fn detail(&self, id: &str) -> Result<RecordDetail, NodeError> {
        if id.len() < MIN_PREFIX || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NodeError::NotFound(id.chars().take(80).collect()));
        }
        let mut found = self.views.find_prefix(id);
        let view = match (found.next(), found.next()) {
            (None, _) => return Err(NodeError::NotFound(id.into())),
            (Some(_), Some(_)) => return Err(NodeError::Ambiguous(id.into())),
            (Some(v), None) => v,
        };
        let now = now();
        let record = self
            .ledgers
            .get(&view.coop)
            .and_then(|l| l.ledger().record(&view.id))
            .ok_or_else(|| NodeError::NotFound(id.into()))?;
        let me = RecordRef {
            coop: view.coop,
            record: view.id,
        };
        let mut related: Vec<_> = self
            .views
            .referring_to(me, view.kind == RecordKind::Offer)
            .map(|v| Listed {
                status: self.views.status(&v, now),
                totals: self.views.totals(&v),
                view: v,
            })
            .collect();
        related.sort_by_key(|l| (l.view.issued, l.view.id));
        Ok(RecordDetail {
            document: self
                .ledgers
                .get(&view.coop)
                .and_then(|l| l.document(&view.id))
                .unwrap_or_default(),
            status: self.views.status(&view, now),
            totals: self.views.totals(&view),
            view,
            record,
            related,
        })
    }
}
