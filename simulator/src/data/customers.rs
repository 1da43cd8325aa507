//! Customers: "persons" whose attributes are drawn from `(seed, index)` on demand, and the compact
//! records each side stores for them.
//!
//! A person may exist on Nhanh, on Shopify or on both (see [`Kind`]). Only a few numbers per
//! record are stored (ids, times, amounts); names, phones, e-mails and addresses are rendered
//! again whenever a record is served, which keeps a million customers in tens of megabytes.

use super::draw::Draw;
use super::names;
use super::phone::{self, Form, Mobile};

const D_KIND: u64 = 0xC0;
const D_MOBILE: u64 = 0xC1;
const D_PERSON: u64 = 0xC2;

/// 2023-01-01T00:00:00Z: the earliest generated timestamp.
pub(crate) const EPOCH_2023: i64 = 1_672_531_200;
/// 2025-10-01T00:00:00Z: no generated timestamp is later.
pub(crate) const LATEST: i64 = 1_759_276_800;

/// Where a person exists and how their phone relates to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// On both sides with the same number: a pair, unless the next person duplicates it.
    Both,
    NhanhOnly,
    ShopifyOnly,
    /// A second Nhanh customer holding the previous person's number (that key is ambiguous).
    DupNhanh,
    /// A second Shopify customer holding the previous person's number in `defaultAddress.phone`.
    DupShopify,
    /// On both sides, but Nhanh's `mobile` is empty, null or garbage: never a pair.
    GarbageNhanh,
}

impl Kind {
    pub(crate) fn on_nhanh(self) -> bool {
        !matches!(self, Kind::ShopifyOnly | Kind::DupShopify)
    }

    pub(crate) fn on_shopify(self) -> bool {
        !matches!(self, Kind::NhanhOnly | Kind::DupNhanh)
    }
}

fn raw_kind(seed: u64, p: u64) -> Kind {
    match Draw::new(seed, D_KIND, p).below(1000) {
        0..=39 => Kind::NhanhOnly,
        40..=79 => Kind::ShopifyOnly,
        80..=94 => Kind::DupNhanh,
        95..=109 => Kind::DupShopify,
        110..=139 => Kind::GarbageNhanh,
        _ => Kind::Both,
    }
}

/// The kind of person `p`: a duplicate only follows a plain [`Kind::Both`] person.
pub(crate) fn kind(seed: u64, p: u64) -> Kind {
    let k = raw_kind(seed, p);
    if matches!(k, Kind::DupNhanh | Kind::DupShopify) && (p == 0 || raw_kind(seed, p - 1) != Kind::Both) {
        Kind::Both
    } else {
        k
    }
}

/// Person `p`'s own number and whether Nhanh keeps it in its pre-2018 form.
pub(crate) fn own_mobile(seed: u64, p: u64) -> (Mobile, bool) {
    let mut d = Draw::new(seed, D_MOBILE, p);
    let old = d.chance(60);
    (Mobile::generate(p * 2, old, &mut d), old)
}

/// The canonical number a person's records carry (a duplicate carries its predecessor's).
pub(crate) fn key_mobile(seed: u64, p: u64) -> Mobile {
    match kind(seed, p) {
        Kind::DupNhanh | Kind::DupShopify => own_mobile(seed, p - 1).0,
        _ => own_mobile(seed, p).0,
    }
}

/// Nhanh's `mobile` as it appears on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NhanhMobile {
    Null,
    Text(String),
    /// A JSON number (the leading 0 lost), as some imports store it.
    Number(u64),
}

