//! Who may write, decided by causal history: admins certified by the co-op key, revocations of
//! issuers that void only what came after their cut-off, rotations, time rules, prunes, and
//! one property above the others: any arrival order gives the same ledger.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use minga_protocol::*;
use proptest::prelude::*;

/// A co-op whose ledgers read a clock set by hand (far past every timestamp used here).
fn world(seed: u8) -> (Coop, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(day(1000)));
    let mut c = Coop::new(seed, "Cooperativa Reconquista");
    c.ledger = c.empty_ledger().with_clock(clock.clone());
    (c, clock)
}

fn replica(c: &Coop, clock: &Arc<ManualClock>) -> MemoryLedger {
    c.empty_ledger().with_clock(clock.clone())
}

fn dev(n: u64) -> DeviceId {
    DeviceId(n)
}

fn cut(device: DeviceId, last_valid: u64) -> Cutoff {
    Cutoff { device, last_valid }
}

/// A certificate signed by a member key (an admin, or the founder when `parent` is the co-op
/// id).
fn cert_by(
    c: &Coop,
    issuer: &MemberSecret,
    parent: Hash,
    subject: &MemberSecret,
    role: Role,
    expires: Option<Timestamp>,
) -> Signed<Certificate> {
    Signed::sign(
        Certificate {
            signer: issuer.public(),
            coop: c.id(),
            subject: subject.public(),
            role,
            issued: day(1),
            expires,
            parent: Some(parent),
        },
        &issuer.0,
    )
    .unwrap()
}

fn revocation_by(
    c: &Coop,
    issuer: &SecretKey,
    subject: &MemberSecret,
    cutoffs: Vec<Cutoff>,
) -> Signed<Revocation> {
    Signed::sign(
        Revocation {
            signer: issuer.public(),
            coop: c.id(),
            subject: subject.public(),
            cutoffs,
            issued: day(2),
            reason: None,
        },
        issuer,
    )
    .unwrap()
}

fn rotation(
    c: &Coop,
    old: &CoopSecret,
    number: u32,
    new: &CoopSecret,
    cutoffs: Vec<Cutoff>,
) -> Signed<Rotation> {
    Signed::sign(
        Rotation {
            signer: old.public(),
            coop: c.id(),
            number,
            new_key: new.public(),
            cutoffs,
            at: day(3),
        },
        &old.0,
    )
    .unwrap()
}

fn write(
    l: &mut MemoryLedger,
    key: &impl LogAuthor,
    d: DeviceId,
    r: Record,
    at: Timestamp,
) -> Entry {
    l.write(key, d, None, &r, at).unwrap()
}

/// Writes a record that is made from the co-op (a statement naming it).
fn put(
    c: &mut Coop,
    key: &impl LogAuthor,
    d: DeviceId,
    r: impl FnOnce(&Coop) -> Record,
    at: Timestamp,
) -> Entry {
    let r = r(c);
    c.ledger.write(key, d, None, &r, at).unwrap()
}

/// An entry signed by hand, chained after `prev` (or first in its log), that creates an offer:
/// what a modified client could send, bypassing the checks of [`Ledger::write`].
fn crafted_offer(
    c: &Coop,
    key: &MemberSecret,
    d: DeviceId,
    prev: Option<&Entry>,
    at: Timestamp,
) -> Entry {
    let log = LogId {
        author: key.public(),
        device: d,
    };
    let payload = author_change(None, &log, &Record::Offer(offer("crafted", "1 kg")), at).unwrap();
    let (seq, prev) = prev.map_or((1, EntryHash::default()), |p| (p.header.seq + 1, p.hash()));
    Entry::sign(
        key,
        c.id(),
        d,
        seq,
        prev,
        RecordId::default(),
        EntryKind::Change,
        payload,
        at,
    )
}

fn ingest_all(l: &mut MemoryLedger, entries: &[Entry]) {
    for e in entries {
        let _ = l.ingest(e.clone());
    }
}

#[test]
fn an_admin_certified_by_the_coop_key_certifies_members_but_not_admins() {
    let (mut c, _clock) = world(51);
    let (a, m) = (member(52), member(53));
    let a_cert = c.certificate(&a, Role::Admin);
    c.coop_writes(&Record::Certificate(a_cert.clone()));
    let by_a = cert_by(&c, &a, a_cert.hash(), &m, Role::Coordinator, None);
    write(&mut c.ledger, &a, dev(1), Record::Certificate(by_a), day(2));
    let o = write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Offer(offer("rice", "5 kg")),
        day(3),
    );
    assert!(c.ledger.record(&o.record_id()).is_some());
    assert_eq!(
        c.ledger.membership().role_at(&m.public(), day(3)),
        Ok(Role::Coordinator)
    );

    // An admin, or the founder, certifying an admin is refused: only the co-op key may.
    for (issuer, parent) in [(&a, a_cert.hash()), (&c.founder.clone(), c.id().0)] {
        let admin = cert_by(&c, issuer, parent, &member(54), Role::Admin, None);
        let err = c
            .ledger
            .write(issuer, dev(9), None, &Record::Certificate(admin), day(3))
            .unwrap_err();
        assert!(
            matches!(err, EntryError::Membership(MembershipError::AdminByAdmin)),
            "{err}"
        );
    }
    // The co-op key writes only membership statements, in its own log.
    let err = c
        .ledger
        .write(
            &c.key.clone(),
            c.coop_device,
            None,
            &Record::Offer(offer("x", "1 kg")),
            day(3),
        )
        .unwrap_err();
    assert!(matches!(err, EntryError::CoopKeyLog), "{err}");
}

