//! The compact form in which [`Views`](super::Views) holds each view in memory.

use std::collections::HashMap;

use super::{RecordView, Views};

use minga_protocol::{
    Decision, Point, Quantity, RecordId, RecordKind, RecordRef, Timestamp, Urgency,
};

/// Positions in [`Held::times`].
pub(super) const ENDS: usize = 0;
pub(super) const ISSUED: usize = 1;
pub(super) const FROM: usize = 2;
pub(super) const UNTIL: usize = 3;
pub(super) const CREATED: usize = 4;

/// A view as [`Views`](super::Views) holds it in memory: the record id once (the lookup
/// table holds only slots), the co-op and the category as small numbers, the point in
/// millionths of a degree (points have at most six decimals, so this is exact), two times
/// inline without their `Option` padding (a view with more keeps them behind the pointer
/// below), the radius as digits and scale, and what few records carry behind one pointer.
/// 128 bytes and the title's bytes, against about 465 bytes a record when views were
/// held as [`RecordView`](super::RecordView)s keyed by copies of their keys. It converts back
/// to the same view, whatever the view held.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) id: RecordId,
    /// Index in [`Views::coops`](super::Views).
    pub(super) coop: u32,
    /// Index in [`Views::categories`](super::Views), plus one; 0 when none.
    pub(super) category: u32,
    pub(super) kind: RecordKind,
    pub(super) urgency: Option<Urgency>,
    pub(super) decision: Option<Decision>,
    pub(super) withdrawn: bool,
    /// Bit `i` set when the view has time `i` ([`ENDS`] to [`CREATED`]).
    pub(super) has_time: u8,
    /// The radius is `radius / 10^radius_scale` km; [`NO_RADIUS`] when there is none here
    /// (none at all, or one too large for this form, kept in [`Rare`]).
    pub(super) radius_scale: u8,
    pub(super) radius: u32,
    /// Latitude and longitude in millionths of a degree.
    pub(super) point: Option<[i32; 2]>,
    pub(super) quantity: Option<Quantity>,
    /// The view's times in order when it has at most two (most have one or two: when it was
    /// posted and when it ends, or when it was signed); a view with more keeps all of them in
    /// [`Rare::times`].
    pub(super) times: [i64; 2],
    /// Where its title sits in [`Views::titles`](super::Views).
    pub(super) title: Title,
    pub(super) refers_to: Option<Box<RecordRef>>,
    pub(super) rare: Option<Box<Rare>>,
}

/// A title's place in [`Titles`]: its offset in the low 40 bits, its length in the high 24;
/// [`Title::NONE`] for a view without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Title(u64);

impl Title {
    pub(super) const NONE: Title = Title(u64::MAX);
    const OFFSET_BITS: u32 = 40;
    /// The longest title held: records cap titles at 200 bytes, so only a damaged view comes
    /// near this, and it is cut at a character boundary.
    const MAX_LEN: usize = (1 << 24) - 2;

    fn at(self) -> usize {
        (self.0 & ((1 << Self::OFFSET_BITS) - 1)) as usize
    }

    fn len(self) -> usize {
        (self.0 >> Self::OFFSET_BITS) as usize
    }
}

/// Every held title end to end in one buffer, so a title costs its bytes and the 8 of its
/// [`Title`] instead of a pointer, a length and an allocation of its own (about 20 bytes a
/// view fewer). A replaced or removed view leaves its title's bytes behind; once those are
/// more than half the buffer, [`Views`](super::Views) writes the live ones into a new one.
#[derive(Debug, Default)]
pub(super) struct Titles {
    text: String,
    /// Bytes of titles no view holds any more.
    dead: usize,
}

impl Titles {
    pub(super) fn add(&mut self, t: &str) -> Title {
        let mut end = t.len().min(Title::MAX_LEN);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        let at = self.text.len();
        self.text.push_str(&t[..end]);
        Title((end as u64) << Title::OFFSET_BITS | at as u64)
    }

