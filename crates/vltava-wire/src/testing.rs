//! Arbitrary messages for property tests (feature `proptest`).
//!
//! Every generated struct can build itself from a seed of bytes, reading one
//! decision at a time (a length, a choice between null and a value, an
//! integer); once the seed runs out every decision is "zero", which gives
//! empty arrays, short strings and zero integers. So the values carry only
//! what the chosen version can encode, and when proptest shrinks the seed
//! (shorter, smaller bytes) the value shrinks with it.

use bytes::Bytes;
use proptest::prelude::{Strategy, any};

use crate::codec::Ctx;
use crate::protocol::{Message, RawTaggedField, Uuid};

/// The longest seed [`arbitrary`] draws: enough for a few nested arrays.
const SEED_LEN: usize = 384;

/// A proptest strategy for values of `M` that `version` can carry.
pub fn arbitrary<M: Message>(version: i16) -> impl Strategy<Value = M> {
    proptest::collection::vec(any::<u8>(), 0..=SEED_LEN)
        .prop_map(move |seed| M::from_seed(&seed, version))
}

/// The value of `M` at `version` that `seed` describes (an empty seed gives
/// the default). Deterministic, for tests that want a fixed rich value.
pub fn from_seed<M: Message>(seed: &[u8], version: i16) -> M {
    M::from_seed(seed, version)
}

/// [`Message::from_seed`] for every generated message.
pub(crate) fn message_from_seed<M: Message + Arbitrary>(seed: &[u8], version: i16) -> M {
    let cx = Ctx::new(version, M::FLEXIBLE_VERSIONS.contains(version));
    M::arbitrary(&mut Gen { seed }, cx)
}

/// Reads decisions from a seed; see the module docs.
pub(crate) struct Gen<'a> {
    seed: &'a [u8],
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        match self.seed.split_first() {
            Some((&byte, rest)) => {
                self.seed = rest;
                byte
            }
            None => 0,
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for byte in &mut out {
            *byte = self.byte();
        }
        out
    }

    /// A number in `0..=max`.
    fn below(&mut self, max: u8) -> usize {
        usize::from(self.byte() % (max + 1))
    }

    /// A value of a spec field at `cx`.
    pub(crate) fn field<T: Arbitrary>(&mut self, cx: Ctx) -> T {
        T::arbitrary(self, cx)
    }

    /// Up to two unknown tagged fields, in ascending tag order, avoiding the
    /// tags the spec gives to known fields of the struct.
    pub(crate) fn unknown_tagged_fields(&mut self, known: &[u32]) -> Vec<RawTaggedField> {
        let count = self.below(2);
        let mut tag = 0u32;
        let mut fields = Vec::with_capacity(count);
        for i in 0..count {
            tag += self.below(3) as u32 + u32::from(i > 0);
            while known.contains(&tag) {
                tag += 1;
            }
            let len = self.below(5);
            let data: Vec<u8> = (0..len).map(|_| self.byte()).collect();
            fields.push(RawTaggedField {
                tag,
                data: Bytes::from(data),
            });
        }
        fields
    }
}

/// Builds a value from a seed; implemented by every wire type.
pub(crate) trait Arbitrary: Sized {
    fn arbitrary(g: &mut Gen<'_>, cx: Ctx) -> Self;
}

macro_rules! arbitrary_integers {
    ($($ty:ty),*) => {$(
        impl Arbitrary for $ty {
            fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
                // Always the same number of bytes, whatever the choice, so
                // that shrinking one integer does not shift later decisions.
                let choice = g.byte() % 8;
                let raw = <$ty>::from_be_bytes(g.array());
                match choice {
                    0 => 0,
                    1 => (0 as $ty).wrapping_sub(1),
                    2 => <$ty>::MIN,
                    3 => <$ty>::MAX,
                    4 => raw % 100,
                    _ => raw,
                }
            }
        }
    )*};
}

arbitrary_integers!(i8, i16, u16, i32, u32, i64);

impl Arbitrary for f64 {
    fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
        // No NaN: it is not equal to itself, so no round trip could pass.
        let choice = g.byte() % 4;
        let raw = f64::from(i32::from_be_bytes(g.array()));
        match choice {
            0 => 0.0,
            1 => f64::INFINITY,
            2 => -raw / 8.0,
            _ => raw * 1e-3,
        }
    }
}

impl Arbitrary for bool {
    fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
        g.byte() % 2 == 1
    }
}

impl Arbitrary for Uuid {
    fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
        let choice = g.byte() % 2;
        let raw = Uuid(g.array());
        if choice == 0 { Uuid::ZERO } else { raw }
    }
}

impl Arbitrary for String {
    fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
        const CHARS: [char; 12] = ['a', 'b', 'z', 'Q', '0', '-', '_', '.', ' ', 'é', '€', '🦀'];
        let len = g.below(11);
        (0..len)
            .map(|_| CHARS[usize::from(g.byte()) % CHARS.len()])
            .collect()
    }
}

impl Arbitrary for Bytes {
    fn arbitrary(g: &mut Gen<'_>, _cx: Ctx) -> Self {
        let len = g.below(15);
        Bytes::from((0..len).map(|_| g.byte()).collect::<Vec<u8>>())
    }
}

impl<T: Arbitrary> Arbitrary for Vec<T> {
    fn arbitrary(g: &mut Gen<'_>, cx: Ctx) -> Self {
        let len = g.below(3);
        let element = Ctx::new(cx.version, cx.flexible);
        (0..len).map(|_| T::arbitrary(g, element)).collect()
    }
}

impl<T: Arbitrary> Arbitrary for Option<T> {
    fn arbitrary(g: &mut Gen<'_>, cx: Ctx) -> Self {
        if cx.nullable && g.byte() % 4 == 0 {
            None
        } else {
            Some(T::arbitrary(g, Ctx::new(cx.version, cx.flexible)))
        }
    }
}