#[test]
fn revoking_an_admin_voids_only_what_it_issued_past_its_cut_off() {
    let (mut c, clock) = world(61);
    let (a, m1, m2) = (member(62), member(63), member(64));
    let a_cert = c.certificate(&a, Role::Admin);
    c.coop_writes(&Record::Certificate(a_cert.clone()));
    let h = a_cert.hash();
    put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Certificate(cert_by(c, &a, h, &m1, Role::Member, None)),
        day(2),
    );
    write(
        &mut c.ledger,
        &a,
        dev(1),
        Record::Offer(offer("a's offer", "1 kg")),
        day(2),
    );
    put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Certificate(cert_by(c, &a, h, &m2, Role::Member, None)),
        day(3),
    );
    let o1 = write(
        &mut c.ledger,
        &m1,
        dev(2),
        Record::Offer(offer("m1", "1 kg")),
        day(4),
    );
    let o2 = write(
        &mut c.ledger,
        &m2,
        dev(3),
        Record::Offer(offer("m2", "1 kg")),
        day(4),
    );
    let rev = revocation_by(&c, &c.key.0, &a, vec![cut(dev(1), 2)]);
    c.coop_writes(&Record::Revocation(rev));

    // On the ledger that wrote it all, and on one that learns the revocation first.
    let everything = c.ledger.all_entries();
    let mut late = replica(&c, &clock);
    let (revs, rest): (Vec<Entry>, Vec<Entry>) = everything
        .iter()
        .cloned()
        .partition(|e| e.header.author == c.key.public());
    ingest_all(&mut late, &revs);
    ingest_all(&mut late, &rest);
    for l in [&c.ledger, &late] {
        assert!(
            l.record(&o1.record_id()).is_some(),
            "certified before the cut-off"
        );
        assert!(
            l.record(&o2.record_id()).is_none(),
            "certified past the cut-off"
        );
        assert_eq!(
            l.membership().role_at(&m1.public(), day(5)),
            Ok(Role::Member)
        );
        assert!(matches!(
            l.membership().role_at(&m2.public(), day(5)),
            Err(MembershipError::NotAMember(_))
        ));
    }
    assert_eq!(c.ledger.records(), late.records());
    let err = c
        .ledger
        .write(
            &a,
            dev(1),
            None,
            &Record::Offer(offer("after", "1 kg")),
            day(6),
        )
        .unwrap_err();
    assert!(
        matches!(err, EntryError::Membership(MembershipError::Revoked { .. })),
        "{err}"
    );
}

#[test]
fn a_stolen_admin_key_cannot_erase_members_once_the_coop_key_ends_it() {
    let (mut c, clock) = world(71);
    let (a, m) = (member(72), member(73));
    let a_cert = c.certificate(&a, Role::Admin);
    c.coop_writes(&Record::Certificate(a_cert.clone()));
    put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Certificate(cert_by(c, &a, a_cert.hash(), &m, Role::Member, None)),
        day(2),
    );
    let offers: Vec<Entry> = (0..2)
        .map(|i| {
            write(
                &mut c.ledger,
                &m,
                dev(2),
                Record::Offer(offer(&format!("lot {i}"), "1 kg")),
                day(3),
            )
        })
        .collect();
    // The thief revokes the member with no cut-offs: every entry of theirs is cut.
    let wipe = revocation_by(&c, &a.0, &m, vec![]);
    write(&mut c.ledger, &a, dev(1), Record::Revocation(wipe), day(4));
    assert!(c.ledger.record(&offers[0].record_id()).is_none());
    // The co-op key ends the stolen key before the theft: the wipe is void and the member's
    // records come back.
    let end = revocation_by(&c, &c.key.0, &a, vec![cut(dev(1), 1)]);
    c.coop_writes(&Record::Revocation(end));
    for o in &offers {
        assert!(c.ledger.record(&o.record_id()).is_some());
    }
    assert_eq!(
        c.ledger.membership().role_at(&m.public(), day(5)),
        Ok(Role::Member)
    );

    // A node that hears the co-op key first never loses them.
    let mut other = replica(&c, &clock);
    let mut all = c.ledger.all_entries();
    all.extend(offers.iter().cloned());
    all.reverse();
    for _ in 0..3 {
        ingest_all(&mut other, &all);
    }
    assert_eq!(other.records(), c.ledger.records());
    assert_eq!(other.version_vector(), c.ledger.version_vector());
}

#[test]
fn revoking_the_founder_keeps_the_members_it_certified_before() {
    let (mut c, _clock) = world(81);
    let m = member(82);
    let (f, fd) = (c.founder.clone(), c.founder_device);
    put(
        &mut c,
        &f,
        fd,
        |c| Record::Certificate(cert_by(c, &f, c.id().0, &m, Role::Member, None)),
        day(1),
    );
    let o = write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Offer(offer("m", "1 kg")),
        day(2),
    );
    let rev = revocation_by(&c, &c.key.0, &f, vec![cut(fd, 1)]);
    c.coop_writes(&Record::Revocation(rev));
    assert!(c.ledger.record(&o.record_id()).is_some());
    assert!(
        c.ledger
            .write(&f, fd, None, &Record::Offer(offer("f", "1 kg")), day(3))
            .is_err()
    );
}