    /// Bytes in the buffer, held or not.
    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.text.len()
    }

    pub(super) fn get(&self, t: Title) -> Option<&str> {
        if t == Title::NONE {
            return None;
        }
        self.text.get(t.at()..t.at() + t.len())
    }

    /// Marks a title's bytes as no longer held; whether the buffer should now be rewritten.
    pub(super) fn release(&mut self, t: Title) -> bool {
        if t != Title::NONE {
            self.dead += t.len();
        }
        self.dead > 1 << 20 && self.dead > self.text.len() / 2
    }

    /// A new buffer for the titles of `held`, each view's [`Title`] moved to its new place.
    pub(super) fn rewrite<'a>(&mut self, held: impl Iterator<Item = &'a mut Held>) {
        let mut fresh = Titles {
            text: String::with_capacity(self.text.len() - self.dead),
            dead: 0,
        };
        for h in held {
            if let Some(t) = self.get(h.title) {
                h.title = fresh.add(t);
            }
        }
        *self = fresh;
    }
}

/// [`Held::radius_scale`] when the radius is not held in [`Held::radius`].
pub(super) const NO_RADIUS: u8 = u8::MAX;

/// The parts of a view that most records leave out.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Rare {
    pub(super) offer: Option<RecordRef>,
    /// A radius [`Held::radius`] cannot hold (negative, or past four billion units of its
    /// last place).
    pub(super) radius_km: Option<rust_decimal::Decimal>,
    pub(super) minimum: Option<Quantity>,
    /// A point's text when it is not the way [`Point`] writes it (a damaged or foreign
    /// view), kept so the view reads back as it was stored.
    pub(super) point_text: Option<String>,
    /// Every time of a view with more than two, by position.
    pub(super) times: Option<[i64; 5]>,
}

/// A point's latitude and longitude in millionths of a degree.
pub(super) fn micro_degrees(text: &str) -> Option<[i32; 2]> {
    use rust_decimal::prelude::ToPrimitive;
    let p: Point = text.parse().ok()?;
    let micro = |d: rust_decimal::Decimal| (d * rust_decimal::Decimal::from(1_000_000)).to_i32();
    Some([micro(p.lat())?, micro(p.lon())?])
}

pub(super) fn point_of([lat, lon]: [i32; 2]) -> Option<Point> {
    let d = |m: i32| rust_decimal::Decimal::new(i64::from(m), 6);
    Point::new(d(lat), d(lon))
}

impl Held {
    pub(super) fn time(&self, i: usize) -> Option<Timestamp> {
        if i >= 5 || self.has_time & (1 << i) == 0 {
            return None;
        }
        if self.has_time.count_ones() > 2 {
            return self.rare.as_ref()?.times.map(|t| Timestamp(t[i]));
        }
        // Its place among the times the view has.
        let before = (self.has_time & ((1 << i) - 1)).count_ones() as usize;
        self.times.get(before).copied().map(Timestamp)
    }

    /// Holds the times marked in `has_time` (bit `i`: `all[i]`): inline when there are at
    /// most two, all of them in [`Rare`] otherwise.
    pub(super) fn hold_times(&mut self, has_time: u8, all: [i64; 5]) {
        self.has_time = has_time & 0b1_1111;
        self.times = [0; 2];
        if self.has_time.count_ones() > 2 {
            self.rare.get_or_insert_with(Default::default).times = Some(all);
            return;
        }
        let present = (0..5).filter(|i| self.has_time & (1 << i) != 0);
        for (slot, i) in self.times.iter_mut().zip(present) {
            *slot = all[i];
        }
    }

    pub(super) fn location(&self) -> Option<Point> {
        self.point.and_then(point_of)
    }

    pub(super) fn refers_to(&self) -> Option<RecordRef> {
        self.refers_to.as_deref().copied()
    }

    pub(super) fn radius_km(&self) -> Option<rust_decimal::Decimal> {
        if self.radius_scale == NO_RADIUS {
            return self.rare.as_ref().and_then(|r| r.radius_km);
        }
        rust_decimal::Decimal::try_from_i128_with_scale(
            i128::from(self.radius),
            u32::from(self.radius_scale),
        )
        .ok()
    }

    pub(super) fn offer(&self) -> Option<RecordRef> {
        self.rare.as_ref().and_then(|r| r.offer)
    }
}