/// Everything rendered about a person.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub family: &'static str,
    pub middle: &'static str,
    pub given: &'static str,
    pub upper_case_name: bool,
    pub nhanh_mobile: NhanhMobile,
    /// Shopify `defaultPhoneNumber.phoneNumber` (E.164).
    pub shop_phone: Option<String>,
    /// Shopify `defaultAddress.phone`.
    pub shop_address_phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub nhanh_type: u8,
    pub gender: Option<u8>,
    pub birthday: Option<String>,
    pub points: u64,
    pub created_at: i64,
    pub nhanh_updated_at: i64,
    pub shop_updated_at: i64,
    pub total_amount: u64,
    pub total_as_string: bool,
    pub orders: u32,
    /// Shopify `custom.total_spent` at start: absent, stale, or already equal to Nhanh's total.
    pub initial_metafield: Option<i64>,
}

impl Person {
    pub(crate) fn nhanh_name(&self) -> String {
        let name = format!("{} {} {}", self.family, self.middle, self.given);
        if self.upper_case_name {
            name.to_uppercase()
        } else {
            name
        }
    }

    pub(crate) fn first_name(&self) -> String {
        format!("{} {}", self.middle, self.given)
    }
}

/// Renders person `p`.
pub(crate) fn person(seed: u64, p: u64) -> Person {
    let kind = kind(seed, p);
    let mut d = Draw::new(seed, D_PERSON, p);
    let female = d.chance(550);
    let family = *d.pick(names::FAMILY);
    let (middle, given) = if female {
        (*d.pick(names::MIDDLE_FEMALE), *d.pick(names::GIVEN_FEMALE))
    } else {
        (*d.pick(names::MIDDLE_MALE), *d.pick(names::GIVEN_MALE))
    };
    let (own, old) = own_mobile(seed, p);
    let key = key_mobile(seed, p);

    let nhanh_mobile = match kind {
        Kind::GarbageNhanh => {
            if d.chance(400) {
                NhanhMobile::Null
            } else {
                NhanhMobile::Text(d.pick(phone::GARBAGE).to_string())
            }
        }
        Kind::DupNhanh => NhanhMobile::Text(phone::render(&key, Form::draw_current(&mut d))),
        _ if old => NhanhMobile::Text(phone::render(&own, Form::draw_old(&mut d))),
        _ => match d.below(100) {
            0..=2 => {
                let mut other_draw = Draw::new(seed, D_MOBILE ^ 0xFF, p);
                let other = Mobile::generate(p * 2 + 1, false, &mut other_draw);
                NhanhMobile::Text(phone::render_several(&own, &other, d.chance(500)))
            }
            3 => NhanhMobile::Number(own.national()[1..].parse().unwrap_or(0)),
            _ => NhanhMobile::Text(phone::render(&own, Form::draw_current(&mut d))),
        },
    };

    let (shop_phone, shop_address_phone) = match kind {
        Kind::DupShopify => (None, Some(phone::render_address_phone(&key, &mut d))),
        Kind::ShopifyOnly if d.chance(250) => (None, None),
        _ => match d.below(100) {
            0..=79 => (Some(own.e164()), None),
            80..=91 => (None, Some(phone::render_address_phone(&own, &mut d))),
            _ => (Some(own.e164()), Some(phone::render_address_phone(&own, &mut d))),
        },
    };

    let email = d.chance(850).then(|| {
        let local = names::ascii_fold(&format!("{family} {middle} {given}").to_lowercase()).replace('-', ".");
        let domain = d.pick(&["gmail.com", "yahoo.com.vn", "outlook.com", "example.vn"]);
        format!("{local}{p}@{domain}")
    });
    let address =
        d.chance(700).then(|| format!("{} {}, {}", d.range(1, 300), d.pick(names::STREETS), d.pick(names::DISTRICTS)));
    let created_at = EPOCH_2023 + d.range(0, 600 * 86_400);
    let nhanh_updated_at = (created_at + d.range(0, 400 * 86_400)).min(LATEST);
    let shop_updated_at = (created_at + d.range(0, 400 * 86_400)).min(LATEST);
    let total_amount = if d.chance(200) { 0 } else { d.range(50, 50_000) as u64 * 1000 };
    let initial_metafield = match d.below(10) {
        0..=3 => Some(total_amount as i64 / 2 + d.range(0, 100) * 1000),
        4 => Some(total_amount as i64),
        _ => None,
    };
    Person {
        family,
        middle,
        given,
        upper_case_name: d.chance(40),
        nhanh_mobile,
        shop_phone,
        shop_address_phone,
        email,
        address,
        nhanh_type: *d.pick(&[1, 1, 1, 1, 2, 3]),
        gender: if d.chance(300) { None } else { Some(if female { 2 } else { 1 }) },
        birthday: d.chance(400).then(|| format!("{}-{:02}-{:02}", d.range(1960, 2005), d.range(1, 12), d.range(1, 28))),
        points: d.below(5000),
        created_at,
        nhanh_updated_at,
        shop_updated_at,
        total_amount,
        total_as_string: d.chance(300),
        orders: d.below(40) as u32,
        initial_metafield,
    }
}