#[test]
fn an_admins_revocation_of_an_admin_ends_nothing_in_any_order() {
    let (mut c, clock) = world(91);
    let (a, b) = (member(92), member(93));
    let a_cert = c.certificate(&a, Role::Admin);
    let a_entry = c.coop_writes(&Record::Certificate(a_cert));
    let rev = put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Revocation(revocation_by(c, &a.0, &b, vec![])),
        day(2),
    );
    let b_entry = c.coop_writes(&Record::Certificate(c.certificate(&b, Role::Admin)));
    let o = write(
        &mut c.ledger,
        &b,
        dev(2),
        Record::Offer(offer("b", "1 kg")),
        day(3),
    );
    // One node holds b's certificate before the revocation, the other after.
    let mut x = replica(&c, &clock);
    let mut y = replica(&c, &clock);
    ingest_all(
        &mut x,
        &[a_entry.clone(), b_entry.clone(), rev.clone(), o.clone()],
    );
    ingest_all(&mut y, &[a_entry, rev, o.clone(), b_entry]);
    for l in [&x, &y, &c.ledger] {
        assert!(l.record(&o.record_id()).is_some());
        assert_eq!(l.membership().role_at(&b.public(), day(4)), Ok(Role::Admin));
    }
}

#[test]
fn after_a_rotation_the_old_key_signs_nothing_new() {
    let (mut c, clock) = world(101);
    let (a, b, x) = (member(102), member(103), member(104));
    c.admit(&a, Role::Admin);
    let new_key = CoopSecret::from_seed(&[105; 32]);
    let old = c.key.clone();
    let rot = rotation(&c, &old, 1, &new_key, vec![cut(c.coop_device, 2)]);
    c.coop_writes(&Record::Rotation(rot));
    assert_eq!(c.ledger.membership().current_coop_key(), new_key.public());
    assert_eq!(
        c.ledger.membership().coop(),
        c.id(),
        "the co-op keeps its id"
    );
    // The old key's next statement, in its log or a new one, takes no effect.
    for d in [c.coop_device, dev(77)] {
        let late = c.certificate(&x, Role::Admin);
        assert!(
            c.ledger
                .write(&old, d, None, &Record::Certificate(late), day(4))
                .is_err()
        );
    }
    // The new key certifies; what the old key certified before stands.
    c.key = new_key.clone();
    c.coop_device = dev(500);
    c.admit(&b, Role::Admin);
    let ob = write(
        &mut c.ledger,
        &b,
        dev(3),
        Record::Offer(offer("b", "1 kg")),
        day(5),
    );
    let oa = write(
        &mut c.ledger,
        &a,
        dev(4),
        Record::Offer(offer("a", "1 kg")),
        day(5),
    );
    let mut other = replica(&c, &clock);
    let mut all = c.ledger.all_entries();
    all.reverse();
    for _ in 0..4 {
        ingest_all(&mut other, &all);
    }
    for l in [&c.ledger, &other] {
        assert!(l.record(&ob.record_id()).is_some());
        assert!(l.record(&oa.record_id()).is_some());
        assert!(l.membership().role_at(&x.public(), day(5)).is_err());
    }
}

/// An owner rotates the co-op key to k1 and certifies admin x with it; a thief holding a copy
/// of the old key signs another rotation 1, to k2, in a log of its own, and certifies admin y
/// with k2. Returns the co-op, the clock, every entry of both sides, and (a, x, y): a, an admin
/// the old key certified before either rotation.
fn contested_rotation() -> (Coop, Arc<ManualClock>, Vec<Entry>, [MemberSecret; 3]) {
    let (mut c, clock) = world(121);
    let (a, x, y) = (member(122), member(123), member(124));
    c.admit(&a, Role::Admin);
    write(
        &mut c.ledger,
        &a,
        dev(1),
        Record::Offer(offer("a", "1 kg")),
        day(2),
    );
    let mut thief = replica(&c, &clock);
    ingest_all(&mut thief, &c.ledger.all_entries());
    let old = c.key.clone();
    let (k1, k2) = (
        CoopSecret::from_seed(&[125; 32]),
        CoopSecret::from_seed(&[126; 32]),
    );
    let head = c.ledger.version_vector().get(&LogId {
        author: old.public(),
        device: c.coop_device,
    });
    c.coop_writes(&Record::Rotation(rotation(
        &c,
        &old,
        1,
        &k1,
        vec![cut(c.coop_device, head + 1)],
    )));
    let forged = rotation(&c, &old, 1, &k2, vec![cut(dev(9), 1)]);
    write(&mut thief, &old, dev(9), Record::Rotation(forged), day(3));
    c.key = k2.clone();
    let y_cert = c.certificate(&y, Role::Admin);
    write(
        &mut thief,
        &k2,
        dev(800),
        Record::Certificate(y_cert),
        day(3),
    );
    write(
        &mut thief,
        &y,
        dev(3),
        Record::Offer(offer("y", "1 kg")),
        day(4),
    );
    c.key = k1;
    c.coop_device = dev(700);
    c.admit(&x, Role::Admin);
    write(
        &mut c.ledger,
        &x,
        dev(2),
        Record::Offer(offer("x", "1 kg")),
        day(4),
    );
    let mut all = c.ledger.all_entries();
    all.extend(thief.all_entries());
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|e| seen.insert(e.hash()));
    (c, clock, all, [a, x, y])
}

