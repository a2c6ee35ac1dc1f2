//! Fixtures shared by the protocol's integration tests: co-ops with fixed keys, members, and
//! sample records.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minga_protocol::*;

/// 2026-11-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_793_491_200_000);

pub fn day(n: i64) -> Timestamp {
    T0.plus_days(n)
}

pub struct Coop {
    pub key: CoopSecret,
    pub founder: MemberSecret,
    pub founder_device: DeviceId,
    /// The device of the co-op key's own log.
    pub coop_device: DeviceId,
    pub genesis: Signed<Genesis>,
    pub ledger: MemoryLedger,
}

impl Coop {
    pub fn new(seed: u8, name: &str) -> Coop {
        let key = CoopSecret::from_seed(&[seed; 32]);
        let founder = MemberSecret::from_seed(&[seed.wrapping_add(100); 32]);
        let genesis = found_coop(&key, name, &founder, T0).unwrap();
        let ledger = MemoryLedger::new(Membership::new(genesis.clone()));
        Coop {
            key,
            founder,
            founder_device: DeviceId(u64::from(seed)),
            coop_device: DeviceId(1000 + u64::from(seed)),
            genesis,
            ledger,
        }
    }

    pub fn id(&self) -> CoopId {
        self.genesis.coop_id()
    }

    /// A fresh ledger of this co-op that holds nothing yet.
    pub fn empty_ledger(&self) -> MemoryLedger {
        MemoryLedger::new(Membership::new(self.genesis.clone()))
    }

    /// A certificate for `member`, signed by the co-op key.
    pub fn certificate(&self, member: &MemberSecret, role: Role) -> Signed<Certificate> {
        Signed::sign(
            Certificate {
                signer: self.key.public(),
                coop: self.id(),
                subject: member.public(),
                role,
                issued: T0,
                expires: None,
                parent: None,
            },
            &self.key.0,
        )
        .unwrap()
    }

    /// Certifies `member` and writes the certificate into the co-op key's own log.
    pub fn admit(&mut self, member: &MemberSecret, role: Role) -> Entry {
        let cert = self.certificate(member, role);
        self.coop_writes(&Record::Certificate(cert))
    }

    /// Writes a statement the co-op key signed into the co-op key's own log.
    pub fn coop_writes(&mut self, record: &Record) -> Entry {
        let (k, d) = (self.key.clone(), self.coop_device);
        self.ledger.write(&k, d, None, record, day(1)).unwrap()
    }

    pub fn founder_writes(&mut self, id: Option<RecordId>, record: &Record) -> Entry {
        let (f, d) = (self.founder.clone(), self.founder_device);
        self.ledger.write(&f, d, id, record, day(1)).unwrap()
    }

    pub fn revoke(&self, member: &MemberSecret, cutoffs: Vec<Cutoff>) -> Signed<Revocation> {
        Signed::sign(
            Revocation {
                signer: self.key.public(),
                coop: self.id(),
                subject: member.public(),
                cutoffs,
                issued: day(2),
                reason: Some("key lost".into()),
            },
            &self.key.0,
        )
        .unwrap()
    }
}

pub fn member(seed: u8) -> MemberSecret {
    MemberSecret::from_seed(&[seed; 32])
}

pub fn need(title: &str, qty: &str) -> Need {
    Need {
        title: title.into(),
        category: "food/grain/rice".parse().unwrap(),
        quantity: qty.parse().unwrap(),
        location: Some(Location {
            point: "-32.9468,-60.6393".parse().unwrap(),
            place: Some("Rosario".into()),
            radius_km: None,
        }),
        needed: TimeWindow {
            from: None,
            until: Some(day(30)),
        },
        urgency: Urgency::High,
        expires: Some(day(60)),
        notes: None,
        withdrawn: false,
    }
}

pub fn offer(title: &str, qty: &str) -> Offer {
    Offer {
        title: title.into(),
        category: "food/grain/rice".parse().unwrap(),
        quantity: qty.parse().unwrap(),
        minimum: None,
        location: None,
        available: TimeWindow::default(),
        expires: None,
        notes: Some("bring your own sacks".into()),
        withdrawn: false,
    }
}