/// A Nhanh customer row: what changes at run time, plus the person it renders.
#[derive(Debug, Clone)]
pub(crate) struct NhanhCustomer {
    pub id: u64,
    pub person: u32,
    pub updated_at: i64,
    pub total_amount: u64,
}

/// A Shopify customer: generated (a person) or created by `customerSet`, maybe edited since.
#[derive(Debug, Clone)]
pub(crate) struct ShopCustomer {
    pub id: u64,
    pub person: Option<u32>,
    pub updated_at: i64,
    pub amount_spent: u64,
    pub orders: u32,
    pub edit: Option<Box<CustomerEdit>>,
}

/// Contact fields set by `customerSet`, overriding the person's.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CustomerEdit {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_phone: Option<String>,
    pub created_at: i64,
}

/// Generates persons until `nhanh_count` Nhanh rows exist; returns both sides' rows.
pub(crate) fn generate(seed: u64, nhanh_count: usize) -> (u64, Vec<NhanhCustomer>, Vec<ShopCustomer>) {
    let mut nhanh = Vec::with_capacity(nhanh_count);
    let mut shop = Vec::with_capacity(nhanh_count);
    let mut p = 0u64;
    while nhanh.len() < nhanh_count {
        let k = kind(seed, p);
        let mut d = Draw::new(seed, D_PERSON ^ 0xAB, p);
        if k.on_nhanh() || k.on_shopify() {
            let person = person(seed, p);
            if k.on_nhanh() {
                nhanh.push(NhanhCustomer {
                    id: 100_000 + p * 3 + d.below(3),
                    person: p as u32,
                    updated_at: person.nhanh_updated_at,
                    total_amount: person.total_amount,
                });
            }
            if k.on_shopify() {
                shop.push(ShopCustomer {
                    id: 7_100_000_000_000 + p * 4 + d.below(4),
                    person: Some(p as u32),
                    updated_at: person.shop_updated_at,
                    amount_spent: if d.chance(700) { person.total_amount } else { person.total_amount / 3 },
                    orders: person.orders,
                    edit: None,
                });
            }
        }
        p += 1;
    }
    (p, nhanh, shop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_always_follows_a_plain_pair_and_shares_its_number() {
        let mut dups = 0;
        for p in 0..20_000 {
            if matches!(kind(9, p), Kind::DupNhanh | Kind::DupShopify) {
                dups += 1;
                assert_eq!(kind(9, p - 1), Kind::Both);
                assert_eq!(key_mobile(9, p), own_mobile(9, p - 1).0);
            }
        }
        assert!(dups > 100, "{dups}");
    }

    #[test]
    fn generation_stops_at_the_requested_nhanh_count() {
        let (_, nhanh, shop) = generate(1, 1_000);
        assert_eq!(nhanh.len(), 1_000);
        assert!(shop.len() > 900 && shop.len() < 1_100, "{}", shop.len());
        assert!(nhanh.windows(2).all(|w| w[0].id < w[1].id));
        assert!(shop.windows(2).all(|w| w[0].id < w[1].id));
    }
}