/// Ingests `entries` into `l` again and again, alternating their order, until nothing changes.
fn settle(l: &mut MemoryLedger, entries: &[Entry]) {
    let mut entries = entries.to_vec();
    for _ in 0..8 {
        let before = l.version_vector();
        ingest_all(l, &entries);
        entries.reverse();
        if l.version_vector() == before && l.pending_len() == 0 {
            return;
        }
    }
}

#[test]
fn two_rotations_with_one_number_freeze_the_coop_key_whichever_arrives_first() {
    let (c, clock, all, [a, x, y]) = contested_rotation();
    let old = CoopSecret::from_seed(&[121; 32]);
    // The owner's history first, the thief's first, and the owner's node itself.
    let owner_first = all.clone();
    let mut thief_first = all.clone();
    thief_first.sort_by_key(|e| e.header.author != old.public() || e.header.device != dev(9));
    let mut ledgers = Vec::new();
    for order in [owner_first, thief_first] {
        let mut l = replica(&c, &clock);
        settle(&mut l, &order);
        ledgers.push(l);
    }
    let mut owner = c.ledger;
    settle(&mut owner, &all);
    ledgers.push(owner);
    for l in &ledgers {
        let m = l.membership();
        assert_eq!(m.rotation_conflict(), Some(1));
        assert_eq!(m.current_coop_key(), old.public(), "neither k1 nor k2");
        assert_eq!(m.rotations().count(), 0);
        assert_eq!(m.role_at(&a.public(), day(5)), Ok(Role::Admin), "a stands");
        assert!(
            m.role_at(&x.public(), day(5)).is_err(),
            "k1 certifies nobody"
        );
        assert!(
            m.role_at(&y.public(), day(5)).is_err(),
            "k2 certifies nobody"
        );
        let titles: Vec<String> = l
            .records()
            .into_values()
            .filter_map(|r| match r {
                Record::Offer(o) => Some(o.title),
                _ => None,
            })
            .collect();
        assert_eq!(titles, ["a"]);
    }
    assert_eq!(summary(&ledgers[0]), summary(&ledgers[1]));
    assert_eq!(summary(&ledgers[0]), summary(&ledgers[2]));
    // The frozen key signs nothing new, in any log: a certificate it writes counts for
    // nothing, and the owner's node refuses to write one.
    let mut l = ledgers.remove(0);
    let late = Signed::sign(
        Certificate {
            signer: old.public(),
            coop: c.genesis.coop_id(),
            subject: member(127).public(),
            role: Role::Admin,
            issued: day(5),
            expires: None,
            parent: None,
        },
        &old.0,
    )
    .unwrap();
    assert!(
        l.write(&old, dev(77), None, &Record::Certificate(late), day(5))
            .is_err()
    );
}
#[test]
fn an_entry_stamped_ahead_of_the_clock_waits_until_the_clock_reaches_it() {
    let (mut c, clock) = world(111);
    let m = member(112);
    c.admit(&m, Role::Member);
    clock.set(day(40));
    // Half an hour ahead: past the ten minutes of skew allowed, within the hour an entry
    // may wait.
    let far = Timestamp(day(40).0 + 30 * 60 * 1000);
    let e = crafted_offer(&c, &m, dev(1), None, far);
    let got = c.ledger.ingest(e.clone()).unwrap();
    assert!(got.waiting && got.accepted.is_empty());
    assert!(
        c.ledger.record(&e.record_id()).is_none(),
        "never accepted early"
    );
    assert!(c.ledger.retry().is_empty());
    assert_eq!(
        c.ledger.waiting_ahead(),
        1,
        "reported as waiting on the clock"
    );
    clock.set(far);
    assert_eq!(c.ledger.waiting_ahead(), 0);
    assert_eq!(c.ledger.retry(), vec![e.hash()]);
    assert!(c.ledger.record(&e.record_id()).is_some());
}

#[test]
fn an_entry_that_waits_past_its_hour_is_let_go_and_fetched_again() {
    let (mut c, clock) = world(113);
    let m = member(114);
    c.admit(&m, Role::Member);
    clock.set(day(40));
    let first = crafted_offer(&c, &m, dev(1), None, day(40));
    let second = crafted_offer(&c, &m, dev(1), Some(&first), day(40));
    let mut l = replica(&c, &clock);
    for e in c.ledger.all_entries() {
        l.ingest(e).unwrap();
    }
    // The second entry arrives without the first: it waits.
    assert!(l.ingest(second.clone()).unwrap().waiting);
    clock.set(Timestamp(day(40).0 + PENDING_TTL_MS / 2));
    assert!(l.retry().is_empty());
    assert_eq!(l.pending_len(), 1, "half its hour: it still waits");
    clock.set(Timestamp(day(40).0 + PENDING_TTL_MS + 1));
    assert!(l.retry().is_empty());
    assert_eq!(l.pending_len(), 0, "past its hour: let go");
    let log = second.header.log();
    assert_eq!(
        l.received_vector().get(&log),
        0,
        "no longer counted as received: catch-up asks for it again"
    );
    for e in [first, second] {
        l.ingest(e).unwrap();
    }
    assert_eq!(l.version_vector().get(&log), 2);
}