/// Values held once and named by their index: the co-ops and the categories of every view.
/// An index is never reused, so the table grows with the distinct values seen since start.
#[derive(Debug)]
pub(super) struct Interned<T> {
    pub(super) all: Vec<T>,
    pub(super) ids: HashMap<T, u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            all: Vec::new(),
            ids: HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Interned<T> {
    pub(super) fn id<Q>(&self, v: &Q) -> Option<u32>
    where
        T: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        self.ids.get(v).copied()
    }

    pub(super) fn intern(&mut self, v: T) -> u32 {
        if let Some(id) = self.ids.get(&v) {
            return *id;
        }
        let id = self.all.len() as u32;
        self.ids.insert(v.clone(), id);
        self.all.push(v);
        id
    }

    pub(super) fn get(&self, id: u32) -> Option<&T> {
        self.all.get(id as usize)
    }
}

impl Views {
    /// The compact form of a view.
    pub(super) fn hold(&mut self, v: RecordView) -> Held {
        let coop = self.coops.intern(v.coop);
        let category = v.category.map_or(0, |c| {
            let id = self.categories.intern(c.into_boxed_str());
            if self.parsed.len() <= id as usize {
                let text = self.categories.get(id).map(|t| t.parse().ok());
                self.parsed.push(text.flatten());
            }
            id + 1
        });
        let point = v.point.as_deref().and_then(micro_degrees);
        let written = point.and_then(point_of).map(|p| p.to_string());
        // A radius as its digits and its scale, exactly as written (12.50 stays 12.50).
        let compact = v.radius_km.filter(|r| !r.is_sign_negative()).and_then(|r| {
            let digits = u32::try_from(r.mantissa()).ok()?;
            Some((digits, u8::try_from(r.scale()).ok()?))
        });
        let mut rare = Rare {
            offer: v.offer.as_deref().copied(),
            radius_km: v.radius_km.filter(|_| compact.is_none()),
            minimum: v.minimum,
            point_text: v.point.filter(|t| Some(t) != written.as_ref()),
            times: None,
        };
        let mut has_time = 0;
        let mut times = [0; 5];
        for (i, t) in [v.ends, v.issued, v.from, v.until, v.created]
            .into_iter()
            .enumerate()
        {
            if let Some(t) = t {
                has_time |= 1 << i;
                times[i] = t.0;
            }
        }
        let mut held = Held {
            id: v.id,
            coop,
            category,
            kind: v.kind,
            urgency: v.urgency,
            decision: v.decision,
            withdrawn: v.withdrawn,
            has_time: 0,
            radius_scale: compact.map_or(NO_RADIUS, |(_, s)| s),
            radius: compact.map_or(0, |(d, _)| d),
            point,
            quantity: v.quantity,
            times: [0; 2],
            title: v.title.map_or(Title::NONE, |t| self.titles.add(&t)),
            refers_to: v.refers_to,
            rare: (rare != Rare::default()).then(|| Box::new(std::mem::take(&mut rare))),
        };
        held.hold_times(has_time, times);
        held
    }

    /// The [`RecordView`] a held view came from.
    pub(super) fn view(&self, h: &Held) -> RecordView {
        let rare = h.rare.as_deref();
        let boxed = |r: Option<RecordRef>| r.map(Box::new);
        RecordView {
            coop: self.coop_of(h),
            id: h.id,
            kind: h.kind,
            title: self.titles.get(h.title).map(str::to_string),
            category: self.category_text(h).map(str::to_string),
            quantity: h.quantity,
            point: match rare.and_then(|r| r.point_text.clone()) {
                Some(text) => Some(text),
                None => h.location().map(|p| p.to_string()),
            },
            urgency: h.urgency,
            ends: h.time(ENDS),
            withdrawn: h.withdrawn,
            refers_to: boxed(h.refers_to()),
            offer: boxed(h.offer()),
            decision: h.decision,
            issued: h.time(ISSUED),
            radius_km: h.radius_km(),
            from: h.time(FROM),
            until: h.time(UNTIL),
            minimum: rare.and_then(|r| r.minimum),
            created: h.time(CREATED),
        }
    }
}