#[test]
fn timestamps_never_decrease_within_a_log() {
    let (mut c, _clock) = world(121);
    let m = member(122);
    c.admit(&m, Role::Member);
    let first = crafted_offer(&c, &m, dev(1), None, day(10));
    c.ledger.ingest(first.clone()).unwrap();
    let back = crafted_offer(&c, &m, dev(1), Some(&first), day(9));
    assert!(matches!(
        c.ledger.ingest(back),
        Err(EntryError::TimeBackwards { .. })
    ));
    // A local write with a clock that went back is stamped no earlier than the log's head.
    let e = write(
        &mut c.ledger,
        &m,
        dev(1),
        Record::Offer(offer("later", "1 kg")),
        day(5),
    );
    assert_eq!(e.header.timestamp, day(10));
}

#[test]
fn an_entry_stamped_past_its_certificate_expiry_waits_for_a_renewal() {
    let (mut c, _clock) = world(131);
    let m = member(132);
    let short = Signed::sign(
        Certificate {
            expires: Some(day(20)),
            ..c.certificate(&m, Role::Member).value().clone()
        },
        &c.key.0,
    )
    .unwrap();
    c.coop_writes(&Record::Certificate(short));
    let before = crafted_offer(&c, &m, dev(1), None, day(19));
    c.ledger.ingest(before.clone()).unwrap();
    let after = crafted_offer(&c, &m, dev(1), Some(&before), day(21));
    assert!(c.ledger.ingest(after.clone()).unwrap().waiting);
    assert!(c.ledger.record(&after.record_id()).is_none());
    // A renewal, written by the co-op key, lets it in.
    let renewal = Signed::sign(
        Certificate {
            issued: day(20),
            ..c.certificate(&m, Role::Member).value().clone()
        },
        &c.key.0,
    )
    .unwrap();
    c.coop_writes(&Record::Certificate(renewal));
    assert!(c.ledger.record(&after.record_id()).is_some());
}

#[test]
fn expired_keys_are_listed_for_an_admin_to_revoke_until_revoked() {
    let (mut c, _clock) = world(171);
    let (m, a) = (member(172), member(173));
    let short = |key: &MemberSecret, role| {
        Signed::sign(
            Certificate {
                expires: Some(day(20)),
                ..c.certificate(key, role).value().clone()
            },
            &c.key.0,
        )
        .unwrap()
    };
    let (sm, sa) = (short(&m, Role::Member), short(&a, Role::Admin));
    c.coop_writes(&Record::Certificate(sm));
    c.coop_writes(&Record::Certificate(sa));
    let lasting = member(174);
    c.admit(&lasting, Role::Member);
    assert!(c.ledger.membership().expired(day(19)).is_empty());
    let mut want = vec![(m.public(), true), (a.public(), true)];
    want.sort();
    assert_eq!(c.ledger.membership().expired(day(21)), want);
    // Revoked with cut-offs, it is no longer listed.
    c.coop_writes(&Record::Revocation(revocation_by(&c, &c.key.0, &m, vec![])));
    assert_eq!(
        c.ledger.membership().expired(day(21)),
        vec![(a.public(), true)]
    );
}

#[test]
fn an_edit_built_on_a_revoked_change_has_no_effect_and_blocks_no_log() {
    let (mut c, clock) = world(181);
    let (m, coord) = (member(182), member(183));
    let m_cert = c.admit(&m, Role::Member);
    let coord_cert = c.admit(&coord, Role::Coordinator);
    let o = write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Offer(offer("m's", "9 kg")),
        day(2),
    );
    let edit = c
        .ledger
        .write(
            &coord,
            dev(6),
            Some(o.record_id()),
            &Record::Offer(offer("coord's", "9 kg")),
            day(3),
        )
        .unwrap();
    let later = write(
        &mut c.ledger,
        &coord,
        dev(6),
        Record::Offer(offer("later", "1 kg")),
        day(4),
    );
    // m's key is revoked with nothing kept: the offer, and the edit built on it, lose effect.
    let rev = c.coop_writes(&Record::Revocation(revocation_by(&c, &c.key.0, &m, vec![])));
    let all = c.ledger.all_entries();
    // X heard everything as it was written; Y heard the revocation first.
    let heard = [m_cert, coord_cert, o.clone(), edit, later.clone()];
    let mut x = replica(&c, &clock);
    ingest_all(&mut x, &heard);
    ingest_all(&mut x, std::slice::from_ref(&rev));
    let mut y = replica(&c, &clock);
    ingest_all(&mut y, &[heard[0].clone(), heard[1].clone(), rev]);
    ingest_all(&mut y, &heard[2..]);
    for l in [&c.ledger, &x, &y] {
        assert!(l.record(&o.record_id()).is_none());
        assert!(
            l.record(&later.record_id()).is_some(),
            "the coordinator's log goes on"
        );
        assert_eq!(l.version_vector(), c.ledger.version_vector());
    }
    assert_eq!(c.ledger.all_entries().len(), all.len());
    assert_eq!(x.records(), y.records());
}

#[test]
fn an_edit_that_arrives_before_its_record_applies_when_the_record_does() {
    let (mut c, clock) = world(191);
    let (m, n) = (member(192), member(193));
    let certs = [c.admit(&m, Role::Member), c.admit(&n, Role::Member)];
    let o = write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Offer(offer("first", "9 kg")),
        day(2),
    );
    let edit = c
        .ledger
        .write(
            &n,
            dev(3),
            Some(o.record_id()),
            &Record::Offer(offer("renamed", "9 kg")),
            day(3),
        )
        .unwrap();
    let mut l = replica(&c, &clock);
    ingest_all(&mut l, &certs);
    assert!(
        l.ingest(edit).unwrap().accepted.len() == 1,
        "it joins its log at once"
    );
    assert!(l.record(&o.record_id()).is_none());
    l.ingest(o.clone()).unwrap();
    let Some(Record::Offer(got)) = l.record(&o.record_id()) else {
        panic!("no offer")
    };
    assert_eq!(got.title, "renamed");
    assert_eq!(l.records(), c.ledger.records());
}

fn link(c: &Coop, owner: &MemberSecret, device: &MemberSecret) -> Record {
    Record::Device(
        Signed::sign(
            Device {
                signer: owner.public(),
                coop: c.id(),
                device_key: device.public(),
                issued: day(2),
            },
            &owner.0,
        )
        .unwrap(),
    )
}

#[test]
fn a_second_device_writes_for_its_member_and_is_revoked_alone() {
    let (mut c, clock) = world(201);
    let (m, phone) = (member(202), member(203));
    let cert = c.admit(&m, Role::Member);
    let linked = put(&mut c, &m, dev(2), |c| link(c, &m, &phone), day(2));
    let first = write(
        &mut c.ledger,
        &phone,
        dev(5),
        Record::Offer(offer("from the phone", "1 kg")),
        day(3),
    );
    assert_eq!(
        c.ledger.membership().role_at(&phone.public(), day(3)),
        Ok(Role::Member)
    );
    assert_eq!(
        c.ledger.membership().device_owner(&phone.public()),
        Some(m.public())
    );
    // A node that hears the phone's entry before the link keeps it waiting, then applies it.
    let mut other = replica(&c, &clock);
    ingest_all(&mut other, &[cert.clone(), first.clone()]);
    assert!(other.record(&first.record_id()).is_none());
    ingest_all(&mut other, std::slice::from_ref(&linked));
    assert!(other.record(&first.record_id()).is_some());
    // A pledge the phone signs verifies offline as the member's, through the link.
    let pledge = Signed::sign(
        Pledge {
            signer: phone.public(),
            coop: c.id(),
            need: RecordRef {
                coop: c.id(),
                record: RecordId::default(),
            },
            offer: None,
            quantity: "1 kg".parse().unwrap(),
            due: None,
            issued: day(3),
            note: None,
        },
        &phone.0,
    )
    .unwrap();
    let bundle = Bundle::new(&Commitment::Pledge(pledge), c.ledger.membership());
    let checked = bundle.verify().unwrap();
    assert_eq!(checked.role, Role::Member);
    assert!(bundle.device.is_some());
    // The member revokes the lost phone: its later entries are refused, the member writes on.
    let rev = revocation_by(&c, &m.0, &phone, vec![cut(dev(5), 1)]);
    write(&mut c.ledger, &m, dev(2), Record::Revocation(rev), day(4));
    assert!(
        c.ledger
            .write(
                &phone,
                dev(5),
                None,
                &Record::Offer(offer("thief", "1 kg")),
                day(5)
            )
            .is_err()
    );
    assert!(
        c.ledger.record(&first.record_id()).is_some(),
        "within its cut-off"
    );
    write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Offer(offer("member", "1 kg")),
        day(5),
    );
}

#[test]
fn revoking_a_member_ends_its_devices_and_an_admins_device_is_no_admin() {
    let (mut c, _clock) = world(211);
    let (m, tablet, f_phone) = (member(212), member(213), member(214));
    c.admit(&m, Role::Member);
    put(&mut c, &m, dev(2), |c| link(c, &m, &tablet), day(2));
    let o = write(
        &mut c.ledger,
        &tablet,
        dev(6),
        Record::Offer(offer("tablet", "1 kg")),
        day(3),
    );
    // The co-op key revokes the member, naming only the member's own log: the tablet's log is
    // not named, so nothing of it stays.
    let rev = revocation_by(&c, &c.key.0, &m, vec![cut(dev(2), 1)]);
    c.coop_writes(&Record::Revocation(rev));
    assert!(c.ledger.record(&o.record_id()).is_none());
    assert!(
        c.ledger
            .membership()
            .role_at(&tablet.public(), day(4))
            .is_err()
    );
    // The founder's phone writes as a coordinator at most: it certifies nobody.
    let (f, fd) = (c.founder.clone(), c.founder_device);
    put(&mut c, &f, fd, |c| link(c, &f, &f_phone), day(2));
    assert_eq!(
        c.ledger.membership().role_at(&f_phone.public(), day(3)),
        Ok(Role::Coordinator)
    );
    let cert = cert_by(&c, &f_phone, c.id().0, &member(215), Role::Member, None);
    assert!(
        c.ledger
            .write(&f_phone, dev(7), None, &Record::Certificate(cert), day(3))
            .is_err()
    );
}

#[test]
fn only_offers_and_needs_can_be_withdrawn() {
    let (mut c, _clock) = world(141);
    let (coord, m) = (member(142), member(143));
    let cert_entry = c.admit(&coord, Role::Coordinator);
    c.admit(&m, Role::Member);
    let n = write(
        &mut c.ledger,
        &m,
        dev(2),
        Record::Need(need("rice", "10 kg")),
        day(2),
    );
    let pledge = Signed::sign(
        Pledge {
            signer: m.public(),
            coop: c.id(),
            need: RecordRef {
                coop: c.id(),
                record: n.record_id(),
            },
            offer: None,
            quantity: "5 kg".parse().unwrap(),
            due: None,
            issued: day(2),
            note: None,
        },
        &m.0,
    )
    .unwrap();
    let p = write(&mut c.ledger, &m, dev(2), Record::Pledge(pledge), day(2));
    for (target, kind) in [
        (cert_entry.record_id(), RecordKind::Certificate),
        (p.record_id(), RecordKind::Pledge),
    ] {
        let err = c.ledger.prune(&coord, dev(1), target, day(3)).unwrap_err();
        assert!(
            matches!(err, EntryError::PruneKind(k) if k == kind),
            "{err}"
        );
    }
    c.ledger
        .prune(&coord, dev(1), n.record_id(), day(3))
        .unwrap();
    assert!(c.ledger.is_pruned(&n.record_id()));
    assert!(
        c.ledger
            .membership()
            .role_at(&coord.public(), day(4))
            .is_ok()
    );
}

/// One history across many logs: admins and members certified by the co-op key, the founder
/// and an admin; concurrent edits; a stolen admin key that revokes a member and certifies a
/// thief who withdraws an offer; the co-op key ending that admin before the theft; a member
/// whose certificate expires, with an entry stamped after it; a rotation, and the old key
/// signing after it; a prune. Returns the author's ledger and every entry any node may hear,
/// valid or not.
fn history() -> (Coop, Arc<ManualClock>, Vec<Entry>) {
    let (mut c, clock) = world(151);
    let (a, b, m1, m2, m3, coord, thief, d) = (
        member(152),
        member(153),
        member(154),
        member(155),
        member(156),
        member(157),
        member(158),
        member(159),
    );
    let mut extra = Vec::new();
    let a_cert = c.certificate(&a, Role::Admin);
    c.coop_writes(&Record::Certificate(a_cert.clone()));
    c.admit(&b, Role::Admin);
    let (f, fd) = (c.founder.clone(), c.founder_device);
    put(
        &mut c,
        &f,
        fd,
        |c| Record::Certificate(cert_by(c, &f, c.id().0, &m1, Role::Member, None)),
        day(1),
    );
    put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Certificate(cert_by(c, &a, a_cert.hash(), &m2, Role::Member, None)),
        day(2),
    );
    put(
        &mut c,
        &a,
        dev(1),
        |c| {
            Record::Certificate(cert_by(
                c,
                &a,
                a_cert.hash(),
                &coord,
                Role::Coordinator,
                None,
            ))
        },
        day(2),
    );
    let short = Signed::sign(
        Certificate {
            expires: Some(day(20)),
            ..c.certificate(&m3, Role::Member).value().clone()
        },
        &c.key.0,
    )
    .unwrap();
    c.coop_writes(&Record::Certificate(short));
    let n1 = write(
        &mut c.ledger,
        &m1,
        dev(2),
        Record::Need(need("rice", "100 kg")),
        day(3),
    );
    let o2 = write(
        &mut c.ledger,
        &m2,
        dev(3),
        Record::Offer(offer("beans", "40 kg")),
        day(3),
    );
    // Concurrent edits of m2's offer by m2 and the coordinator.
    let by_coord = concurrent_edit(
        c.id(),
        &c.ledger,
        &coord,
        dev(6),
        o2.record_id(),
        day(4),
        |o| o.quantity = "35 kg".parse().unwrap(),
    );
    let mut edited = offer("beans, dried", "40 kg");
    edited.notes = Some("m2's note".into());
    c.ledger
        .write(
            &m2,
            dev(3),
            Some(o2.record_id()),
            &Record::Offer(edited),
            day(4),
        )
        .unwrap();
    c.ledger.ingest(by_coord).unwrap();
    let m3_before = crafted_offer(&c, &m3, dev(4), None, day(10));
    let m3_after = crafted_offer(&c, &m3, dev(4), Some(&m3_before), day(25));
    ingest_all(&mut c.ledger, &[m3_before.clone(), m3_after.clone()]);
    extra.extend([m3_before, m3_after]);
    // Everything so far, whole: the thief's prune below drops payloads that come back, from
    // other nodes, once the prune is void.
    let whole = c.ledger.all_entries();
    // The theft: a's key revokes m2 outright and certifies a thief, who withdraws m2's offer.
    put(
        &mut c,
        &a,
        dev(1),
        |c| Record::Revocation(revocation_by(c, &a.0, &m2, vec![])),
        day(6),
    );
    put(
        &mut c,
        &a,
        dev(1),
        |c| {
            Record::Certificate(cert_by(
                c,
                &a,
                a_cert.hash(),
                &thief,
                Role::Coordinator,
                None,
            ))
        },
        day(6),
    );
    extra.push(
        c.ledger
            .prune(&thief, dev(7), o2.record_id(), day(7))
            .unwrap(),
    );
    // The co-op key ends a before the theft.
    let end = revocation_by(&c, &c.key.0, &a, vec![cut(dev(1), 2)]);
    c.coop_writes(&Record::Revocation(end));
    // A rotation; the old key then signs a certificate that must not count.
    let new_key = CoopSecret::from_seed(&[160; 32]);
    let head = c.ledger.version_vector().get(&LogId {
        author: c.key.public(),
        device: c.coop_device,
    });
    let rot = rotation(
        &c,
        &c.key.clone(),
        1,
        &new_key,
        vec![cut(c.coop_device, head + 1)],
    );
    let rot_entry = c.coop_writes(&Record::Rotation(rot));
    let old = c.key.clone();
    let stale_cert = c.certificate(&member(161), Role::Admin);
    let payload = author_change(
        None,
        &LogId {
            author: old.public(),
            device: c.coop_device,
        },
        &Record::Certificate(stale_cert),
        day(9),
    )
    .unwrap();
    extra.push(Entry::sign(
        &old,
        c.id(),
        c.coop_device,
        rot_entry.header.seq + 1,
        rot_entry.hash(),
        RecordId::default(),
        EntryKind::Change,
        payload,
        day(9),
    ));
    c.key = new_key;
    c.coop_device = dev(600);
    c.admit(&d, Role::Admin);
    write(
        &mut c.ledger,
        &d,
        dev(8),
        Record::Offer(offer("tools", "3 unit")),
        day(10),
    );
    c.ledger
        .prune(&coord, dev(6), n1.record_id(), day(11))
        .unwrap();
    let mut all = whole;
    all.extend(extra);
    all.extend(c.ledger.all_entries());
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|e| seen.insert(e.hash()));
    // The author's node gets back what the voided prune dropped, as catch-up would bring it.
    ingest_all(&mut c.ledger, &all);
    (c, clock, all)
}

/// An edit of offer `id` by `key`, written from `base` (another node's copy of the record) as
/// the first entry of a new log: a concurrent edit.
fn concurrent_edit(
    coop: CoopId,
    base: &MemoryLedger,
    key: &MemberSecret,
    d: DeviceId,
    id: RecordId,
    at: Timestamp,
    f: impl FnOnce(&mut Offer),
) -> Entry {
    let Some(Record::Offer(mut o)) = base.record(&id) else {
        panic!("not an offer")
    };
    f(&mut o);
    let log = LogId {
        author: key.public(),
        device: d,
    };
    let doc = base.record_state(&id).unwrap().doc;
    let payload = author_change(Some(&doc), &log, &Record::Offer(o), at).unwrap();
    Entry::sign(
        key,
        coop,
        d,
        1,
        EntryHash::default(),
        id,
        EntryKind::Change,
        payload,
        at,
    )
}

/// What two ledgers must agree on.
fn summary(
    l: &MemoryLedger,
) -> (
    std::collections::BTreeMap<RecordId, Record>,
    VersionVector,
    std::collections::BTreeMap<PublicKey, Role>,
    Vec<RecordId>,
) {
    let pruned = l
        .all_entries()
        .iter()
        .map(Entry::record_id)
        .filter(|id| l.is_pruned(id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    (
        l.records(),
        l.version_vector(),
        l.membership().members_at(day(1000)),
        pruned,
    )
}

#[test]
fn the_history_means_what_it_says() {
    let (c, _clock, all) = history();
    let l = &c.ledger;
    let m = l.membership();
    assert!(
        m.role_at(&member(158).public(), day(9)).is_err(),
        "the thief's certificate is void"
    );
    assert_eq!(
        m.role_at(&member(155).public(), day(9)),
        Ok(Role::Member),
        "the wipe is void"
    );
    assert!(
        m.role_at(&member(161).public(), day(9)).is_err(),
        "the old key's late certificate"
    );
    assert_eq!(m.role_at(&member(159).public(), day(9)), Ok(Role::Admin));
    let offers = l
        .records()
        .into_values()
        .filter(|r| matches!(r, Record::Offer(_)))
        .count();
    // m2's beans (edited by two), m3's first crafted offer, d's tools.
    assert_eq!(offers, 3, "{:#?}", l.records());
    let beans = l.records().into_values().find_map(|r| match r {
        Record::Offer(o) if o.title.starts_with("beans") => Some(o),
        _ => None,
    });
    let beans = beans.expect("the thief's withdrawal is void");
    assert_eq!(
        (beans.title.as_str(), beans.quantity.to_string().as_str()),
        ("beans, dried", "35 kg"),
        "both concurrent edits merged"
    );
    assert!(
        all.len() > l.all_entries().len(),
        "some of what was heard is refused"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_contested_rotation_freezes_the_key_in_any_arrival_order(
        all in Just(()).prop_perturb(|_, mut rng| {
            let mut all = contested_rotation().2;
            for i in (1..all.len()).rev() {
                all.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            all
        })
    ) {
        let (c, clock, _, _) = contested_rotation();
        let mut l = replica(&c, &clock);
        settle(&mut l, &all);
        let mut reference = replica(&c, &clock);
        let mut sorted = all.clone();
        sorted.sort_by_key(Entry::hash);
        settle(&mut reference, &sorted);
        prop_assert_eq!(l.membership().rotation_conflict(), Some(1));
        prop_assert_eq!(summary(&l), summary(&reference));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Every node that hears the same entries, in any order across logs, ends with the same
    /// ledger: records, logs, roles and withdrawals. Catch-up is modelled by offering
    /// everything again until nothing changes.
    #[test]
    fn any_arrival_order_gives_the_same_ledger(order in Just(()).prop_perturb(|_, mut rng| {
        let mut v: Vec<usize> = (0..200).collect();
        for i in (1..v.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    })) {
        let (c, clock, all) = history();
        let mut shuffled: Vec<Entry> = order.iter().filter(|&&i| i < all.len()).map(|&i| all[i].clone()).collect();
        prop_assert_eq!(shuffled.len(), all.len());
        let mut l = replica(&c, &clock);
        for _ in 0..8 {
            let before = l.version_vector();
            ingest_all(&mut l, &shuffled);
            shuffled.reverse();
            if l.version_vector() == before && l.pending_len() == 0 {
                break;
            }
        }
        prop_assert_eq!(summary(&l), summary(&c.ledger));
    }
}
